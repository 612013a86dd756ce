package graph_test

import (
	"context"
	"slices"
	"testing"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/fakegraph"
)

// The writes surgical containment makes: delete a federated credential and
// create it again (Created is the new id), remove a service principal's
// password, and rewrite keyCredentials on an application and a service
// principal from what ReadKeyCredentials read, and back.
func TestApplyEscalationWrites(t *testing.T) {
	tenant := fakegraph.NewTenant(tenantID)
	tenant.AddMicrosoftGraph()
	ids := typicalApp(tenant, "app")
	fic := tenant.AddFederatedCredential(ids.AppID, "deploy", "https://token.actions.githubusercontent.com", "repo:evil/x:ref:refs/heads/main")
	spPassword := tenant.AddServicePrincipalPassword(ids.AppID, "sp secret")
	keep := tenant.AddApplicationCertificate(ids.AppID, "CN=keep")
	drop := tenant.AddApplicationCertificate(ids.AppID, "CN=drop")
	spKeep := tenant.AddServicePrincipalCertificate(ids.AppID, "CN=sp keep")
	spDrop := tenant.AddServicePrincipalCertificate(ids.AppID, "CN=sp drop")
	srv := serve(t, tenant)
	c := client(t, srv, fastRetry)
	ctx := context.Background()
	ficPath := "/applications/" + ids.ApplicationID + "/federatedIdentityCredentials"

	res, err := c.Apply(ctx, []appwarden.Write{
		{Method: "DELETE", Path: ficPath + "/" + fic},
		{Method: "POST", Path: "/servicePrincipals/" + ids.ServicePrincipalID + "/removePassword", Body: map[string]any{"keyId": spPassword}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil || r.Status != 204 {
			t.Errorf("write %d: %+v", i, r)
		}
	}
	if n := len(tenant.FederatedCredentials(ids.AppID)); n != 0 {
		t.Errorf("%d federated credentials left", n)
	}
	if sp, _ := tenant.ServicePrincipal(ids.AppID); len(sp.GetPasswordCredentials()) != 0 {
		t.Errorf("SP passwords left: %d", len(sp.GetPasswordCredentials()))
	}
	// Release: the federated credential is created again, with a new id.
	res, err = c.Apply(ctx, []appwarden.Write{{Method: "POST", Path: ficPath, Body: map[string]any{
		"name": "deploy", "issuer": "https://token.actions.githubusercontent.com", "subject": "repo:evil/x:ref:refs/heads/main",
		"audiences": []string{"api://AzureADTokenExchange"}}}})
	if err != nil || res[0].Err != nil || res[0].Status != 201 {
		t.Fatalf("re-create: %v %+v", err, res)
	}
	back := tenant.FederatedCredentials(ids.AppID)
	if len(back) != 1 || *back[0].GetId() != res[0].Created || res[0].Created == fic {
		t.Errorf("re-created %q, tenant holds %v (old id %s)", res[0].Created, back, fic)
	}

	// Certificates, on the application and on the service principal.
	for _, tc := range []struct {
		object     string
		keep, drop string
		state      func() []string
	}{
		{"/applications/" + ids.ApplicationID, keep, drop, func() []string { st, _ := tenant.AppState(ids.AppID); return st.KeyCredentialIDs }},
		{"/servicePrincipals/" + ids.ServicePrincipalID, spKeep, spDrop, func() []string {
			sp, _ := tenant.ServicePrincipal(ids.AppID)
			var out []string
			for _, k := range sp.GetKeyCredentials() {
				out = append(out, k.GetKeyId().String())
			}
			return out
		}},
	} {
		all, err := c.ReadKeyCredentials(ctx, tc.object)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 2 || all[0]["key"] == nil || all[1]["key"] == nil {
			t.Fatalf("%s: read %v, want two certificates with their keys", tc.object, all)
		}
		kept := slices.DeleteFunc(slices.Clone(all), func(k map[string]any) bool { return k["keyId"] == tc.drop })
		res, err := c.Apply(ctx, []appwarden.Write{{Method: "PATCH", Path: tc.object, Body: map[string]any{"keyCredentials": kept}}})
		if err != nil || res[0].Err != nil || res[0].Status != 204 {
			t.Fatalf("%s: PATCH: %v %+v", tc.object, err, res)
		}
		if got := tc.state(); !slices.Equal(got, []string{tc.keep}) {
			t.Errorf("%s: after removal %v, want [%s]", tc.object, got, tc.keep)
		}
		res, err = c.Apply(ctx, []appwarden.Write{{Method: "PATCH", Path: tc.object, Body: map[string]any{"keyCredentials": all}}})
		if err != nil || res[0].Err != nil {
			t.Fatalf("%s: undo: %v %+v", tc.object, err, res)
		}
		if got := tc.state(); !slices.Equal(got, []string{tc.keep, tc.drop}) {
			t.Errorf("%s: after undo %v", tc.object, got)
		}
		// Without the keys Graph cannot keep the certificates: refused.
		for _, k := range all {
			delete(k, "key")
		}
		res, err = c.Apply(ctx, []appwarden.Write{{Method: "PATCH", Path: tc.object, Body: map[string]any{"keyCredentials": all}}})
		if err != nil || res[0].Err == nil || res[0].Status != 400 {
			t.Errorf("%s: PATCH without keys: %v %+v, want 400", tc.object, err, res)
		}
	}
	if _, err := c.ReadKeyCredentials(ctx, "/users/x"); err == nil {
		t.Error("ReadKeyCredentials read a user")
	}
}
