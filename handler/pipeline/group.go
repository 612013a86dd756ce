package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// ProcessGroup takes signals about the same app (by application id or
// object id), from one invocation, through the pipeline in order, with one
// resolution for all of them: each signal is still recorded in the trail,
// judged against what the ones before it left as the baseline, and gets its
// own decision record, so a second signal about a change already contained
// finds nothing new and acts on nothing. logs[i] is sigs[i]'s logger. The
// result holds each signal's error (nil: decided), as Process would return.
func (p *Pipeline) ProcessGroup(ctx context.Context, logs []*slog.Logger, sigs []appwarden.Signal) []error {
	errs := make([]error, len(sigs))
	var apps []int
	for i, sig := range sigs {
		if sig.Kind.Sweeps() {
			errs[i] = p.Process(ctx, logs[i], sig)
			continue
		}
		via, err := p.Trail.RecordSignal(ctx, logs[i], sig)
		if err != nil {
			errs[i] = err
			continue
		}
		if via != sig.Source {
			logs[i].Info("signal already taken through another entry point", "event", "signal", "duplicate", true,
				"source", string(sig.Source), "firstSource", string(via))
			continue
		}
		apps = append(apps, i)
	}
	if len(apps) == 0 {
		return errs
	}
	defer p.LockApp(appKey(sigs[apps[0]].AppID, sigs[apps[0]].ObjectID))()
	pending := make([]appwarden.Signal, len(apps))
	for j, i := range apps {
		pending[j] = sigs[i]
	}
	if p.covered(ctx, logs[apps[0]], pending) {
		for _, i := range apps {
			errs[i] = p.recordCovered(ctx, logs[i], sigs[i])
		}
		return errs
	}
	switch len(apps) {
	case 1:
		errs[apps[0]] = p.HandleApp(ctx, logs[apps[0]], sigs[apps[0]])
		return errs
	}
	group := make([]appwarden.Signal, len(apps))
	for j, i := range apps {
		group[j] = sigs[i]
	}
	first := logs[apps[0]]
	app, err := p.Resolver.ResolveSignal(ctx, first, resolution(group))
	if err == nil && app != nil && app.Creator.IsZero() {
		app.Creator = creator(group)
	}
	first.Info("signals about the same app decided on one resolution", "event", "resolve", "signals", len(apps))
	for _, i := range apps {
		if ctx.Err() != nil {
			errs[i] = fmt.Errorf("before deciding %s: %w", sigs[i].AppID, ctx.Err())
			continue
		}
		own, cerr := clone(app)
		if cerr != nil {
			errs[i] = cerr
			continue
		}
		errs[i] = p.decide(ctx, logs[i], sigs[i], own, err)
	}
	return errs
}

// creates reports whether a signal is an app's creation: only its
// initiator is the app's creator, and its resolution may read less.
func creates(k appwarden.SignalKind) bool {
	return k == appwarden.AppCreated || k == appwarden.ServicePrincipalCreated
}

// resolution is the one signal the group is resolved for: a later change
// if there is one (its resolution reads every part a change is judged on;
// a creation's may read less), as of the group's latest time (so a very
// recent object is waited for).
func resolution(group []appwarden.Signal) appwarden.Signal {
	rs := group[0]
	for _, s := range group {
		if !creates(s.Kind) {
			rs = s
			break
		}
	}
	for _, s := range group {
		if s.Time.After(rs.Time) {
			rs.Time = s.Time
		}
		if rs.AppID == "" {
			rs.AppID = s.AppID
		}
	}
	return rs
}

// creator is the initiator of the group's creation, if it holds one.
func creator(group []appwarden.Signal) appwarden.Initiator {
	for _, s := range group {
		if creates(s.Kind) {
			return s.Initiator
		}
	}
	return appwarden.Initiator{}
}

// clone is a deep copy of the app, so each signal's decision starts from
// the resolution as read (App.Change is the signal's own).
func clone(app *appwarden.App) (*appwarden.App, error) {
	if app == nil {
		return nil, nil
	}
	raw, err := json.Marshal(app)
	if err != nil {
		return nil, fmt.Errorf("copying the resolution of %s: %w", app.AppID, err)
	}
	var out appwarden.App
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("copying the resolution of %s: %w", app.AppID, err)
	}
	out.Change = nil
	return &out, nil
}
