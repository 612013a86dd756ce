package faults

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/tests/azurite"
	"github.com/appwarden/appwarden/tests/harness"
)

// Every event delivered three times at once to one instance: each app is
// contained by one write, and each copy ends in a recorded decision.
func TestDuplicates(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 8)
	p := w.start(nil)
	// The sweep finds the same apps again: a fourth path to the same action.
	tp := w.timer(p)
	audits := w.audits()
	deliverAll(t, p, batches(audits), 3)
	w.awaitTicks(tp, 2)
	w.waitContained(w.apps, 10*time.Second)
	w.assertDecisionsLogged(audits)
	tp.Stop()
	w.assertContainedOnce(w.apps)
}

// Two instances sharing one state store (Azurite): every event goes to both
// at once, twice, while the timer ticks on one instance or the other (the
// host runs a timer trigger as a singleton across instances: one tick at a
// time, on whichever instance holds the lock), each tick sweeping the same
// apps the events announce.
func TestTwoInstancesShareAzurite(t *testing.T) {
	t.Parallel()
	az := azurite.Start(t)
	w := newWorld(t, 8)
	state := map[string]string{"AzureWebJobsStorage": az.ConnectionString()}
	a, b := w.start(state), w.start(state)
	tp := w.timer(harness.RoundRobin(a, b))
	audits := w.audits()
	var wg sync.WaitGroup
	for _, p := range []*harness.Proc{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); deliverAll(t, p, batches(audits), 2) }()
	}
	wg.Wait()
	w.awaitTicks(tp, 2)
	w.waitContained(w.apps, 10*time.Second)
	w.assertDecisionsLogged(audits)
	tp.Stop()
	w.assertContainedOnce(w.apps)
	assertDecisionsStored(t, az.ConnectionString(), audits)
}

// One Graph request in ten answers 503 (Retry-After: 0), reads and writes
// alike, inside $batch requests and outside.
func TestGraph5xx(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 12)
	w.g.SetFailureRate(0.1, http.StatusServiceUnavailable, 42, fakegraph.WithRetryAfter(0))
	p := w.start(nil)
	tp := w.timer(p)
	audits := w.audits()
	deliverAll(t, p, batches(audits), 1)
	w.awaitTicks(tp, 2)
	w.waitContained(w.apps, 10*time.Second)
	w.assertDecisionsLogged(audits)
	tp.Stop()
	st := w.g.Stats()
	if st.Faults == 0 {
		t.Errorf("no 503 was injected (%d requests): the case tested nothing", st.Requests+st.InnerRequests)
	}
	t.Logf("%d of %d Graph requests answered 503", st.Faults, st.Requests+st.InnerRequests)
	w.assertContainedOnce(w.apps)
}

// A 429 storm: the next 150 requests are all throttled, and behind it Graph
// allows 25 requests a second (Retry-After: until the next token).
func TestThrottleStorm(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 10)
	w.g.ThrottleNext(150, 0)
	w.g.SetRateLimit(25, 10, -1)
	p := w.start(nil)
	tp := w.timer(p)
	audits := w.audits()
	attempts := deliverAll(t, p, batches(audits), 1)
	w.waitContained(w.apps, 10*time.Second)
	w.assertDecisionsLogged(audits)
	tp.Stop()
	calls := w.g.Calls()
	throttled := 0
	for _, c := range calls {
		if c.Status == http.StatusTooManyRequests {
			throttled++
		}
	}
	if throttled < 150 {
		t.Errorf("only %d requests were throttled: the storm did not happen", throttled)
	}
	t.Logf("%d requests answered 429; %d invocations for %d events", throttled, attempts, len(audits))
	w.assertContainedOnce(w.apps)
}

// For 10 s after their creation Graph answers 404 for the new apps (both
// the application and its service principal, in and out of $batch), as it
// does while a new object replicates. The handler waits within its lag
// budget; past it the invocation fails and the host retries it under the
// policy; the lag outlasts the compressed retries, so the last retry leaves
// the signals pending and a timer tick finishes them. Each app must be
// contained after the lag, once.
func TestReplicationLag(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 3)
	const lag = 10 * time.Second
	for _, ids := range w.apps {
		w.g.NotFoundReads(ids.AppID, 1_000_000) // every read, until cleared
	}
	start := time.Now()
	time.AfterFunc(lag, func() {
		for _, ids := range w.apps {
			w.g.NotFoundReads(ids.AppID, 0)
		}
	})
	p := w.start(nil)
	tp := w.timer(p)
	audits := w.audits()
	attempts := deliverAll(t, p, batches(audits), 1)
	w.waitContained(w.apps, 10*time.Second)
	w.assertDecisionsLogged(audits)
	tp.Stop()
	for _, ids := range w.apps {
		if at, _ := w.g.DisabledAt(ids.ServicePrincipalID); at.Sub(start) < lag {
			t.Errorf("%s contained %s after creation, while Graph still answered 404", ids.AppID, at.Sub(start))
		}
	}
	t.Logf("%d invocations for %d events", attempts, len(audits))
	w.assertContainedOnce(w.apps)
}

// Teams is down (its webhooks answer 500) while apps are contained, then
// comes back. Containment does not wait for Teams; the notifications wait in
// the outbox and the timer, ticking throughout, delivers each exactly once
// per decision and channel (owners, and security for critical findings),
// however often it runs afterwards.
func TestTeamsDownThenUp(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 3)
	hook := harness.MustStartWebhook(t)
	hook.SetStatus(http.StatusInternalServerError)
	p := w.start(map[string]string{
		"APPWARDEN_TEAMS_WEBHOOK_URL":    hook.URL + "/owners",
		"APPWARDEN_SECURITY_WEBHOOK_URL": hook.URL + "/security",
	})
	tp := w.timer(p)
	audits := w.audits()
	for _, b := range batches(audits) {
		if res := deliver(t, p, b); res.Tries != 1 {
			t.Errorf("an event needed %d invocations: Teams being down must not fail containment", res.Tries)
		}
	}
	w.waitContained(w.apps, 5*time.Second)
	w.awaitTicks(tp, 2) // ticks flush the outbox into the failing webhook
	if len(hook.Posts()) == 0 {
		t.Fatal("no post reached the webhook while it was down")
	}
	for _, ids := range w.apps {
		if got := hook.Delivered(ids.AppID); len(got) > 0 {
			t.Fatalf("delivered while down: %v", got)
		}
	}

	hook.SetStatus(http.StatusOK)
	// The timer goes on until every notification is delivered, then ticks
	// a few more times.
	want := map[string]int{"owners": 1, "security": 1}
	for deadline := time.Now().Add(75 * time.Second); time.Now().Before(deadline); {
		w.awaitTicks(tp, 1)
		all := true
		for _, ids := range w.apps {
			if got := hook.Delivered(ids.AppID); got["owners"] < 1 || got["security"] < 1 {
				all = false
			}
		}
		if all {
			break
		}
	}
	w.awaitTicks(tp, 3)
	w.assertDecisionsLogged(audits)
	tp.Stop()
	for _, ids := range w.apps {
		got := hook.Delivered(ids.AppID)
		for ch, n := range want {
			if got[ch] != n {
				t.Errorf("%s: %d messages delivered to the %s channel, want exactly %d", ids.AppID, got[ch], ch, n)
			}
		}
	}
	w.assertContainedOnce(w.apps)
}

// The state store (Azurite) stops: invocations fail (500) and the host
// retries them under the policy; once the store is back, they complete, and
// nothing is doubled.
//
// The store comes back within the retry window (here about 7 s of
// compressed waits; 2¼ minutes in production: 5+10+20+40+60 s). A store
// down for longer than that is beyond what any handler can cover: while it
// is down the inbox cannot save the signal, so after the last retry the
// batch is gone (Event Hubs checkpoints it anyway). The sweep, whose cursor
// is in the same store, judges the apps again once the store is back, but
// their events would have no decision of their own.
func TestAzuriteDownThenUp(t *testing.T) {
	t.Parallel()
	az := azurite.Start(t)
	w := newWorld(t, 6)
	p := w.start(map[string]string{"AzureWebJobsStorage": az.ConnectionString()})
	tp := w.timer(p)
	audits := w.audits()
	deliverAll(t, p, batches(audits[:2]), 1)
	w.waitContained(w.apps[:2], 5*time.Second)
	// Azurite keeps its data in memory and saves it every 5 s; a kill loses
	// what it had not saved, which real storage never does. Let it save.
	time.Sleep(6 * time.Second)

	az.Stop()
	var failed atomic.Int64
	hr := retries
	hr.OnFailure = func(int, harness.Reply, error) { failed.Add(1) }
	var wg sync.WaitGroup
	for _, b := range batches(audits[2:]) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if _, err := harness.DeliverEventHub(ctx, p, b, hr); err != nil {
				t.Errorf("the store came back within the retry window, yet: %v", err)
			}
		}()
	}
	// Deliveries fail while the store is down.
	for deadline := time.Now().Add(30 * time.Second); failed.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no invocation failed while the state store was down")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	az.Restart()
	wg.Wait()
	t.Logf("%d invocations failed while the store was down", failed.Load())
	w.waitContained(w.apps, 10*time.Second)
	w.assertDecisionsLogged(audits)
	tp.Stop()
	w.assertContainedOnce(w.apps)
	assertDecisionsStored(t, az.ConnectionString(), audits)
}

// The handler is killed (SIGKILL) while its disabling write is in flight,
// and restarted; the invocation died, so the host runs the policy's retries
// of the batch on the new process, while the timer ticks there (and its
// re-drive takes the signal the first try left pending in the inbox).
//
// What "never act twice" can honestly promise here: a write and the record
// that it was done cannot be one atomic step, so a crash between them leaves
// the write's fate unknown to AppWarden. It resolves that by reading Graph
// again (Graph is the truth): if the write landed, the restarted handler
// sees the service principal disabled, records the step as done and writes
// nothing; if it did not, it writes once. Two writes are possible only if a
// write still in flight lands after the restarted handler has read Graph
// and written itself; the claim's lease (2 minutes, well past the Graph
// client's timeout) and the process check make that practically impossible,
// and it would repeat the same idempotent {"accountEnabled":false}. The
// stand-in never applies a write whose client has died, so here the count
// must be exactly one, in both cases:
//
//   - lost: the kill lands before the write reaches Graph (it is held in
//     front of the stand-in, and dropped when the connection dies);
//   - landed: the write is applied, and the kill lands before the answer.
func TestKilledMidAction(t *testing.T) {
	t.Parallel()
	for _, landed := range []bool{false, true} {
		name := map[bool]string{false: "write-lost", true: "write-landed"}[landed]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			az := azurite.Start(t)
			w := newWorld(t, 1)
			ids := w.apps[0]
			p := w.start(map[string]string{"AzureWebJobsStorage": az.ConnectionString()})
			if landed {
				w.g.SetAnswerDelay(time.Minute)
			} else {
				w.g.SetWriteDelay(time.Minute)
			}
			batch := batches(w.audits())[0]
			first := make(chan harness.Reply, 1)
			go func() {
				r, err := p.Invoke(context.Background(), harness.FnEventHub, batch.Try(0, retries.Policy.MaxRetryCount))
				if err == nil {
					first <- r
				}
				close(first)
			}()
			// Wait until the write is in flight.
			for deadline := time.Now().Add(20 * time.Second); w.g.WritesSeen() == 0; {
				if time.Now().After(deadline) {
					t.Fatal("the disabling write never left the handler")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if landed {
				w.waitContained(w.apps, 5*time.Second)
			}
			p.Kill()
			if r, ok := <-first; ok {
				t.Fatalf("the killed invocation answered %d", r.Status)
			}
			reachedBeforeKill := harness.DisablingWrites(w.g.Server)[strings.ToLower(ids.ServicePrincipalID)]
			if (reachedBeforeKill == 1) != landed {
				t.Fatalf("%d writes applied before the kill; the case is %s", reachedBeforeKill, name)
			}
			w.g.SetWriteDelay(0)
			w.g.SetAnswerDelay(0)

			q, err := p.Restart(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			w.track(q)
			tp := w.timer(q)
			hr := retries
			hr.From = 1 // the first try was the one killed
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if _, err := harness.DeliverEventHub(ctx, q, batch, hr); err != nil {
				t.Errorf("retries after the restart: %v", err)
			}
			w.waitContained(w.apps, 10*time.Second)
			w.assertDecisionsLogged(w.audits())
			tp.Stop()
			w.assertContainedOnce(w.apps)
			assertDecisionsStored(t, az.ConnectionString(), w.audits())
		})
	}
}

// A malformed record inside an Event Hub batch of good ones, a malformed
// Event Grid event, and a body that is not a host envelope: each is answered
// 200 (redelivering it could never help) and recorded as poison, and the
// good records of the batch are contained.
func TestMalformedAmongGood(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 4)
	p := w.start(nil)
	tp := w.timer(p)
	audits := w.audits()
	var recs []map[string]any
	for i, a := range audits {
		recs = append(recs, harness.AuditRecord(a))
		if i == 1 {
			recs = append(recs, harness.MalformedAuditRecord())
		}
	}
	ctx := context.Background()
	inputs := []struct {
		fn    string
		body  []byte
		place string // where the poison line must say the problem is
	}{
		{harness.FnEventHub, harness.EventHubBatch(recs...), "Data.records[0].records[2].properties.activityDisplayName: expected string, got number"},
		{harness.FnEventGrid, harness.MalformedEventGrid("not-an-event"), "Data.event.data.operationName: expected string, got number"},
		// Deliberately not host-encoded: a body the host would never send.
		{harness.FnEventGrid, []byte(`{"Data": 42}`), "request body"},
	}
	for _, in := range inputs {
		r, err := p.Invoke(ctx, in.fn, in.body)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != http.StatusOK {
			t.Errorf("POST /%s answered %d, want 200 (poison is recorded, not redelivered): %q", in.fn, r.Status, r.Logs)
		}
		// The reply's Logs (what the host sends to Application Insights)
		// say the poison was recorded, with the place of the problem.
		poison := 0
		for _, l := range r.Logs {
			if strings.HasPrefix(l, "ERROR malformed input recorded as poison: ") && strings.Contains(l, in.place) {
				poison++
			}
		}
		if poison != 1 {
			t.Errorf("POST /%s: %d poison lines naming %q in the reply's Logs, want 1: %q", in.fn, poison, in.place, r.Logs)
		}
	}
	w.waitContained(w.apps, 5*time.Second)
	w.assertDecisionsLogged(audits)
	tp.Stop()
	w.assertContainedOnce(w.apps)
	if t.Failed() {
		t.Logf("handler log:\n%s", p.Stdout())
	}
}

// Graph answers 503 to everything for longer than an Event Hub batch's
// whole retry window. Every try fails; the policy's last retry is answered
// 200 with the signals pending in the inbox, since nothing will deliver the
// batch again (Event Hubs checkpoints it); once Graph is back, the timer's
// re-drive decides them, each app contained once.
func TestGraphDownLongerThanTheRetries(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 3)
	w.g.SetFailureRate(1, http.StatusServiceUnavailable, 7, fakegraph.WithRetryAfter(0))
	p := w.start(nil)
	tp := w.timer(p)
	audits := w.audits()
	var wg sync.WaitGroup
	for _, b := range batches(audits) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := deliver(t, p, b)
			if !res.LastRetry || !res.Last.OK() || !strings.Contains(strings.Join(res.Last.Logs, "\n"), "stay pending in the inbox") {
				t.Errorf("after %d tries: last retry %v, HTTP %d, Logs %q; want the last retry answered 200, its signals pending", res.Tries, res.LastRetry, res.Last.Status, res.Last.Logs)
			}
		}()
	}
	wg.Wait()
	if ws := harness.DisablingWrites(w.g.Server); len(ws) > 0 {
		t.Fatalf("disabling writes while Graph answered 503 to everything: %v", ws)
	}
	w.g.ClearFaults()
	w.waitContained(w.apps, 15*time.Second)
	w.assertDecisionsLogged(audits)
	tp.Stop()
	w.assertContainedOnce(w.apps)
	redriven := map[string]bool{}
	for _, e := range p.Events("inbox") {
		if e["msg"] == "pending signal decided" {
			k, _ := e["dedupeKey"].(string)
			redriven[k] = true
		}
	}
	for _, a := range audits {
		if !redriven["audit:"+a.ID] {
			t.Errorf("event %s was not decided by the timer's re-drive; its log lines:\n%s", a.ID, w.linesAbout(a.ID))
		}
	}
}
