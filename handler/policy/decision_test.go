package policy

import (
	"slices"
	"strings"
	"testing"

	"github.com/appwarden/appwarden/handler/appwarden"
)

func payrollWithRoleManagement() *appwarden.App {
	a := cleanApp()
	a.Permissions = append(a.Permissions, application("RoleManagement.ReadWrite.Directory", idRoleManagementRW, 4))
	return a
}

func TestCriticalPermissionDecision(t *testing.T) {
	p := mustDefault(t)
	d := p.Evaluate(payrollWithRoleManagement(), enforceEnv())
	want := []appwarden.ActionKind{appwarden.ActionDisableServicePrincipal, appwarden.ActionNotify}
	if d.Mode != appwarden.ModeEnforce || !slices.Equal(d.Actions, want) {
		t.Fatalf("mode %s actions %v, want enforce %v", d.Mode, d.Actions, want)
	}
	if d.AppID != payrollAppID || d.PolicyVersion != p.Version() || d.Protected != "" {
		t.Fatalf("decision header %+v", d)
	}
	for _, s := range []string{"Payroll Sync (" + payrollAppID + ")", "critical application permission", "RoleManagement.ReadWrite.Directory", "AppWarden disables its service principal and notifies."} {
		if !strings.Contains(d.Explanation, s) {
			t.Errorf("explanation %q lacks %q", d.Explanation, s)
		}
	}

	// The same app under APPWARDEN_MODE=audit: a dry run of the same actions.
	d = p.Evaluate(payrollWithRoleManagement(), Env{Now: testNow, Mode: appwarden.ModeAudit})
	if d.Mode != appwarden.ModeAudit || !slices.Equal(d.Actions, want) {
		t.Fatalf("audit: mode %s actions %v, want audit %v", d.Mode, d.Actions, want)
	}
	if !strings.Contains(d.Explanation, "Audit mode, nothing is changed: AppWarden would disable its service principal") {
		t.Errorf("audit explanation %q", d.Explanation)
	}
	// An unset global mode is audit, never enforce.
	if d := p.Evaluate(payrollWithRoleManagement(), Env{Now: testNow}); d.Mode != appwarden.ModeAudit {
		t.Fatalf("empty Env.Mode gave %s", d.Mode)
	}
}

const mixedModes = `apiVersion: appwarden.io/v1
notifyMinSeverity: high
rules:
  - id: quarantine
    title: Quarantine everything
    severity: low
    condition: "true"
    actions: [markQuarantined]
    mode: enforce
  - id: secrets
    title: Remove secrets, in audit only
    severity: low
    condition: "true"
    actions: [removePasswords]
  - id: quiet
    title: Low severity, nothing to do
    severity: low
    condition: app.displayName == 'Quiet'
`

func TestModeAndActions(t *testing.T) {
	p := mustParse(t, mixedModes)

	// Enforce: only the enforce-mode rule's change is applied; the audit-mode
	// rule's change is left out rather than applied.
	d := p.Evaluate(cleanApp(), enforceEnv())
	if d.Mode != appwarden.ModeEnforce || !slices.Equal(d.Actions, []appwarden.ActionKind{appwarden.ActionMarkQuarantined}) {
		t.Fatalf("enforce: mode %s actions %v", d.Mode, d.Actions)
	}
	// Audit: a dry run of everything the matched rules ask for, in apply order.
	d = p.Evaluate(cleanApp(), Env{Now: testNow, Mode: appwarden.ModeAudit})
	if d.Mode != appwarden.ModeAudit || !slices.Equal(d.Actions, []appwarden.ActionKind{appwarden.ActionMarkQuarantined, appwarden.ActionRemovePasswords}) {
		t.Fatalf("audit: mode %s actions %v", d.Mode, d.Actions)
	}
	// Low findings below notifyMinSeverity and no notify action: no notify.
	if slices.Contains(d.Actions, appwarden.ActionNotify) {
		t.Fatalf("notified below notifyMinSeverity: %v", d.Actions)
	}
}

func TestEnforceNeedsAnEnforceRuleWithAChange(t *testing.T) {
	p := mustParse(t, `apiVersion: appwarden.io/v1
rules:
  - id: notify-only
    title: Enforce mode but nothing to change
    severity: high
    condition: "true"
    actions: [notify]
    mode: enforce
`)
	d := p.Evaluate(cleanApp(), enforceEnv())
	if d.Mode != appwarden.ModeAudit || !slices.Equal(d.Actions, []appwarden.ActionKind{appwarden.ActionNotify}) {
		t.Fatalf("mode %s actions %v, want audit [notify]", d.Mode, d.Actions)
	}
	if !strings.HasSuffix(d.Explanation, "AppWarden notifies.") {
		t.Fatalf("explanation %q", d.Explanation)
	}
}

func TestFindingsOrder(t *testing.T) {
	a := payrollWithRoleManagement()
	a.Owners = nil
	a.Application.PasswordCredentials = []appwarden.Credential{secret(secretKeyID, date(2026, 3, 1), date(2026, 5, 30))}
	d := mustDefault(t).Evaluate(a, enforceEnv())
	want := []string{"credential-on-privileged-app", "critical-app-permission", "ownerless-app", "password-credential"}
	if got := ruleIDs(d); !slices.Equal(got, want) {
		t.Fatalf("findings %v, want %v (severity desc, then rule id)", got, want)
	}
}

// A rule that fails on an app is reported, never silently skipped, and
// takes no action; the other rules still decide.
func TestRuleErrorIsAFinding(t *testing.T) {
	p := mustParse(t, `apiVersion: appwarden.io/v1
rules:
  - id: audience
    title: Audience
    severity: high
    condition: app.application.signInAudience != 'AzureADMyOrg'
    actions: [disableServicePrincipal]
    mode: enforce
  - id: named
    title: Named app
    severity: low
    condition: app.displayName != ''
`)
	a := cleanApp()
	a.Application = nil // selecting a field of null fails
	d := p.Evaluate(a, enforceEnv())
	f := findingFor(d, RuleError)
	if f == nil || findingFor(d, "named") == nil {
		t.Fatalf("findings %v, want rule-error and named", ruleIDs(d))
	}
	if len(f.Evidence) != 1 || f.Evidence[0].ID != "audience" || !strings.HasPrefix(f.Evidence[0].Detail, "condition: ") {
		t.Fatalf("rule-error evidence %+v", f.Evidence)
	}
	if d.Mode != appwarden.ModeAudit || len(d.Actions) != 0 {
		t.Fatalf("a failing rule acted: mode %s actions %v", d.Mode, d.Actions)
	}
}

// Rules can build their own evidence items and use the helpers.
func TestCustomEvidenceAndHelpers(t *testing.T) {
	p := mustParse(t, `apiVersion: appwarden.io/v1
lists:
  corp: [contoso.example]
rules:
  - id: external-redirect
    title: Redirects outside the corporate domains
    severity: low
    condition: |
      app.application.redirectUris
        .filter(r, !hostUnder(uriHost(r.uri), corp) && !glob(r.uri, 'http://localhost*'))
        .map(r, {'kind': 'redirectUri', 'name': r.uri, 'detail': 'host ' + uriHost(r.uri)})
  - id: creator
    title: Created by a developer
    severity: info
    condition: app.creator.upn.matches('^dev\\.')
    evidence: "[app.creator, 'note']"
`)
	a := cleanApp()
	a.Application.RedirectURIs = append(a.Application.RedirectURIs,
		appwarden.RedirectURI{Kind: "web", URI: "https://Fabrikam.example:8443/cb"},
		appwarden.RedirectURI{Kind: "web", URI: "http://localhost:5000/"})
	d := p.Evaluate(a, enforceEnv())
	f := findingFor(d, "external-redirect")
	if f == nil {
		t.Fatalf("findings %v", ruleIDs(d))
	}
	assertEvidence(t, f.Evidence, []ev{{kind: "redirectUri", name: "https://Fabrikam.example:8443/cb", detail: "host fabrikam.example"}})
	f = findingFor(d, "creator")
	if f == nil {
		t.Fatalf("findings %v", ruleIDs(d))
	}
	assertEvidence(t, f.Evidence, []ev{{kind: "creator", name: "dev.one@contoso.example"}, {kind: "value", name: "note"}})
}

func TestDeletedAndNilApps(t *testing.T) {
	p := mustDefault(t)
	a := payrollWithRoleManagement()
	a.Deleted = true
	d := p.Evaluate(a, enforceEnv())
	if len(d.Findings) != 0 || len(d.Actions) != 0 || d.Mode != appwarden.ModeAudit || !strings.Contains(d.Explanation, "no longer exists") {
		t.Fatalf("deleted app: %+v", d)
	}
	d = p.Evaluate(nil, enforceEnv())
	if d.Protected == "" || len(d.Actions) != 0 || d.Mode != appwarden.ModeAudit {
		t.Fatalf("nil app: %+v", d)
	}
}

// Without Env.Now, the app's ResolvedAt is the decision time: evaluation
// never reads the clock.
func TestNowDefaultsToResolvedAt(t *testing.T) {
	p := mustParse(t, `apiVersion: appwarden.io/v1
rules:
  - id: now
    title: Now is 2026-06-01
    severity: info
    condition: now == timestamp('2026-06-01T12:00:00Z')
`)
	if d := p.Evaluate(cleanApp(), Env{}); findingFor(d, "now") == nil {
		t.Fatalf("now was not ResolvedAt: %v", ruleIDs(d))
	}
}

// A backup app that has held Files.ReadWrite.All and a secret since before
// AppWarden: renamed, or given a new redirect URI, it is posture (recorded,
// never acted on, never notified); given a new secret, it is an escalation,
// and the action removes that secret only.
func TestChangeIsJudgedByWhatItAdded(t *testing.T) {
	backup := func() *appwarden.App {
		a := cleanApp()
		a.Permissions = append(a.Permissions, application("Files.ReadWrite.All", "75359482-378d-4052-8f01-80520e7db3cd", 4))
		a.Application.PasswordCredentials = []appwarden.Credential{secret(secretKeyID, date(2025, 1, 1), date(2026, 12, 1))}
		return a
	}
	p := mustDefault(t)

	for name, change := range map[string]*appwarden.Change{
		"renamed":          changed(appwarden.AppUpdated),
		"new redirect URI": changed(appwarden.AppUpdated, appwarden.Fact{Kind: appwarden.FactRedirectURI, Name: "https://backup.contoso.example/cb", State: appwarden.RedirectWeb}),
	} {
		t.Run(name, func(t *testing.T) {
			a := backup()
			a.Change = change
			d := p.Evaluate(a, enforceEnv())
			if len(d.Actions) != 0 || d.Mode != appwarden.ModeAudit {
				t.Fatalf("actions %v mode %s, want none in audit: %s", d.Actions, d.Mode, d.Explanation)
			}
			if f := findingFor(d, "critical-app-permission"); f == nil || !f.Baseline {
				t.Fatalf("critical-app-permission = %+v, want a baseline finding", f)
			}
			if !strings.Contains(d.Explanation, "posture") {
				t.Errorf("explanation %q does not say the findings are posture", d.Explanation)
			}
		})
	}

	a := backup()
	a.Application.PasswordCredentials = append(a.Application.PasswordCredentials, secret(addedKeyID, testNow, testNow.AddDate(0, 3, 0)))
	a.Change = changed(appwarden.CredentialAdded, appwarden.Fact{Kind: appwarden.FactCredential, ID: addedKeyID, Name: "ci secret", State: appwarden.CredentialPassword, On: appwarden.OnApplication})
	d := p.Evaluate(a, enforceEnv())
	if d.Mode != appwarden.ModeEnforce || !slices.Contains(d.Actions, appwarden.ActionRemoveCredentials) || slices.Contains(d.Actions, appwarden.ActionDisableServicePrincipal) {
		t.Fatalf("new secret: mode %s actions %v, want enforce removing the credential (not disabling the app): %s", d.Mode, d.Actions, d.Explanation)
	}
	f := findingFor(d, "credential-added-to-privileged-app")
	if f == nil || f.Baseline || !slices.Contains(f.Actions, appwarden.ActionRemoveCredentials) {
		t.Fatalf("credential-added-to-privileged-app = %+v", f)
	}
	var added []string
	for _, e := range f.Evidence {
		if e.Added {
			added = append(added, e.Kind+":"+e.ID)
		}
	}
	if !slices.Equal(added, []string{"credential:" + addedKeyID}) {
		t.Errorf("evidence marked added %v, want only the new secret", added)
	}
	if g := findingFor(d, "password-credential"); g == nil || g.Baseline {
		t.Errorf("password-credential = %+v; the new secret makes it news too", g)
	}
}
