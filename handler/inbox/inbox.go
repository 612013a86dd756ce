// Package inbox keeps every decoded signal in the state store from before
// work on it starts until it is decided, so that no input is lost where
// nothing redelivers it.
//
// Event Hubs advances its checkpoint whether an invocation succeeds or fails;
// only the function's retry policy runs a batch again, and after its last
// retry the batch is gone (FACTS.md §2, learn.microsoft.com/azure/azure-functions/functions-reliable-event-processing).
// So the handler saves each signal here as pending, removes it once the
// pipeline has decided it, and the timer re-drives what is still pending
// (oldest first, a bounded number per tick) until each is decided or
// expires with its last error recorded as the reason.
package inbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// States of an inbox entry.
const (
	Pending = "pending"
	Expired = "expired"
)

// Defaults for the re-drive.
const (
	// DefaultMaxAge is how long a signal stays pending before it expires:
	// as long as Event Grid keeps retrying an event (24 h), by which time
	// the delta sweep has long judged any new app again.
	DefaultMaxAge = 24 * time.Hour
	// DefaultPerTick bounds how many pending signals one timer tick takes,
	// so that a backlog cannot hold a tick past its budget.
	DefaultPerTick = 50
	// DefaultMinAge is how long a signal nobody handed off waits before the
	// timer takes it: its own input is still being retried meanwhile (Event
	// Hub's retry policy waits 5+10+20+40+60 s between its six tries; Event
	// Grid redelivers from 10 s), and re-driving it then only spends Graph
	// requests twice. A signal handed off (the last retry, a sweep that
	// moved on) is taken at once.
	DefaultMinAge = 3 * time.Minute
)

// Entry is one saved signal.
type Entry struct {
	Signal    appwarden.Signal `json:"signal"`
	State     string           `json:"state"`
	FirstSeen time.Time        `json:"firstSeen"`
	Attempts  int              `json:"attempts"`
	LastError string           `json:"lastError,omitempty"`
	// Reason says why an expired entry was given up.
	Reason string `json:"reason,omitempty"`
	// HandedOff is set when nothing else will retry the signal: the timer
	// takes it at the next tick.
	HandedOff bool `json:"handedOff,omitempty"`
}

// Inbox is the pending-signal store.
type Inbox struct {
	Store appwarden.Store
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// MaxAge, MinAge and PerTick default to DefaultMaxAge, DefaultMinAge
	// and DefaultPerTick.
	MaxAge  time.Duration
	MinAge  time.Duration
	PerTick int
}

func (b *Inbox) now() time.Time {
	if b.Now != nil {
		return b.Now().UTC()
	}
	return time.Now().UTC()
}

// Keeps reports whether a signal belongs in the inbox. A timer tick does
// not: the next tick replaces a failed one, and the tick is what re-drives
// the inbox.
func (b *Inbox) Keeps(sig appwarden.Signal) bool {
	return sig.DedupeKey != "" && sig.Source != appwarden.SourceTimer
}

// Hold saves sig as pending unless it is already held. It must succeed
// before work on the signal starts: a signal that could not be held is not
// safe to acknowledge.
func (b *Inbox) Hold(ctx context.Context, sig appwarden.Signal) error {
	at := b.now()
	raw, err := json.Marshal(Entry{Signal: sig, State: Pending, FirstSeen: at})
	if err != nil {
		return fmt.Errorf("inbox: encoding %s: %w", sig.DedupeKey, err)
	}
	if _, err := b.Store.Put(ctx, appwarden.Record{Partition: appwarden.PartitionInbox, Key: sig.DedupeKey, Kind: appwarden.KindInbox, Time: at, Data: raw}); err != nil {
		return fmt.Errorf("inbox: holding %s: %w", sig.DedupeKey, err)
	}
	return nil
}

// Done removes a decided signal.
func (b *Inbox) Done(ctx context.Context, sig appwarden.Signal) error {
	if err := b.Store.Delete(ctx, appwarden.PartitionInbox, sig.DedupeKey); err != nil {
		return fmt.Errorf("inbox: removing decided %s: %w", sig.DedupeKey, err)
	}
	return nil
}

// Failed notes a transient failure: the signal stays pending with the error
// and one more attempt counted. A signal no longer held (decided meanwhile
// by another invocation) is left alone.
func (b *Inbox) Failed(ctx context.Context, sig appwarden.Signal, cause error) error {
	rec, e, ok, err := b.get(ctx, sig.DedupeKey)
	if err != nil || !ok {
		return err
	}
	e.Attempts++
	e.LastError = cause.Error()
	return b.replace(ctx, rec, e)
}

// HandOff marks a held signal as left to the timer alone: its input will
// not come again (the last Event Hub retry was answered, or a sweep moved
// past it), so the next tick takes it without waiting for MinAge.
func (b *Inbox) HandOff(ctx context.Context, sig appwarden.Signal) error {
	rec, e, ok, err := b.get(ctx, sig.DedupeKey)
	if err != nil || !ok || e.HandedOff {
		return err
	}
	e.HandedOff = true
	return b.replace(ctx, rec, e)
}

func (b *Inbox) get(ctx context.Context, key string) (appwarden.Record, Entry, bool, error) {
	rec, ok, err := b.Store.Get(ctx, appwarden.PartitionInbox, key)
	if err != nil {
		return rec, Entry{}, false, fmt.Errorf("inbox: reading %s: %w", key, err)
	}
	if !ok {
		return rec, Entry{}, false, nil
	}
	var e Entry
	if err := json.Unmarshal(rec.Data, &e); err != nil {
		return rec, Entry{}, false, fmt.Errorf("inbox: decoding %s: %w", key, err)
	}
	return rec, e, true, nil
}

// replace writes e over rec if nobody changed rec since it was read; a
// conflict means another invocation got there first, which is fine.
func (b *Inbox) replace(ctx context.Context, rec appwarden.Record, e Entry) error {
	raw, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("inbox: encoding %s: %w", rec.Key, err)
	}
	rec.Data = raw
	if _, err := b.Store.Replace(ctx, rec); err != nil && !errors.Is(err, appwarden.ErrConflict) && !errors.Is(err, appwarden.ErrNotFound) {
		return fmt.Errorf("inbox: updating %s: %w", rec.Key, err)
	}
	return nil
}

// List returns every entry, oldest first.
func (b *Inbox) List(ctx context.Context) ([]Entry, error) {
	recs, err := b.Store.List(ctx, appwarden.PartitionInbox)
	if err != nil {
		return nil, fmt.Errorf("inbox: listing: %w", err)
	}
	out := make([]Entry, 0, len(recs))
	for _, r := range recs {
		var e Entry
		if err := json.Unmarshal(r.Data, &e); err != nil {
			return nil, fmt.Errorf("inbox: decoding %s: %w", r.Key, err)
		}
		out = append(out, e)
	}
	slices.SortStableFunc(out, func(a, b Entry) int { return a.FirstSeen.Compare(b.FirstSeen) })
	return out, nil
}

// Redrive takes the oldest pending signals (at most PerTick) that were
// handed off or have waited MinAge through process, removing each one it
// decides and counting a failure on the rest.
// A signal pending longer than MaxAge expires instead, with its last error
// as the reason. It stops when ctx ends; the next tick goes on from there.
// The error joins the failures, so that the tick reports them.
func (b *Inbox) Redrive(ctx context.Context, log *slog.Logger, process func(context.Context, *slog.Logger, appwarden.Signal) error) error {
	entries, err := b.List(ctx)
	if err != nil {
		return err
	}
	maxAge, minAge, perTick := b.MaxAge, b.MinAge, b.PerTick
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	if minAge <= 0 {
		minAge = DefaultMinAge
	}
	if perTick <= 0 {
		perTick = DefaultPerTick
	}
	var errs []error
	taken := 0
	for _, e := range entries {
		age := b.now().Sub(e.FirstSeen)
		if e.State != Pending || (!e.HandedOff && age < minAge) {
			continue
		}
		if taken == perTick || ctx.Err() != nil {
			break
		}
		taken++
		sigLog := log.With("signal", string(e.Signal.Kind), "appId", e.Signal.AppID, "dedupeKey", e.Signal.DedupeKey)
		if age > maxAge {
			if err := b.expire(ctx, sigLog, e, age); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		perr := process(ctx, sigLog, e.Signal)
		if perr == nil {
			sigLog.Info("pending signal decided", "event", "inbox", "attempts", e.Attempts+1)
			if err := b.Done(context.WithoutCancel(ctx), e.Signal); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		sigLog.Warn("pending signal still failing; it stays pending", "event", "inbox", "attempts", e.Attempts+1, "error", perr)
		errs = append(errs, fmt.Errorf("pending %s: %w", e.Signal.DedupeKey, perr))
		if err := b.Failed(context.WithoutCancel(ctx), e.Signal, perr); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// expire gives an entry up, keeping it (with why) for `history --app _inbox`.
func (b *Inbox) expire(ctx context.Context, log *slog.Logger, e Entry, age time.Duration) error {
	rec, cur, ok, err := b.get(ctx, e.Signal.DedupeKey)
	if err != nil || !ok {
		return err
	}
	cur.State = Expired
	cur.Reason = fmt.Sprintf("still undecided after %s and %d attempts; last error: %s", age.Round(time.Second), cur.Attempts, orNone(cur.LastError))
	log.Error("pending signal expired: "+cur.Reason, "event", "inbox")
	return b.replace(ctx, rec, cur)
}

func orNone(s string) string {
	if s == "" {
		return "none recorded"
	}
	return s
}
