// Package sweep runs the Graph delta sweep: the entry point that catches
// whatever the events missed. It streams the applications and
// servicePrincipals delta feeds page by page, turns every new or changed
// object into a signal for the pipeline, and persists the feed's cursor after
// each page, so the next sweep (or another instance, or a restarted one)
// sees only what changed since.
package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"golang.org/x/sync/errgroup"
)

// Pending keeps what a sweep could not decide (the inbox), so that one app
// Graph fails on does not hold the cursor back: without it a page is redone
// until every app on it succeeds, and under sustained throttling a page that
// cannot finish within one invocation is redone for ever.
type Pending interface {
	Hold(ctx context.Context, sig appwarden.Signal) error
	Failed(ctx context.Context, sig appwarden.Signal, cause error) error
	HandOff(ctx context.Context, sig appwarden.Signal) error
}

// Sweeper sweeps both feeds.
type Sweeper struct {
	Feed  appwarden.DeltaFeed
	Store appwarden.Store
	// Pending takes the apps whose handling failed; nil fails the page
	// instead, so that it is swept again.
	Pending Pending
	// Handle takes one object's signal through the pipeline.
	Handle func(ctx context.Context, log *slog.Logger, sig appwarden.Signal) error
	// Lookback: the first sweep judges only applications created this
	// recently and records older ones as a baseline, so installing AppWarden
	// never mass-acts on a tenant's existing apps. JudgeAll judges everything.
	Lookback time.Duration
	JudgeAll bool
	// Baseline records, for each app older than the look-back window that
	// the first sweep passes, the facts its delta object carries; nil
	// records nothing (then every fact of an old app is completed at its
	// first resolution).
	Baseline Baseliner
	// Lock, when set, serializes the handling of one app with the
	// pipeline's other work on it (pipeline.LockApp), around the check of
	// what was already decided and the handling itself.
	Lock func(appID string) func()
	// Parallel bounds how many objects of a page are processed at once.
	Parallel int
	Now      func() time.Time
}

// Baseliner records an old app's facts from its delta object.
type Baseliner interface {
	RecordDelta(ctx context.Context, appID string, a *appwarden.Application) error
}

// Decider tells the sweep that AppWarden has already decided the change a
// delta object shows (baseline.Keeper.Decided): the object is skipped, not
// resolved again. since is when the feed's previous pass saw its last page
// (in a first pass, when the app was created). A Baseline that implements
// it is used.
type Decider interface {
	Decided(ctx context.Context, o appwarden.DeltaObject, since time.Time) (bool, error)
}

// cursor is a feed's persisted position.
type cursor struct {
	Link string `json:"link"`
	// Baselined is true once the first full pass has ended.
	Baselined bool `json:"baselined"`
	// Seen is when the page that gave Link arrived: the next pass shows
	// what changed after then.
	Seen time.Time `json:"seen,omitzero"`
}

// Sweep runs both feeds to their current end.
func (s *Sweeper) Sweep(ctx context.Context, log *slog.Logger) (appwarden.SweepStats, error) {
	var total appwarden.SweepStats
	for _, feed := range []string{appwarden.FeedApplications, appwarden.FeedServicePrincipals} {
		st, err := s.sweepFeed(ctx, log.With("feed", feed), feed)
		total.Pages += st.Pages
		total.Objects += st.Objects
		total.Judged += st.Judged
		total.Baseline += st.Baseline
		total.Removed += st.Removed
		total.Skipped += st.Skipped
		if err != nil {
			return total, err
		}
	}
	log.Info("sweep finished", "event", "sweep", "pages", total.Pages, "objects", total.Objects,
		"judged", total.Judged, "baseline", total.Baseline, "removed", total.Removed, "skipped", total.Skipped)
	return total, nil
}

func (s *Sweeper) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sweeper) sweepFeed(ctx context.Context, log *slog.Logger, feed string) (appwarden.SweepStats, error) {
	var st appwarden.SweepStats
	rec, found, err := s.Store.Get(ctx, appwarden.PartitionCursors, feed)
	if err != nil {
		return st, fmt.Errorf("sweep: reading %s cursor: %w", feed, err)
	}
	var cur cursor
	if found {
		if err := json.Unmarshal(rec.Data, &cur); err != nil {
			return st, fmt.Errorf("sweep: %s cursor is corrupt: %w", feed, err)
		}
	}
	link := cur.Link
	if link == "" {
		link = s.Feed.DeltaStart(feed)
	}
	first := !cur.Baselined
	cutoff := s.now().Add(-s.Lookback)
	// The previous pass's last page arrived at cur.Seen (a cursor saved
	// before Seen was kept: when it was saved, later): every object of
	// this pass changed after then. A decision recorded since may already
	// cover the change (see Decider); the decisions made while that page
	// was being worked on count too.
	var since time.Time
	if found && cur.Link != "" {
		since = cur.Seen
		if since.IsZero() {
			since = rec.Time
		}
	}
	etag := rec.ETag
	var handleErr error
	save := func(page appwarden.DeltaPage) error {
		arrived := s.now().UTC()
		st.Pages++
		if err := s.page(ctx, log, page, first, cutoff, since, &st); err != nil {
			handleErr = err
			return err
		}
		next := cursor{Link: page.Resume, Baselined: cur.Baselined || page.Final, Seen: arrived}
		raw, _ := json.Marshal(next)
		newTag, err := s.Store.Replace(ctx, appwarden.Record{Partition: appwarden.PartitionCursors, Key: feed, Kind: appwarden.KindCursor, Time: s.now().UTC(), Data: raw, ETag: etag})
		if errors.Is(err, appwarden.ErrNotFound) && etag == "" {
			newTag, err = s.Store.Replace(ctx, appwarden.Record{Partition: appwarden.PartitionCursors, Key: feed, Kind: appwarden.KindCursor, Time: s.now().UTC(), Data: raw})
		}
		if err != nil {
			return fmt.Errorf("sweep: saving %s cursor: %w", feed, err)
		}
		etag = newTag
		return nil
	}
	err = s.Feed.DeltaPages(ctx, feed, link, save)
	if err != nil && handleErr == nil && cur.Link != "" && errors.Is(err, appwarden.ErrResyncRequired) {
		// Graph no longer knows the stored link (a deltaLink expires after
		// 7 days without a sweep). Start the feed over as a first sweep:
		// what changed meanwhile cannot be told from what was always there,
		// so old apps become the baseline again rather than all being judged.
		log.Warn("delta link expired; sweeping the feed again from the start", "event", "sweep", "error", err)
		cur, first, since = cursor{}, true, time.Time{}
		err = s.Feed.DeltaPages(ctx, feed, s.Feed.DeltaStart(feed), save)
	}
	return st, err
}

// page processes one page's objects, a bounded number at a time. Every
// judged app is either handled or, when its handling fails, handed to
// Pending; one app's failure does not stop the others (the group has no
// shared context to cancel). Only what must fail the page (see keep) is
// returned, all of it.
func (s *Sweeper) page(ctx context.Context, log *slog.Logger, page appwarden.DeltaPage, first bool, cutoff, since time.Time, st *appwarden.SweepStats) error {
	// The page shows changes up to its arrival: its signals say so, so that
	// a resolution of the same app begun after then is shared
	// (graph.Subject.Changed).
	seenAt := s.now().UTC()
	decider, _ := s.Baseline.(Decider)
	par := s.Parallel
	if par <= 0 {
		par = 8
	}
	var g errgroup.Group
	g.SetLimit(par)
	var mu sync.Mutex
	var errs []error
	seen := map[string]bool{}
	for _, o := range page.Objects {
		st.Objects++
		switch {
		case o.Removed:
			st.Removed++
			continue
		case o.AppID == "" || seen[o.AppID]:
			st.Skipped++
			continue
		case first && !s.JudgeAll && (o.Feed == appwarden.FeedServicePrincipals || o.Created.Before(cutoff)):
			st.Baseline++
			if s.Baseline != nil && o.Application != nil {
				// A failure here fails the page, which is swept again: an
				// old app whose baseline is lost would have its next change
				// judged against less.
				g.Go(func() error {
					if err := s.Baseline.RecordDelta(ctx, o.AppID, o.Application); err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("sweep: baseline of %s: %w", o.AppID, err))
						mu.Unlock()
					}
					return nil
				})
			}
			continue
		}
		seen[o.AppID] = true
		sig := s.signal(o, first, seenAt)
		g.Go(func() error {
			// Take turns with an event about the same app: whichever
			// comes second finds the first's decision recorded.
			if s.Lock != nil {
				defer s.Lock(o.AppID)()
			}
			// A first pass judges what was created within the look-back
			// as new; a decision recorded after the creation (an event
			// about it came first) may already cover it.
			after := since
			if first {
				after = o.Created
			}
			if decider != nil && !after.IsZero() {
				decided, err := decider.Decided(ctx, o, after)
				if err != nil {
					log.Warn("could not tell whether the object was decided; resolving it", "event", "sweep", "appId", o.AppID, "error", err)
				}
				if decided {
					mu.Lock()
					st.Skipped++
					mu.Unlock()
					log.Debug("already decided; skipped", "event", "sweep", "appId", o.AppID, "objectId", o.ID, "reason", "decided")
					return nil
				}
			}
			mu.Lock()
			st.Judged++
			mu.Unlock()
			l := log.With("signal", string(sig.Kind), "appId", sig.AppID)
			// Once ctx has ended (the invocation's budget is spent) an
			// app is not started: it fails with ctx's error, as its
			// handling would, and goes to Pending like any failure.
			err := ctx.Err()
			if err == nil {
				err = s.Handle(ctx, l, sig)
			}
			if err != nil {
				if err = s.keep(ctx, l, sig, err); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("sweep: %s %s: %w", o.Feed, o.AppID, err))
					mu.Unlock()
				}
			}
			return nil
		})
	}
	_ = g.Wait() // the goroutines return nil; their errors are in errs
	return errors.Join(errs...)
}

// keep hands an app whose handling failed to Pending, so that the timer
// finishes it and the cursor can move on. It returns the error that must
// fail the page: the handling error when there is no Pending, or why
// Pending could not take it.
func (s *Sweeper) keep(ctx context.Context, log *slog.Logger, sig appwarden.Signal, cause error) error {
	if s.Pending == nil {
		return cause
	}
	bg := context.WithoutCancel(ctx)
	if err := s.Pending.Hold(bg, sig); err != nil {
		return errors.Join(cause, err)
	}
	// Nothing but the timer will come back to it: the cursor moves on.
	if err := errors.Join(s.Pending.Failed(bg, sig, cause), s.Pending.HandOff(bg, sig)); err != nil {
		log.Warn("could not note the failure of a pending app", "event", "sweep", "error", err)
	}
	log.Warn("app not decided; it stays pending in the inbox and the sweep moves on", "event", "sweep", "error", cause)
	return nil
}

func (s *Sweeper) signal(o appwarden.DeltaObject, first bool, seenAt time.Time) appwarden.Signal {
	kind, typ := appwarden.AppUpdated, appwarden.ObjectApplication
	if o.Feed == appwarden.FeedServicePrincipals {
		typ = appwarden.ObjectServicePrincipal
	}
	if first {
		kind = appwarden.AppCreated
		if typ == appwarden.ObjectServicePrincipal {
			kind = appwarden.ServicePrincipalCreated
		}
	}
	now := s.now().UTC()
	return appwarden.Signal{
		Kind: kind, AppID: o.AppID, ObjectID: o.ID, ObjectType: typ, DisplayName: o.DisplayName,
		Time: seenAt, Source: appwarden.SourceSweep, Activity: "delta " + o.Feed,
		DedupeKey: "delta:" + o.Feed + ":" + o.ID + ":" + now.Format(time.RFC3339Nano),
	}
}
