// Package timer decodes the timer function's binding value into a
// SweepRequested signal.
package timer

import (
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/shape"
)

var timerFields = shape.Fields{
	"IsPastDue":                  shape.Bool,
	"Schedule":                   shape.Object,
	"ScheduleStatus":             shape.Object,
	"ScheduleStatus.Last":        shape.String,
	"ScheduleStatus.Next":        shape.String,
	"ScheduleStatus.LastUpdated": shape.String,
}

// Decode checks the timer value and asks for a sweep. now stamps the signal
// when the schedule status carries no time.
func Decode(v any, path string, now time.Time) appwarden.Batch {
	if err := shape.Check(v, path, timerFields); err != nil {
		return appwarden.Batch{Poison: []error{err}}
	}
	obj := v.(map[string]any)
	sig := appwarden.Signal{Kind: appwarden.SweepRequested, Source: appwarden.SourceTimer, Activity: "timer", Time: now.UTC()}
	if st, ok := obj["ScheduleStatus"].(map[string]any); ok {
		if next, ok := st["Next"].(string); ok {
			// DateTime.MinValue (year 1) means "not scheduled": keep now
			if t, err := time.Parse(time.RFC3339Nano, next); err == nil && !t.IsZero() {
				sig.Time = t.UTC()
			}
		}
	}
	if due, _ := obj["IsPastDue"].(bool); due {
		sig.Details = map[string]string{"isPastDue": "true"}
	}
	sig.DedupeKey = "timer:" + sig.Time.Format(time.RFC3339Nano)
	return appwarden.Batch{Signals: []appwarden.Signal{sig}}
}
