// Package auditpull reads the Entra audit log from Microsoft Graph
// (GET /auditLogs/directoryAudits) on the timer: the only audit source in
// pull mode, and the one that closes the Event Hub stream's gaps in
// stream + pull mode (a batch lost after its last retry, a stream that
// stopped).
//
// Each due tick reads the categories ApplicationManagement and
// RoleManagement from a persisted cursor, minus an overlap for records that
// Entra publishes late, decodes every record with the audit log decoder, and
// takes each signal not yet recorded (pushed on Event Hub, or pulled before)
// through the same pipeline as a pushed record. A signal whose handling
// fails goes to the inbox, so that the cursor moves on and the timer
// finishes it; ignored and malformed records are logged and kept (poison)
// once each.
//
// The cursor is one record in the state store, written with ETag-conditional
// replaces: only one instance pulls a window, and at most once per Interval.
package auditpull

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// Defaults.
const (
	// DefaultInterval is how often the log is pulled (the timer ticks every
	// 30 s; a tick finds the pull not yet due in between).
	DefaultInterval = time.Minute
	// DefaultOverlap is how far before the cursor each pull reads again.
	// Entra publishes an audit record about 2 min (p95) to 5 min (p99)
	// after the activity (FACTS.md §1, §4), stamped with the activity's
	// time: a record dated before the last pull can appear after it. Five
	// minutes covers the p99 lag; what is later still is caught by the
	// delta sweep for apps, not for owners, grants and roles, so a longer
	// overlap costs only re-reads (records already seen are skipped with one
	// state read each).
	DefaultOverlap = 5 * time.Minute
	// DefaultLease bounds how long a claim keeps other instances out when
	// the invocation's context has no deadline.
	DefaultLease = 5 * time.Minute
	// CursorKey is the cursor's key in appwarden.PartitionCursors.
	CursorKey = "auditlog"
	// PoisonFunction names the pull in poison records (`history --app _poison`).
	PoisonFunction = "AuditPull"
	// markerPrefix keys, in appwarden.PartitionDedupe, the records the pull
	// ignored or kept as poison, so that the overlap does not log or keep
	// them again. (Signals are deduped by the trail's own markers.)
	markerPrefix = "auditpull|"
	// maxPoisonBody bounds how much of a malformed record is kept.
	maxPoisonBody = 64 << 10
	// bookkeeping bounds the writes made after ctx ended: the cursor's
	// release and a failed record's hand-off to Pending.
	bookkeeping = 15 * time.Second
)

// Categories are the audit categories the pull reads: app registrations,
// service principals, credentials, owners, grants and consents are
// ApplicationManagement; directory roles given to a service principal are
// RoleManagement.
var Categories = []string{appwarden.CategoryApplicationManagement, appwarden.CategoryRoleManagement}

// Decoder turns one decoded audit record (Graph's directoryAudit JSON) into
// a batch: auditlog.Decode.
type Decoder func(v any, path string, source appwarden.Source) appwarden.Batch

// SeenSet answers whether a signal was already recorded (the trail's dedupe
// markers): a record pushed on Event Hub, or pulled by an earlier,
// overlapping pull, is not taken through the pipeline again.
type SeenSet interface {
	Seen(ctx context.Context, dedupeKey string) (bool, error)
}

// Pending is the inbox: Hold saves a signal before work on it starts, Done
// removes it once decided, Failed notes why it was not, and HandOff leaves
// it to the timer at once.
type Pending interface {
	Hold(ctx context.Context, sig appwarden.Signal) error
	Done(ctx context.Context, sig appwarden.Signal) error
	Failed(ctx context.Context, sig appwarden.Signal, cause error) error
	HandOff(ctx context.Context, sig appwarden.Signal) error
}

// PoisonRecorder keeps records that could not be decoded (the trail).
type PoisonRecorder interface {
	RecordPoison(ctx context.Context, p appwarden.Poison) error
}

// Puller pulls the audit log. Source, Store, Decode, Seen and Pending are
// required.
type Puller struct {
	Source  appwarden.AuditSource
	Store   appwarden.Store
	Decode  Decoder
	Seen    SeenSet
	Pending Pending
	// Poison keeps malformed records; nil only logs them.
	Poison PoisonRecorder
	// Interval and Overlap default to DefaultInterval and DefaultOverlap.
	Interval time.Duration
	Overlap  time.Duration
	// Owner names this instance in the cursor's claim (for people reading it).
	Owner string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// cursor is the pull's persisted position and claim.
type cursor struct {
	// Through: every record dated before it that Graph listed was handled.
	// The next pull reads from Through - Overlap.
	Through time.Time `json:"through"`
	// LastPull is when the last pull was claimed: the next is due Interval later.
	LastPull time.Time `json:"lastPull"`
	// Holder and LeaseUntil mark a pull in progress; other instances skip
	// until it is released or the lease runs out.
	Holder     string    `json:"holder,omitempty"`
	LeaseUntil time.Time `json:"leaseUntil,omitzero"`
}

// Stats counts what one pull saw.
type Stats struct {
	// Pulled is false when the tick skipped the pull: not due yet, or
	// another instance holds it.
	Pulled bool
	// Since is where the read started; Through is the cursor afterwards.
	Since, Through time.Time
	Pages          int
	// Records read; each is exactly one of New, Duplicates (already
	// recorded, or already ignored or kept as poison), Held (failed, now in
	// the inbox), Ignored, Poison, or left for the next pull (Left).
	Records, New, Duplicates, Held, Ignored, Poison, Left int
	// Complete is true when the read reached the end of the log.
	Complete bool
}

func (p *Puller) now() time.Time {
	if p.Now != nil {
		return p.Now().UTC()
	}
	return time.Now().UTC()
}

func (p *Puller) interval() time.Duration {
	if p.Interval > 0 {
		return p.Interval
	}
	return DefaultInterval
}

func (p *Puller) overlap() time.Duration {
	if p.Overlap > 0 {
		return p.Overlap
	}
	return DefaultOverlap
}

// Pull implements pipeline.AuditPuller: a pull when one is due, the records
// not seen yet through process, and one summary log line.
func (p *Puller) Pull(ctx context.Context, log *slog.Logger, process func(context.Context, *slog.Logger, appwarden.Signal) error) error {
	_, err := p.Run(ctx, log, process)
	return err
}

// errStopped stops the source's read when ctx has ended or a record could
// not be handled; it never leaves Run.
var errStopped = errors.New("auditpull: stopped")

// Run is Pull, returning what it saw.
func (p *Puller) Run(ctx context.Context, log *slog.Logger, process func(context.Context, *slog.Logger, appwarden.Signal) error) (Stats, error) {
	log = log.With("event", "auditpull")
	var st Stats
	if p.Source == nil || p.Store == nil || p.Decode == nil || p.Seen == nil || p.Pending == nil {
		return st, errors.New("auditpull: the Puller needs Source, Store, Decode, Seen and Pending")
	}
	now := p.now()
	cur, etag, ok, err := p.claim(ctx, log, now)
	if err != nil || !ok {
		return st, err
	}
	st.Pulled = true
	st.Since = cur.Through.Add(-p.overlap())
	if cur.Through.IsZero() {
		// The first pull: the last interval and the overlap, not the whole
		// retained log (the first sweep judges the apps that exist).
		st.Since = now.Add(-p.interval() - p.overlap())
	}

	// Progress: the cursor may move to the activity time of the last
	// record handled only while the source lists records oldest first and
	// every record before it was handled; otherwise an unfinished pull
	// leaves the cursor where it was and the next one reads the window again
	// (what was handled is skipped as duplicate).
	prog := progress{ascending: true}
	var stopErr error
	readErr := p.Source.DirectoryAudits(ctx, st.Since, Categories, func(records []json.RawMessage) error {
		st.Pages++
		for _, raw := range records {
			if ctx.Err() != nil {
				return errStopped
			}
			st.Records++
			at, err := p.handle(ctx, log, raw, process, &st)
			if err != nil {
				stopErr = err
				st.Left++
				return errStopped
			}
			prog.handled(at)
		}
		return nil
	})
	if errors.Is(readErr, errStopped) {
		readErr = nil
	}
	st.Complete = readErr == nil && stopErr == nil && ctx.Err() == nil
	next := cur
	switch {
	case st.Complete:
		// Everything Graph listed up to the start of this pull is handled;
		// what it publishes late for that span comes within the overlap.
		next.Through = now
	case prog.ascending && prog.last.After(cur.Through):
		next.Through = prog.last
	}
	st.Through = next.Through
	relErr := p.release(ctx, log, etag, next)

	if readErr != nil {
		readErr = fmt.Errorf("auditpull: reading directoryAudits since %s: %w", st.Since.Format(time.RFC3339), readErr)
	}
	attrs := []any{"since", st.Since, "through", st.Through, "complete", st.Complete, "pages", st.Pages,
		"records", st.Records, "new", st.New, "duplicates", st.Duplicates, "ignored", st.Ignored,
		"poison", st.Poison, "held", st.Held, "left", st.Left}
	switch {
	case readErr != nil || stopErr != nil:
		log.Warn("audit pull incomplete; the next pull reads the rest", append(attrs, "error", errors.Join(readErr, stopErr))...)
	case !st.Complete:
		log.Warn("audit pull stopped: the invocation's time is spent; the next pull goes on from the cursor", attrs...)
	default:
		log.Info("audit pull finished", attrs...)
	}
	return st, errors.Join(readErr, stopErr, relErr)
}

// progress tracks the latest activity time the cursor may move to.
type progress struct {
	ascending bool
	last      time.Time
}

func (g *progress) handled(at time.Time) {
	if at.IsZero() || at.Before(g.last) {
		// Unordered (or undated) records: an interrupted pull cannot say
		// what is left before any point, so it keeps the old cursor.
		g.ascending = false
		return
	}
	g.last = at
}

// meta is what the pull itself reads of a record.
type meta struct {
	ID               string    `json:"id"`
	ActivityDateTime time.Time `json:"activityDateTime"`
}

// handle takes one record to its end: a new signal processed (or, failing,
// held in Pending), a duplicate skipped, an ignored record logged, or poison
// kept. It returns the record's activity time, and an error only when the
// record is not safely handled and the pull must stop before it.
func (p *Puller) handle(ctx context.Context, log *slog.Logger, raw json.RawMessage, process func(context.Context, *slog.Logger, appwarden.Signal) error, st *Stats) (time.Time, error) {
	var m meta
	var v any
	var batch appwarden.Batch
	if err := json.Unmarshal(raw, &v); err != nil {
		batch.Poison = []error{fmt.Errorf("directoryAudits record: not JSON: %w", err)}
	} else {
		_ = json.Unmarshal(raw, &m) // best effort: the decoder judges the shape
		path := "directoryAudits"
		if m.ID != "" {
			path += "[" + m.ID + "]"
		}
		batch = p.Decode(v, path, appwarden.SourceAuditPull)
	}
	recLog := log.With("auditId", m.ID)
	for _, sig := range batch.Signals {
		if err := p.signal(ctx, recLog, sig, process, st); err != nil {
			return m.ActivityDateTime, err
		}
	}
	if len(batch.Signals) > 0 {
		return m.ActivityDateTime, nil
	}
	// Ignored and poison records are noted once, not at every overlapping pull.
	key := markerPrefix + recordKey(m.ID, raw)
	_, seen, err := p.Store.Get(ctx, appwarden.PartitionDedupe, key)
	if err != nil {
		return m.ActivityDateTime, fmt.Errorf("auditpull: reading the marker of record %s: %w", m.ID, err)
	}
	if seen {
		st.Duplicates++
		return m.ActivityDateTime, nil
	}
	if len(batch.Poison) > 0 {
		if err := p.poison(ctx, recLog, m.ID, raw, batch.Poison); err != nil {
			return m.ActivityDateTime, err
		}
		st.Poison++
	} else {
		for _, reason := range batch.Ignored {
			recLog.Info("audit record ignored: " + reason)
		}
		st.Ignored++
	}
	if _, err := p.Store.Put(ctx, appwarden.Record{Partition: appwarden.PartitionDedupe, Key: key, Kind: appwarden.KindMarker, Time: p.now()}); err != nil {
		// Noted already; at worst it is noted again by the next pull.
		recLog.Warn("could not mark the record as noted", "error", err)
	}
	return m.ActivityDateTime, nil
}

// signal takes one decoded signal through process unless it was recorded
// already. Like a pushed signal, it is held in the inbox before work on it
// starts: processing records the signal (so later pulls skip it as seen)
// before it decides it, and the inbox is what finishes it if this
// invocation does not. A failure is left there for the timer; only a
// signal the inbox cannot take stops the pull.
func (p *Puller) signal(ctx context.Context, log *slog.Logger, sig appwarden.Signal, process func(context.Context, *slog.Logger, appwarden.Signal) error, st *Stats) error {
	seen, err := p.Seen.Seen(ctx, sig.DedupeKey)
	if err != nil {
		return fmt.Errorf("auditpull: checking %s: %w", sig.DedupeKey, err)
	}
	if seen {
		st.Duplicates++
		return nil
	}
	sigLog := log.With("signal", string(sig.Kind), "appId", sig.AppID, "dedupeKey", sig.DedupeKey)
	if err := p.Pending.Hold(ctx, sig); err != nil {
		return fmt.Errorf("auditpull: holding %s in the inbox before processing it: %w", sig.DedupeKey, err)
	}
	cause := process(ctx, sigLog, sig)
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeeping)
	defer cancel()
	if cause == nil {
		st.New++
		if err := p.Pending.Done(bg, sig); err != nil {
			// Harmless: the timer decides it again, idempotently.
			sigLog.Warn("could not remove a decided signal from the inbox", "error", err)
		}
		return nil
	}
	// Nothing but the timer will come back to it: the cursor moves on.
	if err := errors.Join(p.Pending.Failed(bg, sig, cause), p.Pending.HandOff(bg, sig)); err != nil {
		sigLog.Warn("could not note the failure of a pending signal", "error", err)
	}
	sigLog.Warn("audit record not decided; it stays pending in the inbox and the pull moves on", "error", cause)
	st.Held++
	return nil
}

// poison keeps a malformed record like the functions keep a malformed input.
func (p *Puller) poison(ctx context.Context, log *slog.Logger, id string, raw json.RawMessage, errs []error) error {
	rec := appwarden.Poison{Function: PoisonFunction, InvocationID: id, At: p.now(), Body: string(raw)}
	for _, e := range errs {
		rec.Errors = append(rec.Errors, e.Error())
		log.Error("malformed audit record recorded as poison: " + e.Error())
	}
	if len(rec.Body) > maxPoisonBody {
		rec.Body, rec.Truncated = rec.Body[:maxPoisonBody], true
	}
	if p.Poison == nil {
		return nil
	}
	if err := p.Poison.RecordPoison(ctx, rec); err != nil {
		return fmt.Errorf("auditpull: recording poison record %s: %w", id, err)
	}
	return nil
}

// recordKey identifies a record: its id, else a hash of its bytes.
func recordKey(id string, raw []byte) string {
	if id = strings.TrimSpace(id); id != "" {
		return id
	}
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}
