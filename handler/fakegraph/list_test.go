package fakegraph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/appwarden/appwarden/handler/fakegraph"
)

// TestListCollections pages GET /applications and /servicePrincipals (the
// listing snapshot export uses) in creation order, deleted objects left out,
// and serves GET /organization, through the SDK and as plain HTTP.
func TestListCollections(t *testing.T) {
	tenant := fakegraph.NewTenant("6f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b")
	tenant.AddMicrosoftGraph()
	var want []string
	for i := 0; i < 7; i++ {
		ids := tenant.AddApp(fakegraph.AppSpec{DisplayName: fmt.Sprintf("app-%d", i)})
		want = append(want, ids.AppID)
	}
	if err := tenant.DeleteApp(want[3]); err != nil {
		t.Fatal(err)
	}
	want = append(want[:3], want[4:]...)
	srv := start(t, tenant)

	var got []string
	link := "/v1.0/applications?$top=2&$select=id,appId"
	pages := 0
	for link != "" {
		code, _, body := raw(t, srv, "GET", link, nil, nil)
		if code != 200 {
			t.Fatalf("GET %s: %d %s", link, code, body)
		}
		var page struct {
			Value []struct {
				AppID string `json:"appId"`
			} `json:"value"`
			Next string `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		pages++
		for _, v := range page.Value {
			got = append(got, v.AppID)
		}
		link = ""
		if page.Next != "" {
			link = page.Next[len(srv.URL()):]
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || pages != 3 {
		t.Errorf("listed %v in %d pages; want %v in 3", got, pages, want)
	}

	client, _ := sdk(t, srv)
	sps, err := client.ServicePrincipals().Get(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(sps.GetValue()); n != 7 { // Microsoft Graph and six apps
		t.Errorf("%d service principals; want 7", n)
	}
	org, err := client.Organization().Get(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := org.GetValue(); len(v) != 1 || *v[0].GetId() != tenant.TenantID() {
		t.Errorf("organization = %v", v)
	}
	if code, _, _ := raw(t, srv, "POST", "/v1.0/applications", []byte(`{}`), nil); code != 405 {
		t.Errorf("POST /applications: %d; want 405", code)
	}
	if st := srv.Stats(); st.Routes[fakegraph.RouteApplications] != 3 || st.Routes[fakegraph.RouteServicePrincipals] != 1 || st.Routes[fakegraph.RouteOrganization] != 1 {
		t.Errorf("routes = %v", st.Routes)
	}
}

// $expand=owners on an application or service principal carries at most
// fakegraph.ExpandLimit owners and no nextLink, as Graph's does; other relationships
// are refused.
func TestExpandOwners(t *testing.T) {
	tenant := fakegraph.NewTenant("11111111-1111-4111-8111-111111111111")
	var owners []fakegraph.Owner
	for i := 0; i < fakegraph.ExpandLimit+5; i++ {
		owners = append(owners, fakegraph.Owner{ID: fmt.Sprintf("%08d-0000-4000-8000-000000000000", i), UPN: fmt.Sprintf("u%d@contoso.example", i)})
	}
	ids := tenant.AddApp(fakegraph.AppSpec{DisplayName: "many owners", Owners: owners})
	few := tenant.AddApp(fakegraph.AppSpec{DisplayName: "two owners", Owners: owners[:2]})
	srv := fakegraph.New(tenant, fakegraph.WithoutAuth())
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/v1.0/applications(appId='" + ids.AppID + "')?$select=id&$expand=owners($select=id,displayName)", fakegraph.ExpandLimit},
		{"/v1.0/servicePrincipals(appId='" + ids.AppID + "')?$expand=owners", 0}, // AppSpec.Owners own the registration only
		{"/v1.0/applications/" + few.ApplicationID + "?$expand=owners", 2},
	} {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
		var v struct {
			ID     string           `json:"id"`
			Owners []map[string]any `json:"owners"`
			Next   string           `json:"owners@odata.nextLink"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &v); rec.Code != 200 || err != nil {
			t.Fatalf("%s: %d %s", tc.path, rec.Code, rec.Body)
		}
		if len(v.Owners) != tc.want || v.Next != "" || v.ID == "" {
			t.Errorf("%s: %d owners (next %q), want %d", tc.path, len(v.Owners), v.Next, tc.want)
		}
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("GET", "/v1.0/applications/"+few.ApplicationID+"?$expand=extensionProperties", nil))
	if rec.Code != 400 {
		t.Errorf("$expand=extensionProperties: %d, want 400", rec.Code)
	}
}
