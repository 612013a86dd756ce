package e2e

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/functions/hostemu"
	"github.com/appwarden/appwarden/tests/harness"
)

// TestDeletedAppIsGoneInOneInvocation: an app deleted before AppWarden
// looked it up answers 404; a bounded re-read and /directory/deletedItems
// end it in a recorded "gone" decision and a 200, within one invocation and
// well inside the 25 s every invocation must answer in. (It used to be
// retried for 12 s per attempt and redelivered until a try ran past 30 s.)
func TestDeletedAppIsGoneInOneInvocation(t *testing.T) {
	tenant := fixtureTenant()
	ids := tenant.AddApp(fakegraph.AppSpec{DisplayName: "short-lived", Owners: []fakegraph.Owner{devOne}})
	if err := tenant.DeleteApp(ids.AppID); err != nil {
		t.Fatal(err)
	}
	g := startGraph(t, tenant)
	p := startHandlerWith(t, g, nil)

	rec := harness.AuditRecord(harness.Audit{AppID: ids.AppID, ObjectID: ids.ApplicationID, DisplayName: "short-lived", Time: time.Now()})
	msg, err := json.Marshal(map[string]any{"records": []any{rec}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := p.mustInvoke(t, "OnAuditLogBatch", hostemu.EventHub(time.Now(), msg), "e2e-deleted")
	took := time.Since(start)
	logs := hostLogs(t, r)
	if r.Status != http.StatusOK {
		t.Fatalf("status %d, want 200 (a deleted app is a decision, not a failure); Logs %q", r.Status, logs)
	}
	if took > 25*time.Second {
		t.Errorf("answered after %s, more than 25 s", took)
	}
	var gone bool
	for deadline := time.Now().Add(5 * time.Second); !gone && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, e := range p.Events("decision") {
			if e["appId"] == ids.AppID && e["deleted"] == true {
				gone = true
			}
		}
	}
	if !gone {
		t.Errorf("no decision recorded the app as gone; Logs %q", logs)
	}
	if ws := g.Writes(); len(ws) != 0 {
		t.Errorf("writes for a deleted app: %v", writePaths(ws))
	}
	t.Logf("decided gone in %s", took.Round(time.Millisecond))
}
