// Package remediate is where AppWarden changes a tenant. It plans each
// action as a small Graph write with its before-state, claims it with a
// conditional write so that it is applied exactly once however many times
// (and on however many instances) the same decision arrives, applies an
// app's writes in one $batch, records what it changed so that `appwarden
// release` can undo it, and stops itself at the blast-radius limit. It never
// touches a protected app, whatever the policy says.
package remediate

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// QuarantineTag marks a quarantined application.
const QuarantineTag = "AppWarden:Quarantined"

// Step is one planned action on one object.
type Step struct {
	Kind   appwarden.ActionKind
	Target string
	// Before is the exact state the write changes.
	Before any
	Write  appwarden.Write
	// Undo restores Before; nil when the change cannot be undone.
	Undo *appwarden.Write
	// Note says, in words, what the step does or why it cannot be undone.
	Note string
	// Keys is set on a step that removes certificates: Write, Before and
	// Undo hold the object's keyCredentials without their key material
	// until the Remediator reads it (see KeyRewrite), and the step is never
	// applied before that.
	Keys *KeyRewrite
}

// Key identifies a step within a decision's fingerprint.
func (s Step) Key() string { return string(s.Kind) + "|" + s.Target }

// maxNotes is Graph's limit on application notes.
const maxNotes = 1024

// Plan turns a decision's actions into steps against the app's current
// state. It is pure, and it plans nothing that is already so: a disabled
// service principal is not disabled again.
//
// Two actions can name the same write (removeAppRoleGrants and
// removeCriticalAppRoleAssignments the same assignment, removeCredentials
// and removePasswords the same secret): it is planned once, by the action
// that comes first.
func Plan(app *appwarden.App, d appwarden.Decision, now time.Time) []Step {
	var steps []Step
	seen := map[string]bool{}
	for _, kind := range d.Actions {
		for _, s := range planOne(app, d, kind, now) {
			if id := writeID(s.Write); !seen[id] {
				seen[id] = true
				steps = append(steps, s)
			}
		}
	}
	return steps
}

// writeID identifies a write: two writes with the same id do the same thing.
func writeID(w appwarden.Write) string {
	body, _ := json.Marshal(w.Body)
	return w.Method + " " + strings.ToLower(w.Path) + " " + string(body)
}

func planOne(app *appwarden.App, d appwarden.Decision, kind appwarden.ActionKind, now time.Time) []Step {
	a := app.Application
	var out []Step
	switch kind {
	case appwarden.ActionMarkQuarantined:
		if a == nil || slices.Contains(a.Tags, QuarantineTag) {
			return nil
		}
		tags := append(slices.Clone(a.Tags), QuarantineTag)
		line := fmt.Sprintf("[AppWarden %s] Quarantined: %s Release: appwarden release --app %s --reason \"...\" --by <upn>.",
			now.UTC().Format("2006-01-02"), d.Explanation, app.AppID)
		notes := strings.TrimSpace(a.Notes + "\n" + line)
		if len(notes) > maxNotes {
			notes = notes[len(notes)-maxNotes:]
		}
		before := map[string]any{"tags": nonNil(a.Tags), "notes": a.Notes}
		out = append(out, Step{Kind: kind, Target: a.ID, Before: before,
			Write: write("PATCH", "/applications/"+a.ID, map[string]any{"tags": tags, "notes": notes}),
			Undo:  undo("PATCH", "/applications/"+a.ID, before),
			Note:  "tag " + QuarantineTag + " and a line in notes"})
	case appwarden.ActionDisableServicePrincipal:
		for _, sp := range app.ServicePrincipals {
			if !sp.AccountEnabled {
				continue
			}
			out = append(out, Step{Kind: kind, Target: sp.ID, Before: map[string]any{"accountEnabled": true},
				Write: write("PATCH", "/servicePrincipals/"+sp.ID, map[string]any{"accountEnabled": false}),
				Undo:  undo("PATCH", "/servicePrincipals/"+sp.ID, map[string]any{"accountEnabled": true}),
				Note:  "service principal disabled in this tenant: no new tokens"})
		}
	case appwarden.ActionDeactivateApplication:
		if a == nil || a.IsDisabled {
			return nil
		}
		out = append(out, Step{Kind: kind, Target: a.ID, Before: map[string]any{"isDisabled": false},
			Write: write("PATCH", "/applications/"+a.ID, map[string]any{"isDisabled": true}),
			Undo:  undo("PATCH", "/applications/"+a.ID, map[string]any{"isDisabled": false}),
			Note:  "registration deactivated everywhere; existing tokens live until they expire"})
	case appwarden.ActionRemovePasswords:
		if a == nil {
			return nil
		}
		for _, c := range a.PasswordCredentials {
			out = append(out, removePassword(kind, "applications", a.ID, c))
		}
	case appwarden.ActionRemoveCriticalAppRoles:
		out = removeAssignments(app, kind, criticalIDs(d), nil)
	case appwarden.ActionRemoveCredentials:
		out = removeCredentials(app, evidenceOf(d, kind, appwarden.FactCredential, appwarden.FactFederatedCredential))
	case appwarden.ActionRemoveAppRoleGrants:
		ids := evidenceOf(d, kind, appwarden.FactPermission)
		out = removeAssignments(app, kind, ids, grantIDs(app, ids))
	case appwarden.ActionRevokeOAuth2Grants:
		for _, sp := range app.ServicePrincipals {
			for _, g := range sp.OAuth2PermissionGrants {
				re := map[string]any{"clientId": g.ClientID, "consentType": g.ConsentType, "resourceId": g.ResourceID, "scope": g.Scope}
				if g.PrincipalID != "" {
					re["principalId"] = g.PrincipalID
				}
				out = append(out, Step{Kind: kind, Target: g.ID, Before: g,
					Write: write("DELETE", "/oauth2PermissionGrants/"+g.ID, nil),
					Undo:  undo("POST", "/oauth2PermissionGrants", re),
					Note:  "delegated grant (" + g.Scope + ") revoked"})
			}
		}
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// criticalIDs are the permission ids named as evidence by findings whose
// actions include removing app roles: those assignments, and only those, go.
func criticalIDs(d appwarden.Decision) map[string]bool {
	ids := map[string]bool{}
	for _, f := range d.Findings {
		if f.Severity < appwarden.SeverityCritical {
			continue
		}
		for _, e := range f.Evidence {
			if e.Kind == "permission" && e.ID != "" {
				ids[strings.ToLower(e.ID)] = true
			}
		}
	}
	return ids
}

// write is one planned change.
func write(method, path string, body any) appwarden.Write {
	return appwarden.Write{Method: method, Path: path, Body: body}
}

// undo is the change that restores what a step changed.
func undo(method, path string, body any) *appwarden.Write {
	w := write(method, path, body)
	return &w
}
