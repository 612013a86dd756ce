package auditlog_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/auditlog"
)

// wantOutcomes is how many outcomes v must decode to: one per record of a
// non-empty records envelope, the sum over the elements of a non-empty
// array (each a record or an envelope), else exactly one.
func wantOutcomes(v any) int {
	if list, ok := v.([]any); ok && len(list) > 0 {
		n := 0
		for _, el := range list {
			if _, nested := el.([]any); nested {
				n++ // an array in an array is one poison
				continue
			}
			n += wantOutcomes(el)
		}
		return n
	}
	if obj, ok := v.(map[string]any); ok {
		if recs, ok := obj["records"].([]any); ok && len(recs) > 0 {
			return len(recs)
		}
	}
	return 1
}

// FuzzAuditLog feeds arbitrary JSON to the audit record decoder. It must
// never panic; each record ends as exactly one signal, ignore reason or
// poison error, which names its place; every signal names an app or an
// object; and decoding is deterministic.
func FuzzAuditLog(f *testing.F) {
	addFixtureSeeds(f)
	for _, s := range []string{`{"records":[]}`, `{"records":[1,{}]}`, `{"properties":{}}`, `{"id":"x","activityDisplayName":"Add application","result":"success"}`,
		`[]`, `[[],{"records":[{}]},{"Id":"x","OperationName":"Add application","TargetResources":"[{\"id\":1}]"}]`,
		`{"Id":"x","ActivityDisplayName":"Add delegated permission grant","Result":0,"TargetResources":"[{\"type\":\"ServicePrincipal\",\"modifiedProperties\":[{\"displayName\":\"ServicePrincipal.ObjectID\",\"newValue\":\"\\\"0d2f5969-011b-460d-ac74-3291d227d49f\\\"\"}]}]"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		if json.Unmarshal(data, &v) != nil {
			return
		}
		b := auditlog.Decode(v, path, appwarden.SourceEventHub)
		if n, want := len(b.Signals)+len(b.Ignored)+len(b.Poison), wantOutcomes(v); n != want {
			t.Fatalf("%d outcomes, want %d: %+v", n, want, b)
		}
		for _, r := range b.Ignored {
			if !strings.HasPrefix(r, path) {
				t.Errorf("ignore reason %q does not name its path", r)
			}
		}
		for _, e := range b.Poison {
			if !strings.HasPrefix(e.Error(), path) {
				t.Errorf("poison %q does not name its path", e)
			}
		}
		for _, s := range b.Signals {
			if !slices.Contains(appwarden.SignalKinds, s.Kind) || s.Source != appwarden.SourceEventHub ||
				!strings.HasPrefix(s.DedupeKey, "audit:") || (s.AppID == "" && s.ObjectID == "") {
				t.Errorf("incomplete signal %+v", s)
			}
			// Nothing that is not a GUID is ever an appId or object id.
			if (s.AppID != "" && !isGUID(s.AppID)) || (s.ObjectID != "" && !isGUID(s.ObjectID)) {
				t.Errorf("signal with a non-GUID id: %+v", s)
			}
		}
		again := auditlog.Decode(v, path, appwarden.SourceEventHub)
		if !reflect.DeepEqual(b.Signals, again.Signals) || !slices.Equal(b.Ignored, again.Ignored) ||
			!slices.Equal(errorTexts(b.Poison), errorTexts(again.Poison)) {
			t.Errorf("decoding twice differs:\n%+v\n%+v", b, again)
		}
	})
}
