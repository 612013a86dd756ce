// Package pipeline runs one signal through AppWarden's stages:
// signal → resolve in Graph → evaluate policy → act → notify → record.
// It defines the small interfaces it needs from each stage; only main wires
// concrete adapters into it.
package pipeline

import (
	"context"
	"log/slog"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// SignalRecorder records each signal in the audit trail, once per dedupe key.
type SignalRecorder interface {
	RecordSignal(ctx context.Context, log *slog.Logger, sig appwarden.Signal) (bool, error)
}

// Pipeline processes signals. Every stage is idempotent, so a redelivered or
// duplicate signal reconciles to the same state without acting twice.
type Pipeline struct {
	Trail SignalRecorder
}

// Process takes one signal through the pipeline. An error is transient and
// fails the invocation so the input is redelivered.
func (p *Pipeline) Process(ctx context.Context, log *slog.Logger, sig appwarden.Signal) error {
	if _, err := p.Trail.RecordSignal(ctx, log, sig); err != nil {
		return err
	}
	return nil
}
