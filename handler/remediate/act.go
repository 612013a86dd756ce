package remediate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/retry"
)

// Alerter raises the loud alert (the security channel) when the blast-radius
// limit trips.
type Alerter interface {
	Alert(ctx context.Context, log *slog.Logger, message string)
}

// Remediator applies decisions.
type Remediator struct {
	Graph appwarden.Writer
	Store appwarden.Store
	Guard appwarden.Guard
	// MaxPerHour is the blast-radius limit on enforce actions per rolling
	// hour, across instances.
	MaxPerHour int
	Alerter    Alerter
	// Owner names this instance in claims; Lease is how long a claim holds
	// before another instance may take over a crashed one's work. An Owner
	// of the form "<host>/<pid>" also lets a restarted process on the same
	// host take over at once the claims of a predecessor that has died.
	Owner string
	Lease time.Duration
	Now   func() time.Time
	// Keys reads keyCredentials with their key material, which removing a
	// certificate needs (see KeyRewrite); nil means Graph, when it is a
	// KeyReader.
	Keys KeyReader
}

// keys is the KeyReader to use, or nil when there is none.
func (r *Remediator) keys() KeyReader {
	if r.Keys != nil {
		return r.Keys
	}
	if kr, ok := r.Graph.(KeyReader); ok {
		return kr
	}
	return nil
}

// Action record statuses.
const (
	StatusWouldDo  = "would-do" // audit mode: recorded, not done
	StatusClaimed  = "claimed"
	StatusDone     = "done"
	StatusReleased = "released"
)

// record is an action as stored: the domain Action plus its bookkeeping.
type record struct {
	appwarden.Action
	Fingerprint string           `json:"fingerprint"`
	Status      string           `json:"status"`
	Owner       string           `json:"owner,omitempty"`
	LeaseUntil  time.Time        `json:"leaseUntil,omitempty"`
	Undo        *appwarden.Write `json:"undo,omitempty"`
	Note        string           `json:"note,omitempty"`
	Error       string           `json:"error,omitempty"`
	Attempts    int              `json:"attempts,omitempty"`
	// Keys is set on a certificate removal (see KeyRewrite): release
	// writes the removed certificates back into the object's current
	// keyCredentials.
	Keys *KeyRewrite `json:"keys,omitempty"`
}

func (r *Remediator) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

// Fingerprint identifies what a decision found, so that the same findings on
// the same app lead to the same actions exactly once, and a change in the app
// (a new permission, a new secret) leads to new ones.
func Fingerprint(appID string, d appwarden.Decision) string {
	var parts []string
	for _, f := range d.Findings {
		for _, e := range f.Evidence {
			parts = append(parts, f.RuleID+"|"+e.Kind+"|"+e.ID+"|"+e.Name)
		}
		if len(f.Evidence) == 0 {
			parts = append(parts, f.RuleID)
		}
	}
	sort.Strings(parts)
	sum := sha256.Sum256([]byte(strings.ToLower(appID) + "\n" + strings.Join(parts, "\n")))
	return hex.EncodeToString(sum[:8])
}

func actionKey(fp string, s Step) string { return "action|" + fp + "|" + s.Key() }

// Act applies the decision's actions to the app, exactly once. In audit mode
// it records what it would have done and writes nothing to Graph. An error
// means some action is neither done nor recorded as done: fail the
// invocation so it is redelivered, and the retry resumes where this stopped.
func (r *Remediator) Act(ctx context.Context, log *slog.Logger, app *appwarden.App, d appwarden.Decision) (appwarden.Outcome, error) {
	if len(d.Findings) == 0 && len(d.Actions) == 0 {
		// Nothing found, nothing to do, and nothing can have been recorded
		// under a fingerprint of no findings. Most apps a sweep reads are
		// like this: they cost no state reads (a partition read per app made
		// a sweep's cost grow with the tenant on Azurite). Protection is
		// still reported: it explains why nothing would ever be done.
		out := appwarden.Outcome{Mode: d.Mode}
		if why := r.protected(app, d); why != "" {
			out.Mode, out.Skipped = appwarden.ModeAudit, "protected: "+why
		}
		return out, nil
	}
	out, err := r.act(ctx, log, app, d)
	if out.Skipped != "" && strings.HasPrefix(out.Skipped, "protected") {
		return out, err
	}
	// Report every action recorded for these findings, not only this run's:
	// a redelivery, or a retry after a partial failure, then tells the same
	// story as the first run, and notifications deduplicate on it.
	done, lerr := r.recorded(ctx, app.AppID, Fingerprint(app.AppID, d), out.Mode)
	if lerr != nil {
		return out, errors.Join(err, lerr)
	}
	out.Actions = done
	return out, err
}

// recorded lists the actions recorded for a fingerprint: the ones done in
// enforce mode, the would-do ones in audit mode.
func (r *Remediator) recorded(ctx context.Context, appID, fp string, mode appwarden.Mode) ([]appwarden.Action, error) {
	recs, err := r.Store.List(ctx, strings.ToLower(appID))
	if err != nil {
		return nil, fmt.Errorf("remediate: reading actions of %s: %w", appID, err)
	}
	want := StatusDone
	if mode != appwarden.ModeEnforce {
		want = StatusWouldDo
	}
	var out []appwarden.Action
	for _, sr := range recs {
		if !strings.HasPrefix(sr.Key, "action|"+fp+"|") {
			continue
		}
		var ar record
		if json.Unmarshal(sr.Data, &ar) == nil && ar.Status == want {
			out = append(out, ar.Action)
		}
	}
	return out, nil
}

func (r *Remediator) act(ctx context.Context, log *slog.Logger, app *appwarden.App, d appwarden.Decision) (appwarden.Outcome, error) {
	out := appwarden.Outcome{Mode: d.Mode}
	if why := r.protected(app, d); why != "" {
		out.Mode, out.Skipped = appwarden.ModeAudit, "protected: "+why
		return out, nil
	}
	fp := Fingerprint(app.AppID, d)
	if rel, ok, err := r.released(ctx, app.AppID, fp); err != nil {
		return out, err
	} else if ok {
		out.Mode, out.Skipped = appwarden.ModeAudit, "released by "+rel+"; not acted on again until the app changes"
		return out, nil
	}
	steps := Plan(app, d, r.now())
	if err := r.settle(ctx, log, app, fp, steps); err != nil {
		return out, err
	}
	if len(steps) == 0 {
		return out, nil
	}
	if d.Mode != appwarden.ModeEnforce {
		return r.record(ctx, log, app, fp, steps, out)
	}
	tripped, err := r.limitTripped(ctx)
	if err != nil {
		return out, err
	}
	if tripped {
		out.Mode, out.Withheld = appwarden.ModeAudit, true
		out.Skipped = "blast-radius limit tripped: decisions are audit-only until an operator resets it (appwarden limit reset)"
		log.Error("blast-radius limit is tripped; recording as audit-only", "event", "limit", "appId", app.AppID)
		return r.record(ctx, log, app, fp, steps, out)
	}
	return r.enforce(ctx, log, app, fp, steps, out)
}

// protected checks the guard again, independently of policy.
func (r *Remediator) protected(app *appwarden.App, d appwarden.Decision) string {
	if why := r.Guard.Protected(app); why != "" {
		return why
	}
	return d.Protected
}

// record keeps audit-mode actions: what would have been done, once each.
func (r *Remediator) record(ctx context.Context, log *slog.Logger, app *appwarden.App, fp string, steps []Step, out appwarden.Outcome) (appwarden.Outcome, error) {
	for _, s := range steps {
		act := r.action(app, s, true)
		rec := record{Action: act, Fingerprint: fp, Status: StatusWouldDo, Undo: s.Undo, Note: s.Note, Keys: s.Keys}
		if _, err := r.put(ctx, app.AppID, actionKey(fp, s), rec); err != nil {
			return out, err
		}
		out.Actions = append(out.Actions, act)
		log.Info("would act (audit mode)", "event", "action", "action", string(s.Kind), "target", s.Target, "dryRun", true)
	}
	return out, nil
}

func (r *Remediator) action(app *appwarden.App, s Step, dry bool) appwarden.Action {
	before, _ := json.Marshal(s.Before)
	return appwarden.Action{Kind: s.Kind, AppID: app.AppID, Target: s.Target, Before: before, DryRun: dry, At: r.now()}
}

func (r *Remediator) put(ctx context.Context, appID, key string, rec record) (bool, error) {
	raw, err := json.Marshal(rec)
	if err != nil {
		return false, err
	}
	ok, err := r.Store.Put(ctx, appwarden.Record{Partition: strings.ToLower(appID), Key: key, Kind: appwarden.KindAction, Time: rec.At, Data: raw})
	if err != nil {
		return false, fmt.Errorf("remediate: recording %s: %w", key, err)
	}
	return ok, nil
}

func (r *Remediator) replace(ctx context.Context, appID, key, etag string, rec record) (string, error) {
	raw, err := json.Marshal(rec)
	if err != nil {
		return "", err
	}
	return r.Store.Replace(ctx, appwarden.Record{Partition: strings.ToLower(appID), Key: key, Kind: appwarden.KindAction, Time: rec.At, Data: raw, ETag: etag})
}

// claim is a step this instance owns, with the ETag of its claim record.
type claim struct {
	step Step
	key  string
	etag string
	rec  record
}

// enforce claims, budgets, applies and records the steps.
func (r *Remediator) enforce(ctx context.Context, log *slog.Logger, app *appwarden.App, fp string, steps []Step, out appwarden.Outcome) (appwarden.Outcome, error) {
	var mine []claim
	var held []Step
	for _, s := range steps {
		c, done, err := r.claim(ctx, app, fp, s)
		if err != nil {
			return out, err
		}
		if done != nil {
			// Reported again, so a retry after a partial failure tells the
			// owners everything that was done, not only its own part.
			out.Actions = append(out.Actions, done.Action)
			log.Info("action already done; not repeating it", "event", "action", "action", string(s.Kind), "target", s.Target, "duplicate", true)
			continue
		}
		if c != nil {
			mine = append(mine, *c)
		} else {
			held = append(held, s)
		}
	}
	mine, errs := r.complete(ctx, log, app, mine)
	if len(mine) == 0 {
		return out, errors.Join(append(errs, r.awaitHeld(ctx, log, app, fp, held))...)
	}
	allowed, err := r.reserve(ctx, log, app, fp, mine)
	if err != nil {
		return out, err
	}
	if !allowed {
		r.unclaim(ctx, log, app, mine)
		out.Mode, out.Withheld = appwarden.ModeAudit, true
		out.Skipped = "blast-radius limit reached"
		return r.record(ctx, log, app, fp, steps, out)
	}
	writes := make([]appwarden.Write, len(mine))
	for i, c := range mine {
		writes[i] = c.step.Write
	}
	results, err := r.Graph.Apply(ctx, writes)
	if err != nil {
		r.unclaim(ctx, log, app, mine)
		return out, errors.Join(append(errs, fmt.Errorf("remediate: applying %d writes: %w", len(writes), err))...)
	}
	for i, c := range mine {
		res := results[i]
		ok := res.Err == nil || (res.Status == 404 && c.step.Write.Method == "DELETE") // already gone
		if !ok {
			r.unclaim(ctx, log, app, []claim{c}) // let the retry claim it again
			errs = append(errs, fmt.Errorf("%s on %s: %w", c.step.Kind, c.step.Target, res.Err))
			log.Error("action failed; the event will be redelivered and the action retried", "event", "action", "action", string(c.step.Kind), "target", c.step.Target, "error", res.Err)
			continue
		}
		c.rec.Status, c.rec.Owner, c.rec.LeaseUntil = StatusDone, "", time.Time{}
		c.rec.At = r.now()
		if _, err := r.replace(ctx, app.AppID, c.key, c.etag, c.rec); err != nil {
			// Another instance that read the app after this write saw the
			// change in Graph and settled the claim as done first: so it is.
			if !errors.Is(err, appwarden.ErrConflict) || !r.isDone(ctx, app.AppID, c.key) {
				errs = append(errs, fmt.Errorf("recording %s on %s as done: %w", c.step.Kind, c.step.Target, err))
				continue
			}
		}
		out.Actions = append(out.Actions, c.rec.Action)
		log.Warn("acted", "event", "action", "action", string(c.step.Kind), "target", c.step.Target, "dryRun", false, "note", c.step.Note)
	}
	return out, errors.Join(append(errs, r.awaitHeld(ctx, log, app, fp, held))...)
}

// heldWait bounds how long an invocation waits for a step that another one
// is applying.
const heldWait = 10 * time.Second

// awaitHeld waits until the steps another invocation holds a live claim on
// (a duplicate handled at this moment, here or on another instance) are
// done. It must not report success while they are not: if the holder dies,
// its claim outlives it, and only a redelivery of this event can still get
// the step done. So a step not done within heldWait, or whose claim is
// released or has lapsed meanwhile, fails the invocation; the redelivery
// claims it anew (at once if the holder was a process of this host that has
// died, otherwise when its lease runs out).
func (r *Remediator) awaitHeld(ctx context.Context, log *slog.Logger, app *appwarden.App, fp string, held []Step) error {
	if len(held) == 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, heldWait)
	defer cancel()
	var errs []error
	for _, s := range held {
		log.Info("action being applied by another invocation; waiting for it", "event", "action", "action", string(s.Kind), "target", s.Target, "duplicate", true)
		key := actionKey(fp, s)
		for {
			cur, found, err := r.Store.Get(wctx, strings.ToLower(app.AppID), key)
			var rec record
			if err == nil && found && json.Unmarshal(cur.Data, &rec) == nil {
				if rec.Status == StatusDone || rec.Status == StatusReleased {
					break
				}
				if rec.Status == StatusClaimed && r.now().Before(rec.LeaseUntil) && !holderGone(rec.Owner) && wctx.Err() == nil {
					if retry.Sleep(wctx, 100*time.Millisecond) == nil {
						continue
					}
				}
			}
			errs = append(errs, fmt.Errorf("%s on %s: another invocation claimed it and it is not done; failing so the event is redelivered", s.Kind, s.Target))
			break
		}
	}
	return errors.Join(errs...)
}

// holderGone reports whether a claim's owner is a process of this host that
// no longer runs (owners named "<host>/<pid>"), so that a handler restarted
// after a crash need not wait out its predecessor's lease. A pid reused by
// another process only makes it wait, as for a live holder.
func holderGone(owner string) bool {
	host, id, ok := strings.Cut(owner, "/")
	pid, err := strconv.Atoi(id)
	me, _ := os.Hostname()
	if !ok || err != nil || pid <= 0 || host == "" || host != me || pid == os.Getpid() {
		return false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return true
	}
	return errors.Is(p.Signal(syscall.Signal(0)), os.ErrProcessDone)
}

// claim takes a step for this instance. done is the step's record when it is
// already applied; a nil claim without done means another instance holds it.
func (r *Remediator) claim(ctx context.Context, app *appwarden.App, fp string, s Step) (*claim, *record, error) {
	key := actionKey(fp, s)
	part := strings.ToLower(app.AppID)
	rec := record{Action: r.action(app, s, false), Fingerprint: fp, Status: StatusClaimed, Owner: r.Owner,
		LeaseUntil: r.now().Add(r.lease()), Undo: s.Undo, Note: s.Note, Attempts: 1, Keys: s.Keys}
	if ok, err := r.put(ctx, app.AppID, key, rec); err != nil {
		return nil, nil, err
	} else if ok {
		got, _, err := r.Store.Get(ctx, part, key)
		if err != nil {
			return nil, nil, err
		}
		return &claim{step: s, key: key, etag: got.ETag, rec: rec}, nil, nil
	}
	cur, found, err := r.Store.Get(ctx, part, key)
	if err != nil || !found {
		return nil, nil, err
	}
	var old record
	if err := json.Unmarshal(cur.Data, &old); err != nil {
		return nil, nil, fmt.Errorf("remediate: corrupt action record %s: %w", key, err)
	}
	switch {
	case old.Status == StatusDone || old.Status == StatusReleased:
		return nil, &old, nil
	case old.Status == StatusClaimed && r.now().Before(old.LeaseUntil) && !holderGone(old.Owner):
		// Another invocation (on another instance, or a concurrent one on
		// this instance: Owner names the process) is applying it right now.
		return nil, nil, nil
	}
	// A would-do record (the mode changed to enforce), or a claim whose
	// holder died: take it over, if nobody else does first.
	rec.Attempts = old.Attempts + 1
	tag, err := r.replace(ctx, app.AppID, key, cur.ETag, rec)
	if errors.Is(err, appwarden.ErrConflict) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return &claim{step: s, key: key, etag: tag, rec: rec}, nil, nil
}

// isDone reports whether the action record at key says the step is applied.
func (r *Remediator) isDone(ctx context.Context, appID, key string) bool {
	cur, found, err := r.Store.Get(ctx, strings.ToLower(appID), key)
	if err != nil || !found {
		return false
	}
	var rec record
	return json.Unmarshal(cur.Data, &rec) == nil && (rec.Status == StatusDone || rec.Status == StatusReleased)
}

// unclaim gives claims up so that a retry can take them at once. It runs
// even when ctx has ended (the invocation's budget cut the write short):
// a claim left behind would hold every retry off until its lease ends.
func (r *Remediator) unclaim(ctx context.Context, log *slog.Logger, app *appwarden.App, cs []claim) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, c := range cs {
		if err := r.Store.Delete(ctx, strings.ToLower(app.AppID), c.key); err != nil {
			log.Warn("could not give a claim up; a retry waits for its lease to end", "event", "action",
				"action", string(c.step.Kind), "target", c.step.Target, "lease", r.lease().String(), "error", err)
		}
	}
}

func (r *Remediator) lease() time.Duration {
	if r.Lease > 0 {
		return r.Lease
	}
	return 2 * time.Minute
}

// settle reconciles claims left by an instance that died between its write
// and its record: when Graph already shows the change (the step is no longer
// planned), the claim is recorded as done rather than applied again.
func (r *Remediator) settle(ctx context.Context, log *slog.Logger, app *appwarden.App, fp string, steps []Step) error {
	planned := map[string]bool{}
	for _, s := range steps {
		planned[actionKey(fp, s)] = true
	}
	recs, err := r.Store.List(ctx, strings.ToLower(app.AppID))
	if err != nil {
		return fmt.Errorf("remediate: reading actions of %s: %w", app.AppID, err)
	}
	for _, sr := range recs {
		if !strings.HasPrefix(sr.Key, "action|"+fp+"|") || planned[sr.Key] {
			continue
		}
		var ar record
		if json.Unmarshal(sr.Data, &ar) != nil || ar.Status != StatusClaimed {
			continue
		}
		ar.Status, ar.Owner, ar.LeaseUntil = StatusDone, "", time.Time{}
		ar.Note = strings.TrimSpace(ar.Note + " (observed applied in Graph)")
		if _, err := r.replace(ctx, app.AppID, sr.Key, sr.ETag, ar); err != nil && !errors.Is(err, appwarden.ErrConflict) {
			return err
		}
		log.Info("claim settled: Graph already shows the change", "event", "action", "action", string(ar.Kind), "target", ar.Target)
	}
	return nil
}
