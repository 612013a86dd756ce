package eventgrid_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/eventgrid"
)

// minOutcomes is the least number of signals, ignore reasons and poison
// errors that v must decode to: one for each event-like value. Only arrays
// (also inside a JSON string) may hold no event at all.
func minOutcomes(v any) int {
	switch x := v.(type) {
	case []any:
		n := 0
		for _, el := range x {
			n += minOutcomes(el)
		}
		return n
	case string:
		var inner any
		if json.Unmarshal([]byte(x), &inner) == nil {
			if arr, ok := inner.([]any); ok {
				return minOutcomes(arr)
			}
		}
	}
	return 1
}

// FuzzEventGrid feeds arbitrary JSON to the Event Grid decoder. It must never
// panic; every event-like value ends as a signal, an ignore reason or
// poison; every reason and error names its place under the binding path;
// every signal is complete; and decoding is deterministic, so a redelivery
// is recorded the same way.
func FuzzEventGrid(f *testing.F) {
	addFixtureSeeds(f)
	for _, s := range []string{`[]`, `[[]]`, `"[]"`, `null`, `{}`, `"x"`, `{"specversion":"1.0"}`,
		`{"id":"1","eventType":"Microsoft.Resources.ResourceActionSuccess","data":{"operationName":"a/register/action","claims":{"a":1,"b":2}}}`,
		`{"id":"1","eventType":"X","data":{"records":[]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		if json.Unmarshal(data, &v) != nil {
			return
		}
		b := eventgrid.Decode(v, path)
		n := len(b.Signals) + len(b.Ignored) + len(b.Poison)
		if min := minOutcomes(v); n < min {
			t.Fatalf("%d outcomes, want at least %d: %+v", n, min, b)
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
			if !slices.Contains(appwarden.SignalKinds, s.Kind) || s.Source != appwarden.SourceEventGrid || s.Activity == "" ||
				!(strings.HasPrefix(s.DedupeKey, "eventgrid:") || strings.HasPrefix(s.DedupeKey, "audit:")) {
				t.Errorf("incomplete signal %+v", s)
			}
		}
		again := eventgrid.Decode(v, path)
		if !reflect.DeepEqual(b.Signals, again.Signals) || !slices.Equal(b.Ignored, again.Ignored) ||
			!slices.Equal(errorTexts(b.Poison), errorTexts(again.Poison)) {
			t.Errorf("decoding twice differs:\n%+v\n%+v", b, again)
		}
	})
}
