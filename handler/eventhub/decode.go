// Package eventhub decodes what the Event Hub function receives: with
// "cardinality": "many", an array of messages from the Entra audit-log
// stream. The functions layer has already removed the host's encoding (the
// batch arrives as one string holding an array of message strings,
// FACTS.md §2), so a message is a decoded JSON value; one that was not JSON
// text is still a string, which is tried as base64 of JSON (dataType
// binary). Each holds a {"records":[...]} envelope, a single record, or an
// array of records (Log Analytics rows republished by a Logic App).
package eventhub

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/auditlog"
	"github.com/appwarden/appwarden/handler/shape"
)

// Decode turns the Event Hub binding value into signals. path names it in
// errors ("Data.records"). A bad message is poison; the rest still decode.
func Decode(v any, path string) appwarden.Batch {
	list, ok := v.([]any)
	if !ok {
		// cardinality "one", or a host that unwrapped a single message
		return decodeMessage(v, path)
	}
	var b appwarden.Batch
	for i, m := range list {
		b.Add(decodeMessage(m, fmt.Sprintf("%s[%d]", path, i)))
	}
	return b
}

func decodeMessage(v any, path string) appwarden.Batch {
	s, ok := v.(string)
	if !ok {
		return auditlog.Decode(v, path, appwarden.SourceEventHub)
	}
	inner, err := text(s, path)
	if err != nil {
		return appwarden.Batch{Poison: []error{err}}
	}
	if _, nested := inner.(string); nested {
		return appwarden.Batch{Poison: []error{&shape.Error{Path: path, Problem: "a message that encodes another string, not a record"}}}
	}
	return auditlog.Decode(inner, path, appwarden.SourceEventHub)
}

// text decodes a message given as a string: JSON text, or base64 of it.
func text(s, path string) (any, error) {
	trimmed := strings.TrimSpace(s)
	if strings.HasPrefix(trimmed, "{") || strings.HasPrefix(trimmed, "[") {
		return shape.Decode([]byte(trimmed), path)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(trimmed); err == nil {
			return shape.Decode(raw, path+" (base64)")
		}
	}
	return nil, &shape.Error{Path: path, Problem: "a message that is neither JSON text nor base64 of JSON"}
}
