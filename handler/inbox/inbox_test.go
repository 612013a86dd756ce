package inbox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/appwarden/appwardentest"
	"github.com/appwarden/appwarden/handler/inbox"
	"github.com/appwarden/appwarden/handler/store"
	"github.com/appwarden/appwarden/tests/azurite"
)

// stores runs each test on the in-memory store and on Table Storage
// (Azurite), each variant reported on its own.
func stores(t *testing.T, run func(t *testing.T, st appwarden.Store)) {
	t.Run("memory", func(t *testing.T) { run(t, store.NewMemory()) })
	t.Run("table", func(t *testing.T) {
		az := azurite.Start(t)
		st, err := store.NewTableFromConnectionString(context.Background(), az.ConnectionString())
		if err != nil {
			t.Fatal(err)
		}
		run(t, st)
	})
}

type clock struct{ at time.Time }

func (c *clock) now() time.Time { return c.at }

func sig(i int) appwarden.Signal {
	return appwarden.Signal{Kind: appwarden.AppCreated, AppID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
		Source: appwarden.SourceEventHub, DedupeKey: fmt.Sprintf("audit:Directory_%d", i)}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(&appwardentest.LogBuffer{}, nil)) }

func list(t *testing.T, b *inbox.Inbox) []inbox.Entry {
	t.Helper()
	es, err := b.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func TestHoldIsIdempotentAndDoneRemoves(t *testing.T) {
	stores(t, func(t *testing.T, st appwarden.Store) {
		ctx := context.Background()
		c := &clock{time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
		b := &inbox.Inbox{Store: st, Now: c.now}
		for range 2 {
			if err := b.Hold(ctx, sig(1)); err != nil {
				t.Fatal(err)
			}
			c.at = c.at.Add(time.Minute)
		}
		es := list(t, b)
		if len(es) != 1 || es[0].State != inbox.Pending || !es[0].FirstSeen.Equal(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)) {
			t.Fatalf("entries %+v: want one pending entry first seen at the first hold", es)
		}
		if err := b.Done(ctx, sig(1)); err != nil {
			t.Fatal(err)
		}
		if es := list(t, b); len(es) != 0 {
			t.Errorf("after Done: %+v", es)
		}
		// Failed on a signal someone else decided changes nothing.
		if err := b.Failed(ctx, sig(1), errors.New("late")); err != nil {
			t.Fatal(err)
		}
		if es := list(t, b); len(es) != 0 {
			t.Errorf("Failed re-created a decided signal: %+v", es)
		}
	})
}

// TestRedriveOldestFirstBoundedPerTick: a tick takes at most PerTick
// signals, oldest first; decided ones leave, failing ones stay with the
// attempt counted.
func TestRedriveOldestFirstBoundedPerTick(t *testing.T) {
	stores(t, func(t *testing.T, st appwarden.Store) {
		ctx := context.Background()
		c := &clock{time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
		b := &inbox.Inbox{Store: st, Now: c.now, PerTick: 3}
		// Held newest first, so key order is not time order.
		for i := 5; i >= 1; i-- {
			if err := b.Hold(ctx, sig(i)); err != nil {
				t.Fatal(err)
			}
			c.at = c.at.Add(time.Second)
		}
		c.at = c.at.Add(inbox.DefaultMinAge)
		var order []string
		err := b.Redrive(ctx, quiet(), func(_ context.Context, _ *slog.Logger, s appwarden.Signal) error {
			order = append(order, s.DedupeKey)
			if s.DedupeKey == sig(4).DedupeKey {
				return errors.New("graph: 503")
			}
			return nil
		})
		if err == nil || !strings.Contains(err.Error(), "graph: 503") {
			t.Errorf("Redrive error %v, want the failure reported", err)
		}
		want := []string{sig(5).DedupeKey, sig(4).DedupeKey, sig(3).DedupeKey}
		if fmt.Sprint(order) != fmt.Sprint(want) {
			t.Fatalf("re-driven %v, want the 3 oldest %v", order, want)
		}
		es := list(t, b)
		var left []string
		for _, e := range es {
			left = append(left, e.Signal.DedupeKey)
		}
		if fmt.Sprint(left) != fmt.Sprint([]string{sig(4).DedupeKey, sig(2).DedupeKey, sig(1).DedupeKey}) {
			t.Fatalf("left %v", left)
		}
		if es[0].Attempts != 1 || es[0].LastError != "graph: 503" {
			t.Errorf("failing entry %+v: want one attempt and the error", es[0])
		}
	})
}

// TestExpiry: a signal pending longer than MaxAge is given up with the
// reason kept, and never re-driven again.
func TestExpiry(t *testing.T) {
	stores(t, func(t *testing.T, st appwarden.Store) {
		ctx := context.Background()
		c := &clock{time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
		b := &inbox.Inbox{Store: st, Now: c.now, MaxAge: time.Hour}
		if err := b.Hold(ctx, sig(1)); err != nil {
			t.Fatal(err)
		}
		if err := b.Failed(ctx, sig(1), errors.New("graph: 503")); err != nil {
			t.Fatal(err)
		}
		c.at = c.at.Add(2 * time.Hour)
		calls := 0
		process := func(context.Context, *slog.Logger, appwarden.Signal) error { calls++; return nil }
		for range 2 {
			if err := b.Redrive(ctx, quiet(), process); err != nil {
				t.Fatal(err)
			}
		}
		if calls != 0 {
			t.Errorf("an expired signal was processed %d times", calls)
		}
		es := list(t, b)
		if len(es) != 1 || es[0].State != inbox.Expired || !strings.Contains(es[0].Reason, "after 2h0m0s and 1 attempts; last error: graph: 503") {
			t.Fatalf("entries %+v: want one expired entry with the reason", es)
		}
	})
}

// TestRedriveStopsWithItsContext: a tick whose time is up leaves the rest
// for the next one.
func TestRedriveStopsWithItsContext(t *testing.T) {
	st := store.NewMemory()
	b := &inbox.Inbox{Store: st}
	ctx, cancel := context.WithCancel(context.Background())
	for i := range 3 {
		if err := b.Hold(ctx, sig(i)); err != nil {
			t.Fatal(err)
		}
		if err := b.HandOff(ctx, sig(i)); err != nil {
			t.Fatal(err)
		}
	}
	calls := 0
	err := b.Redrive(ctx, quiet(), func(context.Context, *slog.Logger, appwarden.Signal) error {
		calls++
		cancel()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 || len(list(t, b)) != 2 {
		t.Errorf("processed %d, %d left; want 1 and 2", calls, len(list(t, b)))
	}
}

// TestYoungSignalsWaitUnlessHandedOff: a signal whose input is still being
// retried is left to that retry until it has waited MinAge; one handed off
// (nothing else will retry it) is taken at the next tick.
func TestYoungSignalsWaitUnlessHandedOff(t *testing.T) {
	stores(t, func(t *testing.T, st appwarden.Store) {
		ctx := context.Background()
		c := &clock{time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
		b := &inbox.Inbox{Store: st, Now: c.now, MinAge: time.Minute}
		for i := 1; i <= 2; i++ {
			if err := b.Hold(ctx, sig(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.HandOff(ctx, sig(2)); err != nil {
			t.Fatal(err)
		}
		var taken []string
		process := func(_ context.Context, _ *slog.Logger, s appwarden.Signal) error {
			taken = append(taken, s.DedupeKey)
			return nil
		}
		c.at = c.at.Add(30 * time.Second)
		if err := b.Redrive(ctx, quiet(), process); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(taken) != fmt.Sprint([]string{sig(2).DedupeKey}) {
			t.Fatalf("took %v at 30 s, want only the handed-off signal", taken)
		}
		c.at = c.at.Add(time.Minute)
		if err := b.Redrive(ctx, quiet(), process); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(taken) != fmt.Sprint([]string{sig(2).DedupeKey, sig(1).DedupeKey}) {
			t.Fatalf("took %v after MinAge, want the other signal too", taken)
		}
	})
}
