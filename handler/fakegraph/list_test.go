package fakegraph_test

import (
	"context"
	"encoding/json"
	"fmt"
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
