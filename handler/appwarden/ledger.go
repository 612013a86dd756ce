package appwarden

import (
	"context"
	"time"
)

// FactsLedger reads back the facts AppWarden recorded for each app after
// judging it (baseline.Ledger keeps them in the state store). A pass over
// every app the sweep knows (the daily expiry pass) reads it instead of
// Graph.
type FactsLedger interface {
	// Page reads, in appId order, at most limit apps' records after the
	// appId after ("" for the first page): a pass over every app holds one
	// page at a time, however large the tenant. A page shorter than limit
	// is the last; next is the appId to read the following page after.
	Page(ctx context.Context, after string, limit int) (recs []RecordedFacts, next string, err error)
	// Full reports whether the app's record was written by a decision (not
	// a first sweep's partial one). A missing or unreadable record is not.
	Full(ctx context.Context, appID string) (bool, error)
}

// RecordedFacts is one app's facts as they were recorded.
type RecordedFacts struct {
	AppID string
	At    time.Time
	Facts []Fact
	// Partial is set for a first sweep's record: only what the delta feed
	// carries (no owners, no certificates, nothing of the service
	// principal) is known.
	Partial bool
	Profile
	// Err is set, and nothing else but AppID, when the record is corrupt.
	Err error
}

// OwnersKnown reports whether the record's owner facts are all the app's
// owners (none meaning ownerless): recorded by a decision that could read
// them.
func (r *RecordedFacts) OwnersKnown() bool { return !r.Partial && !r.OwnersUnread }

// Profile is what a pass over recorded facts needs to know about an app
// beyond them, so that it reads nothing from Graph that the sweep or a
// decision already read: its name and objects (for a warning and its link
// to the Entra admin center) and whether it is a managed identity or a
// Microsoft first-party app (skipped). A first sweep's record has the
// registration's name and object id; a registration in this tenant is
// neither a managed identity nor a Microsoft app.
type Profile struct {
	DisplayName string `json:"name,omitempty"`
	// ObjectID is the application object's id; SPObjectID the service
	// principal's.
	ObjectID   string `json:"objectId,omitempty"`
	SPObjectID string `json:"spId,omitempty"`
	// SPType and OwnerOrg are the service principal's servicePrincipalType
	// and appOwnerOrganizationId.
	SPType   string `json:"spType,omitempty"`
	OwnerOrg string `json:"ownerOrg,omitempty"`
	// OwnersUnread is set when Graph refused to list the owners (a 403):
	// the record's owner facts are then unknown, not absent.
	OwnersUnread bool `json:"ownersUnread,omitempty"`
}
