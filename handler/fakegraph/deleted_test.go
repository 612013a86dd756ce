package fakegraph_test

import (
	"encoding/json"
	"net/url"
	"strconv"
	"testing"

	"github.com/appwarden/appwarden/handler/fakegraph"
)

// A deleted app moves to deleted items, where Graph serves it by object id
// (as a directoryObject: the object as it was, typed by @odata.type, with
// deletedDateTime) and in the typed lists filtered by appId; a purged one
// is gone from there too.
func TestDeletedItems(t *testing.T) {
	tenant, ids := fixture()
	srv := start(t, tenant)
	get := func(path string) (int, map[string]any) {
		t.Helper()
		code, _, body := raw(t, srv, "GET", path, nil, nil)
		var v map[string]any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, body)
		}
		return code, v
	}
	byID := "/v1.0/directory/deletedItems/" + ids.ApplicationID
	list := func(cast string) string {
		return "/v1.0/directory/deletedItems/microsoft.graph." + cast + "?$filter=" + url.QueryEscape("appId eq '"+ids.AppID+"'")
	}
	if code, _ := get(byID); code != 404 {
		t.Errorf("a live app is in deleted items: %d", code)
	}
	if err := tenant.DeleteApp(ids.AppID); err != nil {
		t.Fatal(err)
	}
	code, app := get(byID)
	if code != 200 || app["@odata.type"] != "#microsoft.graph.application" || app["appId"] != ids.AppID || app["id"] != ids.ApplicationID || app["displayName"] != "Payroll sync" {
		t.Errorf("deleted application: %d %v", code, app)
	}
	if d, _ := app["deletedDateTime"].(string); d == "" {
		t.Errorf("deleted application without deletedDateTime: %v", app)
	}
	code, sp := get("/v1.0/directory/deletedItems/" + ids.ServicePrincipalID)
	if code != 200 || sp["@odata.type"] != "#microsoft.graph.servicePrincipal" || sp["appId"] != ids.AppID {
		t.Errorf("deleted service principal: %d %v", code, sp)
	}
	for _, cast := range []string{"application", "servicePrincipal"} {
		code, page := get(list(cast))
		items, _ := page["value"].([]any)
		if code != 200 || len(items) != 1 || items[0].(map[string]any)["appId"] != ids.AppID {
			t.Errorf("deleted %s by appId: %d %v", cast, code, page)
		}
		code, page = get("/v1.0/directory/deletedItems/microsoft.graph." + cast + "?$filter=" + url.QueryEscape("appId eq '00000000-0000-4000-8000-000000000000'"))
		if items, _ := page["value"].([]any); code != 200 || len(items) != 0 {
			t.Errorf("deleted %s by another appId: %d %v", cast, code, page)
		}
	}
	// Inside a $batch, as AppWarden asks.
	batch := `{"requests":[{"id":"1","method":"GET","url":"/directory/deletedItems/` + ids.ApplicationID + `"}]}`
	if code, _, body := raw(t, srv, "POST", "/v1.0/$batch", []byte(batch), nil); code != 200 || !json.Valid(body) {
		t.Errorf("$batch: %d %s", code, body)
	}

	if err := tenant.Purge(ids.AppID); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(byID); code != 404 {
		t.Errorf("a purged app is still in deleted items: %d", code)
	}
	if code, page := get(list("application")); code != 200 || len(page["value"].([]any)) != 0 {
		t.Errorf("a purged app is still listed: %d %v", code, page)
	}
	if err := tenant.Purge(ids.AppID); err == nil {
		t.Error("purging twice succeeded")
	}
	noRejected(t, srv)

	// Graph lists deleted items only through a type cast.
	if code, _ := get("/v1.0/directory/deletedItems"); code != 400 {
		t.Errorf("untyped deleted items: %d", code)
	}
	if code, _ := get("/v1.0/directory/deletedItems/microsoft.graph.group"); code != 400 {
		t.Errorf("deleted groups: %d", code)
	}
}

// A key that is not a GUID, such as a service principal name taken for an
// appId, is refused by Graph with 400 "Invalid object identifier": a Graph
// answer, not a call the stand-in does not serve.
func TestInvalidObjectIdentifier(t *testing.T) {
	tenant, _ := fixture()
	srv := start(t, tenant)
	spn := url.PathEscape("00000003-0000-0000-c000-000000000000/ags.windows.net")
	for _, path := range []string{
		"/v1.0/applications(appId='" + spn + "')",
		"/v1.0/servicePrincipals(appId='" + spn + "')/owners",
		"/v1.0/servicePrincipals/not-a-guid",
		"/v1.0/directory/deletedItems/not-a-guid",
	} {
		code, _, body := raw(t, srv, "GET", path, nil, nil)
		var e struct {
			Error struct{ Code, Message string }
		}
		_ = json.Unmarshal(body, &e)
		if code != 400 || e.Error.Code != "Request_BadRequest" {
			t.Errorf("GET %s: %d %s", path, code, body)
		}
	}
	noRejected(t, srv)
	// The same inside a $batch; the key stays whole.
	batch := `{"requests":[{"id":"1","method":"GET","url":"/applications(appId='` + spn + `')"}]}`
	code, _, body := raw(t, srv, "POST", "/v1.0/$batch", []byte(batch), nil)
	var answer struct {
		Responses []struct {
			Status int `json:"status"`
			Body   struct {
				Error struct{ Code, Message string }
			} `json:"body"`
		} `json:"responses"`
	}
	if err := json.Unmarshal(body, &answer); err != nil || code != 200 || len(answer.Responses) != 1 {
		t.Fatalf("$batch: %d %s", code, body)
	}
	if r := answer.Responses[0]; r.Status != 400 || r.Body.Error.Message != "Invalid object identifier '00000003-0000-0000-c000-000000000000/ags.windows.net'." {
		t.Errorf("$batch item: %+v", r)
	}
	noRejected(t, srv)
}

// FailNext answers 400 and 403 with Graph's codes for them.
func TestFaultRefusals(t *testing.T) {
	tenant, ids := fixture()
	srv := start(t, tenant)
	srv.FailNext(1, 403, fakegraph.OnRoute(fakegraph.RouteServicePrincipal))
	srv.FailNext(1, 400, fakegraph.OnRoute(fakegraph.RouteApplication))
	for path, want := range map[string]string{
		"/v1.0/servicePrincipals/" + ids.ServicePrincipalID: "403 Authorization_RequestDenied",
		"/v1.0/applications/" + ids.ApplicationID:           "400 Request_BadRequest",
	} {
		code, _, body := raw(t, srv, "GET", path, nil, nil)
		var e struct {
			Error struct{ Code string }
		}
		_ = json.Unmarshal(body, &e)
		if got := strconv.Itoa(code) + " " + e.Error.Code; got != want {
			t.Errorf("GET %s: %s, want %s", path, got, want)
		}
	}
}

func noRejected(t *testing.T, srv *fakegraph.Server) {
	t.Helper()
	for _, c := range srv.Rejected() {
		t.Errorf("rejected: %s %s -> %d", c.Method, c.Path, c.Status)
	}
}
