package graph_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/graph"
)

// typicalApp adds what a developer's new app usually is: an application and
// its service principal, two owners, requested Graph permissions and one
// granted application permission.
func typicalApp(tenant *fakegraph.Tenant, name string) fakegraph.IDs {
	return tenant.AddApp(fakegraph.AppSpec{
		DisplayName:  name,
		Secrets:      []fakegraph.Credential{{DisplayName: "dev"}},
		RedirectURIs: []string{"https://localhost:5001/signin-oidc"},
		Owners: []fakegraph.Owner{
			{DisplayName: "Dev One", UPN: "dev.one@contoso.example"},
			{DisplayName: "Dev Two", UPN: "dev.two@contoso.example"},
		},
		Requested: []fakegraph.Permission{
			fakegraph.GraphRole("Mail.Send"), fakegraph.GraphScope("User.Read"), fakegraph.GraphScope("offline_access"),
		},
		Granted: []fakegraph.Permission{fakegraph.GraphRole("Mail.Send")},
	})
}

func createdSignal(ids fakegraph.IDs) appwarden.Signal {
	return appwarden.Signal{Kind: appwarden.AppCreated, AppID: ids.AppID, ObjectID: ids.ApplicationID,
		ObjectType: appwarden.ObjectApplication, Initiator: creator, Time: time.Now(), Source: appwarden.SourceEventGrid}
}

// checkTypical checks what matters of a typical app's resolution.
func checkTypical(t *testing.T, app *appwarden.App, ids fakegraph.IDs, name string) {
	t.Helper()
	if app.Deleted || app.SPOnly || app.Application == nil || app.Application.ID != ids.ApplicationID || app.DisplayName != name {
		t.Fatalf("app = %+v", app)
	}
	if sp := app.ServicePrincipal(); sp == nil || sp.ID != ids.ServicePrincipalID || len(sp.AppRoleAssignments) != 1 {
		t.Errorf("service principal = %+v", sp)
	}
	if len(app.Owners) != 2 || len(app.Application.PasswordCredentials) != 1 {
		t.Errorf("owners %v, secrets %v", app.Owners, app.Application.PasswordCredentials)
	}
	names := map[string]appwarden.Permission{}
	for _, p := range app.Permissions {
		names[p.Name] = p
	}
	if p := names["Mail.Send"]; !p.Requested || !p.Granted || p.Privilege != 3 || p.Type != appwarden.PermissionApplication || len(p.GrantIDs) != 1 || p.GrantIDs[0] != ids.AssignmentIDs[0] {
		t.Errorf("Mail.Send = %+v", p)
	}
	if p := names["User.Read"]; !p.Requested || p.Granted || p.Type != appwarden.PermissionDelegated || p.Privilege != 2 {
		t.Errorf("User.Read = %+v", p)
	}
	if len(app.Permissions) != 3 {
		t.Errorf("permissions = %+v", app.Permissions)
	}
}

// plainApp is a new app that holds no power: one delegated permission,
// no credential on its service principal.
func plainApp(tenant *fakegraph.Tenant, name string) fakegraph.IDs {
	return tenant.AddApp(fakegraph.AppSpec{
		DisplayName: name,
		Owners:      []fakegraph.Owner{{DisplayName: "Dev One", UPN: "dev.one@contoso.example"}},
		Requested:   []fakegraph.Permission{fakegraph.GraphScope("User.Read")},
	})
}

// The request budget of a resolution (README, "What resolution reads, and
// its budget"): a creation is one $batch of 2 requests (the application
// with its owners expanded, the service principal with its app role
// assignments expanded); a new service principal with no registration here
// adds one $batch of its owners and delegated grants (2 requests); every
// other signal reads the application and service principal with their
// owners, the app role assignments, the delegated grants, the federated
// credentials and the directory roles (6 requests); a cold permission
// cache adds one $batch naming the resource service principals (1 or 2
// requests here). Graph throttles each request inside a $batch, so
// requests, not round trips, are the budget: at most 6 on the containment
// path. Token requests go to the managed identity endpoint and are not
// Graph round trips.
func TestRoundTrips(t *testing.T) {
	tenant := fakegraph.NewTenant(tenantID)
	tenant.AddMicrosoftGraph()
	first := plainApp(tenant, "first plain app")
	plain := plainApp(tenant, "plain app")
	privCold := typicalApp(tenant, "privileged app, cold")
	priv := typicalApp(tenant, "privileged app")
	escCold := typicalApp(tenant, "privileged app, escalation, cold")
	esc := typicalApp(tenant, "privileged app, escalation")
	plainEsc := plainApp(tenant, "plain app, escalation")
	foreign := tenant.AddServicePrincipal(fakegraph.SPSpec{DisplayName: "Fabrikam CRM", AppOwnerOrganizationID: "0f0f0f0f-0000-4000-8000-00000000000f",
		Granted: []fakegraph.Permission{fakegraph.GraphScope("User.Read")}, Owners: []fakegraph.Owner{{ID: "0b0b0b0b-0000-4000-8000-00000000000b", DisplayName: "Bob"}}})
	firstParty := tenant.AddServicePrincipal(fakegraph.SPSpec{DisplayName: "Exchange", AppOwnerOrganizationID: fakegraph.MicrosoftServicesTenantID})
	tenant.AddServicePrincipalPassword(firstParty.AppID, "i-spy")
	srv := serve(t, tenant)

	escalated := func(ids fakegraph.IDs) appwarden.Signal {
		sig := createdSignal(ids)
		sig.Kind = appwarden.CredentialAdded
		return sig
	}
	read := []string{graph.ReadOwners, graph.ReadDelegatedGrants, graph.ReadFederatedCredentials, graph.ReadDirectoryRoles}
	consented := appwarden.Signal{Kind: appwarden.ServicePrincipalCreated, AppID: foreign.AppID, ObjectID: foreign.ServicePrincipalID,
		ObjectType: appwarden.ObjectServicePrincipal, Time: time.Now(), Source: appwarden.SourceEventHub}
	for _, tc := range []struct {
		name         string
		cold         bool // a new client, its permission cache empty
		sig          appwarden.Signal
		trips, inner int
		read         []string
	}{
		{"new plain app, cold cache", true, createdSignal(first), 2, 3, nil},
		{"new plain app", false, createdSignal(plain), 1, 2, nil},
		{"new privileged app, cold cache", true, createdSignal(privCold), 2, 4, nil}, // the resource read by appId (requested) and by id (granted)
		{"new privileged app", false, createdSignal(priv), 1, 2, nil},
		{"new service principal of another tenant's app", false, consented, 2, 4, []string{graph.ReadDelegatedGrants, graph.ReadOwners}},
		{"change to a privileged app, cold cache", true, escalated(escCold), 2, 8, read},
		{"change to a privileged app", false, escalated(esc), 1, 6, read},
		{"change to a plain app", false, escalated(plainEsc), 1, 6, read},
		{"first-party service principal with a password, swept", false, appwarden.Signal{Kind: appwarden.AppUpdated, AppID: firstParty.AppID, Source: appwarden.SourceSweep}, 1, 6, read},
	} {
		c := client(t, srv, fastRetry)
		if !tc.cold {
			if _, err := c.Resolve(context.Background(), graph.Subject{AppID: typicalApp(tenant, "warm").AppID}); err != nil {
				t.Fatal(err)
			}
		}
		settle(t, srv)
		srv.Reset()
		before := c.RoundTrips()
		ctx, trips := graph.WithTrips(context.Background())
		app, err := c.Resolve(ctx, graph.SubjectOf(tc.sig))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		settle(t, srv)
		st := srv.Stats()
		if trips.Count() != int64(tc.trips) || st.Requests != tc.trips || st.Routes[fakegraph.RouteBatch] != tc.trips || c.RoundTrips()-before != int64(tc.trips) {
			t.Errorf("%s: %d round trips (stand-in: %d requests, %d $batch; client: %d), want %d",
				tc.name, trips.Count(), st.Requests, st.Routes[fakegraph.RouteBatch], c.RoundTrips()-before, tc.trips)
		}
		if st.InnerRequests != tc.inner {
			t.Errorf("%s: %d requests inside the $batch requests, want %d", tc.name, st.InnerRequests, tc.inner)
		}
		if fmt.Sprint(app.Read) != fmt.Sprint(tc.read) {
			t.Errorf("%s: Read = %v, want %v", tc.name, app.Read, tc.read)
		}
		if st.Faults != 0 || st.Rejected != 0 || st.Writes != 0 {
			t.Errorf("%s: stats %+v", tc.name, st)
		}
		t.Logf("%s: %d round trips, %d requests inside them", tc.name, st.Requests, st.InnerRequests)
	}
}

// A typical (privileged) new app resolves to what it is, and a client gets
// one token and reuses it.
func TestResolveTypicalNewApp(t *testing.T) {
	tenant := fakegraph.NewTenant(tenantID)
	tenant.AddMicrosoftGraph()
	first := typicalApp(tenant, "first app")
	second := typicalApp(tenant, "second app")
	srv := serve(t, tenant)
	c := client(t, srv, fastRetry)
	for _, ids := range []fakegraph.IDs{first, second} {
		settle(t, srv)
		srv.Reset()
		app, err := c.Resolve(context.Background(), graph.SubjectOf(createdSignal(ids)))
		if err != nil {
			t.Fatal(err)
		}
		checkTypical(t, app, ids, tenantName(tenant, ids))
	}
	settle(t, srv)
	if got := srv.Stats().TokenRequests; got != 0 {
		t.Errorf("%d token requests for the second app, want 0 (cached)", got)
	}
}

func tenantName(tenant *fakegraph.Tenant, ids fakegraph.IDs) string {
	st, _ := tenant.AppState(ids.AppID)
	return st.DisplayName
}

// Many apps resolved at once on one client share the permission cache and
// each take their own count of round trips.
func TestRoundTripsConcurrent(t *testing.T) {
	tenant := fakegraph.NewTenant(tenantID)
	tenant.AddMicrosoftGraph()
	warm := typicalApp(tenant, "warm")
	var apps []fakegraph.IDs
	for i := 0; i < 16; i++ {
		apps = append(apps, typicalApp(tenant, "app"))
	}
	srv := serve(t, tenant)
	c := client(t, srv, fastRetry)
	if _, err := c.Resolve(context.Background(), graph.Subject{AppID: warm.AppID}); err != nil {
		t.Fatal(err)
	}
	srv.Reset()
	errs := make(chan error, len(apps))
	counts := make(chan int64, len(apps))
	for _, ids := range apps {
		go func() {
			ctx, trips := graph.WithTrips(context.Background())
			app, err := c.Resolve(ctx, graph.SubjectOf(createdSignal(ids)))
			if err == nil && (app.Application == nil || app.Application.ID != ids.ApplicationID) {
				err = fmt.Errorf("resolved %s as %+v", ids.AppID, app)
			}
			errs <- err
			counts <- trips.Count()
		}()
	}
	for range apps {
		if err := <-errs; err != nil {
			t.Error(err)
		}
		if n := <-counts; n != 1 {
			t.Errorf("%d round trips, want 1 (the app's $batch)", n)
		}
	}
	settle(t, srv)
	if st := srv.Stats(); st.Requests != len(apps) {
		t.Errorf("%d Graph requests for %d apps", st.Requests, len(apps))
	}
}
