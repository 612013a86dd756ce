package fakegraph_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/appwarden/appwarden/handler/fakegraph"
)

// FuzzServeHTTP sends arbitrary requests to the stand-in used as a plain
// handler: it must never panic or answer 5xx (no faults are set), and every
// error must be a Graph error body.
func FuzzServeHTTP(f *testing.F) {
	tenant, ids := fixture()
	srv := fakegraph.New(tenant, fakegraph.WithoutAuth(), fakegraph.WithPageSize(1))
	f.Cleanup(func() { _ = srv.Close() })
	f.Add("GET", "/v1.0/applications(appId='"+ids.AppID+"')/owners", "")
	f.Add("PATCH", "/v1.0/applications/"+ids.ApplicationID, `{"isDisabled":true,"tags":null}`)
	f.Add("POST", "/v1.0/$batch", `{"requests":[{"id":"1","method":"GET","url":"/servicePrincipals/delta"},{"id":"2","dependsOn":["1"],"method":"POST","url":"/applications/`+ids.ApplicationID+`/removePassword","body":{"keyId":"x"}}]}`)
	f.Add("GET", "/v1.0/oauth2PermissionGrants?$filter=clientId eq 'x' and resourceId eq 'y'", "")
	f.Add("POST", "/v1.0/servicePrincipals/"+ids.ServicePrincipalID+"/appRoleAssignments", `{"principalId":"`+ids.ServicePrincipalID+`"}`)
	f.Add("GET", "/v1.0/applications/delta?$skiptoken=YS4xLjIuaS4z", "")
	f.Fuzz(func(t *testing.T, method, target, body string) {
		if !strings.HasPrefix(target, "/") {
			return
		}
		req, err := http.NewRequest(method, "http://fake"+target, strings.NewReader(body))
		if err != nil {
			return
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s: %d %s", method, target, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var e struct {
				Error struct {
					Code string `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" {
				t.Fatalf("%s %s: %d with a non-Graph error %q", method, target, rec.Code, rec.Body)
			}
		} else if rec.Body.Len() > 0 && !json.Valid(bytes.TrimSpace(rec.Body.Bytes())) {
			t.Fatalf("%s %s: invalid JSON %q", method, target, rec.Body)
		}
	})
}
