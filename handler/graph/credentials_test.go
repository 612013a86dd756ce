package graph_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/fakegraph"
)

// TestCredentialListings: the expiry pass's two listings read every
// registration's certificates and every service principal's type, owner
// organization, secrets and certificates, 999 to a page with $select,
// following the next links (and resuming from one); a link off the
// client's endpoint is refused without a request.
func TestCredentialListings(t *testing.T) {
	tenant := fakegraph.NewTenant(tenantID)
	end := time.Date(2027, 1, 10, 0, 0, 0, 0, time.UTC)
	const certID = "11111111-1111-4111-8111-111111111111"
	first := tenant.AddApp(fakegraph.AppSpec{DisplayName: "with a cert",
		Certificates: []fakegraph.Credential{{KeyID: certID, DisplayName: "cert", Start: end.AddDate(-1, 0, 0), End: end}}})
	spSecret := tenant.AddServicePrincipalPassword(first.AppID, "sp secret")
	tenant.AddServicePrincipal(fakegraph.SPSpec{DisplayName: "vm", ServicePrincipalType: "ManagedIdentity"})
	for range 999 {
		tenant.AddApp(fakegraph.AppSpec{DisplayName: "filler", NoServicePrincipal: true})
	}
	srv := serve(t, tenant)
	c := client(t, srv, fastRetry)
	ctx := context.Background()

	mark := srv.Mark()
	var apps, pages int
	var next1 string
	var got *appwarden.Application
	err := c.ApplicationCertificates(ctx, "", func(page []appwarden.Application, next string) error {
		pages++
		if pages == 1 {
			next1 = next
		}
		apps += len(page)
		for i := range page {
			if page[i].AppID == strings.ToLower(first.AppID) {
				got = &page[i]
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if apps != 1000 || pages != 2 || next1 == "" {
		t.Errorf("%d applications in %d pages; want 1000 in 2", apps, pages)
	}
	if got == nil || len(got.KeyCredentials) != 1 || got.KeyCredentials[0].KeyID != certID || !got.KeyCredentials[0].EndDateTime.Equal(end) || got.ID != first.ApplicationID {
		t.Errorf("the app with a certificate listed as %+v", got)
	}
	settle(t, srv)
	for _, call := range srv.CallsSince(mark) {
		if call.Route != fakegraph.RouteApplications || !strings.Contains(call.Path, "keyCredentials") || !strings.Contains(call.Path, "999") {
			t.Errorf("request %s %s (route %s): want the applications listing with $select=...keyCredentials and $top=999", call.Method, call.Path, call.Route)
		}
	}

	// Resuming from the second page reads only it.
	apps = 0
	if err := c.ApplicationCertificates(ctx, next1, func(page []appwarden.Application, _ string) error { apps += len(page); return nil }); err != nil || apps != 1 {
		t.Errorf("resumed: %d applications, %v; want the last 1", apps, err)
	}

	var sps []appwarden.ServicePrincipal
	if err := c.ServicePrincipalCredentials(ctx, "", func(page []appwarden.ServicePrincipal, _ string) error {
		sps = append(sps, page...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var mine, mi bool
	for _, sp := range sps {
		switch {
		case sp.AppID == strings.ToLower(first.AppID):
			mine = sp.ID == first.ServicePrincipalID && len(sp.PasswordCredentials) == 1 && sp.PasswordCredentials[0].KeyID == spSecret &&
				!sp.PasswordCredentials[0].EndDateTime.IsZero()
		case sp.ServicePrincipalType == "ManagedIdentity":
			mi = true
		}
	}
	if len(sps) != 2 || !mine || !mi {
		t.Errorf("service principals listed %+v; want the app's with its secret, and the managed identity with its type", sps)
	}

	mark = srv.Mark()
	for _, link := range []string{"https://evil.example/v1.0/applications?$skiptoken=x", srv.GraphURL() + "/users?$top=1"} {
		if err := c.ApplicationCertificates(ctx, link, func([]appwarden.Application, string) error { return nil }); err == nil {
			t.Errorf("followed %s", link)
		}
	}
	if err := c.ServicePrincipalCredentials(ctx, next1, func([]appwarden.ServicePrincipal, string) error { return nil }); err == nil {
		t.Error("the service principals listing followed an applications link")
	}
	settle(t, srv)
	if n := len(srv.CallsSince(mark)); n != 0 {
		t.Errorf("%d requests for links that are not the listing's", n)
	}
	noRejects(t, srv)
}
