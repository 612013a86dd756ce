package eventhub_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/eventhub"
)

// FuzzEventHub feeds arbitrary JSON to the Event Hub decoder. It must never
// panic; every message ends as at least one signal, ignore reason or poison
// error, which names its place; and decoding is deterministic.
func FuzzEventHub(f *testing.F) {
	addFixtureSeeds(f)
	for _, s := range []string{`[]`, `[""]`, `["e30="]`, `["{\"records\":[]}"]`, `[[]]`, `"IiI="`, `[null, 1, true]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		if json.Unmarshal(data, &v) != nil {
			return
		}
		b := eventhub.Decode(v, path)
		min := 1
		if list, ok := v.([]any); ok {
			min = len(list)
		}
		if n := len(b.Signals) + len(b.Ignored) + len(b.Poison); n < min {
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
			if !slices.Contains(appwarden.SignalKinds, s.Kind) || s.Source != appwarden.SourceEventHub ||
				!strings.HasPrefix(s.DedupeKey, "audit:") || (s.AppID == "" && s.ObjectID == "") {
				t.Errorf("incomplete signal %+v", s)
			}
		}
		again := eventhub.Decode(v, path)
		if !reflect.DeepEqual(b.Signals, again.Signals) || !slices.Equal(b.Ignored, again.Ignored) ||
			!slices.Equal(errorTexts(b.Poison), errorTexts(again.Poison)) {
			t.Errorf("decoding twice differs:\n%+v\n%+v", b, again)
		}
	})
}
