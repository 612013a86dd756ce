// Package notifytest holds sample apps, decisions and outcomes for
// notification tests, the rendering test and the demo: one of each story
// (enforced, audit, findings only, ownerless), one too big for a Teams
// message, and one whose names try to inject markdown and mentions.
package notifytest

import (
	"fmt"
	"slices"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/notice"
)

// Sample is one notification's input.
type Sample struct {
	Name     string
	App      *appwarden.App
	Decision appwarden.Decision
	Outcome  appwarden.Outcome
	// Digest, when set, makes this the sample of a digest: one
	// invocation's notifications for one channel, many apps (App,
	// Decision and Outcome are then the enforce sample's, so a loop over
	// All() that renders one card each still works).
	Digest []Sample
	// Expiry, when set, makes this the sample of an expiry warning: the
	// due credentials of one app (a card, see Warning) or of several apps
	// of one owner (a digest, see ExpiryDigest), as of ExpiryNow. App,
	// Decision and Outcome are then the enforce sample's, as for Digest.
	Expiry    []appwarden.Expiring
	ExpiryNow time.Time
}

// IsExpiryDigest says whether an expiry sample is an owner's digest (its
// credentials belong to more than one app).
func (s Sample) IsExpiryDigest() bool {
	return len(s.Expiry) > 0 && slices.ContainsFunc(s.Expiry, func(e appwarden.Expiring) bool { return e.AppID != s.Expiry[0].AppID })
}

// Warning is the expiry warning of a single-app expiry sample.
func (s Sample) Warning() notice.Warning { return notice.BuildWarning(s.Expiry, s.ExpiryNow) }

// ExpiryDigest is the digest of a many-app expiry sample, for its first
// credential's owners.
func (s Sample) ExpiryDigest() notice.ExpiryDigest {
	var order []string
	by := map[string][]appwarden.Expiring{}
	for _, e := range s.Expiry {
		if _, ok := by[e.AppID]; !ok {
			order = append(order, e.AppID)
		}
		by[e.AppID] = append(by[e.AppID], e)
	}
	var apps [][]appwarden.Expiring
	for _, id := range order {
		apps = append(apps, by[id])
	}
	return notice.BuildExpiryDigest(s.Expiry[0].Owners, apps, s.ExpiryNow)
}

// Briefs are the digest lines of a digest sample's apps.
func (s Sample) Briefs() []notice.Brief {
	var out []notice.Brief
	for _, m := range s.Digest {
		out = append(out, notice.BriefOf(notice.Build(m.App, m.Decision, m.Outcome, appwarden.SeverityMedium, notice.FullLimits)))
	}
	return out
}

// Fixed ids, so that cards are byte-for-byte reproducible.
const (
	AppID      = "5bee10b5-db93-4475-ae1a-3d87e059d287"
	AppObject  = "0c8a4e65-3f0a-4b8e-9f59-9a1a2b3c4d5e"
	SPObject   = "7d1e2f3a-4b5c-4d6e-8f90-a1b2c3d4e5f6"
	SecretKey  = "3f2c1b0a-9e8d-4c7b-a6f5-e4d3c2b1a098"
	AliceID    = "a11ce000-0000-4000-8000-000000000001"
	BobID      = "b0b00000-0000-4000-8000-000000000002"
	CarolID    = "ca201000-0000-4000-8000-000000000003"
	RoleMgmtID = "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8"
	AppRWAllID = "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9"
	AddedKey   = "7e7e7e7e-0000-4000-8000-000000000007"
	EveID      = "e5e00000-0000-4000-8000-000000000005"
)

var (
	created  = time.Date(2026, 3, 2, 9, 41, 0, 0, time.UTC)
	resolved = time.Date(2026, 3, 2, 9, 44, 10, 0, time.UTC)
	start    = time.Date(2026, 3, 2, 9, 40, 0, 0, time.UTC)
	end      = start.AddDate(2, 0, 0)
)

func baseApp(name string) *appwarden.App {
	return &appwarden.App{
		AppID:       AppID,
		DisplayName: name,
		Application: &appwarden.Application{
			ID: AppObject, AppID: AppID, DisplayName: name, CreatedDateTime: created,
			SignInAudience: "AzureADMyOrg",
			PasswordCredentials: []appwarden.Credential{{KeyID: SecretKey, DisplayName: "ci-deploy", Hint: "Q~x",
				StartDateTime: start, EndDateTime: end}},
		},
		ServicePrincipals: []appwarden.ServicePrincipal{{ID: SPObject, AppID: AppID, DisplayName: name, AccountEnabled: true}},
		Owners: []appwarden.Principal{
			{ID: AliceID, UPN: "alice@contoso.example", DisplayName: "Alice Martin", Mail: "alice.martin@contoso.example", Type: "user"},
			{ID: BobID, DisplayName: "Bob Okafor", Type: "user"},
		},
		Creator:    appwarden.Initiator{UserID: CarolID, UPN: "carol@contoso.example", DisplayName: "Carol Nguyen"},
		ResolvedAt: resolved,
	}
}

func criticalFindings() []appwarden.Finding {
	secretEnd := end
	return []appwarden.Finding{
		{
			RuleID: "critical-app-permission", Title: "Requests or holds a critical application permission", Severity: appwarden.SeverityCritical,
			Evidence: []appwarden.Evidence{
				{Kind: "permission", ID: RoleMgmtID, Name: "RoleManagement.ReadWrite.Directory", Detail: "Microsoft Graph application permission, privilege level 5, granted"},
				{Kind: "permission", ID: AppRWAllID, Name: "Application.ReadWrite.All", Detail: "Microsoft Graph application permission, privilege level 5, requested, not granted"},
			},
			Remedy: "Remove the permission from the app's API permissions (and revoke its admin consent), or ask the security team for a reviewed, expiring exception.",
		},
		{
			RuleID: "credential-on-privileged-app", Title: "Has credentials and a critical application permission", Severity: appwarden.SeverityCritical,
			Evidence: []appwarden.Evidence{
				{Kind: "credential", ID: SecretKey, Name: "ci-deploy", Detail: "client secret, valid 730 days from 2026-03-02, until 2028-03-02", EndDateTime: &secretEnd},
				{Kind: "permission", ID: RoleMgmtID, Name: "RoleManagement.ReadWrite.Directory", Detail: "Microsoft Graph application permission, privilege level 5, granted"},
			},
			Remedy: "Drop the critical permission, or move the workload to a managed identity so there is no credential to steal.",
		},
		{
			RuleID: "password-credential", Title: "Has a client secret", Severity: appwarden.SeverityHigh,
			Evidence: []appwarden.Evidence{
				{Kind: "credential", ID: SecretKey, Name: "ci-deploy", Detail: "client secret, valid 730 days from 2026-03-02, until 2028-03-02", EndDateTime: &secretEnd},
			},
			Remedy: "Replace the client secret with a certificate or a managed identity (federated credential).",
		},
	}
}

// Enforced: AppWarden disabled the service principal and tagged the app.
func Enforced() Sample {
	app := baseApp("Contoso Payroll Sync")
	d := appwarden.Decision{AppID: AppID, Findings: criticalFindings(), Mode: appwarden.ModeEnforce,
		Actions:     []appwarden.ActionKind{appwarden.ActionMarkQuarantined, appwarden.ActionDisableServicePrincipal, appwarden.ActionNotify},
		Explanation: "critical application permission RoleManagement.ReadWrite.Directory", PolicyVersion: "builtin-1"}
	o := appwarden.Outcome{Mode: appwarden.ModeEnforce, Actions: []appwarden.Action{
		{Kind: appwarden.ActionMarkQuarantined, AppID: AppID, Target: AppObject, At: resolved},
		{Kind: appwarden.ActionDisableServicePrincipal, AppID: AppID, Target: SPObject, At: resolved},
	}}
	return Sample{Name: "enforce", App: app, Decision: d, Outcome: o}
}

// Audited: the same decision in audit mode.
func Audited() Sample {
	s := Enforced()
	s.Name = "audit"
	s.Decision.Mode = appwarden.ModeAudit
	s.Outcome.Mode = appwarden.ModeAudit
	for i := range s.Outcome.Actions {
		s.Outcome.Actions[i].DryRun = true
	}
	return s
}

// FindingsOnly: problems reported, nothing to do; the creator is an owner.
func FindingsOnly() Sample {
	app := baseApp("Marketing Events Portal")
	app.Application.SignInAudience = "AzureADandPersonalMicrosoftAccount"
	app.Application.PublisherDomain = "contoso.example"
	app.Application.PasswordCredentials = nil
	app.Owners = app.Owners[:1]
	app.Creator = appwarden.Initiator{UserID: AliceID, UPN: "alice@contoso.example", DisplayName: "Alice Martin"}
	d := appwarden.Decision{AppID: AppID, Mode: appwarden.ModeAudit, Actions: []appwarden.ActionKind{appwarden.ActionNotify}, Findings: []appwarden.Finding{
		{RuleID: "risky-redirect-uri", Title: "Has a risky redirect URI", Severity: appwarden.SeverityHigh, Evidence: []appwarden.Evidence{
			{Kind: "redirectUri", Name: "https://4f2a-203-0-113-7.ngrok-free.app/signin-oidc", Detail: "web redirect URI"},
			{Kind: "redirectUri", Name: "http://events.contoso.example/callback", Detail: "web redirect URI"},
		}},
		{RuleID: "multi-tenant-unverified", Title: "Multi-tenant app without a verified publisher", Severity: appwarden.SeverityMedium, Evidence: []appwarden.Evidence{
			{Kind: "audience", Name: "AzureADandPersonalMicrosoftAccount", Detail: "accounts outside this tenant can sign in"},
			{Kind: "publisher", Name: "contoso.example", Detail: "no verified publisher"},
		}},
	}}
	return Sample{Name: "findings", App: app, Decision: d, Outcome: appwarden.Outcome{Mode: appwarden.ModeAudit}}
}

// Ownerless: no owners, created by an automation's service principal.
func Ownerless() Sample {
	app := baseApp("legacy-batch-export")
	app.Owners = nil
	app.Creator = appwarden.Initiator{AppID: "e1e2e3e4-0000-4000-8000-00000000000a", ServicePrincipalID: "f1f2f3f4-0000-4000-8000-00000000000b", DisplayName: "Provisioning Pipeline"}
	secretEnd := end
	d := appwarden.Decision{AppID: AppID, Mode: appwarden.ModeAudit, Actions: []appwarden.ActionKind{appwarden.ActionNotify}, Findings: []appwarden.Finding{
		{RuleID: "ownerless-app", Title: "Has no owners", Severity: appwarden.SeverityMedium,
			Evidence: []appwarden.Evidence{{Kind: "owner", Detail: "the app registration has no owners"}}},
		{RuleID: "password-credential", Title: "Has a client secret", Severity: appwarden.SeverityHigh,
			Evidence: []appwarden.Evidence{{Kind: "credential", ID: SecretKey, Name: "ci-deploy", Detail: "client secret, valid 730 days from 2026-03-02, until 2028-03-02", EndDateTime: &secretEnd}}},
	}}
	return Sample{Name: "ownerless", App: app, Decision: d, Outcome: appwarden.Outcome{Mode: appwarden.ModeAudit}}
}

// Huge: far more findings and evidence than a Teams message holds.
func Huge() Sample {
	s := Enforced()
	s.Name = "huge"
	for i := 0; i < 60; i++ {
		f := appwarden.Finding{RuleID: fmt.Sprintf("custom-rule-%02d", i), Title: fmt.Sprintf("Custom rule number %d matched a long list of things", i),
			Severity: appwarden.SeverityHigh, Remedy: "Do the thing the custom policy asks for, carefully, and then tell the security team."}
		for j := 0; j < 40; j++ {
			f.Evidence = append(f.Evidence, appwarden.Evidence{Kind: "redirectUri", Name: fmt.Sprintf("https://host-%02d-%02d.example.net/a/rather/long/path/to/make/the/card/bigger", i, j), Detail: "web redirect URI"})
		}
		s.Decision.Findings = append(s.Decision.Findings, f)
	}
	return s
}

// Hostile: names that try to inject links and mentions into the card.
func Hostile() Sample {
	s := Enforced()
	s.Name = "hostile"
	name := "[Click to verify](https://evil.example/login) <at>Eve</at> **urgent**"
	s.App.DisplayName = name
	s.App.Application.DisplayName = name
	s.App.Owners[0].DisplayName = "Mallory <at>CEO</at> [x](https://evil.example)"
	return s
}

// Escalation: a secret added by eve to an app that has long held
// RoleManagement.ReadWrite.Directory; AppWarden removed that secret.
func Escalation() Sample {
	app := baseApp("Contoso Payroll Sync")
	added := time.Date(2026, 11, 30, 22, 14, 0, 0, time.UTC)
	app.ServicePrincipals[0].PasswordCredentials = []appwarden.Credential{{KeyID: AddedKey, DisplayName: "backup", StartDateTime: added, EndDateTime: added.AddDate(2, 0, 0)}}
	app.Change = &appwarden.Change{Kind: appwarden.CredentialAdded, Activity: "Add service principal credentials", At: added,
		Initiator: appwarden.Initiator{UserID: EveID, UPN: "eve@contoso.example"}, Since: created,
		Added: []appwarden.Fact{{Kind: appwarden.FactCredential, ID: AddedKey, Name: "backup", State: appwarden.CredentialPassword, On: appwarden.OnServicePrincipal, Since: added}}}
	findings := []appwarden.Finding{
		{RuleID: "credential-added-to-privileged-app", Title: "A credential was added to an app that holds a critical permission or a privileged directory role",
			Severity: appwarden.SeverityCritical, Actions: []appwarden.ActionKind{appwarden.ActionRemoveCredentials, appwarden.ActionNotify},
			Evidence: []appwarden.Evidence{
				{Kind: "credential", ID: AddedKey, Name: "backup", Detail: "client secret on the service principal, since 2026-11-30", Added: true},
				{Kind: "permission", ID: RoleMgmtID, Name: "RoleManagement.ReadWrite.Directory", Detail: "Microsoft Graph application permission, privilege level 5, granted"},
			},
			Remedy: "If you added this credential, tell the security team and create it again after review."},
	}
	baseline := criticalFindings()[0]
	baseline.Baseline = true
	d := appwarden.Decision{AppID: AppID, Findings: append(findings, baseline), Mode: appwarden.ModeEnforce,
		Actions:     []appwarden.ActionKind{appwarden.ActionRemoveCredentials, appwarden.ActionNotify},
		Explanation: "a credential was added to a privileged app", PolicyVersion: "builtin-1"}
	o := appwarden.Outcome{Mode: appwarden.ModeEnforce, Actions: []appwarden.Action{
		{Kind: appwarden.ActionRemoveCredentials, AppID: AppID, Target: SPObject + "/" + AddedKey, At: resolved},
	}}
	return Sample{Name: "escalation", App: app, Decision: d, Outcome: o}
}

// Digest: a burst of 60 apps for one channel (every story, a hostile
// name, a huge decision), more than one Teams message holds.
func Digest() Sample {
	kinds := []func() Sample{Enforced, Audited, FindingsOnly, Ownerless, Escalation, Hostile, Huge}
	var members []Sample
	for i := 0; i < 60; i++ {
		m := kinds[i%len(kinds)]()
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", 0xd1600000+i, i)
		m.App.AppID, m.Decision.AppID = id, id
		if m.App.Application != nil {
			m.App.Application.AppID = id
			m.App.Application.DisplayName = fmt.Sprintf("%s %02d", m.App.Application.DisplayName, i)
		}
		m.App.DisplayName = fmt.Sprintf("%s %02d", m.App.DisplayName, i)
		for j := range m.Outcome.Actions {
			m.Outcome.Actions[j].AppID = id
		}
		members = append(members, m)
	}
	s := Enforced()
	s.Name, s.Digest = "digest", members
	return s
}

// Expiry sample ids.
const (
	CertKey    = "c3c3c3c3-0000-4000-8000-00000000000c"
	SPSecret   = "5b5b5b5b-0000-4000-8000-00000000005b"
	ExpiryDays = 7
)

// ExpiryNow is when the expiry samples are judged.
var ExpiryNow = resolved

// ExpiringApp is the due credentials of Contoso Payroll Sync: its client
// secret "ci-deploy" expires in 7 days, its certificate in 25 (30-day
// threshold), and a secret on its service principal expired 3 days ago.
func ExpiringApp() []appwarden.Expiring {
	app := baseApp("Contoso Payroll Sync")
	const day = 24 * time.Hour
	secret := app.Application.PasswordCredentials[0]
	secret.EndDateTime = ExpiryNow.Add(ExpiryDays*day - time.Hour)
	cert := appwarden.Credential{KeyID: CertKey, DisplayName: "CN=payroll-sync.contoso.example", Type: "AsymmetricX509Cert", Usage: "Verify",
		StartDateTime: start.AddDate(-1, 0, 0), EndDateTime: ExpiryNow.Add(25 * day)}
	spSecret := appwarden.Credential{KeyID: SPSecret, DisplayName: "legacy-job", StartDateTime: start.AddDate(-2, 0, 0), EndDateTime: ExpiryNow.Add(-3*day - time.Hour)}
	base := appwarden.Expiring{AppID: AppID, DisplayName: app.DisplayName, ObjectID: AppObject, Owners: app.Owners}
	a, b, c := base, base, base
	a.Credential, a.Kind, a.On, a.Threshold = secret, appwarden.CredentialPassword, appwarden.OnApplication, 7*day
	b.Credential, b.Kind, b.On, b.Threshold = cert, appwarden.CredentialCertificate, appwarden.OnApplication, 30*day
	c.Credential, c.Kind, c.On, c.ObjectID, c.Expired = spSecret, appwarden.CredentialPassword, appwarden.OnServicePrincipal, SPObject, true
	return []appwarden.Expiring{c, a, b}
}

// ExpiryCard: one app's expiry warning to its owners.
func ExpiryCard() Sample {
	s := Enforced()
	s.Name, s.Expiry, s.ExpiryNow = "expiry", ExpiringApp(), ExpiryNow
	return s
}

// ExpiryOwnerless: the warning of an app without owners (the security
// channel's).
func ExpiryOwnerless() Sample {
	s := ExpiryCard()
	s.Name = "expiry-ownerless"
	for i := range s.Expiry {
		s.Expiry[i].Owners = nil
		s.Expiry[i].DisplayName = "legacy-batch-export"
	}
	return s
}

// ExpiringOwnerApps is Alice's five apps with credentials due (Alice owns
// all five; Bob co-owns the first): a secret or a certificate each, one
// already expired, at every threshold.
func ExpiringOwnerApps() []appwarden.Expiring {
	const day = 24 * time.Hour
	alice := baseApp("x").Owners[0]
	bob := baseApp("x").Owners[1]
	var out []appwarden.Expiring
	names := []string{"Payroll Sync", "Expense Bot", "HR Portal", "Badge Reader Bridge", "Timesheet Export"}
	left := []time.Duration{-2 * day, 1*day - time.Hour, 7*day - time.Hour, 14*day - time.Hour, 30*day - time.Hour}
	ths := []time.Duration{0, day, 7 * day, 14 * day, 30 * day}
	for i, name := range names {
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", 0xe1900000+i, i)
		e := appwarden.Expiring{AppID: id, DisplayName: "Contoso " + name, ObjectID: fmt.Sprintf("%08x-1111-4000-8000-%012x", 0xe1900000+i, i),
			Kind: appwarden.CredentialPassword, On: appwarden.OnApplication, Threshold: ths[i], Expired: left[i] < 0,
			Owners: []appwarden.Principal{alice}}
		if i == 0 {
			e.Owners = append(e.Owners, bob)
		}
		e.Credential = appwarden.Credential{KeyID: fmt.Sprintf("%08x-2222-4000-8000-%012x", 0xe1900000+i, i), DisplayName: fmt.Sprintf("%s secret", name),
			StartDateTime: start.AddDate(-1, 0, 0), EndDateTime: ExpiryNow.Add(left[i])}
		if i%2 == 1 {
			e.Kind = appwarden.CredentialCertificate
			e.Credential.DisplayName = fmt.Sprintf("CN=%s", name)
		}
		out = append(out, e)
	}
	return out
}

// ExpiryOwnerDigest: an owner with five apps due gets one digest.
func ExpiryOwnerDigest() Sample {
	s := Enforced()
	s.Name, s.Expiry, s.ExpiryNow = "expiry-digest", ExpiringOwnerApps(), ExpiryNow
	for i := range s.Expiry {
		s.Expiry[i].Owners = s.Expiry[i].Owners[:1] // the digest is Alice's
	}
	return s
}

// All returns every sample.
func All() []Sample {
	return []Sample{Enforced(), Audited(), FindingsOnly(), Ownerless(), Huge(), Hostile(), Escalation(), Digest(),
		ExpiryCard(), ExpiryOwnerless(), ExpiryOwnerDigest()}
}
