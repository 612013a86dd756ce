package appwarden

import "context"

// Write is one change to the tenant, as remediation plans it and the Graph
// client applies it: a method, a path below the service root, a JSON body.
// Its JSON form is kept in action records (the undo of an action).
type Write struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Body   any    `json:"body,omitempty"`
}

// WriteResult is how one write went: its HTTP status, and the error when it
// failed. Created holds the id of an object a POST created.
type WriteResult struct {
	Status  int
	Err     error
	Created string
}

// Writer applies writes to the tenant (the Graph client). The writes must
// be independent of each other; it returns one result per write, and an
// error only for a failure of the whole exchange.
type Writer interface {
	Apply(ctx context.Context, writes []Write) ([]WriteResult, error)
}
