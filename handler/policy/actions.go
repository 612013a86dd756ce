package policy

import (
	"slices"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// choose picks the decision's mode and actions:
//
//   - enforce only when the global mode is enforce, the app is not
//     protected, and a matched rule in enforce mode asks for an action that
//     changes the tenant; then the actions are those of the enforce-mode
//     rules (audit-mode rules' changes are left out, never applied);
//   - otherwise audit, and the actions are everything the matched rules ask
//     for: a dry run that shows what enforcing would do;
//   - a protected app gets no action but notify;
//   - notify whenever a finding reaches notifyMinSeverity or a matched rule
//     lists notify.
func (p *Policy) choose(matched []*rule, findings []appwarden.Finding, global appwarden.Mode, protected bool) (appwarden.Mode, []appwarden.ActionKind) {
	enforce := false
	if global == appwarden.ModeEnforce && !protected {
		for _, r := range matched {
			if r.mode == appwarden.ModeEnforce && slices.ContainsFunc(r.actions, appwarden.ActionKind.Changes) {
				enforce = true
			}
		}
	}
	want := map[appwarden.ActionKind]bool{}
	for _, f := range findings {
		if f.Severity >= p.notifyMin {
			want[appwarden.ActionNotify] = true
		}
	}
	for _, r := range matched {
		for _, a := range r.actions {
			switch {
			case !a.Changes():
				want[a] = true
			case protected, enforce && r.mode != appwarden.ModeEnforce:
			default:
				want[a] = true
			}
		}
	}
	actions := []appwarden.ActionKind{}
	for _, a := range appwarden.ActionKinds {
		if want[a] {
			actions = append(actions, a)
		}
	}
	if enforce {
		return appwarden.ModeEnforce, actions
	}
	return appwarden.ModeAudit, actions
}
