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

		// credential-added-to-privileged-app
		{rule: "credential-added-to-privileged-app", name: "secret added to the service principal of an app holding a critical permission", match: true, severity: critical,
			change: func(a *appwarden.App) {
				holdsRoleManagement(a)
				a.ServicePrincipals[0].PasswordCredentials = []appwarden.Credential{secret(addedKeyID, testNow, testNow.AddDate(1, 0, 0))}
				a.Change = changed(appwarden.CredentialAdded, appwarden.Fact{Kind: appwarden.FactCredential, ID: addedKeyID, Name: "ci secret", State: appwarden.CredentialPassword, On: appwarden.OnServicePrincipal})
			},
			evidence: []ev{
				{kind: "credential", id: addedKeyID, detail: "client secret on the service principal"},
				{kind: "permission", id: idRoleManagementRW, name: "RoleManagement.ReadWrite.Directory"},
			}},
		{rule: "credential-added-to-privileged-app", name: "federated credential added to an app in a privileged role", match: true, severity: critical,
			change: func(a *appwarden.App) {
				a.DirectoryRoles = []appwarden.DirectoryRole{{ID: "0d1f0000-0000-4000-8000-000000000001", RoleTemplateID: roleGlobalAdmin, DisplayName: "Global Administrator"}}
				a.FederatedIdentityCredentials = []appwarden.FederatedCredential{{ID: ficID, Name: "deploy", Issuer: "https://token.actions.githubusercontent.com", Subject: "repo:mallory/x:ref:refs/heads/main"}}
				a.Change = changed(appwarden.AppUpdated, appwarden.Fact{Kind: appwarden.FactFederatedCredential, ID: ficID, Name: "deploy"})
			},
			evidence: []ev{
				{kind: "directoryRole", id: roleGlobalAdmin, name: "Global Administrator"},
				{kind: "federatedCredential", id: ficID, name: "deploy"},
			}},
		{rule: "credential-added-to-privileged-app", name: "the change added a redirect URI, not a credential",
			change: func(a *appwarden.App) {
				holdsRoleManagement(a)
				a.Application.PasswordCredentials = []appwarden.Credential{secret(secretKeyID, date(2025, 1, 1), date(2026, 12, 1))}
				a.Change = changed(appwarden.AppUpdated, appwarden.Fact{Kind: appwarden.FactRedirectURI, Name: "https://payroll.contoso.example/b"})
			}},
		{rule: "credential-added-to-privileged-app", name: "secret added to an app holding no power",
			change: func(a *appwarden.App) {
				a.Application.PasswordCredentials = []appwarden.Credential{secret(addedKeyID, testNow, testNow.AddDate(0, 6, 0))}
				a.Change = changed(appwarden.CredentialAdded, appwarden.Fact{Kind: appwarden.FactCredential, ID: addedKeyID, State: appwarden.CredentialPassword, On: appwarden.OnApplication})
			}},

		// untrusted-federated-credential
		{rule: "untrusted-federated-credential", name: "federated credential on a privileged app", match: true, severity: critical,
			change: func(a *appwarden.App) {
				holdsRoleManagement(a)
				a.FederatedIdentityCredentials = []appwarden.FederatedCredential{{ID: ficID, Name: "deploy", Issuer: "https://token.actions.githubusercontent.com", Subject: "repo:mallory/x:ref:refs/heads/main"}}
			},
			evidence: []ev{{kind: "federatedCredential", id: ficID, name: "deploy", detail: "repo:mallory/x"}}},
		{rule: "untrusted-federated-credential", name: "federated credential on an app holding no power",
			change: func(a *appwarden.App) {
				a.FederatedIdentityCredentials = []appwarden.FederatedCredential{{ID: ficID, Name: "deploy", Issuer: "https://token.actions.githubusercontent.com", Subject: "repo:mallory/x:ref:refs/heads/main"}}
			}},

		// first-party-credential
		{rule: "first-party-credential", name: "secret on a Microsoft service principal", match: true, severity: critical,
			change: func(a *appwarden.App) {
				a.Application = nil
				a.ServicePrincipals[0].AppOwnerOrganizationID = appwarden.MicrosoftServicesTenantID
				a.ServicePrincipals[0].PasswordCredentials = []appwarden.Credential{secret(addedKeyID, testNow, testNow.AddDate(1, 0, 0))}
			},
			evidence: []ev{{kind: "credential", id: addedKeyID, end: &yearAfterTestNow, detail: "client secret on the service principal"}}},
		{rule: "first-party-credential", name: "Microsoft service principal without credentials",
			change: func(a *appwarden.App) {
				a.Application = nil
				a.ServicePrincipals[0].AppOwnerOrganizationID = appwarden.MicrosoftServicesTenantID
			}},

		// managed-identity-secret
		{rule: "managed-identity-secret", name: "a secret on a managed identity", match: true, severity: critical,
			change: func(a *appwarden.App) {
				a.Application = nil
				a.ServicePrincipals[0].ServicePrincipalType = "ManagedIdentity"
				a.ServicePrincipals[0].PasswordCredentials = []appwarden.Credential{secret(addedKeyID, testNow, testNow.AddDate(1, 0, 0))}
			},
			evidence: []ev{{kind: "credential", id: addedKeyID, end: &yearAfterTestNow, detail: "client secret on the service principal"}}},
		{rule: "managed-identity-secret", name: "the certificate Azure manages for a managed identity",
			change: func(a *appwarden.App) {
				a.Application = nil
				a.ServicePrincipals[0].ServicePrincipalType = "ManagedIdentity"
				a.ServicePrincipals[0].KeyCredentials = []appwarden.Credential{certificate(certKeyID, testNow, testNow.AddDate(0, 3, 0))}
			}},

		// privileged-directory-role
		{rule: "privileged-directory-role", name: "Global Administrator", match: true, severity: critical,
			change: func(a *appwarden.App) {
				a.DirectoryRoles = []appwarden.DirectoryRole{{ID: "0d1f0000-0000-4000-8000-000000000001", RoleTemplateID: roleGlobalAdmin, DisplayName: "Global Administrator"}}
			},
			evidence: []ev{{kind: "directoryRole", id: roleGlobalAdmin, name: "Global Administrator"}}},
		{rule: "privileged-directory-role", name: "Directory Readers",
			change: func(a *appwarden.App) {
				a.DirectoryRoles = []appwarden.DirectoryRole{{ID: "0d1f0000-0000-4000-8000-000000000002", RoleTemplateID: "88d8e3e3-8f55-4a1e-953a-9b9898b8876b", DisplayName: "Directory Readers"}}
			}},

		// hidden-critical-app-role
		{rule: "hidden-critical-app-role", name: "critical app role the registration never requested", match: true, severity: critical,
			change: func(a *appwarden.App) {
				p := application("RoleManagement.ReadWrite.Directory", idRoleManagementRW, 4)
				p.Requested, p.Hidden = false, true
				a.Permissions = append(a.Permissions, p)
			},
			evidence: []ev{{kind: "permission", id: idRoleManagementRW, name: "RoleManagement.ReadWrite.Directory", detail: "granted"}}},
		{rule: "hidden-critical-app-role", name: "an unrequested app role that is not critical",
			change: func(a *appwarden.App) {
				p := application("User.Read.All", idUserReadAllApp, 3)
				p.Requested, p.Hidden = false, true
				a.Permissions = append(a.Permissions, p)
			}},

		// owner-added-to-privileged-app
		{rule: "owner-added-to-privileged-app", name: "owner added to an app holding a critical permission", match: true, severity: appwarden.SeverityHigh,
			change: func(a *appwarden.App) {
				holdsRoleManagement(a)
				a.Owners = append(a.Owners, appwarden.Principal{ID: malloryID, UPN: "mallory@contoso.example", Type: "user"})
				a.Change = changed(appwarden.OwnerAdded, appwarden.Fact{Kind: appwarden.FactOwner, ID: malloryID, Name: "mallory@contoso.example", State: "user"})
			},
			evidence: []ev{
				{kind: "initiator", id: "9a9a9a9a-0000-4000-8000-000000000009", name: "eve@contoso.example", detail: "made the change"},
				{kind: "owner", id: malloryID, name: "mallory@contoso.example"},
			}},
		{rule: "owner-added-to-privileged-app", name: "owner added to an app holding no power",
			change: func(a *appwarden.App) {
				a.Owners = append(a.Owners, appwarden.Principal{ID: malloryID, UPN: "mallory@contoso.example", Type: "user"})
				a.Change = changed(appwarden.OwnerAdded, appwarden.Fact{Kind: appwarden.FactOwner, ID: malloryID, State: "user"})
			}},
		{rule: "owner-added-to-privileged-app", name: "a new privileged app with owners",
			change: func(a *appwarden.App) { holdsRoleManagement(a) }},

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

const (
	addedKeyID      = "7e7e7e7e-0000-4000-8000-000000000007"
	ficID           = "f1c00000-0000-4000-8000-000000000001"
	malloryID       = "3f2e1d0c-0000-4000-8000-00000000000e"
	roleGlobalAdmin = "62e90394-69f5-4237-9190-012177145e10"
)

var yearAfterTestNow = testNow.AddDate(1, 0, 0)

// holdsRoleManagement gives the app a granted critical application permission.
func holdsRoleManagement(a *appwarden.App) {
	a.Permissions = append(a.Permissions, application("RoleManagement.ReadWrite.Directory", idRoleManagementRW, 4))
}

// changed is a change to an app AppWarden knew before, by eve, that added
// the facts given.
func changed(kind appwarden.SignalKind, added ...appwarden.Fact) *appwarden.Change {
	return &appwarden.Change{Kind: kind, Activity: string(kind), Since: testNow.Add(-24 * time.Hour), At: testNow,
		Initiator: appwarden.Initiator{UserID: "9a9a9a9a-0000-4000-8000-000000000009", UPN: "eve@contoso.example"},
		Added:     added}
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
