// Package trail is AppWarden's audit trail: every signal, decision, action,
// release and piece of poison becomes a record in the state store, readable
// in order per app (`appwarden history`), and the same facts are emitted as
// structured log lines with stable field names for Log Analytics and
// Sentinel.
package trail

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// Trail writes and reads the audit trail.
type Trail struct {
	Store appwarden.Store
	Now   func() time.Time
	seq   atomic.Int64
}

// New returns a trail over st.
func New(st appwarden.Store) *Trail { return &Trail{Store: st, Now: time.Now} }

// partitionFor is where an app's story lives; records about no single app
// (a provider registration, a sweep) go to the tenant partition.
func partitionFor(appID string) string {
	if appID == "" {
		return "_tenant"
	}
	return strings.ToLower(appID)
}

// key orders records by time; the suffix keeps keys unique and, for records
// that must exist once, stable (so a second write of the same fact is a no-op).
func (t *Trail) key(at time.Time, kind, unique string) string {
	if unique == "" {
		unique = fmt.Sprintf("%d-%d", at.UnixNano(), t.seq.Add(1))
	}
	return at.UTC().Format("2006-01-02T15:04:05.000000000Z") + "|" + kind + "|" + unique
}

func (t *Trail) put(ctx context.Context, partition, kind, key string, at time.Time, data any) (bool, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return false, fmt.Errorf("trail: encoding %s: %w", kind, err)
	}
	ok, err := t.Store.Put(ctx, appwarden.Record{Partition: partition, Key: key, Kind: kind, Time: at.UTC(), Data: raw})
	if err != nil {
		return false, fmt.Errorf("trail: recording %s: %w", kind, err)
	}
	return ok, nil
}

// marker is what a dedupe marker holds: the entry point the signal first
// came through.
type marker struct {
	Source appwarden.Source `json:"source"`
}

// RecordSignal records a signal once per dedupe key. It returns the entry
// point the signal first came through: sig.Source when it is new or comes
// again the same way (a redelivery, to be reconciled again), another one
// when the same record arrived both ways (pushed on Event Hub and pulled
// from Graph), which the pipeline then leaves to the first.
func (t *Trail) RecordSignal(ctx context.Context, log *slog.Logger, sig appwarden.Signal) (appwarden.Source, error) {
	raw, _ := json.Marshal(marker{Source: sig.Source})
	key := "signal|" + sig.DedupeKey
	first, err := t.Store.Put(ctx, appwarden.Record{Partition: appwarden.PartitionDedupe, Key: key, Kind: appwarden.KindMarker, Time: t.Now().UTC(), Data: raw})
	if err != nil {
		return "", fmt.Errorf("trail: dedupe marker for %s: %w", sig.DedupeKey, err)
	}
	if !first {
		via := sig.Source
		if rec, found, err := t.Store.Get(ctx, appwarden.PartitionDedupe, key); err != nil {
			return "", fmt.Errorf("trail: reading dedupe marker for %s: %w", sig.DedupeKey, err)
		} else if found {
			var m marker
			if json.Unmarshal(rec.Data, &m) == nil && m.Source != "" {
				via = m.Source
			}
		}
		log.Info("signal already recorded", "event", "signal", "duplicate", true, "firstSource", string(via))
		return via, nil
	}
	at := sig.Time
	if at.IsZero() {
		at = t.Now()
	}
	if _, err := t.put(ctx, partitionFor(sig.AppID), appwarden.KindSignal, t.key(at, appwarden.KindSignal, sig.DedupeKey), at, sig); err != nil {
		return "", err
	}
	log.Info("signal recorded", "event", "signal", "signalKind", string(sig.Kind),
		"objectId", sig.ObjectID, "initiator", sig.Initiator.String(), "source", string(sig.Source), "activity", sig.Activity)
	return sig.Source, nil
}

// Seen reports whether a signal with this dedupe key was recorded.
func (t *Trail) Seen(ctx context.Context, dedupeKey string) (bool, error) {
	_, found, err := t.Store.Get(ctx, appwarden.PartitionDedupe, "signal|"+dedupeKey)
	if err != nil {
		return false, fmt.Errorf("trail: reading dedupe marker for %s: %w", dedupeKey, err)
	}
	return found, nil
}

// RecordPoison keeps input that could not be decoded.
func (t *Trail) RecordPoison(ctx context.Context, p appwarden.Poison) error {
	_, err := t.put(ctx, appwarden.PartitionPoison, appwarden.KindPoison, t.key(p.At, appwarden.KindPoison, ""), p.At, p)
	return err
}

// Entry is one record of an app's story.
type Entry struct {
	Time time.Time       `json:"time"`
	Kind string          `json:"kind"`
	Data json.RawMessage `json:"data"`
}

// History returns an app's records in time order; "_poison" and "_tenant"
// name the poison list and tenant-wide records.
func (t *Trail) History(ctx context.Context, appID string) ([]Entry, error) {
	recs, err := t.Store.List(ctx, partitionFor(appID))
	if err != nil {
		return nil, fmt.Errorf("trail: reading history of %s: %w", appID, err)
	}
	out := make([]Entry, 0, len(recs))
	for _, r := range recs {
		out = append(out, Entry{Time: r.Time, Kind: r.Kind, Data: r.Data})
	}
	// Keys order records of one kind; the story is told in time order.
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// decisionRecord is what the trail keeps for each judgement.
type decisionRecord struct {
	Signal   string               `json:"signal"`
	Kind     appwarden.SignalKind `json:"signalKind"`
	App      *appwarden.App       `json:"app"`
	Decision *appwarden.Decision  `json:"decision,omitempty"`
	Outcome  *appwarden.Outcome   `json:"outcome,omitempty"`
}

// RecordDecision records the resolved app and the decision on it (nil when
// nothing was judged: the app is gone, or unresolvable with Graph's reason
// in app.Unresolvable), and logs it with stable field names.
func (t *Trail) RecordDecision(ctx context.Context, log *slog.Logger, sig appwarden.Signal, app *appwarden.App, d *appwarden.Decision, o *appwarden.Outcome) error {
	// The decision was made when the app was read, before any action: the
	// story reads signal, decision, action, as it happened, although the
	// record (which carries the outcome) is written after acting.
	at := app.ResolvedAt
	if at.IsZero() {
		// An app Graph could not be asked about was never read: it is
		// dated, and its record says so, when the refusal is recorded.
		at = t.Now().UTC()
		stamped := *app
		stamped.ResolvedAt = at
		app = &stamped
	}
	rec := decisionRecord{Signal: sig.DedupeKey, Kind: sig.Kind, App: app, Decision: d, Outcome: o}
	if _, err := t.put(ctx, partitionFor(app.AppID), appwarden.KindDecision, t.key(at, appwarden.KindDecision, ""), at, rec); err != nil {
		return err
	}
	attrs := []any{"event", "decision", "appId", app.AppID, "displayName", app.DisplayName, "deleted", app.Deleted}
	if app.Unresolvable != "" {
		attrs = append(attrs, "unresolvable", app.Unresolvable)
	}
	if d != nil {
		sev := "none"
		if s, ok := d.MaxSeverity(); ok {
			sev = s.String()
		}
		actions := make([]string, 0, len(d.Actions))
		for _, a := range d.Actions {
			actions = append(actions, string(a))
		}
		attrs = append(attrs, "findings", len(d.Findings), "severity", sev, "mode", string(d.Mode),
			"actions", strings.Join(actions, ","), "protected", d.Protected, "explanation", d.Explanation)
	}
	if o != nil {
		attrs = append(attrs, "applied", len(o.Actions), "appliedMode", string(o.Mode), "skipped", o.Skipped)
	}
	log.Info("decision recorded", attrs...)
	return nil
}
