// Package faults is AppWarden's fault-injection suite: the real handler
// binary, driven as the Functions host drives it (tests/harness), against
// the Graph stand-in with faults injected, Azurite for shared state, and a
// local webhook for Teams. Every case asserts the same two things:
//
//   - nothing is lost: every risky app ends contained (its service principal
//     disabled in the stand-in), and every event ends in a recorded
//     decision. The test plays the host as it is (FACTS.md §2): an Event Hub
//     batch gets a first try and the retries of OnAuditLogBatch's retry
//     policy (function.json, intervals compressed), and nothing more, since
//     Event Hubs checkpoints the batch whatever the answer; the timer ticks
//     on its schedule (compressed) throughout, and its ticks must finish
//     what the handler left pending in its inbox after the last retry;
//   - nothing is done twice: the stand-in applied exactly one disabling
//     write per service principal, and Teams got one message per decision
//     and channel.
package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/appwarden/appwarden/handler/appwarden"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/store"
	"github.com/appwarden/appwarden/tests/harness"
)

func TestMain(m *testing.M) {
	if _, err := harness.HandlerBin(); err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(1)
	}
	code := m.Run()
	harness.Cleanup()
	os.Exit(code)
}

// selfAppID is AppWarden's own app (AZURE_CLIENT_ID), never acted on.
const selfAppID = "a9a9a9a9-0000-4000-8000-00000000a11d"

// world is one case's tenant, Graph stand-in and handler processes.
type world struct {
	t      *testing.T
	tenant *fakegraph.Tenant
	g      *harness.Graph
	apps   []fakegraph.IDs

	mu    sync.Mutex
	procs []*harness.Proc // every process started, for their logs
}

// newWorld makes a tenant with n risky apps (each contained by the built-in
// policy in enforce mode) behind the Graph stand-in.
func newWorld(t *testing.T, n int) *world {
	t.Helper()
	w := &world{t: t, tenant: harness.NewTenant()}
	for i := 0; i < n; i++ {
		w.apps = append(w.apps, harness.AddRiskyApp(w.tenant, fmt.Sprintf("%s-%02d", t.Name(), i)))
	}
	w.g = harness.MustStartGraph(t, w.tenant)
	return w
}

// env is the handler's app settings: enforce mode against this world's
// stand-in; extra adds or overrides (e.g. AzureWebJobsStorage).
func (w *world) env(extra map[string]string) map[string]string {
	env := w.g.HandlerEnv()
	env["APPWARDEN_MODE"] = "enforce"
	env["AZURE_CLIENT_ID"] = selfAppID
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// start starts a handler process; it is stopped when the test ends.
func (w *world) start(extra map[string]string) *harness.Proc {
	w.t.Helper()
	p := harness.MustStart(w.t, harness.Options{Env: w.env(extra)})
	w.track(p)
	return p
}

func (w *world) track(p *harness.Proc) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.procs = append(w.procs, p)
	w.t.Cleanup(func() { p.Stop() })
}

// audits are one "Add application" record per app, with fixed ids: each is
// one event, and sending it again is a duplicate or a redelivery.
func (w *world) audits() []harness.Audit {
	out := make([]harness.Audit, len(w.apps))
	for i, ids := range w.apps {
		a := harness.AuditFor(ids)
		a.ID = fmt.Sprintf("Directory_%s_%02d", strings.ReplaceAll(w.t.Name(), "/", "_"), i)
		out[i] = a
	}
	return out
}

// retries is OnAuditLogBatch's retry policy as function.json declares it,
// its intervals compressed by 20 (5 s..1 min become 250 ms..3 s), so that
// a failing batch gets the real number of tries within about 7 s of waits.
var retries harness.HubRetries

// tickEvery is the timer's schedule, compressed (30 s in production).
const tickEvery = 300 * time.Millisecond

func init() {
	p, err := harness.FunctionRetryPolicy(harness.FnEventHub)
	if err != nil {
		panic(err)
	}
	retries = harness.HubRetries{Policy: p.Compress(20), Timeout: harness.FunctionTimeout}
}

// deliver plays the host for an Event Hub batch: the first try, then the
// policy's retries while it fails. A batch whose last try failed is lost
// (Event Hubs checkpoints it anyway), which fails the test.
func deliver(t *testing.T, to harness.Invoker, b harness.HubBatch) harness.HubResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := harness.DeliverEventHub(ctx, to, b, retries)
	if err != nil {
		t.Errorf("%s: %v", harness.FnEventHub, err)
	}
	return res
}

// deliverAll delivers each batch concurrently (copies times each: Event
// Hubs delivers at least once) and waits. It returns the invocations made.
func deliverAll(t *testing.T, to harness.Invoker, batches []harness.HubBatch, copies int) (tries int) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, b := range batches {
		for c := 0; c < copies; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := deliver(t, to, b)
				mu.Lock()
				tries += res.Tries
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	return tries
}

// timer plays the host's timer schedule against to (every tickEvery) until
// the test stops it, or ends.
func (w *world) timer(to harness.Invoker) *harness.TimerPlayer {
	return harness.MustPlayTimer(w.t, to, tickEvery)
}

// awaitTicks waits until the timer has answered n more ticks.
func (w *world) awaitTicks(tp *harness.TimerPlayer, n int) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tp.Await(ctx, n); err != nil {
		w.t.Fatalf("waiting for %d timer ticks: %v", n, err)
	}
}

// waitContained waits until every app's service principal is disabled.
func (w *world) waitContained(apps []fakegraph.IDs, within time.Duration) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for _, ids := range apps {
		if _, err := w.g.WaitDisabled(ctx, ids.ServicePrincipalID); err != nil {
			st, _ := w.tenant.AppState(ids.AppID)
			w.t.Fatalf("%s (sp %s) not contained within %s (accountEnabled %v)", ids.AppID, ids.ServicePrincipalID, within, st.AccountEnabled)
		}
	}
}

// assertContainedOnce checks nothing was lost and nothing done twice: each
// app's service principal is disabled in the stand-in, by exactly one
// disabling write.
func (w *world) assertContainedOnce(apps []fakegraph.IDs) {
	w.t.Helper()
	writes := harness.DisablingWrites(w.g.Server)
	for _, ids := range apps {
		st, ok := w.tenant.AppState(ids.AppID)
		if !ok || st.AccountEnabled {
			w.t.Errorf("%s: service principal %s still enabled", ids.AppID, ids.ServicePrincipalID)
		}
		if n := writes[strings.ToLower(ids.ServicePrincipalID)]; n != 1 {
			w.t.Errorf("%s: %d disabling writes to service principal %s, want exactly 1", ids.AppID, n, ids.ServicePrincipalID)
		}
	}
	if rej := w.g.Rejected(); len(rej) > 0 {
		w.t.Errorf("the stand-in rejected %d requests, first: %s %s", len(rej), rej[0].Method, rej[0].Path)
	}
}

// loggedDecisions counts, per signal dedupe key, the "decision" log lines of
// every process this world started.
func (w *world) loggedDecisions() map[string]int {
	w.mu.Lock()
	procs := append([]*harness.Proc(nil), w.procs...)
	w.mu.Unlock()
	out := map[string]int{}
	for _, p := range procs {
		for _, e := range p.Events("decision") {
			if k, _ := e["dedupeKey"].(string); k != "" {
				out[k]++
			}
		}
	}
	return out
}

// assertDecisionsLogged checks that every event ended in a recorded
// decision (the trail logs each decision it records, with the signal's
// dedupe key).
func (w *world) assertDecisionsLogged(audits []harness.Audit) {
	w.t.Helper()
	// Log lines travel through a pipe: an invocation's answer can arrive
	// before its last lines are read; and a signal left pending after the
	// last retry is decided by a timer tick. Give them a moment (the timer
	// must still be ticking).
	var got map[string]int
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got = w.loggedDecisions()
		missing := 0
		for _, a := range audits {
			if got["audit:"+a.ID] == 0 {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, a := range audits {
		if got["audit:"+a.ID] == 0 {
			w.t.Errorf("event %s (app %s) has no recorded decision; its log lines:\n%s", a.ID, a.AppID, w.linesAbout(a.ID))
		}
	}
}

// linesAbout is every log line that mentions s, for failure messages.
func (w *world) linesAbout(s string) string {
	w.mu.Lock()
	procs := append([]*harness.Proc(nil), w.procs...)
	w.mu.Unlock()
	var b strings.Builder
	for i, p := range procs {
		for _, l := range p.Lines() {
			if strings.Contains(l, s) {
				fmt.Fprintf(&b, "  [process %d] %s\n", i, l)
			}
		}
	}
	return b.String()
}

// assertDecisionsStored checks the same in the shared state store.
func assertDecisionsStored(t *testing.T, conn string, audits []harness.Audit) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.NewTableFromConnectionString(ctx, conn)
	if err != nil {
		t.Fatalf("opening the state table: %v", err)
	}
	for _, a := range audits {
		recs, err := st.List(ctx, strings.ToLower(a.AppID))
		if err != nil {
			t.Fatalf("listing %s: %v", a.AppID, err)
		}
		found := false
		for _, r := range recs {
			var d struct {
				Signal string `json:"signal"`
			}
			if r.Kind == appwarden.KindDecision && json.Unmarshal(r.Data, &d) == nil && d.Signal == "audit:"+a.ID {
				found = true
			}
		}
		if !found {
			t.Errorf("event %s (app %s): no decision in the state store", a.ID, a.AppID)
		}
	}
}

// batches are the Event Hub batches of the audits, one event each.
func batches(audits []harness.Audit) []harness.HubBatch {
	out := make([]harness.HubBatch, len(audits))
	for i, a := range audits {
		out[i] = harness.AuditBatch(a)
	}
	return out
}
