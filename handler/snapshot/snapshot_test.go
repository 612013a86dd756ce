package snapshot_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/appwarden/appwarden/handler/snapshot"
)

func raw(s string) json.RawMessage { return json.RawMessage(s) }

// TestWriterFormat writes objects out of file order (owners and assignments
// held while the listings run) and checks the exact bytes.
func TestWriterFormat(t *testing.T) {
	var buf bytes.Buffer
	w := snapshot.NewWriter(&buf, "t1")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.Add(snapshot.Applications, raw(`{ "id": "a1" }`)))
	must(w.HoldOwners("a1", []json.RawMessage{raw(`{"id":"u1"}`), raw(`{"id": "u2"}`)}))
	must(w.HoldOwners("a2", nil)) // nothing
	must(w.Add(snapshot.Applications, raw(`{"id":"a2"}`)))
	must(w.Add(snapshot.ServicePrincipals, raw(`{"id":"s1"}`)))
	must(w.Hold(snapshot.AppRoleAssignments, raw(`{"id":"r1"}`)))
	must(w.HoldOwners("s1", []json.RawMessage{raw(`{"id":"u3"}`)}))
	must(w.Add(snapshot.OAuth2PermissionGrants, raw(`{"id":"g1"}`)))
	must(w.Close())
	want := `{
"tenantId": "t1",
"applications": [
{"id":"a1"},
{"id":"a2"}
],
"servicePrincipals": [
{"id":"s1"}
],
"owners": {
"a1": [{"id":"u1"}, {"id":"u2"}],
"s1": [{"id":"u3"}]
},
"appRoleAssignments": [
{"id":"r1"}
],
"oauth2PermissionGrants": [
{"id":"g1"}
]
}
`
	if buf.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", buf.String(), want)
	}
	f, err := snapshot.Load(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if f.TenantID != "t1" || len(f.Applications) != 2 || len(f.ServicePrincipals) != 1 || len(f.Owners) != 2 ||
		len(f.Owners["a1"]) != 2 || len(f.AppRoleAssignments) != 1 || len(f.OAuth2PermissionGrants) != 1 {
		t.Errorf("loaded %+v", f)
	}
}

func TestWriterEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := snapshot.NewWriter(&buf, "").Close(); err != nil {
		t.Fatal(err)
	}
	want := "{\n\"tenantId\": \"\",\n\"applications\": [\n],\n\"servicePrincipals\": [\n],\n\"owners\": {\n},\n\"appRoleAssignments\": [\n],\n\"oauth2PermissionGrants\": [\n]\n}\n"
	if buf.String() != want {
		t.Fatalf("got %q", buf.String())
	}
	if _, err := snapshot.Load(&buf); err != nil {
		t.Fatal(err)
	}
}

func TestWriterRefuses(t *testing.T) {
	var buf bytes.Buffer
	w := snapshot.NewWriter(&buf, "t")
	defer w.Discard()
	if err := w.Add(snapshot.Owners, raw(`{}`)); err == nil {
		t.Error("Add to owners")
	}
	if err := w.Add(snapshot.Applications, raw(`{not json`)); err == nil {
		t.Error("invalid JSON written")
	}
	w = snapshot.NewWriter(&buf, "t")
	defer w.Discard()
	_ = w.Add(snapshot.ServicePrincipals, raw(`{}`))
	if err := w.Add(snapshot.Applications, raw(`{}`)); err == nil {
		t.Error("application after service principals")
	}
	w = snapshot.NewWriter(&buf, "t")
	defer w.Discard()
	_ = w.Add(snapshot.ServicePrincipals, raw(`{}`))
	if err := w.Hold(snapshot.ServicePrincipals, raw(`{}`)); err == nil {
		t.Error("held an object for the open section")
	}
}

func TestLoadRefuses(t *testing.T) {
	for _, in := range []string{``, `[]`, `{"applications": {}}`, `{} {}`} {
		if _, err := snapshot.Load(strings.NewReader(in)); err == nil {
			t.Errorf("%q loaded", in)
		}
	}
	f, err := snapshot.Load(strings.NewReader(`{"tenantId":"x"}`))
	if err != nil || f.TenantID != "x" || f.Applications != nil {
		t.Errorf("%+v %v", f, err)
	}
}
