package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/functions/hostemu"
	"github.com/appwarden/appwarden/tests/azurite"
	"github.com/appwarden/appwarden/tests/harness"
)

// TestAnswersWithin25sWhateverGraphDoes: Graph that never answers in time
// cannot hold an invocation past the 25 s every invocation must answer in
// (Event Grid waits 30 s, then redelivers). The work is cut off at the
// invocation's budget, the answer is a 500 (a timeout is transient), and the
// signal stays pending in the inbox for the timer.
func TestAnswersWithin25sWhateverGraphDoes(t *testing.T) {
	az := azurite.Start(t)
	g := startGraph(t, fixtureTenant())
	env := storageEnv(az, nil)
	p := startHandlerWith(t, g, env)
	g.SetLatency(90 * time.Second)

	ev, err := json.Marshal(harness.AuditCloudEvent(harness.Audit{AppID: payrollAppID, ObjectID: payrollObjectID, DisplayName: "Payroll Sync"}))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := p.mustInvoke(t, "OnEventGridEvent", hostemu.EventGrid(ev, time.Now()), "e2e-budget")
	took := time.Since(start)
	logs := hostLogs(t, r)
	if took > 25*time.Second {
		t.Errorf("answered after %s, more than 25 s", took)
	}
	if r.Status != http.StatusInternalServerError {
		t.Errorf("status %d, want 500 (the work timed out; Event Grid should redeliver); Logs %q", r.Status, logs)
	}
	g.SetLatency(0)
	if out := cli(t, g, env, "history", "--app", "_inbox"); !strings.Contains(out, "state=pending") {
		t.Errorf("the timed-out signal is not pending: %s", out)
	}
	t.Logf("answered in %s", took.Round(time.Millisecond))
}
