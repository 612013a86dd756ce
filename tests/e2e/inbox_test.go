package e2e

// Nothing lost where nothing redelivers: Event Hubs checkpoints a batch
// whether the invocation succeeds or fails, and after the retry policy's
// last try the batch is gone (FACTS.md §2). The handler keeps every signal
// in its inbox (Table Storage, here Azurite) until it is decided, and the
// timer finishes what the invocations could not.

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/functions/hostemu"
	"github.com/appwarden/appwarden/tests/azurite"
)

func TestEventHubWithNoRedeliveryIsFinishedByTheTimer(t *testing.T) {
	az := azurite.Start(t)
	g := startGraph(t, fixtureTenant())
	env := storageEnv(az, map[string]string{"APPWARDEN_MODE": "enforce"})
	p := startHandlerWith(t, g, env)

	// One message announcing Payroll Sync (risky: it holds
	// RoleManagement.ReadWrite.Directory), while Graph answers 503 to
	// everything, through the first try and every retry of the policy.
	now := time.Now().UTC()
	msg := testdata(t, "eventhub/directoryaudit-add-application.json")
	g.SetFailureRate(1, http.StatusServiceUnavailable, 1, fakegraph.WithRetryAfter(0))
	const maxRetries = 3
	for try := 0; try <= maxRetries; try++ {
		body := hostemu.EventHub(now, msg)
		if try > 0 {
			body = hostemu.EventHubRetry(now, try, maxRetries, msg)
		}
		start := time.Now()
		r := p.mustInvoke(t, "OnAuditLogBatch", body, "e2e-nored-"+string(rune('0'+try)))
		logs := hostLogs(t, r)
		if took := time.Since(start); took > 25*time.Second {
			t.Errorf("try %d answered after %s, more than 25 s", try, took)
		}
		want := http.StatusInternalServerError
		if try == maxRetries {
			want = http.StatusOK // nothing redelivers after this; the inbox holds the signal
		}
		if r.Status != want {
			t.Fatalf("try %d: status %d, want %d; Logs %q", try, r.Status, want, logs)
		}
		if try == maxRetries && !logged(logs, "stay pending in the inbox; the timer will finish them") {
			t.Errorf("the last retry does not say the timer will finish the signal: %q", logs)
		}
	}
	if ws := g.Writes(); len(ws) != 0 {
		t.Fatalf("writes while Graph fails: %v", writePaths(ws))
	}
	if out := cli(t, g, env, "history", "--app", "_inbox"); !strings.Contains(out, "state=pending") || !strings.Contains(out, payrollAppID) {
		t.Fatalf("history --app _inbox does not show the pending signal:\n%s", out)
	}

	// Graph recovers, except the delta feed, so that only the inbox can
	// find the app: the next tick must decide and contain it.
	g.ClearFaults()
	g.FailNext(1000, http.StatusServiceUnavailable, fakegraph.OnRoute(fakegraph.RouteApplicationDelta), fakegraph.WithRetryAfter(0))
	g.FailNext(1000, http.StatusServiceUnavailable, fakegraph.OnRoute(fakegraph.RouteServicePrincipalDelta), fakegraph.WithRetryAfter(0))
	r := p.mustInvoke(t, "SweepTimer", hostemu.Tick(now.Add(30*time.Second), time.Now()), "e2e-nored-tick-1")
	logs := hostLogs(t, r)
	if !logged(logs, "pending signal decided", "dedupeKey=audit:") {
		t.Fatalf("the tick did not decide the pending signal: status %d, Logs %q", r.Status, logs)
	}
	contained := g.Writes()
	if len(contained) != 1 || !strings.HasPrefix(writePath(contained[0]), "PATCH /servicePrincipals/"+payrollSPID) {
		t.Fatalf("writes after the tick: %v, want one PATCH disabling %s", writePaths(contained), payrollSPID)
	}

	// Later ticks, with Graph whole again, act no more.
	g.ClearFaults()
	for i := 2; i <= 3; i++ {
		p.mustInvoke(t, "SweepTimer", hostemu.Tick(now.Add(time.Duration(i)*30*time.Second), time.Now()), "e2e-nored-tick")
	}
	if ws := g.Writes(); len(ws) != 1 {
		t.Errorf("writes after more ticks: %v, want the one containment only", writePaths(ws))
	}
	if out := cli(t, g, env, "history", "--app", "_inbox"); !strings.Contains(out, "no records for _inbox") {
		t.Errorf("the inbox still holds signals after they were decided:\n%s", out)
	}
}
