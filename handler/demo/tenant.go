// Package demo is `appwarden demo`'s embedded world: a small tenant with an
// app for every built-in rule, benign apps, and apps AppWarden must never
// touch; the audit records that announce them; and what AppWarden is
// expected to do to each, so the demo can check itself and fail loudly.
package demo

import (
	"time"

	"github.com/appwarden/appwarden/handler/fakegraph"
)

// TenantID is the demo tenant (the fixtures' invented one).
const TenantID = "6f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"

// SelfAppID is AppWarden's own app in the demo tenant (AZURE_CLIENT_ID).
const SelfAppID = "a9a9a9a9-0000-4000-8000-00000000a11d"

// Expect is what AppWarden must do to an app.
type Expect int

// Expectations.
const (
	// Untouched: no finding at or above medium, nothing changed.
	Untouched Expect = iota
	// Notified: findings reported, nothing changed.
	Notified
	// Contained: the service principal is disabled.
	Contained
	// Protected: never acted on, whatever is found.
	Protected
)

func (e Expect) String() string {
	return [...]string{"untouched", "notified", "contained", "protected"}[e]
}

// App is one demo app with the rule it illustrates.
type App struct {
	AppID, ObjectID, SPID, Name string
	Story                       string
	Rule                        string // the built-in rule it shows, "" for none
	Expect                      Expect
	// SPOnly apps are announced by "Add service principal".
	SPOnly bool
}

var (
	alice = fakegraph.Owner{ID: "11111111-aaaa-4aaa-8aaa-000000000001", DisplayName: "Alice Admin", UPN: "alice@contoso.example", Mail: "alice@contoso.example"}
	dev   = fakegraph.Owner{ID: "30a6c29d-de7c-4830-815f-9b3bb366e975", DisplayName: "Dev One", UPN: "dev.one@contoso.example", Mail: "dev.one@contoso.example"}
	bob   = fakegraph.Owner{ID: "22222222-bbbb-4bbb-8bbb-000000000002", DisplayName: "Bob Builder", UPN: "bob@contoso.example", Mail: "bob@contoso.example"}
)

// Build creates the demo tenant and returns it with its apps.
func Build(now time.Time) (*fakegraph.Tenant, []App) {
	t := fakegraph.NewTenant(TenantID)
	t.AddMicrosoftGraph()
	var apps []App
	add := func(a App, spec fakegraph.AppSpec) {
		spec.AppID, spec.ApplicationID, spec.ServicePrincipalID, spec.DisplayName = a.AppID, a.ObjectID, a.SPID, a.Name
		if spec.CreatedDateTime.IsZero() {
			spec.CreatedDateTime = now.Add(-2 * time.Minute)
		}
		t.AddApp(spec)
		apps = append(apps, a)
	}
	addSP := func(a App, spec fakegraph.SPSpec) {
		spec.AppID, spec.ID, spec.DisplayName = a.AppID, a.SPID, a.Name
		a.SPOnly = true
		t.AddServicePrincipal(spec)
		apps = append(apps, a)
	}
	year := 365 * 24 * time.Hour

	add(App{AppID: "5bee10b5-db93-4475-ae1a-3d87e059d287", ObjectID: "a0847fad-c428-4478-bd58-d4ad0d9f48be", SPID: "8c907101-5831-45a1-b703-8a59f190e639",
		Name: "Payroll Sync", Rule: "critical-app-permission", Expect: Contained,
		Story: "asks for and holds RoleManagement.ReadWrite.Directory: it could make itself Global Administrator"},
		fakegraph.AppSpec{Owners: []fakegraph.Owner{dev},
			Requested: []fakegraph.Permission{fakegraph.GraphRole("RoleManagement.ReadWrite.Directory"), fakegraph.GraphScope("User.Read")},
			Granted:   []fakegraph.Permission{fakegraph.GraphRole("RoleManagement.ReadWrite.Directory")}})
	add(App{AppID: "b4c4b4c4-1111-4111-8111-00000000b4c4", ObjectID: "b4c4b4c4-2222-4222-8222-00000000b4c4", SPID: "b4c4b4c4-3333-4333-8333-00000000b4c4",
		Name: "Backup Agent", Rule: "credential-on-privileged-app", Expect: Contained,
		Story: "holds Files.ReadWrite.All and has a client secret: one leaked string reads every file"},
		fakegraph.AppSpec{Owners: []fakegraph.Owner{bob},
			Requested: []fakegraph.Permission{fakegraph.GraphRole("Files.ReadWrite.All")},
			Granted:   []fakegraph.Permission{fakegraph.GraphRole("Files.ReadWrite.All")},
			Secrets:   []fakegraph.Credential{{KeyID: "b4c4b4c4-5ec2-4e70-8000-00000000b4c4", DisplayName: "backup-key", Hint: "Xy1", Start: now.Add(-time.Hour), End: now.Add(90 * 24 * time.Hour)}}})
	add(App{AppID: "c1c1c1c1-1111-4111-8111-00000000c1c1", ObjectID: "c1c1c1c1-2222-4222-8222-00000000c1c1", SPID: "c1c1c1c1-3333-4333-8333-00000000c1c1",
		Name: "Mail Digest", Rule: "high-privilege-delegated", Expect: Notified,
		Story: "has tenant-wide admin consent to read everyone's mail on their behalf"},
		fakegraph.AppSpec{Owners: []fakegraph.Owner{alice},
			Requested: []fakegraph.Permission{fakegraph.GraphScope("Mail.Read")},
			Granted:   []fakegraph.Permission{fakegraph.GraphScope("Mail.Read")}})
	add(App{AppID: "d2d2d2d2-1111-4111-8111-00000000d2d2", ObjectID: "d2d2d2d2-2222-4222-8222-00000000d2d2", SPID: "d2d2d2d2-3333-4333-8333-00000000d2d2",
		Name: "Partner Portal", Rule: "multi-tenant-unverified", Expect: Notified,
		Story: "signs in users of any organisation, without a verified publisher"},
		fakegraph.AppSpec{Owners: []fakegraph.Owner{bob}, SignInAudience: "AzureADMultipleOrgs",
			Requested: []fakegraph.Permission{fakegraph.GraphScope("User.Read")}})
	add(App{AppID: "e3e3e3e3-1111-4111-8111-00000000e3e3", ObjectID: "e3e3e3e3-2222-4222-8222-00000000e3e3", SPID: "e3e3e3e3-3333-4333-8333-00000000e3e3",
		Name: "Tunnel Test", Rule: "risky-redirect-uri", Expect: Notified,
		Story: "sends sign-in responses to an ngrok tunnel and to plain http on an IP address"},
		fakegraph.AppSpec{Owners: []fakegraph.Owner{dev},
			RedirectURIs: []string{"https://4f2a-203-0-113-7.ngrok-free.app/signin-oidc", "http://203.0.113.7/callback", "https://localhost:5001/signin-oidc"},
			Requested:    []fakegraph.Permission{fakegraph.GraphScope("openid"), fakegraph.GraphScope("User.Read")}})
	add(App{AppID: "f4f4f4f4-1111-4111-8111-00000000f4f4", ObjectID: "f4f4f4f4-2222-4222-8222-00000000f4f4", SPID: "f4f4f4f4-3333-4333-8333-00000000f4f4",
		Name: "Legacy Reporting", Rule: "password-credential", Expect: Notified,
		Story: "uses a client secret valid for two years"},
		fakegraph.AppSpec{Owners: []fakegraph.Owner{alice},
			Requested: []fakegraph.Permission{fakegraph.GraphScope("User.Read")},
			Secrets:   []fakegraph.Credential{{KeyID: "f4f4f4f4-5ec2-4e70-8000-00000000f4f4", DisplayName: "reporting", Hint: "Q7p", Start: now.Add(-time.Hour), End: now.Add(2 * year)}}})
	add(App{AppID: "a5a5a5a5-1111-4111-8111-00000000a5a5", ObjectID: "a5a5a5a5-2222-4222-8222-00000000a5a5", SPID: "a5a5a5a5-3333-4333-8333-00000000a5a5",
		Name: "Orphan Script", Rule: "ownerless-app", Expect: Notified,
		Story: "has no owner: nobody answers for it"},
		fakegraph.AppSpec{Requested: []fakegraph.Permission{fakegraph.GraphScope("User.Read")}})
	add(App{AppID: "b6b6b6b6-1111-4111-8111-00000000b6b6", ObjectID: "b6b6b6b6-2222-4222-8222-00000000b6b6", SPID: "b6b6b6b6-3333-4333-8333-00000000b6b6",
		Name: "Team Wiki", Expect: Untouched,
		Story: "a benign app: single tenant, sign-in only, a certificate, two owners"},
		fakegraph.AppSpec{Owners: []fakegraph.Owner{alice, bob},
			RedirectURIs: []string{"https://wiki.contoso.example/signin-oidc"},
			Requested:    []fakegraph.Permission{fakegraph.GraphScope("openid"), fakegraph.GraphScope("User.Read")},
			Certificates: []fakegraph.Credential{{KeyID: "b6b6b6b6-cef7-4e70-8000-00000000b6b6", DisplayName: "CN=wiki", Start: now.Add(-time.Hour), End: now.Add(year)}}})
	add(App{AppID: "c7c7c7c7-1111-4111-8111-00000000c7c7", ObjectID: "c7c7c7c7-2222-4222-8222-00000000c7c7", SPID: "c7c7c7c7-3333-4333-8333-00000000c7c7",
		Name: "Status Page", Expect: Untouched,
		Story: "a benign app: reads signed-in users' profiles only"},
		fakegraph.AppSpec{Owners: []fakegraph.Owner{dev},
			RedirectURIs: []string{"https://status.contoso.example/auth"},
			Requested:    []fakegraph.Permission{fakegraph.GraphScope("User.Read")}})
	add(App{AppID: SelfAppID, ObjectID: "a9a9a9a9-2222-4222-8222-00000000a11d", SPID: "a9a9a9a9-3333-4333-8333-00000000a11d",
		Name: "AppWarden", Expect: Protected,
		Story: "AppWarden's own identity: it holds Application.ReadWrite.All, and is never acted on"},
		fakegraph.AppSpec{Owners: []fakegraph.Owner{alice},
			Requested: []fakegraph.Permission{fakegraph.GraphRole("Application.ReadWrite.All")},
			Granted:   []fakegraph.Permission{fakegraph.GraphRole("Application.ReadWrite.All")}})
	addSP(App{AppID: "0d7e3f6b-8a9c-4b1d-9e2f-3a4b5c6d7e8f", SPID: "4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8",
		Name: "func-payroll-prod", Expect: Protected,
		Story: "a managed identity with Directory.ReadWrite.All: reported, never acted on"},
		fakegraph.SPSpec{ServicePrincipalType: "ManagedIdentity", AppOwnerOrganizationID: TenantID,
			Granted: []fakegraph.Permission{fakegraph.GraphRole("Directory.ReadWrite.All")}})
	addSP(App{AppID: "00000002-0000-0ff1-ce00-000000000000", SPID: "e8e8e8e8-3333-4333-8333-00000000e8e8",
		Name: "Office 365 Exchange Online", Expect: Protected,
		Story: "a Microsoft first-party app, added when a resource provider was registered"},
		fakegraph.SPSpec{AppOwnerOrganizationID: fakegraph.MicrosoftServicesTenantID})
	return t, apps
}
