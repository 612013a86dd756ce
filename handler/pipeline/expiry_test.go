package pipeline_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/pipeline"
	"github.com/appwarden/appwarden/handler/store"
	"github.com/appwarden/appwarden/handler/trail"
)

type steps struct{ seen []string }

func (s *steps) Sweep(context.Context, *slog.Logger) (appwarden.SweepStats, error) {
	s.seen = append(s.seen, "sweep")
	return appwarden.SweepStats{}, nil
}

func (s *steps) Flush(context.Context, *slog.Logger) error {
	s.seen = append(s.seen, "flush")
	return nil
}

type expiryStep struct{ s *steps }

func (e expiryStep) Run(context.Context, *slog.Logger) error {
	e.s.seen = append(e.s.seen, "expiry")
	return nil
}

// TestExpiryRunsOnTimerTicksAfterTheSweep: the expiry pass runs on a timer
// tick, after the sweep and before the outbox is flushed (its warnings go
// out on the same tick); a sweep asked for by a provider registration does
// not run it.
func TestExpiryRunsOnTimerTicksAfterTheSweep(t *testing.T) {
	s := &steps{}
	tr := trail.New(store.NewMemory())
	p := &pipeline.Pipeline{Trail: tr, Decisions: tr, Sweeper: s, Outbox: s, Expiry: expiryStep{s}}
	tick := appwarden.Signal{Kind: appwarden.SweepRequested, Source: appwarden.SourceTimer, Time: time.Now(), DedupeKey: "tick-1"}
	if err := p.Process(context.Background(), quiet, tick); err != nil {
		t.Fatal(err)
	}
	if got := s.seen; len(got) != 3 || got[0] != "sweep" || got[1] != "expiry" || got[2] != "flush" {
		t.Fatalf("timer tick ran %v; want sweep, expiry, flush", got)
	}
	s.seen = nil
	other := appwarden.Signal{Kind: appwarden.ProviderRegistered, Source: appwarden.SourceEventGrid, Time: time.Now(), DedupeKey: "reg-1"}
	if err := p.Process(context.Background(), quiet, other); err != nil {
		t.Fatal(err)
	}
	for _, step := range s.seen {
		if step == "expiry" {
			t.Fatalf("a sweep that is not a timer tick ran the expiry pass: %v", s.seen)
		}
	}
}
