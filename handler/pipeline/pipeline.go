// Package pipeline runs one signal through AppWarden's stages:
// signal → resolve in Graph → evaluate policy → act → notify → record.
// It defines the small interfaces it needs from each stage; only main wires
// concrete adapters into it.
package pipeline

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// SignalRecorder records each signal in the audit trail, once per dedupe key.
type SignalRecorder interface {
	RecordSignal(ctx context.Context, log *slog.Logger, sig appwarden.Signal) (bool, error)
}

// Resolver reads the truth about the app a signal names.
type Resolver interface {
	Resolve(ctx context.Context, log *slog.Logger, sig appwarden.Signal) (*appwarden.App, error)
}

// Sweeper runs a delta sweep, handing every new or changed app back to
// HandleApp.
type Sweeper interface {
	Sweep(ctx context.Context, log *slog.Logger) error
}

// Evaluator is policy: a pure function from App to Decision.
type Evaluator interface {
	Evaluate(app *appwarden.App) appwarden.Decision
}

// DecisionRecorder records the outcome for an app (resolution, decision).
type DecisionRecorder interface {
	RecordDecision(ctx context.Context, log *slog.Logger, sig appwarden.Signal, app *appwarden.App, d *appwarden.Decision) error
}

// Pipeline processes signals. Every stage is idempotent, so a redelivered or
// duplicate signal reconciles to the same state without acting twice.
type Pipeline struct {
	Trail     SignalRecorder
	Resolver  Resolver
	Sweeper   Sweeper
	Policy    Evaluator
	Decisions DecisionRecorder
}

// Process takes one signal through the pipeline. An error is transient and
// fails the invocation so the input is redelivered.
func (p *Pipeline) Process(ctx context.Context, log *slog.Logger, sig appwarden.Signal) error {
	if _, err := p.Trail.RecordSignal(ctx, log, sig); err != nil {
		return err
	}
	if sig.Kind.Sweeps() {
		if err := p.Sweeper.Sweep(ctx, log); err != nil {
			return fmt.Errorf("sweep after %s: %w", sig.Kind, err)
		}
		return nil
	}
	return p.HandleApp(ctx, log, sig)
}

// HandleApp resolves, judges and records one app. The sweep calls it for
// each object it finds (its signals are not recorded one by one).
func (p *Pipeline) HandleApp(ctx context.Context, log *slog.Logger, sig appwarden.Signal) error {
	app, err := p.Resolver.Resolve(ctx, log, sig)
	if err != nil {
		return fmt.Errorf("resolving %s: %w", sig.AppID, err)
	}
	var d *appwarden.Decision
	if !app.Deleted && p.Policy != nil {
		dec := p.Policy.Evaluate(app)
		d = &dec
	}
	if err := p.Decisions.RecordDecision(ctx, log, sig, app, d); err != nil {
		return err
	}
	return nil
}
