package functions

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/appwarden/appwarden/handler/shape"
)

// Envelope is the host's request body.
type Envelope struct {
	Data     map[string]json.RawMessage `json:"Data"`
	Metadata map[string]json.RawMessage `json:"Metadata"`
}

// binding returns the named binding's value decoded into a plain generic
// value: the host's JSON-in-string layers are removed here, once, so that
// decoders never see them (see Plain). The lookup is case-insensitive
// because binding names are in function.json and hosts have differed in how
// they cased them.
func (e *Envelope) binding(name string) (any, error) {
	raw, ok := e.Data[name]
	if !ok {
		for k, v := range e.Data {
			if strings.EqualFold(k, name) {
				raw, ok = v, true
				break
			}
		}
	}
	path := "Data." + name
	if !ok || len(raw) == 0 {
		return nil, &shape.Error{Path: path, Problem: "binding is missing"}
	}
	v, err := shape.Decode(raw, path)
	if err != nil {
		return nil, err
	}
	return Plain(v), nil
}

// metadata returns a Metadata value without the host's encoding, and
// whether it is present.
func (e *Envelope) metadata(name string) (any, bool) {
	raw, ok := e.Metadata[name]
	if !ok {
		return nil, false
	}
	var v any
	if json.Unmarshal(raw, &v) != nil || v == nil {
		return nil, false
	}
	return Plain(v), true
}

// RetryContext is Metadata.RetryContext, which the host adds when it runs an
// invocation again under the function's retry policy (FACTS.md §2;
// azure-functions-host RetryContext: RetryCount, MaxRetryCount, Exception).
type RetryContext struct {
	RetryCount    int `json:"RetryCount"`
	MaxRetryCount int `json:"MaxRetryCount"`
}

// Last reports whether this is the policy's last try: after it, an Event
// Hub batch is checkpointed whatever the answer. A policy that retries
// forever (MaxRetryCount -1) has no last try.
func (r RetryContext) Last() bool { return r.MaxRetryCount >= 0 && r.RetryCount >= r.MaxRetryCount }

// retryContext reads Metadata.RetryContext, which is absent on a first try.
func (e *Envelope) retryContext() (RetryContext, bool) {
	v, ok := e.metadata("RetryContext")
	if !ok {
		return RetryContext{}, false
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return RetryContext{}, false
	}
	var rc RetryContext
	if json.Unmarshal(raw, &rc) != nil {
		return RetryContext{}, false
	}
	return rc, true
}

// utcNow reads Metadata.sys.UtcNow, the host's time of the invocation.
func (e *Envelope) utcNow() (time.Time, bool) {
	v, _ := e.metadata("sys")
	sys, _ := v.(map[string]any)
	utc, _ := sys["UtcNow"].(string)
	t, err := time.Parse(time.RFC3339Nano, utc)
	return t, err == nil
}

// Response is the custom handler's reply.
type Response struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}
