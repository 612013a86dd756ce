// Package pipeline runs one signal through AppWarden's stages:
// signal → resolve in Graph → evaluate policy → act → notify → record.
// It defines the small interfaces it needs from each stage; only main wires
// concrete adapters into it.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// SignalRecorder records each signal in the audit trail, once per dedupe
// key, and returns the entry point it first came through.
type SignalRecorder interface {
	RecordSignal(ctx context.Context, log *slog.Logger, sig appwarden.Signal) (appwarden.Source, error)
}

// Resolver reads the truth about the app a signal names.
type Resolver interface {
	ResolveSignal(ctx context.Context, log *slog.Logger, sig appwarden.Signal) (*appwarden.App, error)
}

// Sweeper runs a delta sweep, handing every new or changed app back to
// HandleApp.
type Sweeper interface {
	Sweep(ctx context.Context, log *slog.Logger) (appwarden.SweepStats, error)
}

// Evaluator is policy: a pure function from App to Decision.
type Evaluator interface {
	Evaluate(app *appwarden.App) appwarden.Decision
}

// Actor applies a decision to the tenant (or, in audit mode, records what
// it would have done), exactly once.
type Actor interface {
	Act(ctx context.Context, log *slog.Logger, app *appwarden.App, d appwarden.Decision) (appwarden.Outcome, error)
}

// Notifier tells the owners and the security channel. It must not block
// containment: delivery failures wait in an outbox, so only a failure to
// queue is an error. Within an invocation it only queues (the invocation
// delivers once all its signals are handled; see functions.Notices).
type Notifier interface {
	Notify(ctx context.Context, log *slog.Logger, app *appwarden.App, d appwarden.Decision, o appwarden.Outcome) error
}

// Outbox retries notifications that could not be delivered yet.
type Outbox interface {
	Flush(ctx context.Context, log *slog.Logger) error
}

// DecisionRecorder records the outcome for an app (resolution, decision,
// what was done).
type DecisionRecorder interface {
	RecordDecision(ctx context.Context, log *slog.Logger, sig appwarden.Signal, app *appwarden.App, d *appwarden.Decision, o *appwarden.Outcome) error
}

// Inbox holds the signals an invocation could not decide; each timer tick
// takes the oldest of them through the pipeline again.
type Inbox interface {
	Redrive(ctx context.Context, log *slog.Logger, process func(context.Context, *slog.Logger, appwarden.Signal) error) error
}

// Baseline remembers each app's privilege-carrying facts, and tells a
// signal what its change added (see appwarden.Change).
type Baseline interface {
	Change(ctx context.Context, app *appwarden.App, sig appwarden.Signal) (*appwarden.Change, error)
	Record(ctx context.Context, app *appwarden.App) error
}

// AuditPuller reads the audit log from Graph on the timer, and takes each
// record it has not seen through process (the same stages as a pushed
// record). It keeps its own cursor, and what it cannot finish is left
// where the next tick finds it.
type AuditPuller interface {
	Pull(ctx context.Context, log *slog.Logger, process func(context.Context, *slog.Logger, appwarden.Signal) error) error
}

// Expiry is the daily credential-expiry pass (expiry.Pass): called on
// every timer tick after the sweep, it runs when the day's pass is due and
// no other instance runs it, and keeps its own position, so that what a
// tick cannot finish the next goes on with.
type Expiry interface {
	Run(ctx context.Context, log *slog.Logger) error
}

// Pipeline processes signals. Every stage is idempotent, so a redelivered or
// duplicate signal reconciles to the same state without acting twice.
type Pipeline struct {
	Trail     SignalRecorder
	Resolver  Resolver
	Sweeper   Sweeper
	Policy    Evaluator
	Actor     Actor
	Notifier  Notifier
	Outbox    Outbox
	Decisions DecisionRecorder
	// Inbox is re-driven on every timer tick; nil when there is none.
	Inbox Inbox
	// Baseline judges each change by what it added; nil judges every app
	// as a whole (scan).
	Baseline Baseline
	// locks serialize the handling of one app in this instance (LockApp).
	locks appLocks
	// AuditPull runs on every timer tick, after the inbox and before the
	// sweep; nil when the audit log is not pulled.
	AuditPull AuditPuller
	// Expiry runs on every timer tick, after the sweep and before the
	// outbox is flushed (so that its warnings go out on the same tick);
	// nil when expiry warnings are off.
	Expiry Expiry
}

// Process takes one signal through the pipeline. An error is transient and
// fails the invocation so the input is redelivered.
func (p *Pipeline) Process(ctx context.Context, log *slog.Logger, sig appwarden.Signal) error {
	via, err := p.Trail.RecordSignal(ctx, log, sig)
	if err != nil {
		return err
	}
	if via != sig.Source {
		// The same record came both ways (pushed on Event Hub or a custom
		// topic, and pulled from Graph): the entry point that saw it first
		// handles it, and keeps it in the inbox until it is decided.
		log.Info("signal already taken through another entry point", "event", "signal", "duplicate", true,
			"source", string(sig.Source), "firstSource", string(via))
		return nil
	}
	if sig.Kind.Sweeps() {
		return p.sweep(ctx, log, sig)
	}
	defer p.LockApp(appKey(sig.AppID, sig.ObjectID))()
	if p.covered(ctx, log, []appwarden.Signal{sig}) {
		return p.recordCovered(ctx, log, sig)
	}
	return p.HandleApp(ctx, log, sig)
}

// recordCovered records the decision of a signal whose change a later
// decision already covered: nothing judged again, nothing done, and why,
// so that every input still ends in a recorded decision.
func (p *Pipeline) recordCovered(ctx context.Context, log *slog.Logger, sig appwarden.Signal) error {
	app := &appwarden.App{AppID: strings.ToLower(sig.AppID), DisplayName: sig.DisplayName, ResolvedAt: time.Now().UTC()}
	if sig.Kind == appwarden.AppCreated || sig.Kind == appwarden.ServicePrincipalCreated {
		app.Creator = sig.Initiator
	}
	d := appwarden.Decision{AppID: app.AppID, Findings: []appwarden.Finding{}, Actions: []appwarden.ActionKind{}, Mode: appwarden.ModeAudit,
		Explanation: "Already decided after this change, on a read of Graph that showed what it brought (by the sweep or another entry point): not resolved or judged again."}
	return p.Decisions.RecordDecision(ctx, log, sig, app, &d, &appwarden.Outcome{Mode: appwarden.ModeAudit, Skipped: SkippedCovered})
}

// SkippedCovered is the Outcome.Skipped of a signal whose change a later
// decision covered (recordCovered).
const SkippedCovered = "already decided after this change"

// covered reports whether a decision recorded after these signals about
// one app already covers their changes (Covered), so that resolving the
// app again would only repeat it. Under a burst, the same app is announced
// several times (its creation on Event Hub and in the pulled audit log, the
// consent and grants that came with it, the sweep): only the first costs
// Graph reads.
func (p *Pipeline) covered(ctx context.Context, log *slog.Logger, sigs []appwarden.Signal) bool {
	c, ok := p.Baseline.(Covered)
	if !ok || len(sigs) == 0 || sigs[0].AppID == "" {
		return false
	}
	for _, s := range sigs {
		if s.AppID != sigs[0].AppID {
			return false
		}
	}
	yes, err := c.Covered(ctx, sigs[0].AppID, sigs)
	if err != nil {
		log.Warn("could not tell whether the app was decided since; resolving it", "event", "resolve", "error", err)
		return false
	}
	if yes {
		log.Info("a decision after this change already covers it; not resolved again", "event", "resolve", "duplicate", true)
	}
	return yes
}

// Covered is the optional part of a Baseline that tells whether a
// decision recorded after these signals about one app covers their
// changes (baseline.Keeper.Covered).
type Covered interface {
	Covered(ctx context.Context, appID string, sigs []appwarden.Signal) (bool, error)
}

// sweep runs a delta sweep. On a timer tick it first re-drives the inbox,
// within half of what is left of the invocation's time, so that neither a
// backlog nor a slow sweep can starve the other.
func (p *Pipeline) sweep(ctx context.Context, log *slog.Logger, sig appwarden.Signal) error {
	var redriveErr error
	if p.Inbox != nil && sig.Source == appwarden.SourceTimer {
		rctx, cancel := halfOf(ctx)
		redriveErr = p.Inbox.Redrive(rctx, log, func(ctx context.Context, log *slog.Logger, s appwarden.Signal) error {
			if s.Kind.Sweeps() {
				// A pending registration asked for a sweep: this tick's
				// sweep, just below, is that sweep.
				return nil
			}
			return p.Process(ctx, log, s)
		})
		cancel()
		if redriveErr != nil {
			redriveErr = fmt.Errorf("re-driving the inbox: %w", redriveErr)
		}
	}
	var pullErr error
	if p.AuditPull != nil && sig.Source == appwarden.SourceTimer {
		// Half of what is left, so that a backlog in the audit log cannot
		// starve the sweep; what is not read stays for the next tick.
		pctx, cancel := halfOf(ctx)
		if err := p.AuditPull.Pull(pctx, log, p.Process); err != nil {
			pullErr = fmt.Errorf("pulling the audit log: %w", err)
		}
		cancel()
	}
	_, sweepErr := p.Sweeper.Sweep(ctx, log)
	if sweepErr != nil {
		sweepErr = fmt.Errorf("sweep after %s: %w", sig.Kind, sweepErr)
	}
	var expiryErr error
	if p.Expiry != nil && sig.Source == appwarden.SourceTimer {
		// Half of what is left, so that the outbox is flushed; a pass
		// cut short goes on at the next tick.
		ectx, cancel := halfOf(ctx)
		if err := p.Expiry.Run(ectx, log); err != nil {
			expiryErr = fmt.Errorf("expiry pass: %w", err)
		}
		cancel()
	}
	if p.Outbox != nil {
		// Undelivered notifications are retried on the timer; a failure
		// here is the outbox's to retry again, not a reason to redeliver.
		if err := p.Outbox.Flush(ctx, log); err != nil {
			log.Warn("outbox flush incomplete", "event", "notification", "error", err)
		}
	}
	return errors.Join(redriveErr, pullErr, sweepErr, expiryErr)
}

// halfOf is ctx bounded to half of the time it has left, if it has a
// deadline.
func halfOf(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, time.Until(deadline)/2)
}

// HandleApp resolves, judges and records one app. The sweep calls it for
// each object it finds (its signals are not recorded one by one).
//
// Only what another attempt could change fails it: an app Graph refuses to
// resolve for good (appwarden.ErrUnresolvable: a 400, or a 403 on the
// object) is recorded as unresolvable with Graph's reason, and a deleted app
// as gone, and neither is judged, acted on or notified about. Redelivering
// them would only fail the same way until the input dead-letters.
func (p *Pipeline) HandleApp(ctx context.Context, log *slog.Logger, sig appwarden.Signal) error {
	app, err := p.Resolver.ResolveSignal(ctx, log, sig)
	return p.decide(ctx, log, sig, app, err)
}

// decide judges, contains and records one signal about an app resolved
// (or not: err) for it.
func (p *Pipeline) decide(ctx context.Context, log *slog.Logger, sig appwarden.Signal, app *appwarden.App, err error) error {
	if errors.Is(err, appwarden.ErrUnresolvable) {
		if errors.Is(err, appwarden.ErrAccessDenied) {
			// Not this app's fault: AppWarden's identity lacks a Graph
			// permission, and every app it cannot read goes unjudged.
			log.Error("Graph refused AppWarden access to this app: it is recorded as unresolvable and not judged; check that AppWarden's identity holds Application.Read.All (infra/graph-permissions.bicep)",
				"event", "resolve", "appId", sig.AppID, "error", err)
		}
		app = &appwarden.App{AppID: strings.ToLower(sig.AppID), DisplayName: sig.DisplayName, Creator: sig.Initiator, Unresolvable: err.Error()}
		return p.Decisions.RecordDecision(ctx, log, sig, app, nil, nil)
	}
	if err != nil {
		return fmt.Errorf("resolving %s: %w", sig.AppID, err)
	}
	if app.Deleted {
		return p.Decisions.RecordDecision(ctx, log, sig, app, nil, nil)
	}
	if p.Baseline != nil {
		if app.Change, err = p.Baseline.Change(ctx, app, sig); err != nil {
			return fmt.Errorf("comparing %s with its baseline: %w", app.AppID, err)
		}
	}
	d := p.Policy.Evaluate(app)
	// Act before recording: containment is the point, and an action that
	// failed must fail the invocation so it is redelivered.
	var out appwarden.Outcome
	var actErr error
	if p.Actor != nil {
		out, actErr = p.Actor.Act(ctx, log, app, d)
	}
	if err := p.Decisions.RecordDecision(ctx, log, sig, app, &d, &out); err != nil {
		return err
	}
	if actErr != nil {
		return fmt.Errorf("acting on %s: %w", app.AppID, actErr)
	}
	if p.Notifier != nil {
		if err := p.Notifier.Notify(ctx, log, app, d, out); err != nil {
			return fmt.Errorf("queueing notifications for %s: %w", app.AppID, err)
		}
	}
	if p.Baseline != nil && !out.Withheld {
		// Only once the change is contained and its notifications queued
		// does it become the baseline: a failure before (or an enforce
		// decision the blast-radius limit held back) leaves it to be
		// judged again, as the addition it is.
		if err := p.Baseline.Record(ctx, app); err != nil {
			return err
		}
	}
	return nil
}
