package e2e

// Real Entra audit rows (OTRF Security-Datasets, MIT; tests/testdata/real-records/),
// in the Log Analytics AuditLogs shape a SIEM or Logic App republishes,
// delivered on both entry points as the Functions host encodes them.

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/functions/hostemu"
)

// The app the OTRF rows are about: the registration SimuLandApp and the
// service principal that received the delegated grant.
const (
	simuLandAppID    = "b1f1a9d0-7f4e-4c43-9a55-2f1c4f6a7e01" // not in the rows: Graph tells it
	simuLandObjectID = "11b49e19-2326-4be6-93cb-7f37439bbd81"
	simuLandSPID     = "0d2f5969-011b-460d-ac74-3291d227d49f"
	graphAppID       = "00000003-0000-0000-c000-000000000000"
)

func simuLandTenant() *fakegraph.Tenant {
	t := fixtureTenant()
	t.AddApp(fakegraph.AppSpec{
		AppID: simuLandAppID, ApplicationID: simuLandObjectID, ServicePrincipalID: simuLandSPID,
		DisplayName: "SimuLandApp", Owners: []fakegraph.Owner{devOne},
		Requested: []fakegraph.Permission{fakegraph.GraphScope("User.Read"), fakegraph.GraphScope("Mail.Read")},
		Granted:   []fakegraph.Permission{fakegraph.GraphScope("User.Read"), fakegraph.GraphScope("Mail.Read")},
	})
	return t
}

var realRows = []string{
	"real-records/otrf-01-update-application-certs-and-secrets.la.json",
	"real-records/otrf-02-update-application.la.json",
	"real-records/otrf-03-add-delegated-permission-grant.la.json",
}

// customTopicEvent wraps a row as an Event Grid event on a custom topic.
func customTopicEvent(t *testing.T, row []byte) []byte {
	t.Helper()
	var data any
	if err := json.Unmarshal(row, &data); err != nil {
		t.Fatal(err)
	}
	ev, err := json.Marshal(map[string]any{
		"id": "e2e-la-" + strings.Repeat("0", 8), "eventType": "Contoso.Entra.AuditLogRow", "subject": "AuditLogs",
		"eventTime": time.Now().UTC().Format(time.RFC3339Nano), "dataVersion": "1", "metadataVersion": "1",
		"topic": "/subscriptions/a1b2c3d4-e5f6-4789-9abc-def012345678/resourceGroups/rg/providers/Microsoft.EventGrid/topics/entra-audit",
		"data":  data,
	})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestLogAnalyticsRowsOnBothEntryPoints(t *testing.T) {
	for _, entry := range []string{"OnAuditLogBatch", "OnEventGridEvent"} {
		for _, rel := range realRows {
			name := entry + "/" + strings.TrimSuffix(strings.TrimPrefix(rel, "real-records/"), ".la.json")
			t.Run(name, func(t *testing.T) {
				g := startGraph(t, simuLandTenant())
				p := startHandlerWith(t, g, nil)
				row := testdata(t, rel)
				body := hostemu.EventHub(time.Now(), row)
				if entry == "OnEventGridEvent" {
					body = hostemu.EventGrid(customTopicEvent(t, row), time.Now())
				}
				r := p.mustInvoke(t, entry, body, "e2e-la")
				logs := mustLogs(t, r, name)
				if logged(logs, "poison") || logged(logs, "ignored") {
					t.Fatalf("a relevant real row was not decoded: %q", logs)
				}
				if !waitDecision(p, simuLandAppID) {
					t.Fatalf("no decision on SimuLandApp (%s); Logs %q", simuLandAppID, logs)
				}
				for _, c := range g.Calls() {
					if strings.Contains(c.Path, graphAppID) && !strings.Contains(c.Path, "servicePrincipals(appId='"+graphAppID+"')") {
						continue // reading Microsoft Graph's permission names is fine
					}
					if strings.Contains(c.Path, "applications(appId='"+graphAppID) || strings.Contains(c.Path, "ags.windows.net") {
						t.Errorf("Microsoft Graph was resolved as the app: %s %s", c.Method, c.Path)
					}
				}
				if decisionsFor(p, graphAppID) > 0 {
					t.Errorf("Microsoft Graph (the grant's resource) was judged; the grantee is the app")
				}
			})
		}
	}
}

// waitDecision waits a moment for the decision log line on appID (log
// lines travel through a pipe and may trail the reply).
func waitDecision(p *Proc, appID string) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if decisionsFor(p, appID) > 0 {
			return true
		}
	}
	return false
}

func decisionsFor(p *Proc, appID string) int {
	n := 0
	for _, e := range p.Events("decision") {
		if id, _ := e["appId"].(string); strings.EqualFold(id, appID) {
			n++
		}
	}
	return n
}

// TestSPNURIRecordNeverLoops: a grant record that names only the resource
// by its SPN URIs (no grantee object id) yields no appId from them; it is
// answered 200 at once, never redelivered for a 400 from Graph.
func TestSPNURIRecordNeverLoops(t *testing.T) {
	var row map[string]any
	if err := json.Unmarshal(testdata(t, "real-records/otrf-03-add-delegated-permission-grant.la.json"), &row); err != nil {
		t.Fatal(err)
	}
	var targets []map[string]any
	if err := json.Unmarshal([]byte(row["TargetResources"].(string)), &targets); err != nil {
		t.Fatal(err)
	}
	targets = targets[:1] // the resource only: Microsoft Graph, named by its SPN URIs
	var props []any
	for _, mp := range targets[0]["modifiedProperties"].([]any) {
		if n := mp.(map[string]any)["displayName"]; n != "ServicePrincipal.ObjectID" {
			props = append(props, mp)
		}
	}
	targets[0]["modifiedProperties"] = props
	raw, _ := json.Marshal(targets)
	row["TargetResources"] = string(raw)
	msg, _ := json.Marshal(row)

	g := startGraph(t, simuLandTenant())
	p := startHandlerWith(t, g, nil)
	start := time.Now()
	r := p.mustInvoke(t, "OnAuditLogBatch", hostemu.EventHub(time.Now(), msg), "e2e-spn")
	logs := mustLogs(t, r, "SPN-URI-only grant record")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("answered after %s", took)
	}
	for _, c := range g.Calls() {
		if strings.Contains(c.Path, "ags.windows.net") || strings.Contains(c.Path, "applications(appId='"+graphAppID) {
			t.Errorf("an SPN URI or the resource was used as the app: %s %s", c.Method, c.Path)
		}
	}
	if decisionsFor(p, graphAppID) > 0 {
		t.Errorf("Microsoft Graph was judged: %q", logs)
	}
}
