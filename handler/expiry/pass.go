package expiry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// The daily pass's records in the state store.
const (
	// CursorKey is the pass's cursor and claim in appwarden.PartitionCursors.
	CursorKey = "expiry"
	// PartitionMarkers holds one marker per credential and threshold
	// reported (key: appId|keyId|threshold, see MarkerKey).
	PartitionMarkers = "_expiry"
)

// Defaults of a Pass.
const (
	// DefaultTime is APPWARDEN_EXPIRY_TIME's default: 08:00 UTC.
	DefaultTime = 8 * time.Hour
	// DefaultPage is how many apps' records the pass holds at once.
	DefaultPage = 500
	// DefaultBatch is how many warnings are handed to the notifier at
	// once: the notifier digests per owner within one hand-off, so the
	// larger the better, but the pass holds them until then. A day with
	// more due than this (a first pass over a large tenant's expired
	// credentials) hands them off in several batches, and an owner whose
	// apps fall in two batches gets two digests.
	DefaultBatch = 2000
	// DefaultLease bounds how long a claim keeps other instances out when
	// the invocation's context has no deadline; each page renews it.
	DefaultLease = 10 * time.Minute
	// bookkeeping bounds the writes made after ctx ended: the last
	// hand-off and the cursor's release.
	bookkeeping = 15 * time.Second
)

// OwnerReader reads an app's owners from Graph (graph.Client.AppOwners):
// only for an app whose record holds none (a first sweep's record) and
// that has a warning to send.
type OwnerReader interface {
	AppOwners(ctx context.Context, appID string) ([]appwarden.Principal, error)
}

// Pass is the daily expiry pass (pipeline.Expiry): once a day, at or after
// the set time of day (UTC), one instance walks every app the sweep knows
// (the facts records, a page at a time, so memory stays flat however large
// the tenant), finds the credentials that expire within a threshold or
// have expired (Due), and hands those not reported at that threshold
// before to the notifier. It reads nothing from Graph that the sweep or a
// decision recorded: the owners of an app recorded without them, and (with
// a Lister) two listings, once a day, of what a first sweep's record lacks
// (certificates, service principal credentials; see listings).
//
// Each credential is reported once per threshold (and once expired),
// across restarts and instances: a marker per (appId, keyId, threshold) is
// inserted with the store's insert-if-absent Put before the warning is
// handed on, and only the instance whose Put inserted it reports it. The
// day's pass is claimed with an ETag-conditional write on its cursor, which
// also keeps its position: a pass cut short by the invocation's deadline
// goes on from there at the next tick.
type Pass struct {
	// Store keeps the pass's cursor and markers.
	Store appwarden.Store
	// Facts are the apps' recorded facts (baseline.Ledger): what the
	// pass judges.
	Facts appwarden.FactsLedger
	// Thresholds are the warning thresholds (APPWARDEN_EXPIRY_THRESHOLDS);
	// none turns the pass off.
	Thresholds []time.Duration
	// At is the time of day, UTC, from which the day's pass is due
	// (APPWARDEN_EXPIRY_TIME), as an offset from midnight.
	At time.Duration
	// Notifier tells the owners; nil logs each warning instead.
	Notifier appwarden.ExpiryNotifier
	// Owners reads the owners of an app recorded without them; nil
	// reports such an app without owners (to the security channel).
	Owners OwnerReader
	// Lister lists the registrations' certificates and the service
	// principals' credentials (graph.Client), which a first sweep's record
	// lacks; nil judges the facts records only. See listings.
	Lister CredentialLister
	// Owner names this instance in the claim (for people reading it).
	Owner string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Page, Batch and Lease default to DefaultPage, DefaultBatch and
	// DefaultLease.
	Page, Batch int
	Lease       time.Duration
}

// cursor is the pass's persisted state and claim.
type cursor struct {
	// Done is the scheduled time of the last pass that finished.
	Done time.Time `json:"done,omitzero"`
	// Slot is the scheduled time of the pass in progress, and After the
	// appId up to which it has handed every warning on.
	Slot  time.Time `json:"slot,omitzero"`
	After string    `json:"after,omitempty"`
	// Phase is the part of the pass in progress: "" the facts walk, then
	// the listings (phaseApplications, phaseServicePrincipals); Link the
	// listing's page to read next ("" its first).
	Phase string `json:"phase,omitempty"`
	Link  string `json:"link,omitempty"`
	// Holder and LeaseUntil mark a pass running; other instances skip
	// until it is released or the lease runs out.
	Holder     string    `json:"holder,omitempty"`
	LeaseUntil time.Time `json:"leaseUntil,omitzero"`
}

// Stats counts what one run saw.
type Stats struct {
	// Ran is false when the tick skipped the pass: off, not due yet, done
	// today, or another instance is running it.
	Ran bool
	// Finished is true when the walk reached the last app (else it goes on
	// at a later tick).
	Finished bool
	// Apps walked; Skipped of them managed identities or Microsoft apps;
	// Corrupt records skipped.
	Apps, Skipped, Corrupt int
	// Due counts the credentials within a threshold or expired; Reported
	// those whose marker this run inserted (handed to the notifier);
	// OwnerReads the apps whose owners were read from Graph; Failed the
	// apps left for the next pass (their owners could not be read).
	Due, Reported, OwnerReads, Failed int
	// Listed counts the registrations and service principals read from the
	// credential listings.
	Listed int
}

func (p *Pass) now() time.Time {
	if p.Now != nil {
		return p.Now().UTC()
	}
	return time.Now().UTC()
}

// Run implements pipeline.Expiry.
func (p *Pass) Run(ctx context.Context, log *slog.Logger) error {
	_, err := p.RunStats(ctx, log)
	return err
}

// Slot is the scheduled time of the pass due at now: today's at the time
// of day, or yesterday's before it.
func Slot(now time.Time, at time.Duration) time.Time {
	now = now.UTC()
	s := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).Add(at)
	if now.Before(s) {
		s = s.AddDate(0, 0, -1)
	}
	return s
}

// RunStats is Run, returning what it saw.
func (p *Pass) RunStats(ctx context.Context, log *slog.Logger) (Stats, error) {
	var st Stats
	if len(p.Thresholds) == 0 {
		return st, nil
	}
	if p.Store == nil || p.Facts == nil {
		return st, errors.New("expiry: the Pass needs a Store and the recorded Facts")
	}
	log = log.With("event", "expiry")
	now := p.now()
	cur, etag, ok, err := p.claim(ctx, log, now)
	if err != nil || !ok {
		return st, err
	}
	st.Ran = true
	w := &walk{p: p, log: log, st: &st, now: now, cur: cur, etag: etag}
	err = w.run(ctx)
	log.Info("expiry pass", "slot", cur.Slot, "finished", st.Finished, "apps", st.Apps, "skipped", st.Skipped,
		"listed", st.Listed, "due", st.Due, "reported", st.Reported, "ownerReads", st.OwnerReads, "failed", st.Failed, "corrupt", st.Corrupt, "error", err)
	return st, err
}

func (p *Pass) lease(ctx context.Context, now time.Time) time.Time {
	if deadline, ok := ctx.Deadline(); ok {
		return deadline.UTC().Add(bookkeeping)
	}
	if p.Lease > 0 {
		return now.Add(p.Lease)
	}
	return now.Add(DefaultLease)
}

// claim reads the cursor and, when the day's pass is due and nobody holds
// it, takes it with a conditional write (appwarden.Claim): of two
// instances that read the same cursor, one write wins and the other skips.
func (p *Pass) claim(ctx context.Context, log *slog.Logger, now time.Time) (cursor, string, bool, error) {
	rec, found, err := p.Store.Get(ctx, appwarden.PartitionCursors, CursorKey)
	if err != nil {
		return cursor{}, "", false, fmt.Errorf("expiry: reading the cursor: %w", err)
	}
	var cur cursor
	if found {
		if err := json.Unmarshal(rec.Data, &cur); err != nil {
			return cursor{}, "", false, fmt.Errorf("expiry: the cursor %s/%s is corrupt: %w", appwarden.PartitionCursors, CursorKey, err)
		}
	}
	slot := Slot(now, p.At)
	switch {
	case cur.Done.IsZero() && cur.Slot.IsZero() && slot.Before(Slot(now, 0)):
		// The first pass ever waits for today's time, not yesterday's.
		log.Debug("expiry pass not due yet", "at", slot.Add(24*time.Hour))
		return cur, "", false, nil
	case !cur.Done.Before(slot):
		log.Debug("expiry pass done for the day", "done", cur.Done)
		return cur, "", false, nil
	case cur.Holder != "" && now.Before(cur.LeaseUntil):
		log.Debug("expiry pass skipped: another instance is running it", "holder", cur.Holder, "leaseUntil", cur.LeaseUntil)
		return cur, "", false, nil
	}
	claimed := cur
	if !claimed.Slot.Equal(slot) {
		// A new day's pass (a pass of an earlier day left unfinished is
		// not finished: this one walks every app anyway).
		claimed.Slot, claimed.After, claimed.Phase, claimed.Link = slot, "", "", ""
	}
	claimed.Holder, claimed.LeaseUntil = p.Owner, p.lease(ctx, now)
	raw, err := json.Marshal(claimed)
	if err != nil {
		return cursor{}, "", false, fmt.Errorf("expiry: encoding the cursor: %w", err)
	}
	next := appwarden.Record{Partition: appwarden.PartitionCursors, Key: CursorKey, Kind: appwarden.KindCursor, Time: now, Data: raw}
	etag, won, err := appwarden.Claim(ctx, p.Store, next, rec.ETag, found)
	if err != nil {
		return cursor{}, "", false, fmt.Errorf("expiry: claiming the cursor: %w", err)
	}
	if !won {
		log.Info("expiry pass skipped: another instance claimed it first")
		return cur, "", false, nil
	}
	return claimed, etag, true, nil
}

// walk is one run of the pass: the apps from the cursor's position on.
type walk struct {
	p    *Pass
	log  *slog.Logger
	st   *Stats
	now  time.Time
	cur  cursor
	etag string
	// pending are the warnings whose markers this run inserted, not yet
	// handed on; markers are their keys, deleted again if the hand-off
	// fails so that a later pass reports them.
	pending []appwarden.Expiring
	markers []string
	// pos is how far the walk has read; the cursor's After, Phase and Link
	// how far it has handed on.
	pos position
}

// position is a place in the day's pass: an appId in the facts walk, or a
// page of a listing.
type position struct {
	After, Phase, Link string
}

func (c *cursor) at() position { return position{After: c.After, Phase: c.Phase, Link: c.Link} }

func (c *cursor) set(p position) { c.After, c.Phase, c.Link = p.After, p.Phase, p.Link }

var errLost = errors.New("expiry: another instance took the pass over")

func (w *walk) run(ctx context.Context) error {
	page, batch := w.p.Page, w.p.Batch
	if page <= 0 {
		page = DefaultPage
	}
	if batch <= 0 {
		batch = DefaultBatch
	}
	w.pos = w.cur.at()
	if w.pos.Phase != "" {
		return w.listings(ctx)
	}
	for {
		if ctx.Err() != nil {
			// The invocation's time is spent: hand on what is found and
			// leave the rest to the next tick.
			return w.stop(ctx, false)
		}
		recs, next, err := w.p.Facts.Page(ctx, w.pos.After, page)
		if err != nil {
			if ctx.Err() != nil {
				return w.stop(ctx, false)
			}
			return errors.Join(err, w.stop(ctx, false))
		}
		for i := range recs {
			if err := w.judge(ctx, &recs[i]); err != nil {
				if ctx.Err() != nil {
					return w.stop(ctx, false)
				}
				return errors.Join(err, w.stop(ctx, false))
			}
		}
		w.pos.After = next
		last := len(recs) < page
		if last && w.p.Lister == nil {
			return w.stop(ctx, true)
		}
		if last {
			w.pos = position{Phase: phaseApplications}
		}
		if len(w.pending) >= batch {
			if err := w.handOff(ctx); err != nil {
				return errors.Join(err, w.stop(ctx, false))
			}
		}
		// Renew the claim (and note the position handed on so far).
		if err := w.save(ctx, false); err != nil {
			if errors.Is(err, errLost) {
				w.log.Warn("expiry pass taken over by another instance (the lease ran out); stopping", "after", w.cur.After)
				return w.handOff(context.WithoutCancel(ctx))
			}
			return errors.Join(err, w.stop(ctx, false))
		}
		if last {
			return w.listings(ctx)
		}
	}
}

// judge finds an app's warnings not reported yet, and inserts their markers.
func (w *walk) judge(ctx context.Context, r *appwarden.RecordedFacts) error {
	w.st.Apps++
	if r.Err != nil {
		w.st.Corrupt++
		w.log.Warn("facts record skipped", "appId", r.AppID, "error", r.Err)
		return nil
	}
	app := FromRecord(r)
	if app.IsManagedIdentity() || app.IsMicrosoftFirstParty() {
		w.st.Skipped++
		return nil
	}
	return w.report(ctx, r.AppID, Due(app, w.now, w.p.Thresholds), r.OwnersKnown())
}

// report inserts the markers of an app's warnings not reported yet, and
// keeps those it inserted for the hand-off, with the app's owners read from
// Graph when ownersKnown is false.
func (w *walk) report(ctx context.Context, appID string, due []appwarden.Expiring, ownersKnown bool) error {
	if len(due) == 0 {
		return nil
	}
	w.st.Due += len(due)
	// Which are new: a cheap read each, so that an app reported at a
	// threshold yesterday costs no Graph read today.
	fresh := due[:0]
	for _, e := range due {
		_, found, err := w.p.Store.Get(ctx, PartitionMarkers, MarkerKey(e))
		if err != nil {
			return fmt.Errorf("expiry: reading the marker of %s: %w", MarkerKey(e), err)
		}
		if !found {
			fresh = append(fresh, e)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	if !ownersKnown && w.p.Owners != nil {
		owners, err := w.p.Owners.AppOwners(ctx, appID)
		w.st.OwnerReads++
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			// Not marked: the next day's pass tries again.
			w.st.Failed++
			w.log.Warn("could not read the owners of an app with expiring credentials; it is left for the next pass", "appId", appID, "error", err)
			return nil
		}
		for i := range fresh {
			fresh[i].Owners = owners
		}
	}
	for _, e := range fresh {
		key := MarkerKey(e)
		raw, _ := json.Marshal(map[string]any{"until": e.Credential.EndDateTime, "on": e.On, "kind": e.Kind})
		inserted, err := w.p.Store.Put(ctx, appwarden.Record{Partition: PartitionMarkers, Key: key, Kind: appwarden.KindMarker, Time: w.now, Data: raw})
		if err != nil {
			return fmt.Errorf("expiry: recording the marker %s: %w", key, err)
		}
		if inserted {
			w.pending = append(w.pending, e)
			w.markers = append(w.markers, key)
		}
	}
	return nil
}

// MarkerKey names a warning's marker: the app, the credential, and the
// threshold reached ("30d", "12h0m0s") or "expired".
func MarkerKey(e appwarden.Expiring) string {
	th := "expired"
	if !e.Expired {
		th = thresholdKey(e.Threshold)
	}
	return strings.ToLower(e.AppID) + "|" + strings.ToLower(e.Credential.KeyID) + "|" + th
}

func thresholdKey(d time.Duration) string {
	if d%day == 0 {
		return fmt.Sprintf("%dd", d/day)
	}
	return d.String()
}

// handOff gives the pending warnings to the notifier (or the log). If the
// notifier fails, their markers are deleted again, so that the next pass
// reports them, and the position handed on stays where it was.
func (w *walk) handOff(ctx context.Context) error {
	if len(w.pending) == 0 {
		w.cur.set(w.pos)
		return nil
	}
	var err error
	if w.p.Notifier != nil {
		err = w.p.Notifier.NotifyExpiring(ctx, w.log, w.pending)
	} else {
		for _, e := range w.pending {
			w.log.Info("credential expiring", "appId", e.AppID, "displayName", e.DisplayName, "keyId", e.Credential.KeyID,
				"credential", e.Credential.DisplayName, "kind", e.Kind, "on", e.On, "expires", e.Credential.EndDateTime,
				"threshold", appwarden.ThresholdLabel(e.Threshold), "owners", len(e.Owners))
		}
	}
	if err != nil {
		for _, key := range w.markers {
			if derr := w.p.Store.Delete(ctx, PartitionMarkers, key); derr != nil {
				err = errors.Join(err, derr)
			}
		}
		w.pending, w.markers = nil, nil
		return fmt.Errorf("expiry: handing warnings to the notifier: %w", err)
	}
	w.st.Reported += len(w.pending)
	w.pending, w.markers = nil, nil
	w.cur.set(w.pos)
	return nil
}

// save writes the cursor with this run's claim: its position, and its
// lease renewed or (release) ended.
func (w *walk) save(ctx context.Context, release bool) error {
	next := w.cur
	if release {
		next.Holder, next.LeaseUntil = "", time.Time{}
	} else {
		next.LeaseUntil = w.p.lease(ctx, w.p.now())
	}
	raw, err := json.Marshal(next)
	if err != nil {
		return fmt.Errorf("expiry: encoding the cursor: %w", err)
	}
	etag, err := w.p.Store.Replace(ctx, appwarden.Record{Partition: appwarden.PartitionCursors, Key: CursorKey, Kind: appwarden.KindCursor, Time: w.p.now(), Data: raw, ETag: w.etag})
	if errors.Is(err, appwarden.ErrConflict) || errors.Is(err, appwarden.ErrNotFound) {
		return errLost
	}
	if err != nil {
		return fmt.Errorf("expiry: saving the cursor: %w", err)
	}
	w.cur, w.etag = next, etag
	return nil
}

// stop hands on what is pending and releases the claim: finished (the
// day's pass is done), or not (the next tick goes on from the position
// handed on). It runs on its own short deadline, after ctx has ended too.
func (w *walk) stop(ctx context.Context, finished bool) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeeping)
	defer cancel()
	err := w.handOff(ctx)
	if finished && err == nil {
		w.st.Finished = true
		w.cur.Done, w.cur.Slot = w.cur.Slot, time.Time{}
		w.cur.set(position{})
	}
	if serr := w.save(ctx, true); serr != nil {
		if errors.Is(serr, errLost) {
			w.log.Warn("expiry pass taken over by another instance (the lease ran out)", "after", w.cur.After)
			serr = nil
		}
		err = errors.Join(err, serr)
	}
	return err
}
