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

// binding returns the named binding's value decoded into a generic value.
// The lookup is case-insensitive because binding names are in function.json
// and hosts have differed in how they cased them.
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
	return shape.Decode(raw, path)
}

// utcNow reads Metadata.sys.UtcNow, the host's time of the invocation.
func (e *Envelope) utcNow() (time.Time, bool) {
	var sys struct {
		UtcNow string `json:"UtcNow"`
	}
	if raw, ok := e.Metadata["sys"]; !ok || json.Unmarshal(raw, &sys) != nil {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, sys.UtcNow)
	return t, err == nil
}

// Response is the custom handler's reply.
type Response struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}
