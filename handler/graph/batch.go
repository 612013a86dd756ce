package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/retry"
	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoft/kiota-abstractions-go/serialization"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// RetryPolicy bounds the waits for throttling and replication lag, so that a
// whole invocation stays well under Event Grid's 30 s.
type RetryPolicy struct {
	// Attempts is how many times a throttled (429/503/504) batch item is tried.
	Attempts int
	// MaxWait caps one Retry-After wait.
	MaxWait time.Duration
	// LagBudget is how long a 404 is re-read within one resolution, in
	// total, before deleted items are consulted (10 s by default).
	LagBudget time.Duration
	// LagFirst is the first backoff for a 404; it doubles up to LagMax.
	LagFirst, LagMax time.Duration
	// DeletedAfter: a 404 for a signal older than this means deleted.
	DeletedAfter time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if p.Attempts == 0 {
		p.Attempts = 4
	}
	def(&p.MaxWait, 10*time.Second)
	// Ten seconds of re-reads (and then a look in deleted items) leaves an
	// invocation given about 20 s the time to record what it found.
	def(&p.LagBudget, 10*time.Second)
	def(&p.LagFirst, 250*time.Millisecond)
	def(&p.LagMax, 4*time.Second)
	def(&p.DeletedAfter, 15*time.Minute)
	return p
}

// request is one item of a JSON $batch.
type request struct {
	ID     string            `json:"id"`
	Method string            `json:"method"`
	URL    string            `json:"url"`
	Body   any               `json:"body,omitempty"`
	Header map[string]string `json:"headers,omitempty"`
}

// response is one item of a $batch answer.
type response struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// throttleWait is how long a throttled batch item asks to be left alone:
// its own Retry-After (the items of a $batch carry their headers in the
// body, not on the wire), or a second when it gives none.
func (r *response) throttleWait() time.Duration {
	for k, v := range r.Headers {
		if strings.EqualFold(k, "Retry-After") {
			if d, ok := retry.After(v, time.Now()); ok {
				return d
			}
		}
	}
	return time.Second
}

// readOnly reports whether a batch only reads (the gate holds reads only).
func readOnly(reqs []request) bool {
	for _, r := range reqs {
		if r.Method != "GET" {
			return false
		}
	}
	return true
}

func throttled(status int) bool { return status == 429 || status == 503 || status == 504 }

// batch sends up to 20 requests in one $batch, and retries the items that
// were throttled, honouring their Retry-After (the SDK retries only whole
// requests, not the items inside a batch). It returns a response per id.
func (c *Client) batch(ctx context.Context, reqs []request) (map[string]*response, error) {
	out := make(map[string]*response, len(reqs))
	pending := reqs
	for attempt := 1; len(pending) > 0; attempt++ {
		got, err := c.sendBatch(ctx, pending)
		if err != nil {
			return nil, err
		}
		var again []request
		var wait time.Duration
		for _, r := range pending {
			resp, ok := got[r.ID]
			if !ok {
				return nil, fmt.Errorf("graph: $batch answer has no response for item %s (%s)", r.ID, r.URL)
			}
			out[r.ID] = resp
			if throttled(resp.Status) && attempt < c.retry.Attempts {
				again = append(again, r)
				wait = max(wait, min(resp.throttleWait(), c.retry.MaxWait))
			}
		}
		if len(again) > 0 {
			c.gate.hold(wait)
			if err := retry.Sleep(ctx, wait); err != nil {
				return nil, fmt.Errorf("graph: retrying %d throttled requests: %w", len(again), err)
			}
		}
		pending = again
	}
	return out, nil
}

func (c *Client) sendBatch(ctx context.Context, reqs []request) (map[string]*response, error) {
	if len(reqs) > 20 {
		return nil, fmt.Errorf("graph: $batch of %d requests (the limit is 20)", len(reqs))
	}
	if readOnly(reqs) {
		if err := c.gate.wait(ctx); err != nil {
			return nil, err
		}
	}
	body, err := json.Marshal(map[string]any{"requests": reqs})
	if err != nil {
		return nil, fmt.Errorf("graph: encoding $batch: %w", err)
	}
	info := abs.NewRequestInformation()
	info.Method = abs.POST
	u, err := url.Parse(c.base + "/$batch")
	if err != nil {
		return nil, err
	}
	info.SetUri(*u)
	info.Headers.Add("Accept", "application/json")
	info.SetStreamContentAndContentType(body, "application/json")
	b, err := c.send(ctx, info)
	if err != nil {
		return nil, fmt.Errorf("graph: $batch: %w", err)
	}
	var answer struct {
		Responses []*response `json:"responses"`
	}
	if err := json.Unmarshal(b, &answer); err != nil {
		return nil, fmt.Errorf("graph: decoding $batch answer: %w", err)
	}
	got := make(map[string]*response, len(answer.Responses))
	for _, r := range answer.Responses {
		got[r.ID] = r
	}
	return got, nil
}

var errorMapping = abs.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}

// describe turns an OData error into a readable one.
func describe(err error) error {
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) {
		msg, code := fmt.Sprintf("HTTP %d", oe.ResponseStatusCode), ""
		if e := oe.GetErrorEscaped(); e != nil {
			if c := e.GetCode(); c != nil {
				msg += " " + *c
				code = *c
			}
			if m := e.GetMessage(); m != nil {
				msg += ": " + *m
			}
		}
		return &StatusError{Status: oe.ResponseStatusCode, Code: code, Message: msg}
	}
	var ae *abs.ApiError
	if errors.As(err, &ae) && ae.ResponseStatusCode != 0 {
		return &StatusError{Status: ae.ResponseStatusCode, Message: fmt.Sprintf("HTTP %d: %s", ae.ResponseStatusCode, ae.Message)}
	}
	return err
}

// StatusError is a Graph answer with an error status.
type StatusError struct {
	Status  int
	Code    string // Graph's error code, e.g. "Request_ResourceNotFound"; "" when unknown
	Message string
}

func (e *StatusError) Error() string { return e.Message }

// PermanentError is Graph refusing a read about the object being resolved
// in a way no retry can change: 400 (the request names something Graph
// cannot address, such as a service principal name taken for an appId) or
// 403 (access to that object is denied). It matches
// appwarden.ErrUnresolvable, so the pipeline records the refusal instead of
// failing the invocation, and it unwraps to the *StatusError with Graph's
// code and message. Throttling, 5xx and timeouts never become one.
type PermanentError struct {
	Status int    // 400 or 403
	Code   string // Graph's error code, e.g. "Authorization_RequestDenied"
	err    error  // the answer as read, wrapping the *StatusError
}

func (e *PermanentError) Error() string { return e.err.Error() }

// Unwrap gives the error as read (a *StatusError, possibly wrapped).
func (e *PermanentError) Unwrap() error { return e.err }

// Is reports that the error is appwarden.ErrUnresolvable, and, for a 403,
// appwarden.ErrAccessDenied.
func (e *PermanentError) Is(target error) bool {
	return target == appwarden.ErrUnresolvable || target == appwarden.ErrAccessDenied && e.Status == http.StatusForbidden
}

// permanent turns an error holding a 400 or 403 answer into a
// *PermanentError; other errors (throttling, 5xx, transport, context) stay as
// they are, transient. Only reads about the object being resolved pass
// through it: a 400 to the $batch envelope is this client's fault, not the
// object's.
func permanent(err error) error {
	var se *StatusError
	if errors.As(err, &se) && (se.Status == http.StatusBadRequest || se.Status == http.StatusForbidden) {
		return &PermanentError{Status: se.Status, Code: se.Code, err: err}
	}
	return err
}

// parse decodes a batch item's body through msgraph-sdk-go's own models.
func parse[T serialization.Parsable](body []byte, ctor serialization.ParsableFactory) (T, error) {
	var zero T
	node, err := jsonser.NewJsonParseNode(body)
	if err != nil {
		return zero, fmt.Errorf("graph: parsing response: %w", err)
	}
	v, err := node.GetObjectValue(ctor)
	if err != nil {
		return zero, fmt.Errorf("graph: parsing response: %w", err)
	}
	t, ok := v.(T)
	if !ok {
		return zero, fmt.Errorf("graph: unexpected response type %T", v)
	}
	return t, nil
}

// itemError describes a failed batch item.
func itemError(r *response, what string) error {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &e)
	return &StatusError{Status: r.Status, Code: e.Error.Code, Message: fmt.Sprintf("graph: %s: HTTP %d %s %s", what, r.Status, e.Error.Code, e.Error.Message)}
}

type (
	parseNode = serialization.ParseNode
	parsable  = serialization.Parsable
)
