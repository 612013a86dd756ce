package policy

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// ev is an expected evidence item: the exact facts, plus words the detail
// must contain.
type ev struct {
	kind, id, name string
	end            *time.Time
	detail         string // substring of Evidence.Detail
}

type ruleCase struct {
	rule   string
	name   string
	change func(a *appwarden.App)
	// match is false for a negative case.
	match    bool
	severity appwarden.Severity
	evidence []ev
}

func builtinRuleCases() []ruleCase {
	appendPerm := func(ps ...appwarden.Permission) func(*appwarden.App) {
		return func(a *appwarden.App) { a.Permissions = append(a.Permissions, ps...) }
	}
	critical := appwarden.SeverityCritical
	return []ruleCase{
		// critical-app-permission
		{rule: "critical-app-permission", name: "listed permission at level 4", match: true, severity: critical,
			change:   appendPerm(application("RoleManagement.ReadWrite.Directory", idRoleManagementRW, 4)),
			evidence: []ev{{kind: "permission", id: idRoleManagementRW, name: "RoleManagement.ReadWrite.Directory", detail: "application permission, privilege level 4"}}},
		{rule: "critical-app-permission", name: "listed permission rated only level 3", match: true, severity: critical,
			change:   appendPerm(application("Mail.ReadWrite", idMailReadWriteApp, 3)),
			evidence: []ev{{kind: "permission", id: idMailReadWriteApp, name: "Mail.ReadWrite"}}},
		{rule: "critical-app-permission", name: "unlisted permission at level 4", match: true, severity: critical,
			change:   appendPerm(application("Calendars.Read", idCalendarsReadApp, 4)),
			evidence: []ev{{kind: "permission", id: idCalendarsReadApp, name: "Calendars.Read"}}},
		{rule: "critical-app-permission", name: "requested and not yet granted", match: true, severity: critical,
			change: func(a *appwarden.App) {
				p := application("RoleManagement.ReadWrite.Directory", idRoleManagementRW, 4)
				p.Granted = false
				a.Permissions = append(a.Permissions, p)
			},
			evidence: []ev{{kind: "permission", id: idRoleManagementRW, name: "RoleManagement.ReadWrite.Directory", detail: "requested, not granted"}}},
		{rule: "critical-app-permission", name: "same name as a delegated scope",
			change: appendPerm(delegated("Mail.ReadWrite", "024d486e-b451-40bb-833d-3e66d98c5c73", 2, false))},
		{rule: "critical-app-permission", name: "unlisted application permission at level 3",
			change: appendPerm(application("User.Read.All", idUserReadAllApp, 3))},

		// high-privilege-delegated
		{rule: "high-privilege-delegated", name: "delegated scope at level 4", match: true, severity: appwarden.SeverityHigh,
			change:   appendPerm(delegated("Directory.ReadWrite.All", idDirectoryRWDel, 4, false)),
			evidence: []ev{{kind: "permission", id: idDirectoryRWDel, name: "Directory.ReadWrite.All", detail: "delegated permission"}}},
		{rule: "high-privilege-delegated", name: "admin consent to mail and files", match: true, severity: appwarden.SeverityHigh,
			change: appendPerm(delegated("Mail.Read", idMailReadDel, 2, true), delegated("Files.Read.All", idFilesReadAllDel, 3, true)),
			evidence: []ev{
				{kind: "permission", id: idMailReadDel, name: "Mail.Read", detail: "admin consent"},
				{kind: "permission", id: idFilesReadAllDel, name: "Files.Read.All", detail: "admin consent"},
			}},
		{rule: "high-privilege-delegated", name: "mail scope consented by the user only",
			change: appendPerm(delegated("Mail.Read", idMailReadDel, 2, false))},
		{rule: "high-privilege-delegated", name: "admin consent to a scope that is not mail or files",
			change: func(a *appwarden.App) {
				a.Permissions = []appwarden.Permission{delegated("User.Read", idUserReadDel, 2, true)}
			}},

		// multi-tenant-unverified
		{rule: "multi-tenant-unverified", name: "multi-tenant without publisher", match: true, severity: appwarden.SeverityMedium,
			change: func(a *appwarden.App) {
				a.Application.SignInAudience = "AzureADMultipleOrgs"
				a.Application.PublisherDomain = "contoso.example"
			},
			evidence: []ev{
				{kind: "audience", name: "AzureADMultipleOrgs", detail: "outside this tenant"},
				{kind: "publisher", name: "contoso.example", detail: "no verified publisher"},
			}},
		{rule: "multi-tenant-unverified", name: "personal accounts, publisher without verification id", match: true, severity: appwarden.SeverityMedium,
			change: func(a *appwarden.App) {
				a.Application.SignInAudience = "AzureADandPersonalMicrosoftAccount"
				a.Application.VerifiedPublisher = &appwarden.VerifiedPublisher{DisplayName: "Contoso"}
			},
			evidence: []ev{{kind: "audience", name: "AzureADandPersonalMicrosoftAccount"}, {kind: "publisher"}}},
		{rule: "multi-tenant-unverified", name: "multi-tenant with a verified publisher",
			change: func(a *appwarden.App) {
				a.Application.SignInAudience = "AzureADMultipleOrgs"
				a.Application.VerifiedPublisher = &appwarden.VerifiedPublisher{DisplayName: "Contoso", VerifiedPublisherID: "1234567"}
			}},
		{rule: "multi-tenant-unverified", name: "service principal of another tenant's app",
			change: func(a *appwarden.App) { a.Application, a.SPOnly = nil, true }},

		// risky-redirect-uri
		{rule: "risky-redirect-uri", name: "each kind of risky URI, and only those", match: true, severity: appwarden.SeverityHigh,
			change: func(a *appwarden.App) {
				for _, u := range append(riskyURIs, safeURIs...) {
					a.Application.RedirectURIs = append(a.Application.RedirectURIs, appwarden.RedirectURI{Kind: appwarden.RedirectWeb, URI: u})
				}
				a.Application.RedirectURIs = append(a.Application.RedirectURIs, appwarden.RedirectURI{Kind: appwarden.RedirectSPA, URI: "https://spa.ngrok.app/"})
			},
			evidence: func() []ev {
				var out []ev
				for _, u := range riskyURIs {
					out = append(out, ev{kind: "redirectUri", name: u, detail: "web redirect URI"})
				}
				out = append(out, ev{kind: "redirectUri", name: "https://spa.ngrok.app/", detail: "spa redirect URI"})
				slices.SortFunc(out, func(a, b ev) int { return strings.Compare(a.name, b.name) })
				return out
			}()},
		{rule: "risky-redirect-uri", name: "https, loopback and custom schemes",
			change: func(a *appwarden.App) {
				for _, u := range safeURIs {
					a.Application.RedirectURIs = append(a.Application.RedirectURIs, appwarden.RedirectURI{Kind: appwarden.RedirectPublicClient, URI: u})
				}
			}},

		// password-credential
		{rule: "password-credential", name: "a 90-day secret", match: true, severity: appwarden.SeverityMedium,
			change: func(a *appwarden.App) {
				a.Application.PasswordCredentials = []appwarden.Credential{secret(secretKeyID, date(2026, 3, 1), date(2026, 5, 30))}
			},
			evidence: []ev{{kind: "credential", id: secretKeyID, name: "ci secret", end: ptr(date(2026, 5, 30)), detail: "client secret, valid 90 days"}}},
		{rule: "password-credential", name: "exactly 180 days stays medium", match: true, severity: appwarden.SeverityMedium,
			change: func(a *appwarden.App) {
				a.Application.PasswordCredentials = []appwarden.Credential{secret(secretKeyID, date(2026, 1, 1), date(2026, 1, 1).Add(4320*time.Hour))}
			},
			evidence: []ev{{kind: "credential", id: secretKeyID, name: "ci secret", end: ptr(date(2026, 1, 1).Add(4320 * time.Hour))}}},
		{rule: "password-credential", name: "a two-year secret escalates to high", match: true, severity: appwarden.SeverityHigh,
			change: func(a *appwarden.App) {
				a.Application.PasswordCredentials = []appwarden.Credential{
					secret("0a0a0a0a-0000-4000-8000-000000000001", date(2026, 4, 1), date(2026, 7, 1)),
					secret(secretKeyID, date(2025, 1, 1), date(2027, 1, 1)),
				}
			},
			evidence: []ev{
				{kind: "credential", id: "0a0a0a0a-0000-4000-8000-000000000001", end: ptr(date(2026, 7, 1))},
				{kind: "credential", id: secretKeyID, end: ptr(date(2027, 1, 1)), detail: "valid 730 days"},
			}},
		{rule: "password-credential", name: "certificate only",
			change: func(a *appwarden.App) {
				a.Application.KeyCredentials = []appwarden.Credential{certificate(certKeyID, date(2025, 1, 1), date(2028, 1, 1))}
			}},

		// credential-on-privileged-app
		{rule: "credential-on-privileged-app", name: "certificate and a critical permission", match: true, severity: critical,
			change: func(a *appwarden.App) {
				a.Application.KeyCredentials = []appwarden.Credential{certificate(certKeyID, date(2026, 1, 1), date(2027, 1, 1))}
				a.Permissions = append(a.Permissions, application("RoleManagement.ReadWrite.Directory", idRoleManagementRW, 4))
			},
			evidence: []ev{
				{kind: "credential", id: certKeyID, name: "CN=payroll", end: ptr(date(2027, 1, 1)), detail: "certificate"},
				{kind: "permission", id: idRoleManagementRW, name: "RoleManagement.ReadWrite.Directory"},
			}},
		{rule: "credential-on-privileged-app", name: "secret and a listed level-3 permission", match: true, severity: critical,
			change: func(a *appwarden.App) {
				a.Application.PasswordCredentials = []appwarden.Credential{secret(secretKeyID, date(2026, 3, 1), date(2026, 5, 30))}
				a.Permissions = append(a.Permissions, application("Mail.ReadWrite", idMailReadWriteApp, 3), application("User.Read.All", idUserReadAllApp, 3))
			},
			evidence: []ev{
				{kind: "credential", id: secretKeyID, end: ptr(date(2026, 5, 30)), detail: "client secret"},
				{kind: "permission", id: idMailReadWriteApp, name: "Mail.ReadWrite"},
			}},
		{rule: "credential-on-privileged-app", name: "certificate without a critical permission",
			change: func(a *appwarden.App) {
				a.Application.KeyCredentials = []appwarden.Credential{certificate(certKeyID, date(2026, 1, 1), date(2027, 1, 1))}
				a.Permissions = append(a.Permissions, application("User.Read.All", idUserReadAllApp, 3))
			}},
		{rule: "credential-on-privileged-app", name: "critical permission without credentials",
			change: appendPerm(application("RoleManagement.ReadWrite.Directory", idRoleManagementRW, 4))},

		// ownerless-app
		{rule: "ownerless-app", name: "registration without owners", match: true, severity: appwarden.SeverityMedium,
			change:   func(a *appwarden.App) { a.Owners = nil },
			evidence: []ev{{kind: "owner", detail: "no owners"}}},
		{rule: "ownerless-app", name: "registration with an owner", change: func(*appwarden.App) {}},
		{rule: "ownerless-app", name: "service principal only, no owners here",
			change: func(a *appwarden.App) { a.Application, a.SPOnly, a.Owners = nil, true, nil }},
	}
}

var riskyURIs = []string{
	"http://[2001:db8::1]/cb",
	"http://payroll.contoso.example/cb",
	"https://*.contoso.example/cb",
	"https://203.0.113.7/cb",
	"https://2130706433/cb",
	"https://a1b2-203-0-113-7.ngrok-free.app/auth",
	"https://eo1a2b3c.m.pipedream.net/",
	"https://quiet-fox.trycloudflare.com/cb",
	"https://webhook.site/0f1e2d3c",
}

var safeURIs = []string{
	"https://payroll.contoso.example/signin-oidc",
	"http://localhost:3000/cb",
	"http://127.0.0.1/cb",
	"http://[::1]:8080/cb",
	"msal5bee10b5-db93-4475-ae1a-3d87e059d287://auth",
	"ms-appx-web://microsoft.aad.brokerplugin/S-1-15-2",
	"https://myngrok.io/cb",
	"urn:ietf:wg:oauth:2.0:oob",
}

func TestBuiltinRules(t *testing.T) {
	p := mustDefault(t)
	for _, c := range builtinRuleCases() {
		t.Run(c.rule+"/"+c.name, func(t *testing.T) {
			app := cleanApp()
			c.change(app)
			d := p.Evaluate(app, enforceEnv())
			f := findingFor(d, c.rule)
			if !c.match {
				if f != nil {
					t.Fatalf("rule matched, want no finding; evidence %+v", f.Evidence)
				}
				return
			}
			if f == nil {
				t.Fatalf("no %s finding; findings %v", c.rule, ruleIDs(d))
			}
			if f.Severity != c.severity {
				t.Errorf("severity %s, want %s", f.Severity, c.severity)
			}
			if f.Title == "" || f.Remedy == "" {
				t.Errorf("finding lacks title or remedy: %+v", f)
			}
			assertEvidence(t, f.Evidence, c.evidence)
		})
	}
}

func assertEvidence(t *testing.T, got []appwarden.Evidence, want []ev) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d evidence items, want %d:\n%s", len(got), len(want), formatEvidence(got))
	}
	for i, w := range want {
		g := got[i]
		if g.Kind != w.kind || g.ID != w.id || (w.name != "" && g.Name != w.name) {
			t.Errorf("evidence[%d] = %s/%s/%s, want %s/%s/%s", i, g.Kind, g.ID, g.Name, w.kind, w.id, w.name)
		}
		switch {
		case w.end == nil && g.EndDateTime != nil:
			t.Errorf("evidence[%d] end %v, want none", i, *g.EndDateTime)
		case w.end != nil && (g.EndDateTime == nil || !g.EndDateTime.Equal(*w.end)):
			t.Errorf("evidence[%d] end %v, want %v", i, g.EndDateTime, *w.end)
		}
		if !strings.Contains(g.Detail, w.detail) {
			t.Errorf("evidence[%d] detail %q, want it to contain %q", i, g.Detail, w.detail)
		}
	}
}

func formatEvidence(es []appwarden.Evidence) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "  %s id=%s name=%s detail=%q end=%v\n", e.Kind, e.ID, e.Name, e.Detail, e.EndDateTime)
	}
	return b.String()
}

// The clean app really is clean, so every positive case above is caused by
// the one change it makes.
func TestCleanAppHasNoFindings(t *testing.T) {
	d := mustDefault(t).Evaluate(cleanApp(), enforceEnv())
	if len(d.Findings) != 0 || len(d.Actions) != 0 || d.Mode != appwarden.ModeAudit {
		t.Fatalf("clean app: findings %v, actions %v, mode %s", ruleIDs(d), d.Actions, d.Mode)
	}
}

func TestEveryBuiltinRuleHasPositiveAndNegativeCases(t *testing.T) {
	pos, neg := map[string]bool{}, map[string]bool{}
	for _, c := range builtinRuleCases() {
		if c.match {
			pos[c.rule] = true
		} else {
			neg[c.rule] = true
		}
	}
	for _, id := range mustDefault(t).RuleIDs() {
		if !pos[id] || !neg[id] {
			t.Errorf("rule %s: positive case %v, negative case %v", id, pos[id], neg[id])
		}
	}
}
