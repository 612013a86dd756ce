package shape_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/appwarden/appwarden/handler/shape"
)

func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

var fields = shape.Fields{
	"id":               shape.String | shape.Required,
	"count":            shape.Number,
	"ok":               shape.Bool,
	"user":             shape.Object,
	"user.name":        shape.String,
	"items":            shape.Array,
	"items[].id":       shape.String | shape.Required,
	"items[].tags[]":   shape.String,
	"anything":         shape.Any,
	"nested.deep.leaf": shape.Number,
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		json string
		want string // "" for no error
	}{
		{"all good", `{"id":"a","count":1,"ok":true,"user":{"name":"n"},"items":[{"id":"x","tags":["t"]}],"anything":[1],"nested":{"deep":{"leaf":2}}}`, ""},
		{"only the required field", `{"id":"a"}`, ""},
		{"optional fields null", `{"id":"a","count":null,"user":null,"items":null}`, ""},
		{"optional nested parent absent", `{"id":"a","nested":null}`, ""},
		{"required missing", `{}`, "id: required string is missing"},
		{"required null counts as absent", `{"id":null}`, "id: required string is missing"},
		{"wrong kind", `{"id":"a","count":"1"}`, "count: expected number, got string"},
		{"boolean", `{"id":"a","ok":"yes"}`, "ok: expected boolean, got string"},
		{"object expected", `{"id":"a","user":[]}`, "user: expected object, got array"},
		{"nested wrong kind", `{"id":"a","user":{"name":1}}`, "user.name: expected string, got number"},
		{"parent of a nested path is not an object", `{"id":"a","nested":{"deep":"x"}}`, "nested.deep: expected object, got string"},
		{"array expected", `{"id":"a","items":{}}`, "items: expected array, got object"},
		{"array element field", `{"id":"a","items":[{"id":"x"},{"id":2}]}`, "items[1].id: expected string, got number"},
		{"array element required", `{"id":"a","items":[{"id":"x"},{}]}`, "items[1].id: required string is missing"},
		{"array element not an object", `{"id":"a","items":["x"]}`, "items[0]: expected object, got string"},
		{"nested array element", `{"id":"a","items":[{"id":"x","tags":["a",3]}]}`, "items[0].tags[1]: expected string, got number"},
		{"nested array element null is absent", `{"id":"a","items":[{"id":"x","tags":[null]}]}`, ""},
		{"first problem in path order", `{"count":"1"}`, "count: expected number, got string"},
		{"root not an object", `[]`, "expected object, got array"},
		{"root null", `null`, "expected object, got null"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := shape.Check(decode(t, tc.json), "", fields)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error %q", err)
			case tc.want != "" && (err == nil || err.Error() != ": "+tc.want && err.Error() != tc.want):
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestRequiredIsAboutTheLeaf checks Required below an absent parent: an
// absent object means the leaf is missing (and the error names the leaf); an
// absent array has no elements, so nothing is missing.
func TestRequiredIsAboutTheLeaf(t *testing.T) {
	fields := shape.Fields{
		"user.name":          shape.String | shape.Required,
		"items[].id":         shape.String | shape.Required,
		"group.members[].id": shape.String | shape.Required,
	}
	tests := []struct {
		json, want string
	}{
		{`{"user":{"name":"n"}}`, ""},
		{`{}`, "user.name: required string is missing"},
		{`{"user":null}`, "user.name: required string is missing"},
		{`{"user":{}}`, "user.name: required string is missing"},
		{`{"user":{"name":"n"},"items":[]}`, ""},
		{`{"user":{"name":"n"},"items":[{}]}`, "items[0].id: required string is missing"},
		{`{"user":{"name":"n"},"group":{}}`, ""},
		{`{"user":{"name":"n"},"group":{"members":[{"id":"m"},{}]}}`, "group.members[1].id: required string is missing"},
	}
	for _, tc := range tests {
		err := shape.Check(decode(t, tc.json), "", fields)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("Check(%s) = %q, want %q", tc.json, got, tc.want)
		}
	}
}

func TestCheckPrefixesTheBasePath(t *testing.T) {
	err := shape.Check(decode(t, `{"id":"a","items":[{"id":1}]}`), "Data.event", fields)
	var se *shape.Error
	if !errors.As(err, &se) {
		t.Fatalf("error %v is not a *shape.Error", err)
	}
	if se.Path != "Data.event.items[0].id" || se.Problem != "expected string, got number" {
		t.Errorf("got path %q, problem %q", se.Path, se.Problem)
	}
	if err.Error() != "Data.event.items[0].id: expected string, got number" {
		t.Errorf("error text %q", err)
	}
	if err := shape.Check("x", "Data.event", fields); err == nil || err.Error() != "Data.event: expected object, got string" {
		t.Errorf("non-object root: %v", err)
	}
}

func TestKindOf(t *testing.T) {
	tests := []struct {
		v    any
		want string
	}{
		{nil, "null"}, {"s", "string"}, {1.5, "number"}, {json.Number("1"), "number"}, {true, "boolean"},
		{map[string]any{}, "object"}, {[]any{}, "array"}, {42, "int"},
	}
	for _, tc := range tests {
		if got := shape.KindOf(tc.v); got != tc.want {
			t.Errorf("KindOf(%#v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestKindString(t *testing.T) {
	tests := map[shape.Kind]string{
		shape.Any: "any value", shape.String: "string", shape.Number: "number", shape.Bool: "boolean",
		shape.Object: "object", shape.Array: "array", shape.String | shape.Required: "string",
	}
	for k, want := range tests {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", k, got, want)
		}
	}
}

func TestAnyAcceptsEveryKind(t *testing.T) {
	for _, s := range []string{`1`, `"s"`, `true`, `{}`, `[]`} {
		if err := shape.Check(decode(t, `{"id":"a","anything":`+s+`}`), "", fields); err != nil {
			t.Errorf("anything=%s: %v", s, err)
		}
	}
}

func TestDecode(t *testing.T) {
	v, err := shape.Decode([]byte(`{"a":[1,"x"]}`), "Data.x")
	if err != nil {
		t.Fatal(err)
	}
	if shape.KindOf(v) != "object" {
		t.Errorf("decoded %#v", v)
	}
	tests := []struct {
		in, want string
	}{
		{`{"a":`, "Data.x: not valid JSON: unexpected end of JSON input (at byte 5)"},
		{`nope`, "Data.x: not valid JSON: invalid character 'o' in literal null (expecting 'u') (at byte 2)"},
		{``, "Data.x: not valid JSON: unexpected end of JSON input (at byte 0)"},
		{`{} {}`, "Data.x: not valid JSON: invalid character '{' after top-level value (at byte 4)"},
	}
	for _, tc := range tests {
		_, err := shape.Decode([]byte(tc.in), "Data.x")
		if err == nil || err.Error() != tc.want {
			t.Errorf("Decode(%q) error %v\nwant %q", tc.in, err, tc.want)
		}
	}
}
