package policy

import (
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// Test data follows the shared fixtures: the app "Payroll Sync" in the
// Contoso tenant. Permission ids and privilege levels are Microsoft's (see
// shared/data/graph-permissions.json).
const (
	payrollAppID  = "5bee10b5-db93-4475-ae1a-3d87e059d287"
	contosoTenant = "0b3c7d2e-6a4f-4c1d-9e8b-2f5a6c7d8e9f"
	graphAppID    = "00000003-0000-0000-c000-000000000000"

	idRoleManagementRW = "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8" // application, level 4
	idMailReadWriteApp = "e2a3a72e-5f79-4c64-b1b1-878b674786c9" // application, level 3, critical list
	idCalendarsReadApp = "798ee544-9d2d-430c-a058-570e29e34338" // application, level 4, not listed
	idUserReadAllApp   = "df021288-bdef-4463-88db-98f22de89214" // application, level 3
	idDirectoryRWDel   = "c5366453-9fb0-48a5-a156-24f0c49a4b84" // delegated, level 4
	idMailReadDel      = "570282fd-fa5c-430d-a7fd-fc8dc98a9dca" // delegated, level 2
	idFilesReadAllDel  = "df85f4d6-205c-4ac5-a5ea-6bf408dba283" // delegated, level 3
	idUserReadDel      = "e1fe6dd8-ba31-4d61-89e7-88639da4683d" // delegated, level 2

	secretKeyID = "1f0c7a52-8d1e-4b8f-9c55-6a2e0d3b4c71"
	certKeyID   = "b2d4e6f8-1a3c-4e5f-8a7b-9c0d1e2f3a4b"
)

// testNow is the decision time used throughout, so expiries are stable.
var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// cleanApp is an app the built-in policy has nothing to say about: a
// single-tenant registration with an owner, one low-privilege delegated
// scope, an https redirect URI and no credentials. Tests add one risk at a
// time to it.
func cleanApp() *appwarden.App {
	return &appwarden.App{
		AppID:       payrollAppID,
		DisplayName: "Payroll Sync",
		Application: &appwarden.Application{
			ID:             "a0847fad-c428-4478-bd58-d4ad0d9f48be",
			AppID:          payrollAppID,
			DisplayName:    "Payroll Sync",
			SignInAudience: "AzureADMyOrg",
			RedirectURIs:   []appwarden.RedirectURI{{Kind: appwarden.RedirectWeb, URI: "https://payroll.contoso.example/signin-oidc"}},
		},
		ServicePrincipals: []appwarden.ServicePrincipal{{
			ID: "8c907101-5831-45a1-b703-8a59f190e639", AppID: payrollAppID, DisplayName: "Payroll Sync",
			AccountEnabled: true, AppOwnerOrganizationID: contosoTenant, ServicePrincipalType: "Application",
		}},
		Owners:      []appwarden.Principal{{ID: "3f2e1d0c-0000-4000-8000-000000000001", UPN: "dev.one@contoso.example", Type: "user"}},
		Creator:     appwarden.Initiator{UPN: "dev.one@contoso.example"},
		Permissions: []appwarden.Permission{delegated("User.Read", idUserReadDel, 2, false)},
		ResolvedAt:  testNow,
	}
}

func application(name, id string, level int) appwarden.Permission {
	return appwarden.Permission{
		ResourceAppID: graphAppID, ResourceName: "Microsoft Graph", ID: id, Name: name,
		Type: appwarden.PermissionApplication, Privilege: level, Requested: true, Granted: true,
	}
}

func delegated(name, id string, level int, adminConsent bool) appwarden.Permission {
	return appwarden.Permission{
		ResourceAppID: graphAppID, ResourceName: "Microsoft Graph", ID: id, Name: name,
		Type: appwarden.PermissionDelegated, Privilege: level, Requested: true, Granted: true, AdminConsent: adminConsent,
	}
}

func secret(keyID string, start, end time.Time) appwarden.Credential {
	return appwarden.Credential{KeyID: keyID, DisplayName: "ci secret", Type: "Password", StartDateTime: start, EndDateTime: end}
}

func certificate(keyID string, start, end time.Time) appwarden.Credential {
	return appwarden.Credential{KeyID: keyID, DisplayName: "CN=payroll", Type: "AsymmetricX509Cert", Usage: "Verify", StartDateTime: start, EndDateTime: end}
}

func mustDefault(t testing.TB) *Policy {
	t.Helper()
	p, err := Default()
	if err != nil {
		t.Fatalf("Default(): %v", err)
	}
	return p
}

func mustParse(t testing.TB, src string) *Policy {
	t.Helper()
	p, err := Parse("policy.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

func enforceEnv() Env { return Env{Now: testNow, Mode: appwarden.ModeEnforce} }

func findingFor(d appwarden.Decision, ruleID string) *appwarden.Finding {
	for i := range d.Findings {
		if d.Findings[i].RuleID == ruleID {
			return &d.Findings[i]
		}
	}
	return nil
}

func ruleIDs(d appwarden.Decision) []string {
	var ids []string
	for _, f := range d.Findings {
		ids = append(ids, f.RuleID)
	}
	return ids
}

func ptr[T any](v T) *T { return &v }
