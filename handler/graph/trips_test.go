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

// A typical new app resolves in exactly two Graph round trips with a cold
// permission cache (one $batch for the app, one for the resource service
// principals), and in exactly one once the resource is cached. Token
// requests go to the managed identity endpoint and are not Graph round trips.
func TestRoundTripsTypicalNewApp(t *testing.T) {
	tenant := fakegraph.NewTenant(tenantID)
	tenant.AddMicrosoftGraph()
	first := typicalApp(tenant, "first app")
	second := typicalApp(tenant, "second app")
	srv := serve(t, tenant)
	c := client(t, srv, fastRetry)

	for _, tc := range []struct {
		name  string
		ids   fakegraph.IDs
		trips int64
	}{
		{"first app, cold permission cache", first, 2},
		{"second app, Graph cached", second, 1},
	} {
		srv.Reset()
		before := c.RoundTrips()
		ctx, trips := graph.WithTrips(context.Background())
		app, err := c.Resolve(ctx, graph.SubjectOf(createdSignal(tc.ids)))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		settle(t, srv)
		checkTypical(t, app, tc.ids, tenantName(tenant, tc.ids))
		st := srv.Stats()
		if trips.Count() != tc.trips {
			t.Errorf("%s: graph.WithTrips counted %d round trips, want %d", tc.name, trips.Count(), tc.trips)
		}
		if int64(st.Requests) != tc.trips || int64(st.Routes[fakegraph.RouteBatch]) != tc.trips {
			t.Errorf("%s: the stand-in saw %d Graph HTTP requests (%d $batch), want %d", tc.name, st.Requests, st.Routes[fakegraph.RouteBatch], tc.trips)
		}
		if got := c.RoundTrips() - before; got != tc.trips {
			t.Errorf("%s: Client.RoundTrips grew by %d, want %d", tc.name, got, tc.trips)
		}
		if st.Faults != 0 || st.Rejected != 0 || st.Writes != 0 {
			t.Errorf("%s: stats %+v", tc.name, st)
		}
		t.Logf("%s: %d round trips, %d requests inside them, %d token requests", tc.name, st.Requests, st.InnerRequests, st.TokenRequests)
	}
	// A client gets one token and reuses it.
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
			t.Errorf("%d round trips, want 1", n)
		}
	}
	settle(t, srv)
	if st := srv.Stats(); st.Requests != len(apps) {
		t.Errorf("%d Graph requests for %d apps", st.Requests, len(apps))
	}
}
