package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/graph"
)

// Fixed ids, so the expectations below are written out in full.
const (
	tenantID       = "6a1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
	payrollAppID   = "5bee10b5-8f4c-4e0a-9d2b-1c3e5f7a9b0d"
	payrollObject  = "a0847fad-3c2d-4e1f-8a9b-0c1d2e3f4a5b"
	payrollSP      = "8c907101-2b3c-4d5e-9f6a-7b8c9d0e1f2a"
	ordersAPIAppID = "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"
	ordersAPISP    = "d2e3f4a5-b6c7-4d8e-9f0a-1b2c3d4e5f6a"
	ordersRole     = "e3f4a5b6-c7d8-4e9f-8a1b-2c3d4e5f6a7b" // Orders.ReadWrite.All (app role)
	ordersScope    = "f4a5b6c7-d8e9-4f0a-9b2c-3d4e5f6a7b8c" // Orders.Read (delegated)
	unknownRole    = "0b0b0b0b-1c1c-4d2d-8e3e-4f4f4f4f4f4f" // defined nowhere
	adaID          = "11111111-aaaa-4aaa-8aaa-111111111111"
	bobID          = "22222222-bbbb-4bbb-8bbb-222222222222"
	deployerID     = "33333333-cccc-4ccc-8ccc-333333333333"
	secretKeyID    = "44444444-dddd-4ddd-8ddd-444444444444"
	certKeyID      = "55555555-eeee-4eee-8eee-555555555555"
	fabrikamTenant = "66666666-ffff-4fff-8fff-666666666666"
)

var (
	created     = time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC)
	secretStart = time.Date(2026, 11, 24, 9, 31, 0, 0, time.UTC)
	secretEnd   = secretStart.AddDate(2, 0, 0)
	certStart   = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	certEnd     = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	vpAdded     = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	creator     = appwarden.Initiator{UserID: "77777777-0000-4000-8000-777777777777", UPN: "dev.one@contoso.example", DisplayName: "Dev One"}
)

// world is a tenant holding Microsoft Graph, a custom API, one fully
// described app ("Payroll Sync") and three service-principal-only apps.
type world struct {
	tenant *fakegraph.Tenant
	srv    *fakegraph.Server
	graph  fakegraph.IDs
	api    fakegraph.IDs
	app    fakegraph.IDs
	// grants made on the app: ids by what they grant
	mailSendAssignment, ordersAssignment, defaultAssignment string
	adminGrant, bobGrant                                    string
	// service-principal-only apps
	fabrikam, identity, microsoft fakegraph.IDs
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{tenant: fakegraph.NewTenant(tenantID)}
	tn := w.tenant
	w.graph = tn.AddMicrosoftGraph()
	w.api = tn.AddServicePrincipal(fakegraph.SPSpec{
		AppID: ordersAPIAppID, ID: ordersAPISP, DisplayName: "Contoso Orders API", AppOwnerOrganizationID: tenantID,
		AppRoles: []fakegraph.Role{{ID: ordersRole, Value: "Orders.ReadWrite.All"}},
		Scopes:   []fakegraph.Role{{ID: ordersScope, Value: "Orders.Read"}},
	})
	w.app = tn.AddApp(fakegraph.AppSpec{
		AppID: payrollAppID, ApplicationID: payrollObject, ServicePrincipalID: payrollSP,
		DisplayName:     "Payroll Sync",
		SignInAudience:  "AzureADMultipleOrgs",
		CreatedDateTime: created,
		PublisherDomain: "contoso.example",
		IsDisabled:      true,
		Tags:            []string{"team:hr", "HideApp"},
		Notes:           "Owned by HR; ticket HR-1234",
		Secrets:         []fakegraph.Credential{{KeyID: secretKeyID, DisplayName: "ci-secret", Hint: "Xy7", Start: secretStart, End: secretEnd}},
		Certificates:    []fakegraph.Credential{{KeyID: certKeyID, DisplayName: "CN=payroll", Start: certStart, End: certEnd}},
		RedirectURIs:    []string{"https://payroll.contoso.example/signin-oidc"},
		Requested: []fakegraph.Permission{
			fakegraph.GraphRole("Mail.Send"),
			fakegraph.GraphRole("Application.ReadWrite.All"),
			fakegraph.GraphScope("User.Read"),
			{ResourceAppID: fakegraph.GraphAppID, ID: unknownRole, Type: "Role"},
			{ResourceAppID: ordersAPIAppID, ID: ordersRole, Type: "Role"},
			{ResourceAppID: ordersAPIAppID, ID: ordersScope, Type: "Scope"},
		},
		Owners: []fakegraph.Owner{
			{ID: adaID, DisplayName: "Ada Lovelace", UPN: "ada@contoso.example", Mail: "ada@contoso.example"},
			{ID: deployerID, Type: "servicePrincipal", DisplayName: "deploy-pipeline"},
		},
		Granted: []fakegraph.Permission{
			fakegraph.GraphRole("Mail.Send"),
			fakegraph.GraphScope("User.Read"),
			fakegraph.GraphScope("offline_access"),
			{ResourceAppID: ordersAPIAppID, ID: ordersRole, Type: "Role"},
		},
	})
	// What the builder cannot say: SPA and public client redirect URIs,
	// identifier URIs, a verified publisher.
	if err := tn.UpdateApplication(payrollAppID, func(a models.Applicationable) {
		spa := models.NewSpaApplication()
		spa.SetRedirectUris([]string{"https://payroll.contoso.example/spa"})
		a.SetSpa(spa)
		pc := models.NewPublicClientApplication()
		pc.SetRedirectUris([]string{"http://localhost:8400", "ms-appx-web://payroll"})
		a.SetPublicClient(pc)
		a.SetIdentifierUris([]string{"api://payroll.contoso.example"})
		vp := models.NewVerifiedPublisher()
		vp.SetDisplayName(ptr("Contoso Ltd"))
		vp.SetVerifiedPublisherId(ptr("1234567"))
		vp.SetAddedDateTime(&vpAdded)
		a.SetVerifiedPublisher(vp)
	}); err != nil {
		t.Fatal(err)
	}
	// Owners of the service principal: Ada again (listed once) and Bob.
	tn.AddOwner(payrollSP, fakegraph.Owner{ID: adaID, DisplayName: "Ada Lovelace", UPN: "ada@contoso.example", Mail: "ada@contoso.example"})
	tn.AddOwner(payrollSP, fakegraph.Owner{ID: bobID, DisplayName: "Bob Byte", UPN: "bob@contoso.example"})

	for _, a := range tn.AppRoleAssignments(payrollAppID) {
		switch a.GetAppRoleId().String() {
		case fakegraph.GraphAppRoles["Mail.Send"]:
			w.mailSendAssignment = *a.GetId()
		case ordersRole:
			w.ordersAssignment = *a.GetId()
		}
	}
	for _, g := range tn.OAuth2PermissionGrants(payrollAppID) {
		w.adminGrant = *g.GetId()
	}

	w.fabrikam = tn.AddServicePrincipal(fakegraph.SPSpec{
		DisplayName: "Fabrikam CRM", AppOwnerOrganizationID: fabrikamTenant,
		Granted: []fakegraph.Permission{fakegraph.GraphRole("User.Read.All")},
		Owners:  []fakegraph.Owner{{ID: bobID, DisplayName: "Bob Byte", UPN: "bob@contoso.example"}},
	})
	w.identity = tn.AddServicePrincipal(fakegraph.SPSpec{
		DisplayName: "func-payroll-prod", ServicePrincipalType: "ManagedIdentity", AppOwnerOrganizationID: tenantID,
		Tags:    []string{"WindowsAzureActiveDirectoryIntegratedApp"},
		Granted: []fakegraph.Permission{fakegraph.GraphRole("Application.Read.All")},
	})
	w.microsoft = tn.AddServicePrincipal(fakegraph.SPSpec{
		AppID: "2565bd9d-da50-47d4-8b85-4c97f669dc36", DisplayName: "Domain Controller Services",
		AppOwnerOrganizationID: appwarden.MicrosoftServicesTenantID,
	})

	w.srv = serve(t, tn)
	// Two grants only the API can make: the default access role to the
	// Orders API, and Bob's own consent to Mail.Read (consentType Principal).
	c := client(t, w.srv, fastRetry)
	res, err := c.Apply(context.Background(), []appwarden.Write{
		{Method: "POST", Path: "/servicePrincipals/" + payrollSP + "/appRoleAssignments", Body: map[string]any{
			"principalId": payrollSP, "resourceId": ordersAPISP, "appRoleId": uuid.Nil.String()}},
		{Method: "POST", Path: "/oauth2PermissionGrants", Body: map[string]any{
			"clientId": payrollSP, "consentType": "Principal", "principalId": bobID, "resourceId": w.graph.ServicePrincipalID, "scope": "Mail.Read"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil || r.Status != 201 || r.Created == "" {
			t.Fatalf("write %d: %+v", i, r)
		}
	}
	w.defaultAssignment, w.bobGrant = res[0].Created, res[1].Created
	w.srv.Reset()
	return w
}

func ptr[T any](v T) *T { return &v }

// payrollApplication is what Graph holds for Payroll Sync's application object.
func payrollApplication() *appwarden.Application {
	return &appwarden.Application{
		ID: payrollObject, AppID: payrollAppID, DisplayName: "Payroll Sync", CreatedDateTime: created,
		SignInAudience: "AzureADMultipleOrgs", PublisherDomain: "contoso.example",
		VerifiedPublisher: &appwarden.VerifiedPublisher{DisplayName: "Contoso Ltd", VerifiedPublisherID: "1234567", AddedDateTime: vpAdded},
		RequiredResourceAccess: []appwarden.RequiredResource{
			{ResourceAppID: graph.MicrosoftGraphAppID, ResourceAccess: []appwarden.ResourceAccess{
				{ID: fakegraph.GraphAppRoles["Mail.Send"], Type: "Role"},
				{ID: fakegraph.GraphAppRoles["Application.ReadWrite.All"], Type: "Role"},
				{ID: fakegraph.GraphScopes["User.Read"], Type: "Scope"},
				{ID: unknownRole, Type: "Role"},
			}},
			{ResourceAppID: ordersAPIAppID, ResourceAccess: []appwarden.ResourceAccess{
				{ID: ordersRole, Type: "Role"},
				{ID: ordersScope, Type: "Scope"},
			}},
		},
		PasswordCredentials: []appwarden.Credential{{KeyID: secretKeyID, DisplayName: "ci-secret", Type: "Password", Hint: "Xy7", StartDateTime: secretStart, EndDateTime: secretEnd}},
		KeyCredentials:      []appwarden.Credential{{KeyID: certKeyID, DisplayName: "CN=payroll", Type: "AsymmetricX509Cert", Usage: "Verify", StartDateTime: certStart, EndDateTime: certEnd}},
		RedirectURIs: []appwarden.RedirectURI{
			{Kind: appwarden.RedirectWeb, URI: "https://payroll.contoso.example/signin-oidc"},
			{Kind: appwarden.RedirectSPA, URI: "https://payroll.contoso.example/spa"},
			{Kind: appwarden.RedirectPublicClient, URI: "http://localhost:8400"},
			{Kind: appwarden.RedirectPublicClient, URI: "ms-appx-web://payroll"},
		},
		IdentifierURIs: []string{"api://payroll.contoso.example"},
		IsDisabled:     true,
		Tags:           []string{"team:hr", "HideApp"},
		Notes:          "Owned by HR; ticket HR-1234",
	}
}

// payrollServicePrincipal is Payroll Sync's service principal with its
// grants, as Graph lists them.
func (w *world) payrollServicePrincipal() appwarden.ServicePrincipal {
	sp := appwarden.ServicePrincipal{
		ID: payrollSP, AppID: payrollAppID, DisplayName: "Payroll Sync", AccountEnabled: true,
		AppOwnerOrganizationID: tenantID, ServicePrincipalType: "Application", Tags: []string{},
	}
	for _, a := range w.tenant.AppRoleAssignments(payrollSP) {
		sp.AppRoleAssignments = append(sp.AppRoleAssignments, appwarden.AppRoleAssignment{
			ID: *a.GetId(), AppRoleID: a.GetAppRoleId().String(), PrincipalID: payrollSP,
			ResourceID: a.GetResourceId().String(), ResourceDisplayName: *a.GetResourceDisplayName(),
			CreatedDateTime: a.GetCreatedDateTime().UTC(),
		})
	}
	sp.OAuth2PermissionGrants = []appwarden.OAuth2PermissionGrant{
		{ID: w.adminGrant, ClientID: payrollSP, ConsentType: "AllPrincipals", ResourceID: w.graph.ServicePrincipalID, Scope: "User.Read offline_access"},
		{ID: w.bobGrant, ClientID: payrollSP, ConsentType: "Principal", PrincipalID: bobID, ResourceID: w.graph.ServicePrincipalID, Scope: "Mail.Read"},
	}
	return sp
}

var payrollOwners = []appwarden.Principal{
	{ID: adaID, UPN: "ada@contoso.example", DisplayName: "Ada Lovelace", Mail: "ada@contoso.example", Type: "user"},
	{ID: bobID, UPN: "bob@contoso.example", DisplayName: "Bob Byte", Type: "user"},
	{ID: deployerID, DisplayName: "deploy-pipeline", Type: "servicePrincipal"},
}

// payrollPermissions is every permission Payroll Sync requests or holds, in
// the client's order (resource appId, type, name).
func (w *world) payrollPermissions() []appwarden.Permission {
	g := graph.MicrosoftGraphAppID
	return []appwarden.Permission{
		// Microsoft Graph, application permissions; privilege from the embedded list.
		{ResourceAppID: g, ResourceName: "Microsoft Graph", ID: unknownRole, Name: unknownRole, Type: "application", Privilege: 0, Requested: true},
		{ResourceAppID: g, ResourceName: "Microsoft Graph", ID: fakegraph.GraphAppRoles["Application.ReadWrite.All"], Name: "Application.ReadWrite.All", Type: "application", Privilege: 4, Requested: true},
		{ResourceAppID: g, ResourceName: "Microsoft Graph", ID: fakegraph.GraphAppRoles["Mail.Send"], Name: "Mail.Send", Type: "application", Privilege: 3, Requested: true, Granted: true, GrantIDs: []string{w.mailSendAssignment}},
		// Microsoft Graph, delegated: tenant-wide consent to two, Bob's own to Mail.Read.
		{ResourceAppID: g, ResourceName: "Microsoft Graph", ID: fakegraph.GraphScopes["Mail.Read"], Name: "Mail.Read", Type: "delegated", Privilege: 2, Granted: true, GrantIDs: []string{w.bobGrant}},
		{ResourceAppID: g, ResourceName: "Microsoft Graph", ID: fakegraph.GraphScopes["User.Read"], Name: "User.Read", Type: "delegated", Privilege: 2, Requested: true, Granted: true, AdminConsent: true, GrantIDs: []string{w.adminGrant}},
		{ResourceAppID: g, ResourceName: "Microsoft Graph", ID: fakegraph.GraphScopes["offline_access"], Name: "offline_access", Type: "delegated", Privilege: 0, Granted: true, AdminConsent: true, GrantIDs: []string{w.adminGrant}},
		// The custom API: names from its own service principal, no privilege level.
		{ResourceAppID: ordersAPIAppID, ResourceName: "Contoso Orders API", ID: ordersRole, Name: "Orders.ReadWrite.All", Type: "application", Requested: true, Granted: true, GrantIDs: []string{w.ordersAssignment}},
		{ResourceAppID: ordersAPIAppID, ResourceName: "Contoso Orders API", ID: ordersScope, Name: "Orders.Read", Type: "delegated", Requested: true},
	}
}

// signalFor is the signal a decoder makes of an audit record of that kind
// about Payroll Sync: the target's object id and type, the appId from the
// record's details.
func signalFor(kind appwarden.SignalKind, at time.Time) appwarden.Signal {
	sig := appwarden.Signal{
		Kind: kind, AppID: payrollAppID, ObjectID: payrollObject, ObjectType: appwarden.ObjectApplication,
		DisplayName: "Payroll Sync", Initiator: creator, Time: at, Source: appwarden.SourceEventHub,
		Activity: string(kind), DedupeKey: "audit:" + string(kind),
	}
	switch kind {
	case appwarden.ServicePrincipalCreated, appwarden.ConsentGranted, appwarden.AppRoleGranted:
		sig.ObjectID, sig.ObjectType = payrollSP, appwarden.ObjectServicePrincipal
	}
	return sig
}

// diff reports the first differences between two values as JSON, field by field.
func diff(t *testing.T, what string, got, want any) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	g, _ := json.MarshalIndent(got, "", "  ")
	w, _ := json.MarshalIndent(want, "", "  ")
	gl, wl := strings.Split(string(g), "\n"), strings.Split(string(w), "\n")
	for i := 0; i < max(len(gl), len(wl)); i++ {
		var a, b string
		if i < len(gl) {
			a = gl[i]
		}
		if i < len(wl) {
			b = wl[i]
		}
		if a != b {
			t.Errorf("%s differs at line %d:\n got: %s\nwant: %s\n(got %s)", what, i+1, a, b, g)
			return
		}
	}
	t.Errorf("%s: got %#v, want %#v", what, got, want)
}

func TestResolveEachSignalKind(t *testing.T) {
	w := newWorld(t)
	kinds := []appwarden.SignalKind{
		appwarden.AppCreated, appwarden.ServicePrincipalCreated, appwarden.CredentialAdded, appwarden.OwnerAdded,
		appwarden.ConsentGranted, appwarden.AppRoleGranted, appwarden.AppUpdated,
	}
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			c := client(t, w.srv, fastRetry)
			sig := signalFor(kind, time.Now())
			app, trips, err := resolve(t, w.srv, c, graph.SubjectOf(sig))
			if err != nil {
				t.Fatal(err)
			}
			w.checkPayroll(t, app, sig)
			if trips != 2 {
				t.Errorf("%d round trips with a cold permission cache, want 2", trips)
			}
		})
	}
	noRejects(t, w.srv)
}

// checkPayroll compares a resolution of Payroll Sync with the tenant, field
// by field. The creator is a creation's initiator; a later change's
// initiator made the change, not the app.
func (w *world) checkPayroll(t *testing.T, app *appwarden.App, sig appwarden.Signal) {
	t.Helper()
	if app.AppID != payrollAppID || app.DisplayName != "Payroll Sync" || app.Deleted || app.SPOnly || app.SPOnlyReason != "" {
		t.Errorf("app = {AppID:%s DisplayName:%q Deleted:%v SPOnly:%v %q}", app.AppID, app.DisplayName, app.Deleted, app.SPOnly, app.SPOnlyReason)
	}
	want := appwarden.Initiator{}
	if sig.Kind == appwarden.AppCreated || sig.Kind == appwarden.ServicePrincipalCreated {
		want = sig.Initiator
	}
	if app.Creator != want {
		t.Errorf("creator = %+v after a %s signal, want %+v", app.Creator, sig.Kind, want)
	}
	if app.ResolvedAt.IsZero() || app.ResolvedAt.Location() != time.UTC {
		t.Errorf("resolvedAt = %v", app.ResolvedAt)
	}
	if app.Application == nil {
		t.Fatal("no application")
	}
	diff(t, "application", app.Application, payrollApplication())
	if len(app.ServicePrincipals) != 1 {
		t.Fatalf("%d service principals", len(app.ServicePrincipals))
	}
	wantSP, wantOwners, wantPerms := w.payrollServicePrincipal(), payrollOwners, w.payrollPermissions()
	wantRead := []string{graph.ReadOwners, graph.ReadDelegatedGrants, graph.ReadFederatedCredentials, graph.ReadDirectoryRoles}
	if sig.Kind == appwarden.AppCreated || sig.Kind == appwarden.ServicePrincipalCreated {
		// A creation reads the registration's owners and the service
		// principal's app role assignments, not its delegated grants nor
		// its own owners (Bob).
		wantSP.OAuth2PermissionGrants = nil
		wantOwners = []appwarden.Principal{payrollOwners[0], payrollOwners[2]}
		wantPerms = slices.DeleteFunc(wantPerms, func(p appwarden.Permission) bool { return p.Type == "delegated" && !p.Requested })
		for i, p := range wantPerms {
			if p.Type == "delegated" {
				wantPerms[i].Granted, wantPerms[i].AdminConsent, wantPerms[i].GrantIDs = false, false, nil
			}
		}
		wantRead = nil
	}
	diff(t, "service principal", app.ServicePrincipals[0], wantSP)
	if len(app.ServicePrincipals[0].AppRoleAssignments) != 3 {
		t.Errorf("%d app role assignments, want Mail.Send, Orders.ReadWrite.All and default access", len(app.ServicePrincipals[0].AppRoleAssignments))
	}
	diff(t, "owners", app.Owners, wantOwners)
	diff(t, "permissions", app.Permissions, wantPerms)
	diff(t, "parts read", app.Read, wantRead)
	if got := app.Application.PasswordCredentials[0].Lifetime(); got != secretEnd.Sub(secretStart) {
		t.Errorf("secret lifetime %v", got)
	}
}

// A signal that names only an object (no appId) costs one more round trip
// to learn the appId, and resolves the same.
func TestResolveByObjectIDOnly(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		name, id, typ string
	}{
		{"application", payrollObject, appwarden.ObjectApplication},
		{"servicePrincipal", payrollSP, appwarden.ObjectServicePrincipal},
		{"untyped", payrollSP, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := client(t, w.srv, fastRetry)
			sig := signalFor(appwarden.AppUpdated, time.Now())
			sig.AppID, sig.ObjectID, sig.ObjectType = "", tc.id, tc.typ
			app, trips, err := resolve(t, w.srv, c, graph.SubjectOf(sig))
			if err != nil {
				t.Fatal(err)
			}
			w.checkPayroll(t, app, sig)
			if trips != 3 {
				t.Errorf("%d round trips, want 3 (appId look-up, the app, the resources)", trips)
			}
		})
	}
	c := client(t, w.srv, fastRetry)
	if _, err := c.Resolve(context.Background(), graph.Subject{}); err == nil {
		t.Error("an empty subject resolved")
	}
	noRejects(t, w.srv)
}

func TestResolveServicePrincipalOnly(t *testing.T) {
	w := newWorld(t)
	g := graph.MicrosoftGraphAppID
	for _, tc := range []struct {
		name   string
		ids    fakegraph.IDs
		kind   appwarden.SignalKind
		reason string
		sp     appwarden.ServicePrincipal
		owners []appwarden.Principal
		perms  func() []appwarden.Permission
		guard  string
	}{
		{
			name: "multi-tenant app from another tenant", ids: w.fabrikam, kind: appwarden.ConsentGranted,
			reason: "multi-tenant app registered in another tenant (appOwnerOrganizationId " + fabrikamTenant + ")",
			sp: appwarden.ServicePrincipal{ID: w.fabrikam.ServicePrincipalID, AppID: w.fabrikam.AppID, DisplayName: "Fabrikam CRM",
				AccountEnabled: true, AppOwnerOrganizationID: fabrikamTenant, ServicePrincipalType: "Application", Tags: []string{}},
			owners: []appwarden.Principal{{ID: bobID, UPN: "bob@contoso.example", DisplayName: "Bob Byte", Type: "user"}},
			perms: func() []appwarden.Permission {
				return []appwarden.Permission{{ResourceAppID: g, ResourceName: "Microsoft Graph", ID: fakegraph.GraphAppRoles["User.Read.All"],
					Name: "User.Read.All", Type: "application", Privilege: 3, Granted: true, GrantIDs: w.fabrikam.AssignmentIDs}}
			},
		},
		{
			name: "managed identity", ids: w.identity, kind: appwarden.ServicePrincipalCreated, reason: "managed identity",
			sp: appwarden.ServicePrincipal{ID: w.identity.ServicePrincipalID, AppID: w.identity.AppID, DisplayName: "func-payroll-prod",
				AccountEnabled: true, AppOwnerOrganizationID: tenantID, ServicePrincipalType: "ManagedIdentity",
				Tags: []string{"WindowsAzureActiveDirectoryIntegratedApp"}},
			perms: func() []appwarden.Permission {
				return []appwarden.Permission{{ResourceAppID: g, ResourceName: "Microsoft Graph", ID: fakegraph.GraphAppRoles["Application.Read.All"],
					Name: "Application.Read.All", Type: "application", Privilege: 3, Granted: true, GrantIDs: w.identity.AssignmentIDs}}
			},
			guard: "managed identity",
		},
		{
			name: "Microsoft first-party app", ids: w.microsoft, kind: appwarden.ServicePrincipalCreated,
			reason: "Microsoft first-party app (appOwnerOrganizationId " + appwarden.MicrosoftServicesTenantID + ")",
			sp: appwarden.ServicePrincipal{ID: w.microsoft.ServicePrincipalID, AppID: w.microsoft.AppID, DisplayName: "Domain Controller Services",
				AccountEnabled: true, AppOwnerOrganizationID: appwarden.MicrosoftServicesTenantID, ServicePrincipalType: "Application", Tags: []string{}},
			perms: func() []appwarden.Permission { return []appwarden.Permission{} },
			guard: "Microsoft first-party app",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := client(t, w.srv, fastRetry)
			sig := appwarden.Signal{Kind: tc.kind, AppID: tc.ids.AppID, ObjectID: tc.ids.ServicePrincipalID,
				ObjectType: appwarden.ObjectServicePrincipal, Initiator: creator, Time: time.Now(), Source: appwarden.SourceEventHub}
			app, _, err := resolve(t, w.srv, c, graph.SubjectOf(sig))
			if err != nil {
				t.Fatal(err)
			}
			if app.Application != nil || !app.SPOnly || app.SPOnlyReason != tc.reason {
				t.Errorf("application=%v spOnly=%v reason=%q, want nil, true, %q", app.Application, app.SPOnly, app.SPOnlyReason, tc.reason)
			}
			wantCreator := appwarden.Initiator{} // a consent's initiator consented; they did not create the app
			if tc.kind == appwarden.ServicePrincipalCreated {
				wantCreator = creator
			}
			if app.AppID != tc.ids.AppID || app.DisplayName != tc.sp.DisplayName || app.Creator != wantCreator || app.Deleted {
				t.Errorf("app = %s %q creator %+v deleted %v", app.AppID, app.DisplayName, app.Creator, app.Deleted)
			}
			diff(t, "service principals", app.ServicePrincipals, []appwarden.ServicePrincipal{func() appwarden.ServicePrincipal {
				sp := tc.sp
				for _, a := range w.tenant.AppRoleAssignments(tc.ids.ServicePrincipalID) {
					sp.AppRoleAssignments = append(sp.AppRoleAssignments, appwarden.AppRoleAssignment{
						ID: *a.GetId(), AppRoleID: a.GetAppRoleId().String(), PrincipalID: tc.ids.ServicePrincipalID,
						ResourceID: w.graph.ServicePrincipalID, ResourceDisplayName: "Microsoft Graph", CreatedDateTime: a.GetCreatedDateTime().UTC()})
				}
				return sp
			}()})
			diff(t, "owners", app.Owners, tc.owners)
			diff(t, "permissions", app.Permissions, tc.perms())
			guard := appwarden.Guard{}
			if got := guard.Protected(app); got != tc.guard {
				t.Errorf("guard says %q, want %q", got, tc.guard)
			}
		})
	}
	noRejects(t, w.srv)
}

// An application with no service principal (registered, never used) is not
// SP-only: it resolves with its application and requested permissions only.
func TestResolveApplicationWithoutServicePrincipal(t *testing.T) {
	tenant := fakegraph.NewTenant(tenantID)
	tenant.AddMicrosoftGraph()
	ids := tenant.AddApp(fakegraph.AppSpec{DisplayName: "never used", NoServicePrincipal: true,
		Requested: []fakegraph.Permission{fakegraph.GraphRole("Directory.ReadWrite.All")}})
	srv := serve(t, tenant)
	c := client(t, srv, fastRetry)
	sig := appwarden.Signal{Kind: appwarden.AppCreated, AppID: ids.AppID, ObjectID: ids.ApplicationID, ObjectType: appwarden.ObjectApplication, Time: time.Now()}
	app, trips, err := resolve(t, srv, c, graph.SubjectOf(sig))
	if err != nil {
		t.Fatal(err)
	}
	if app.Application == nil || app.SPOnly || len(app.ServicePrincipals) != 0 || len(app.Owners) != 0 {
		t.Errorf("app = %+v", app)
	}
	want := []appwarden.Permission{{ResourceAppID: graph.MicrosoftGraphAppID, ResourceName: "Microsoft Graph",
		ID: fakegraph.GraphAppRoles["Directory.ReadWrite.All"], Name: "Directory.ReadWrite.All", Type: "application", Privilege: 4, Requested: true}}
	diff(t, "permissions", app.Permissions, want)
	if trips != 2 {
		t.Errorf("%d round trips, want 2", trips)
	}
	noRejects(t, srv)
}

// Owners come expanded with the app, but $expand stops at 20 with no
// nextLink: a full list is read again from the owners endpoint and
// followed across pages.
func TestResolveManyOwners(t *testing.T) {
	tenant := fakegraph.NewTenant(tenantID)
	var owners []fakegraph.Owner
	for i := 0; i < 45; i++ {
		owners = append(owners, fakegraph.Owner{ID: fmt.Sprintf("%08d-0000-4000-8000-000000000000", i), UPN: fmt.Sprintf("u%d@contoso.example", i)})
	}
	ids := tenant.AddApp(fakegraph.AppSpec{Owners: owners})
	srv := serve(t, tenant, fakegraph.WithPageSize(20))
	c := client(t, srv, fastRetry)
	app, trips, err := resolve(t, srv, c, graph.Subject{AppID: ids.AppID})
	if err != nil {
		t.Fatal(err)
	}
	if len(app.Owners) != 45 {
		t.Fatalf("%d owners, want 45", len(app.Owners))
	}
	for i, o := range app.Owners {
		if o.ID != owners[i].ID || o.UPN != owners[i].UPN || o.Type != "user" {
			t.Errorf("owner %d = %+v", i, o)
		}
	}
	// One batch (20 owners expanded: the limit, so maybe cut), then the
	// owners endpoint in a follow-up batch, and its second and third pages.
	if trips != 4 {
		t.Errorf("%d round trips, want 4", trips)
	}
	noRejects(t, srv)
}

// ResolveSignal logs the round trips it took.
func TestResolveSignalLogs(t *testing.T) {
	w := newWorld(t)
	c := client(t, w.srv, fastRetry)
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	sig := signalFor(appwarden.AppCreated, time.Now())
	app, err := c.ResolveSignal(context.Background(), log, sig)
	if err != nil {
		t.Fatal(err)
	}
	w.checkPayroll(t, app, sig)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log %q: %v", buf.String(), err)
	}
	if line["msg"] != "resolved in Graph" || line["roundTrips"] != float64(2) || line["appId"] != payrollAppID || line["permissions"] != float64(6) || line["owners"] != float64(2) {
		t.Errorf("log line = %v", line)
	}
}

// A creation reads the app role assignments expanded on its service
// principal; Graph's expand limit may cut that list at 20, so a full one is
// read from /appRoleAssignments, and every grant is judged.
func TestResolveManyAssignmentsOnACreation(t *testing.T) {
	tenant := fakegraph.NewTenant(tenantID)
	const apiAppID = "a0a0a0a0-0000-4000-8000-0000000000a0"
	var roles []fakegraph.Role
	var granted []fakegraph.Permission
	for i := range 25 {
		id := fmt.Sprintf("%08d-0000-4000-8000-0000000000a1", i)
		roles = append(roles, fakegraph.Role{ID: id, Value: fmt.Sprintf("Thing%d.ReadWrite.All", i)})
		granted = append(granted, fakegraph.Permission{ResourceAppID: apiAppID, ID: id, Type: "Role"})
	}
	tenant.AddServicePrincipal(fakegraph.SPSpec{AppID: apiAppID, DisplayName: "Contoso Things API", AppOwnerOrganizationID: tenantID, AppRoles: roles})
	ids := tenant.AddApp(fakegraph.AppSpec{Granted: granted})
	srv := serve(t, tenant)
	c := client(t, srv, fastRetry)
	sig := appwarden.Signal{Kind: appwarden.AppCreated, AppID: ids.AppID, Time: time.Now()}
	app, trips, err := resolve(t, srv, c, graph.SubjectOf(sig))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(app.ServicePrincipals[0].AppRoleAssignments); n != 25 {
		t.Fatalf("%d app role assignments, want 25", n)
	}
	held := 0
	for _, p := range app.Permissions {
		if p.Granted && p.Type == appwarden.PermissionApplication {
			held++
		}
	}
	if held != 25 {
		t.Errorf("%d granted application permissions, want 25", held)
	}
	// One batch (20 assignments expanded: the limit, so maybe cut), then
	// the assignments endpoint (and the resource named) in follow-ups.
	if st := srv.Stats(); trips < 2 || st.InnerRequests < 3 {
		t.Errorf("%d round trips, %d requests: the full list was not read", trips, st.InnerRequests)
	}
	noRejects(t, srv)
}
