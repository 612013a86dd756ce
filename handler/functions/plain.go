package functions

import (
	"encoding/json"
	"strings"
)

// maxStringLayers bounds how many times a value may be JSON text held in a
// string. The host's deepest real encoding is Event Grid's: a string holding
// a string holding the event (FACTS.md §2), so three layers of text in all;
// one more layer leaves room for a producer that encoded once more itself.
const maxStringLayers = 4

// Plain removes the Functions host's encoding from a binding or Metadata
// value, so that every decoder sees plain JSON values.
//
// The host (azure-functions-host,
// src/WebJobs.Script/Workers/MessageExtensions/ScriptInvocationContextExtensions.cs,
// GetHttpScriptInvocationContextValue) sends a value that serializes to a
// JSON object as that object, and anything else as
// JsonConvert.SerializeObject(value): JSON text in a string. So:
//   - Event Grid: the extension hands over the event's indented JSON text, so
//     Data.event is a string holding a JSON string literal holding the event;
//   - Event Hub, cardinality many, dataType string: a string holding a JSON
//     array of strings, each one message's text;
//   - Event Hub, cardinality one: the message text, double-encoded;
//   - Metadata arrays (SequenceNumberArray...): a string holding the array.
//
// Plain parses a string whose content is JSON text (an object, an array or
// another JSON string) and repeats, up to maxStringLayers; it does the same
// for each element of an array, since an array's elements are message
// bodies. Any other string (base64 of binary messages, plain words) is left
// as it is for the decoder to judge. The plain forms other callers send (an
// object, an array of objects, a single-encoded string) pass through
// unchanged or lose their one layer.
func Plain(v any) any {
	v = unquote(v)
	if list, ok := v.([]any); ok {
		out := make([]any, len(list))
		for i, el := range list {
			out[i] = unquote(el)
		}
		return out
	}
	return v
}

// unquote replaces a string holding JSON text by the value it holds, layer
// by layer. Only text that starts like an object, an array or a string is
// parsed: a string holding "42" or "true" is a word, not an encoding.
func unquote(v any) any {
	for range maxStringLayers {
		s, ok := v.(string)
		if !ok {
			return v
		}
		t := strings.TrimSpace(s)
		if t == "" || !strings.ContainsRune(`{["`, rune(t[0])) {
			return v
		}
		var inner any
		if json.Unmarshal([]byte(t), &inner) != nil {
			return v
		}
		v = inner
	}
	return v
}
