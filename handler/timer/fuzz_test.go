package timer_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/timer"
)

// FuzzTimer feeds arbitrary JSON to the timer decoder. It must never panic;
// every value ends as exactly one sweep signal with a time and a dedupe key,
// or one poison error naming its place; and decoding is deterministic.
func FuzzTimer(f *testing.F) {
	addFixtureSeeds(f)
	for _, s := range []string{`{}`, `null`, `{"ScheduleStatus":{"Next":"2026-01-01T00:00:00Z"},"IsPastDue":true}`,
		`{"ScheduleStatus":{"Next":"0001-01-01T00:00:00Z"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		if json.Unmarshal(data, &v) != nil {
			return
		}
		b := timer.Decode(v, path, now)
		if len(b.Ignored) != 0 || len(b.Signals)+len(b.Poison) != 1 {
			t.Fatalf("got %+v, want exactly one signal or poison error", b)
		}
		for _, e := range b.Poison {
			if !strings.HasPrefix(e.Error(), path) {
				t.Errorf("poison %q does not name its path", e)
			}
		}
		for _, s := range b.Signals {
			if s.Kind != appwarden.SweepRequested || s.Source != appwarden.SourceTimer || s.Time.IsZero() ||
				!strings.HasPrefix(s.DedupeKey, "timer:") {
				t.Errorf("incomplete signal %+v", s)
			}
		}
		again := timer.Decode(v, path, now)
		if !reflect.DeepEqual(b.Signals, again.Signals) || !slices.Equal(errorTexts(b.Poison), errorTexts(again.Poison)) {
			t.Errorf("decoding twice differs:\n%+v\n%+v", b, again)
		}
	})
}
