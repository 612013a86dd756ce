// Package shape checks the JSON types of the fields a decoder relies on, so
// that malformed input is reported with the exact place and problem
// ("Data.event.data.operationName: expected string, got number") rather than
// a Go type name from deep inside a decoder.
package shape

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Kind is the JSON type a field must have. Null always counts as absent.
type Kind uint8

// JSON kinds. Required may be or-ed in.
const (
	Any Kind = iota
	String
	Number
	Bool
	Object
	Array
	Required Kind = 0x80
)

func (k Kind) base() Kind { return k &^ Required }

func (k Kind) String() string {
	switch k.base() {
	case String:
		return "string"
	case Number:
		return "number"
	case Bool:
		return "boolean"
	case Object:
		return "object"
	case Array:
		return "array"
	}
	return "any value"
}

// Fields maps a dotted path below the checked value to the kind it must
// have. A path segment ending in "[]" applies the rest of the path to every
// element of that array: "targetResources[].id".
type Fields map[string]Kind

// Error is a malformed field: its full path and what is wrong.
type Error struct {
	Path    string
	Problem string
}

func (e *Error) Error() string { return e.Path + ": " + e.Problem }

// KindOf names the JSON type of a decoded value.
func KindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case float64, json.Number:
		return "number"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

// Check verifies the fields of v (a value decoded by encoding/json into any)
// against fields, in a stable order, and returns the first problem found.
// base is the path of v itself, used as the prefix of every error.
func Check(v any, base string, fields Fields) error {
	if _, ok := v.(map[string]any); !ok {
		return &Error{Path: base, Problem: "expected object, got " + KindOf(v)}
	}
	paths := make([]string, 0, len(fields))
	for p := range fields {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if err := check(v, base, strings.Split(p, "."), fields[p]); err != nil {
			return err
		}
	}
	return nil
}

func check(v any, at string, segs []string, want Kind) error {
	if len(segs) == 0 {
		return match(v, at, want)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return &Error{Path: at, Problem: "expected object, got " + KindOf(v)}
	}
	seg := segs[0]
	name, each := strings.CutSuffix(seg, "[]")
	child, present := obj[name]
	path := join(at, name)
	if !present || child == nil {
		// Required is about the leaf: under an absent array it holds for
		// every (no) element; under an absent object the leaf is missing.
		rest := strings.Join(segs[1:], ".")
		if want&Required == 0 || each || strings.Contains(rest, "[]") {
			return nil
		}
		if rest != "" {
			path = path + "." + rest
		}
		return &Error{Path: path, Problem: "required " + want.String() + " is missing"}
	}
	if !each {
		return check(child, path, segs[1:], want)
	}
	arr, ok := child.([]any)
	if !ok {
		return &Error{Path: path, Problem: "expected array, got " + KindOf(child)}
	}
	for i, el := range arr {
		if err := check(el, fmt.Sprintf("%s[%d]", path, i), segs[1:], want); err != nil {
			return err
		}
	}
	return nil
}

func match(v any, at string, want Kind) error {
	if v == nil {
		if want&Required != 0 {
			return &Error{Path: at, Problem: "required " + want.String() + " is null"}
		}
		return nil
	}
	if want.base() == Any || KindOf(v) == want.String() {
		return nil
	}
	return &Error{Path: at, Problem: "expected " + want.String() + ", got " + KindOf(v)}
}

func join(at, name string) string {
	if at == "" {
		return name
	}
	return at + "." + name
}

// Decode parses JSON text into a generic value, naming base in the error.
func Decode(data []byte, base string) (any, error) {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, &Error{Path: base, Problem: "not valid JSON: " + describe(err)}
	}
	return v, nil
}

func describe(err error) string {
	var se *json.SyntaxError
	if e, ok := err.(*json.SyntaxError); ok {
		se = e
		return fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
	}
	return err.Error()
}
