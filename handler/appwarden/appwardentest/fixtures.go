// Package appwardentest holds what tests share: a log sink (LogBuffer), and,
// for the decoders, reading the fixtures under tests/testdata and comparing
// signals field by field so a failure names the field.
package appwardentest

import (
	"encoding/json"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/functions"
)

// testdata finds tests/testdata (a copy of shared/fixtures) from the
// working directory of any test in the module.
func testdata(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "tests", "testdata")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test")
		}
		dir = parent
	}
}

// Fixture reads a fixture file's bytes.
func Fixture(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata(t), rel))
	if err != nil {
		t.Fatalf("reading fixture: %v", err)
	}
	return b
}

// DecodeJSON decodes JSON text into a generic value, as the host envelope does.
func DecodeJSON(t testing.TB, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("fixture is not JSON: %v", err)
	}
	return v
}

// FixtureObject reads a fixture holding one JSON object, fresh for each call
// so that a test may change it.
func FixtureObject(t testing.TB, rel string) map[string]any {
	t.Helper()
	obj, ok := DecodeJSON(t, Fixture(t, rel)).(map[string]any)
	if !ok {
		t.Fatalf("fixture %s is not a JSON object", rel)
	}
	return obj
}

// Binding returns Data.<name> of a host envelope fixture as the functions
// layer hands it to a decoder: with the host's JSON-in-string encoding
// removed (functions.Plain).
func Binding(t testing.TB, rel, name string) any {
	t.Helper()
	data, ok := FixtureObject(t, rel)["Data"].(map[string]any)
	if !ok {
		t.Fatalf("%s has no Data object", rel)
	}
	v, ok := data[name]
	if !ok {
		t.Fatalf("%s has no Data.%s", rel, name)
	}
	return functions.Plain(v)
}

// MustTime parses an RFC 3339 time.
func MustTime(t testing.TB, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm.UTC()
}

// CheckSignal compares a signal field by field, so a failure names the field.
func CheckSignal(t *testing.T, got, want appwarden.Signal) {
	t.Helper()
	eq := func(field string, g, w any) {
		t.Helper()
		if g != w {
			t.Errorf("%s = %q, want %q", field, g, w)
		}
	}
	eq("Kind", got.Kind, want.Kind)
	eq("AppID", got.AppID, want.AppID)
	eq("ObjectID", got.ObjectID, want.ObjectID)
	eq("ObjectType", got.ObjectType, want.ObjectType)
	eq("DisplayName", got.DisplayName, want.DisplayName)
	eq("Initiator.UserID", got.Initiator.UserID, want.Initiator.UserID)
	eq("Initiator.UPN", got.Initiator.UPN, want.Initiator.UPN)
	eq("Initiator.DisplayName", got.Initiator.DisplayName, want.Initiator.DisplayName)
	eq("Initiator.AppID", got.Initiator.AppID, want.Initiator.AppID)
	eq("Initiator.ServicePrincipalID", got.Initiator.ServicePrincipalID, want.Initiator.ServicePrincipalID)
	if !got.Time.Equal(want.Time) {
		t.Errorf("Time = %s, want %s", got.Time, want.Time)
	}
	eq("Source", got.Source, want.Source)
	eq("Activity", got.Activity, want.Activity)
	eq("DedupeKey", got.DedupeKey, want.DedupeKey)
	if !maps.Equal(got.Details, want.Details) {
		t.Errorf("Details = %v, want %v", got.Details, want.Details)
	}
	if !slices.Equal(got.Added, want.Added) {
		t.Errorf("Added = %+v, want %+v", got.Added, want.Added)
	}
}

// ErrorTexts lists the poison errors' texts.
func ErrorTexts(errs []error) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Error()
	}
	return out
}

// AddFixtureSeeds seeds a fuzz corpus with every fixture file under
// tests/testdata and the parts decoders see on their own: an event's data,
// each record of a diagnostic batch, and each binding value of a host
// envelope. Each decoder's fuzz target uses the same seeds.
func AddFixtureSeeds(f *testing.F) {
	root := testdata(f)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		f.Add(b)
		var parts struct {
			Data    json.RawMessage            `json:"data"`
			Records []json.RawMessage          `json:"records"`
			Env     map[string]json.RawMessage `json:"Data"`
		}
		if json.Unmarshal(b, &parts) == nil {
			if len(parts.Data) > 0 {
				f.Add([]byte(parts.Data))
			}
			for _, r := range parts.Records {
				f.Add([]byte(r))
			}
			for _, v := range parts.Env {
				f.Add([]byte(v))
			}
		}
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
}
