package policy

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// Evaluate judges one app. It is a pure function of the app, the policy and
// env: it does no I/O, reads no clock and keeps no state, so the same inputs
// always give the same Decision (also when the app's lists come in another
// order), and a recorded decision can be replayed.
//
// Protected apps (env.Guard, or the policy's allowlist) are judged like any
// other, but their Decision is always in audit mode with no action other
// than notify, whatever the rules say.
func (p *Policy) Evaluate(app *appwarden.App, env Env) appwarden.Decision {
	d := appwarden.Decision{
		Findings:      []appwarden.Finding{},
		Actions:       []appwarden.ActionKind{},
		Mode:          appwarden.ModeAudit,
		PolicyVersion: p.version,
	}
	if app == nil {
		d.Protected = env.Guard.Protected(nil)
		d.Explanation = "No app to judge."
		return d
	}
	d.AppID = app.AppID
	d.Protected = p.Protected(app, env.Guard)
	if app.Deleted {
		d.Explanation = fmt.Sprintf("%s no longer exists in Microsoft Graph; nothing to judge.", appLabel(app))
		return d
	}
	now := env.Now
	if now.IsZero() {
		now = app.ResolvedAt
	}
	vars := map[string]any{
		"app":    types.DefaultTypeAdapter.NativeToValue(appValue(app)),
		"now":    types.Timestamp{Time: now.UTC()},
		"signal": types.DefaultTypeAdapter.NativeToValue(signalValue(app)),
	}
	// A change to an app AppWarden knew before is judged by what it added:
	// a finding none of whose evidence the change added is posture (the
	// baseline), reported but neither acted on nor notified.
	change := app.Change
	judgeChange := change != nil && !change.New
	active, expired := p.exceptionsFor(app.AppID, now)
	var (
		matched    []*rule
		suppressed []string
		failures   []appwarden.Evidence
	)
	for _, r := range p.rules {
		f, err := r.evaluate(vars, app)
		if err != nil {
			failures = append(failures, appwarden.Evidence{Kind: "rule", ID: r.id, Detail: err.Error()})
		}
		if f == nil {
			continue
		}
		if active[r.id] {
			suppressed = append(suppressed, r.id)
			continue
		}
		f.Actions = slices.Clone(r.actions)
		if judgeChange {
			f.Baseline = true
			for i := range f.Evidence {
				if change.AddedFact(f.Evidence[i]) {
					f.Evidence[i].Added = true
					f.Baseline = false
				}
			}
		}
		d.Findings = append(d.Findings, *f)
		if !f.Baseline {
			matched = append(matched, r)
		}
	}
	if len(expired) > 0 {
		d.Findings = append(d.Findings, expiredFinding(expired))
	}
	if len(failures) > 0 {
		d.Findings = append(d.Findings, errorFinding(failures))
	}
	sortFindings(d.Findings)
	d.Mode, d.Actions = p.choose(matched, incidents(d.Findings), env.Mode, d.Protected != "")
	d.Explanation = explain(app, d, suppressed)
	return d
}

// Protected says why the app must never be acted on, or "" when it may be:
// the Guard's reasons first (they hold whatever the policy says), then the
// policy's allowlist. Remediation can call it again before each write, as it
// does Guard.Protected, so that allowlisted apps get the same second check.
func (p *Policy) Protected(app *appwarden.App, g appwarden.Guard) string {
	if why := g.Protected(app); why != "" {
		return why
	}
	if reason, ok := p.allowlist[strings.ToLower(strings.TrimSpace(app.AppID))]; ok {
		return "on the policy allowlist: " + reason
	}
	return ""
}

// evaluate runs one rule. It returns the finding when the rule matched, and
// an error when part of it could not be evaluated; both can be set when the
// rule matched but an escalation failed, so a broken escalation never hides
// a finding.
func (r *rule) evaluate(vars map[string]any, app *appwarden.App) (*appwarden.Finding, error) {
	out, _, err := r.condition.Eval(vars)
	if err != nil {
		return nil, fmt.Errorf("condition: %w", err)
	}
	var items []ref.Val
	switch v := out.(type) {
	case types.Bool:
		if !v {
			return nil, nil
		}
	case traits.Lister:
		if items = listItems(v); len(items) == 0 {
			return nil, nil
		}
	default:
		return nil, fmt.Errorf("condition yielded %s, want a bool or a list", out.Type().TypeName())
	}
	if r.evidence != nil {
		ev, _, err := r.evidence.Eval(vars)
		if err != nil {
			return nil, fmt.Errorf("evidence: %w", err)
		}
		l, ok := ev.(traits.Lister)
		if !ok {
			return nil, fmt.Errorf("evidence yielded %s, want a list", ev.Type().TypeName())
		}
		items = listItems(l)
	}
	f := &appwarden.Finding{
		RuleID:   r.id,
		Title:    r.title,
		Severity: r.severity,
		Evidence: evidenceList(items, app),
		Remedy:   r.remedy,
	}
	var errs []error
	if len(r.escalate) > 0 {
		esc := map[string]any{"app": vars["app"], "now": vars["now"], "signal": vars["signal"], "matched": types.NewRefValList(types.DefaultTypeAdapter, items)}
		for i, e := range r.escalate {
			out, _, err := e.when.Eval(esc)
			if err != nil {
				errs = append(errs, fmt.Errorf("escalate[%d].when: %w", i, err))
				continue
			}
			if out == types.True && e.severity > f.Severity {
				f.Severity = e.severity
			}
		}
	}
	return f, errors.Join(errs...)
}

func listItems(l traits.Lister) []ref.Val {
	var out []ref.Val
	for it := l.Iterator(); it.HasNext() == types.True; {
		out = append(out, it.Next())
	}
	return out
}

// sortFindings orders findings most severe first, then by rule id, so a
// decision reads the same every time.
func sortFindings(fs []appwarden.Finding) {
	slices.SortStableFunc(fs, func(a, b appwarden.Finding) int {
		if c := cmp.Compare(b.Severity, a.Severity); c != 0 {
			return c
		}
		return strings.Compare(a.RuleID, b.RuleID)
	})
}

func errorFinding(failures []appwarden.Evidence) appwarden.Finding {
	sortEvidence(failures)
	return appwarden.Finding{
		RuleID:   RuleError,
		Title:    "A policy rule could not be evaluated for this app",
		Severity: appwarden.SeverityLow,
		Evidence: failures,
		Remedy:   "Fix the rule named in the evidence; `policy test` with this app's JSON reproduces the error.",
	}
}

// incidents are the findings that are not posture: what the change being
// judged brought (or, for an app judged as a whole, every finding).
func incidents(fs []appwarden.Finding) []appwarden.Finding {
	var out []appwarden.Finding
	for _, f := range fs {
		if !f.Baseline {
			out = append(out, f)
		}
	}
	return out
}
