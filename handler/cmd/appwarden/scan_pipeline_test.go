package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/config"
	"github.com/appwarden/appwarden/handler/graph"
	awpolicy "github.com/appwarden/appwarden/handler/policy"
	"github.com/appwarden/appwarden/handler/report"
)

// countingRecorder counts the decisions the pipeline records, passing them on.
type countingRecorder struct {
	next interface {
		RecordDecision(context.Context, *slog.Logger, appwarden.Signal, *appwarden.App, *appwarden.Decision, *appwarden.Outcome) error
	}
	n atomic.Int64
}

func (c *countingRecorder) RecordDecision(ctx context.Context, log *slog.Logger, sig appwarden.Signal, app *appwarden.App, d *appwarden.Decision, o *appwarden.Outcome) error {
	c.n.Add(1)
	return c.next.RecordDecision(ctx, log, sig, app, d, o)
}

func scanTarget(t *testing.T) (*cliTarget, *awpolicy.Policy) {
	t.Helper()
	cliEnv(t)
	target, err := openTarget(config.Config{}, demoSnapshot(t), graph.RetryPolicy{LagBudget: time.Millisecond, LagFirst: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(target.Close)
	pol, err := awpolicy.Default()
	if err != nil {
		t.Fatal(err)
	}
	return target, pol
}

// TestScannerJudgesThroughThePipeline: every app in the report was recorded
// by the pipeline's decision recorder, and a dry run plans without writing.
func TestScannerJudgesThroughThePipeline(t *testing.T) {
	target, pol := scanTarget(t)
	sc := newScanner(target.client, pol, appwarden.Guard{}, nil, nil)
	sc.parallel, sc.log = 3, slog.New(slog.NewTextHandler(io.Discard, nil))
	rec := &countingRecorder{next: sc.pipeline.Decisions}
	sc.pipeline.Decisions = rec
	var apps []report.App
	if err := sc.run(context.Background(), func(a report.App) error { apps = append(apps, a); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(apps) == 0 || int64(len(apps)) != rec.n.Load() {
		t.Fatalf("%d apps reported, %d decisions recorded", len(apps), rec.n.Load())
	}
	planned := 0
	for _, a := range apps {
		for _, act := range a.Actions {
			if act.Status == report.Done {
				t.Errorf("%s: a dry run did %s", a.AppID, act.Kind)
			}
			planned++
		}
	}
	if planned == 0 {
		t.Error("the dry run planned nothing for the demo tenant")
	}
	if w := target.server.Writes(); len(w) != 0 {
		t.Errorf("a dry run wrote %v", w)
	}
}

// TestScannerEmitErrorCancels: the first error of emit ends the scan and is
// what run returns.
func TestScannerEmitErrorCancels(t *testing.T) {
	target, pol := scanTarget(t)
	sc := newScanner(target.client, pol, appwarden.Guard{}, nil, nil)
	sc.parallel, sc.log = 2, slog.New(slog.NewTextHandler(io.Discard, nil))
	stop := errors.New("disk full")
	n := 0
	err := sc.run(context.Background(), func(report.App) error {
		if n++; n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("run = %v after %d apps", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sc.run(ctx, func(report.App) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled run = %v", err)
	}
}
