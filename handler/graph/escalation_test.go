package graph_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/graph"
)

// Resolution reads what escalations change: the service principal's own
// credentials, the registration's federated credentials, the directory
// roles, and marks the application permissions granted but never requested.
func TestResolveReadsEscalations(t *testing.T) {
	tenant := fakegraph.NewTenant(tenantID)
	tenant.AddMicrosoftGraph()
	ids := typicalApp(tenant, "backup")
	fic := tenant.AddFederatedCredential(ids.AppID, "deploy", "https://token.actions.githubusercontent.com", "repo:contoso/backup:environment:prod")
	spPassword := tenant.AddServicePrincipalPassword(ids.AppID, "sp secret")
	spCert := tenant.AddServicePrincipalCertificate(ids.AppID, "CN=sp")
	roleID := tenant.AssignDirectoryRole(ids.AppID, fakegraph.RoleGlobalAdministrator)
	tenant.AssignDirectoryRole(ids.AppID, fakegraph.RoleDirectoryReaders)
	hidden := tenant.GrantAppRole(ids.AppID, fakegraph.GraphAppID, "RoleManagement.ReadWrite.Directory")
	srv := serve(t, tenant)
	c := client(t, srv, fastRetry)

	sig := createdSignal(ids)
	sig.Kind = appwarden.AppRoleGranted
	app, trips, err := resolve(t, srv, c, graph.SubjectOf(sig))
	if err != nil {
		t.Fatal(err)
	}
	noRejects(t, srv)
	if trips != 2 { // the app's $batch with the extras, and the cold cache's resources
		t.Errorf("%d round trips, want 2", trips)
	}
	if len(app.FederatedIdentityCredentials) != 1 {
		t.Fatalf("federated credentials %+v", app.FederatedIdentityCredentials)
	}
	if f := app.FederatedIdentityCredentials[0]; f.ID != fic || f.Name != "deploy" || f.Issuer != "https://token.actions.githubusercontent.com" ||
		f.Subject != "repo:contoso/backup:environment:prod" || !slices.Equal(f.Audiences, []string{"api://AzureADTokenExchange"}) {
		t.Errorf("federated credential %+v", f)
	}
	var roles []string
	for _, r := range app.DirectoryRoles {
		roles = append(roles, r.RoleTemplateID+" "+r.DisplayName)
		if r.RoleTemplateID == fakegraph.RoleGlobalAdministrator && r.ID != roleID {
			t.Errorf("Global Administrator role id %s, want %s", r.ID, roleID)
		}
	}
	slices.Sort(roles)
	if want := []string{fakegraph.RoleGlobalAdministrator + " Global Administrator", fakegraph.RoleDirectoryReaders + " Directory Readers"}; !slices.Equal(roles, want) {
		t.Errorf("roles %v, want %v", roles, want)
	}
	sp := app.ServicePrincipal()
	if len(sp.PasswordCredentials) != 1 || sp.PasswordCredentials[0].KeyID != spPassword || sp.PasswordCredentials[0].DisplayName != "sp secret" {
		t.Errorf("SP passwords %+v", sp.PasswordCredentials)
	}
	if len(sp.KeyCredentials) != 1 || sp.KeyCredentials[0].KeyID != spCert || sp.KeyCredentials[0].Type != "AsymmetricX509Cert" {
		t.Errorf("SP certificates %+v", sp.KeyCredentials)
	}
	byName := map[string]appwarden.Permission{}
	for _, p := range app.Permissions {
		byName[p.Name] = p
	}
	if p := byName["RoleManagement.ReadWrite.Directory"]; !p.Hidden || !p.Granted || p.Requested || !slices.Equal(p.GrantIDs, []string{hidden}) {
		t.Errorf("the grant never requested: %+v", p)
	}
	if p := byName["Mail.Send"]; p.Hidden || !p.Requested {
		t.Errorf("a requested, granted permission is marked hidden: %+v", p)
	}
	// Facts name what was read (the baseline AppWarden records).
	var kinds []string
	for _, f := range appwarden.FactsOf(app) {
		kinds = append(kinds, f.Kind)
	}
	for _, k := range []string{appwarden.FactFederatedCredential, appwarden.FactDirectoryRole, appwarden.FactCredential} {
		if !slices.Contains(kinds, k) {
			t.Errorf("facts lack %s: %v", k, kinds)
		}
	}
}

// A grant to a service principal with no registration in this tenant is
// not hidden: nothing is requested here to compare it with.
func TestHiddenNeedsALocalRegistration(t *testing.T) {
	tenant := fakegraph.NewTenant(tenantID)
	tenant.AddMicrosoftGraph()
	ms := tenant.AddServicePrincipal(fakegraph.SPSpec{DisplayName: "Office 365 Exchange Online", AppOwnerOrganizationID: fakegraph.MicrosoftServicesTenantID,
		Granted: []fakegraph.Permission{fakegraph.GraphRole("Mail.Read")}})
	srv := serve(t, tenant)
	c := client(t, srv, fastRetry)
	app, _, err := resolve(t, srv, c, graph.Subject{AppID: ms.AppID})
	if err != nil {
		t.Fatal(err)
	}
	if len(app.Permissions) != 1 || app.Permissions[0].Hidden || !app.Permissions[0].Granted {
		t.Errorf("permissions %+v", app.Permissions)
	}
	// Its roles were read, and its federated credentials asked for in the
	// same $batch (whether there is a registration is not known before):
	// the 404 reads as none.
	if !slices.Equal(app.Read, []string{graph.ReadOwners, graph.ReadDelegatedGrants, graph.ReadFederatedCredentials, graph.ReadDirectoryRoles}) {
		t.Errorf("Read = %v", app.Read)
	}
	if len(app.FederatedIdentityCredentials) != 0 || len(app.Unread) != 0 {
		t.Errorf("federated credentials %+v, unread %v", app.FederatedIdentityCredentials, app.Unread)
	}
	noRejects(t, srv)
}

// A 403 on the federated credentials (or the roles) is a permission
// AppWarden lacks: the part is unread, not empty, and the app is still
// judged on the rest.
func TestExtrasForbidden(t *testing.T) {
	tenant := fakegraph.NewTenant(tenantID)
	tenant.AddMicrosoftGraph()
	ids := typicalApp(tenant, "app")
	tenant.AssignDirectoryRole(ids.AppID, fakegraph.RoleApplicationAdministrator)
	srv := serve(t, tenant)
	c := client(t, srv, fastRetry)
	srv.FailNext(1, 403, fakegraph.OnRoute(fakegraph.RouteFederatedCredentialsByAppID))
	sig := createdSignal(ids)
	sig.Kind = appwarden.CredentialAdded
	app, _, err := resolve(t, srv, c, graph.SubjectOf(sig))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(app.Read, []string{graph.ReadOwners, graph.ReadDelegatedGrants, graph.ReadDirectoryRoles}) || len(app.DirectoryRoles) != 1 {
		t.Errorf("Read %v, roles %+v", app.Read, app.DirectoryRoles)
	}
	if len(app.Unread) != 1 || !strings.HasPrefix(app.Unread[0], "federated identity credentials") {
		t.Errorf("Unread = %v", app.Unread)
	}
	checkTypical(t, app, ids, "app")
}

// The signal's kind reaches the subject.
func TestSubjectOfCarriesKind(t *testing.T) {
	if s := graph.SubjectOf(appwarden.Signal{Kind: appwarden.OwnerAdded, AppID: "x"}); s.Kind != appwarden.OwnerAdded {
		t.Errorf("Kind = %q", s.Kind)
	}
}
