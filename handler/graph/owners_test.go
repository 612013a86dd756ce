package graph_test

import (
	"context"
	"testing"

	"github.com/appwarden/appwarden/handler/fakegraph"
)

// TestAppOwners: the owners of the registration and of its service
// principal, each once, in one round trip; an app without a service
// principal has only its registration's.
func TestAppOwners(t *testing.T) {
	tenant := fakegraph.NewTenant(tenantID)
	ids := tenant.AddApp(fakegraph.AppSpec{DisplayName: "Payroll", Owners: []fakegraph.Owner{{Type: "user", UPN: "alice@contoso.example", DisplayName: "Alice"}}})
	tenant.AddOwner(ids.ServicePrincipalID, fakegraph.Owner{Type: "user", UPN: "bob@contoso.example"})
	lone := tenant.AddApp(fakegraph.AppSpec{DisplayName: "Lone", NoServicePrincipal: true, Owners: []fakegraph.Owner{{Type: "user", UPN: "carol@contoso.example"}}})
	srv := serve(t, tenant)
	c := client(t, srv, fastRetry)

	owners, err := c.AppOwners(context.Background(), ids.AppID)
	if err != nil {
		t.Fatal(err)
	}
	upns := map[string]bool{}
	for _, o := range owners {
		upns[o.UPN] = o.Type == "user" && o.ID != ""
	}
	if len(owners) != 2 || !upns["alice@contoso.example"] || !upns["bob@contoso.example"] {
		t.Fatalf("owners = %+v; want alice (registration) and bob (service principal)", owners)
	}
	if got := topLevel(srv.Calls()); got != 1 {
		t.Errorf("%d round trips; want 1 ($batch)", got)
	}
	owners, err = c.AppOwners(context.Background(), lone.AppID)
	if err != nil || len(owners) != 1 || owners[0].UPN != "carol@contoso.example" {
		t.Fatalf("owners of an app without a service principal = %+v, %v", owners, err)
	}
	noRejects(t, srv)
}
