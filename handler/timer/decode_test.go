package timer_test

import (
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/timer"
)

const path = "Data.timer"

var now = time.Date(2026, 11, 24, 9, 14, 5, 0, time.UTC)

func decodeOnly(t *testing.T, v any) appwarden.Signal {
	t.Helper()
	b := timer.Decode(v, path, now)
	if len(b.Signals) != 1 || len(b.Ignored)+len(b.Poison) != 0 {
		t.Fatalf("got signals %+v, ignored %q, poison %q; want one signal", b.Signals, b.Ignored, errorTexts(b.Poison))
	}
	return b.Signals[0]
}

func TestHostEnvelopeFixture(t *testing.T) {
	sig := decodeOnly(t, binding(t, "functions-host/invocation-timer.json", "timer"))
	checkSignal(t, sig, appwarden.Signal{
		Kind:      appwarden.SweepRequested,
		Time:      mustTime(t, "2026-11-24T09:14:00Z"),
		Source:    appwarden.SourceTimer,
		Activity:  "timer",
		DedupeKey: "timer:2026-11-24T09:14:00Z",
	})
}

func TestPastDue(t *testing.T) {
	v := binding(t, "functions-host/invocation-timer.json", "timer").(map[string]any)
	v["IsPastDue"] = true
	sig := decodeOnly(t, v)
	if sig.Details["isPastDue"] != "true" {
		t.Errorf("details = %v, want isPastDue=true", sig.Details)
	}
}

func TestTimeFallsBackToNow(t *testing.T) {
	tests := []struct {
		name string
		v    map[string]any
	}{
		{"empty object", map[string]any{}},
		{"no schedule status", map[string]any{"IsPastDue": false}},
		{"Next is not a time", map[string]any{"ScheduleStatus": map[string]any{"Next": "soon"}}},
		{"Next is null", map[string]any{"ScheduleStatus": map[string]any{"Next": nil}}},
		{"Next is the zero time", map[string]any{"ScheduleStatus": map[string]any{"Next": "0001-01-01T00:00:00Z"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sig := decodeOnly(t, tc.v)
			if !sig.Time.Equal(now) {
				t.Errorf("time = %s, want now %s", sig.Time, now)
			}
			if want := "timer:" + now.Format(time.RFC3339Nano); sig.DedupeKey != want {
				t.Errorf("dedupe key = %q, want %q", sig.DedupeKey, want)
			}
		})
	}
}

func TestMalformedTimer(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"IsPastDue is a string", map[string]any{"IsPastDue": "yes"}, "Data.timer.IsPastDue: expected boolean, got string"},
		{"Next is a number", map[string]any{"ScheduleStatus": map[string]any{"Next": 1.0}}, "Data.timer.ScheduleStatus.Next: expected string, got number"},
		{"ScheduleStatus is an array", map[string]any{"ScheduleStatus": []any{}}, "Data.timer.ScheduleStatus: expected object, got array"},
		{"Schedule is a string", map[string]any{"Schedule": "0 */5 * * * *"}, "Data.timer.Schedule: expected object, got string"},
		{"an array", []any{}, "Data.timer: expected object, got array"},
		{"a string", "tick", "Data.timer: expected object, got string"},
		{"null", nil, "Data.timer: expected object, got null"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := timer.Decode(tc.v, path, now)
			if got := errorTexts(b.Poison); len(got) != 1 || got[0] != tc.want || len(b.Signals)+len(b.Ignored) != 0 {
				t.Errorf("got %+v\nwant poison [%q]", b, tc.want)
			}
		})
	}
}
