package fakegraph_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"

	"github.com/appwarden/appwarden/handler/fakegraph"
)

// Federated identity credentials through msgraph-sdk-go: create (201 with
// the new id), list, duplicate name, delete, and the 404s.
func TestFederatedCredentialsThroughSDK(t *testing.T) {
	tenant, ids := fixture()
	spOnly := tenant.AddServicePrincipal(fakegraph.SPSpec{DisplayName: "elsewhere"})
	srv := start(t, tenant)
	client, _ := sdk(t, srv)
	ctx := context.Background()
	fics := client.Applications().ByApplicationId(ids.ApplicationID).FederatedIdentityCredentials()

	f := models.NewFederatedIdentityCredential()
	f.SetName(ptr("deploy-main"))
	f.SetIssuer(ptr("https://token.actions.githubusercontent.com"))
	f.SetSubject(ptr("repo:contoso/payroll:ref:refs/heads/main"))
	f.SetAudiences([]string{fakegraph.FederatedIdentityAudience})
	created, err := fics.Post(ctx, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := uuid.Parse(*created.GetId()); err != nil || *created.GetSubject() != "repo:contoso/payroll:ref:refs/heads/main" {
		t.Fatalf("created %v %v", created.GetId(), err)
	}
	if _, err := fics.Post(ctx, f, nil); err == nil {
		t.Fatal("a second credential with the same name was accepted")
	} else if status, _ := graphErr(t, err); status != 400 {
		t.Errorf("duplicate name: HTTP %d, want 400", status)
	}
	page, err := fics.Get(ctx, nil)
	if err != nil || len(page.GetValue()) != 1 || *page.GetValue()[0].GetId() != *created.GetId() {
		t.Fatalf("list = %v, %v", page, err)
	}
	if got := tenant.FederatedCredentials(ids.AppID); len(got) != 1 || *got[0].GetIssuer() != "https://token.actions.githubusercontent.com" {
		t.Errorf("tenant holds %v", got)
	}
	if err := fics.ByFederatedIdentityCredentialId(*created.GetId()).Delete(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := fics.ByFederatedIdentityCredentialId(*created.GetId()).Delete(ctx, nil); err == nil {
		t.Error("deleting twice succeeded")
	} else if status, _ := graphErr(t, err); status != 404 {
		t.Errorf("second delete: HTTP %d, want 404", status)
	}
	if n := len(tenant.FederatedCredentials(ids.AppID)); n != 0 {
		t.Errorf("%d credentials left", n)
	}
	// A service principal with no registration here has no application to
	// hold federated credentials: 404, as for any absent application.
	status, _, _ := raw(t, srv, "GET", "/v1.0/applications(appId='"+spOnly.AppID+"')/federatedIdentityCredentials", nil, nil)
	if status != 404 {
		t.Errorf("SP-only app: HTTP %d, want 404", status)
	}
	// Too short a name is refused like Graph does.
	f.SetName(ptr("x"))
	if _, err := fics.Post(ctx, f, nil); err == nil {
		t.Error("a one-character name was accepted")
	}
	noRejectsExcept(t, srv, 2)
}

// noRejectsExcept fails unless exactly n calls were rejected (the refusals
// a test provoked on purpose).
func noRejectsExcept(t *testing.T, srv *fakegraph.Server, n int) {
	t.Helper()
	if got := srv.Rejected(); len(got) != n {
		for _, c := range got {
			t.Logf("rejected: %s %s -> %d", c.Method, c.Path, c.Status)
		}
		t.Errorf("%d rejected calls, want %d", len(got), n)
	}
}

// Service principal passwords through the SDK: addPassword returns the
// secret once, $select shows the credential, removePassword removes it.
func TestServicePrincipalPasswords(t *testing.T) {
	tenant, ids := fixture()
	srv := start(t, tenant)
	client, _ := sdk(t, srv)
	ctx := context.Background()
	sp := client.ServicePrincipals().ByServicePrincipalId(ids.ServicePrincipalID)
	body := serviceprincipals.NewItemAddPasswordPostRequestBody()
	pc := models.NewPasswordCredential()
	pc.SetDisplayName(ptr("backdoor"))
	body.SetPasswordCredential(pc)
	got, err := sp.AddPassword().Post(ctx, body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetSecretText() == nil || len(*got.GetSecretText()) < 20 || got.GetKeyId() == nil {
		t.Fatalf("addPassword answered %+v", got)
	}
	read, err := sp.Get(ctx, &serviceprincipals.ServicePrincipalItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &serviceprincipals.ServicePrincipalItemRequestBuilderGetQueryParameters{Select: []string{"id", "passwordCredentials"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if pcs := read.GetPasswordCredentials(); len(pcs) != 1 || *pcs[0].GetKeyId() != *got.GetKeyId() || pcs[0].GetSecretText() != nil || *pcs[0].GetDisplayName() != "backdoor" {
		t.Fatalf("passwordCredentials = %v", pcs)
	}
	rm := serviceprincipals.NewItemRemovePasswordPostRequestBody()
	rm.SetKeyId(got.GetKeyId())
	if err := sp.RemovePassword().Post(ctx, rm, nil); err != nil {
		t.Fatal(err)
	}
	if err := sp.RemovePassword().Post(ctx, rm, nil); err == nil {
		t.Error("removing the same password twice succeeded")
	}
	if sp, _ := tenant.ServicePrincipal(ids.AppID); len(sp.GetPasswordCredentials()) != 0 {
		t.Errorf("passwords left: %v", sp.GetPasswordCredentials())
	}
}

// PATCH keyCredentials replaces the collection and needs each key; the key
// is returned only on a single object's GET with $select=keyCredentials.
func TestKeyCredentialsPatchAndSelect(t *testing.T) {
	tenant, ids := fixture()
	keep := tenant.AddApplicationCertificate(ids.AppID, "CN=keep")
	drop := tenant.AddApplicationCertificate(ids.AppID, "CN=drop")
	srv := start(t, tenant, fakegraph.WithoutAuth())
	get := func(query string) []map[string]any {
		t.Helper()
		status, _, body := raw(t, srv, "GET", "/v1.0/applications/"+ids.ApplicationID+query, nil, nil)
		if status != 200 {
			t.Fatalf("GET %s: %d %s", query, status, body)
		}
		var v struct {
			KeyCredentials []map[string]any `json:"keyCredentials"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		return v.KeyCredentials
	}
	if kcs := get(""); len(kcs) != 2 || kcs[0]["key"] != nil {
		t.Fatalf("without $select: %v (want 2 certificates, no key)", kcs)
	}
	kcs := get("?$select=id,keyCredentials")
	if len(kcs) != 2 || kcs[0]["key"] == nil || kcs[0]["keyId"] != keep {
		t.Fatalf("with $select=keyCredentials: %v (want the keys)", kcs)
	}
	// Without the key of the kept certificate: refused.
	status, _, _ := raw(t, srv, "PATCH", "/v1.0/applications/"+ids.ApplicationID,
		[]byte(`{"keyCredentials":[{"keyId":"`+keep+`","type":"AsymmetricX509Cert","usage":"Verify"}]}`), map[string]string{"Content-Type": "application/json"})
	if status != 400 {
		t.Errorf("PATCH without key: %d, want 400", status)
	}
	// With it (as read through $select): the other certificate is removed.
	patch, _ := json.Marshal(map[string]any{"keyCredentials": []map[string]any{kcs[0]}})
	status, _, body := raw(t, srv, "PATCH", "/v1.0/applications/"+ids.ApplicationID, patch, map[string]string{"Content-Type": "application/json"})
	if status != 204 {
		t.Fatalf("PATCH: %d %s", status, body)
	}
	st, _ := tenant.AppState(ids.AppID)
	if !slices.Equal(st.KeyCredentialIDs, []string{keep}) || slices.Contains(st.KeyCredentialIDs, drop) {
		t.Errorf("key credentials after PATCH: %v, want only %s", st.KeyCredentialIDs, keep)
	}
	if kcs := get("?$select=keyCredentials"); len(kcs) != 1 || kcs[0]["key"] != kcs[0]["key"] || kcs[0]["key"] == nil {
		t.Errorf("after PATCH: %v", kcs)
	}
	// Delta never carries keys.
	_, _, delta := raw(t, srv, "GET", "/v1.0/applications/delta", nil, nil)
	if strings.Contains(string(delta), `"key":"`) {
		t.Error("delta carries certificate keys")
	}
	// A service principal's keyCredentials are patched the same way.
	key := base64.StdEncoding.EncodeToString([]byte("certificate bytes"))
	status, _, _ = raw(t, srv, "PATCH", "/v1.0/servicePrincipals/"+ids.ServicePrincipalID,
		[]byte(`{"keyCredentials":[{"displayName":"CN=sp","type":"AsymmetricX509Cert","usage":"Verify","key":"`+key+`"}]}`), map[string]string{"Content-Type": "application/json"})
	if sp, _ := tenant.ServicePrincipal(ids.AppID); status != 204 || len(sp.GetKeyCredentials()) != 1 || sp.GetKeyCredentials()[0].GetKey() != nil {
		t.Errorf("SP PATCH: %d, stored %v (the stored object must not hold the key)", status, sp.GetKeyCredentials())
	}
}

// Directory roles: memberOf and its documented OData cast list the roles
// the service principal holds, with their template ids.
func TestDirectoryRolesThroughSDK(t *testing.T) {
	tenant, ids := fixture()
	other := tenant.AddApp(fakegraph.AppSpec{DisplayName: "other"})
	roleID := tenant.AssignDirectoryRole(ids.AppID, fakegraph.RoleGlobalAdministrator)
	tenant.AssignDirectoryRole(other.AppID, fakegraph.RoleDirectoryReaders)
	srv := start(t, tenant)
	client, _ := sdk(t, srv)
	ctx := context.Background()
	roles, err := client.ServicePrincipals().ByServicePrincipalId(ids.ServicePrincipalID).MemberOf().GraphDirectoryRole().Get(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := roles.GetValue(); len(v) != 1 || *v[0].GetId() != roleID || *v[0].GetRoleTemplateId() != fakegraph.RoleGlobalAdministrator || *v[0].GetDisplayName() != "Global Administrator" {
		t.Fatalf("memberOf/microsoft.graph.directoryRole = %v", v)
	}
	all, err := client.ServicePrincipals().ByServicePrincipalId(ids.ServicePrincipalID).MemberOf().Get(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := all.GetValue(); len(v) != 1 {
		t.Fatalf("memberOf = %v", v)
	} else if _, ok := v[0].(models.DirectoryRoleable); !ok {
		t.Errorf("memberOf item is %T, want a directoryRole (by @odata.type)", v[0])
	}
	activated, err := client.DirectoryRoles().Get(ctx, nil)
	if err != nil || len(activated.GetValue()) != 2 {
		t.Fatalf("directoryRoles = %v, %v", activated, err)
	}
	if got := tenant.DirectoryRoles(other.AppID); !slices.Equal(got, []string{fakegraph.RoleDirectoryReaders}) {
		t.Errorf("DirectoryRoles(other) = %v", got)
	}
	status, _, _ := raw(t, srv, "GET", "/v1.0/servicePrincipals/"+uuid.NewString()+"/memberOf", nil, nil)
	if status != http.StatusNotFound {
		t.Errorf("memberOf of an unknown SP: %d", status)
	}
}
