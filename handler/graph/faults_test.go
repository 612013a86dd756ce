package graph_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/graph"
)

// readsPerAppBatch is how many reads the first $batch of a creation's
// resolution makes of the app (by appId): the application (owners
// expanded) and the service principal (app role assignments expanded).
const readsPerAppBatch = 2

// faultWorld is a tenant with Microsoft Graph and typical apps, served, and a
// client whose permission cache is already warm, so that every resolution
// below is only the app's own $batch (and its retries).
type faultWorld struct {
	tenant *fakegraph.Tenant
	srv    *fakegraph.Server
	c      *graph.Client
	apps   []fakegraph.IDs
}

func newFaultWorld(t *testing.T, retry graph.RetryPolicy, n int) *faultWorld {
	t.Helper()
	w := &faultWorld{tenant: fakegraph.NewTenant(tenantID)}
	w.tenant.AddMicrosoftGraph()
	warm := typicalApp(w.tenant, "warm")
	for i := 0; i < n; i++ {
		w.apps = append(w.apps, typicalApp(w.tenant, "typical"))
	}
	w.srv = serve(t, w.tenant)
	w.c = client(t, w.srv, retry)
	if _, err := w.c.Resolve(context.Background(), graph.Subject{AppID: warm.AppID}); err != nil {
		t.Fatal(err)
	}
	settle(t, w.srv)
	w.srv.Reset()
	return w
}

// run resolves a subject and returns the app, the calls the stand-in saw,
// the round trips, the time it took, and the error.
func (w *faultWorld) run(t *testing.T, s graph.Subject) (*appwarden.App, []fakegraph.Call, int64, time.Duration, error) {
	t.Helper()
	mark := w.srv.Mark()
	start := time.Now()
	app, trips, err := resolve(t, w.srv, w.c, s)
	return app, w.srv.CallsSince(mark), trips, time.Since(start), err
}

func innerCalls(calls []fakegraph.Call, batch int64) (n int) {
	for _, c := range calls {
		if c.Inner && c.BatchID == batch {
			n++
		}
	}
	return n
}

func batchIDs(calls []fakegraph.Call) (ids []int64) {
	for _, c := range calls {
		if !c.Inner && c.Route == fakegraph.RouteBatch {
			ids = append(ids, c.BatchID)
		}
	}
	return ids
}

// Replication lag: a new app answers 404 for its first reads; the client
// retries with backoff and resolves it, one $batch per try.
func TestReplicationLag(t *testing.T) {
	for _, lag := range []int{1, 3} {
		w := newFaultWorld(t, fastRetry, 1)
		ids := w.apps[0]
		w.srv.NotFoundReads(ids.AppID, lag*readsPerAppBatch)
		app, calls, trips, _, err := w.run(t, graph.SubjectOf(createdSignal(ids)))
		if err != nil {
			t.Fatalf("lag %d: %v", lag, err)
		}
		checkTypical(t, app, ids, "typical")
		if got := batches(calls); got != lag+1 || trips != int64(lag+1) {
			t.Errorf("lag of %d batches: %d $batch requests (%d round trips), want %d", lag, got, trips, lag+1)
		}
		if st := w.srv.Stats(); st.Faults != lag*readsPerAppBatch {
			t.Errorf("lag %d: %d injected 404s, want %d", lag, st.Faults, lag*readsPerAppBatch)
		}
		noRejects(t, w.srv)
	}
}

// The application is visible but its new service principal is not yet: a
// ServicePrincipalCreated signal waits for the service principal.
func TestReplicationLagServicePrincipal(t *testing.T) {
	w := newFaultWorld(t, fastRetry, 1)
	ids := w.apps[0]
	const spReads = 1 // the service principal (assignments expanded)
	w.srv.NotFoundReads(ids.ServicePrincipalID, 2*spReads)
	sig := createdSignal(ids)
	sig.Kind, sig.ObjectID, sig.ObjectType = appwarden.ServicePrincipalCreated, ids.ServicePrincipalID, appwarden.ObjectServicePrincipal
	app, calls, _, _, err := w.run(t, graph.SubjectOf(sig))
	if err != nil {
		t.Fatal(err)
	}
	checkTypical(t, app, ids, "typical")
	if got := batches(calls); got != 3 {
		t.Errorf("%d $batch requests, want %d", got, 3)
	}
}

// A signal that names only an object id is retried through replication lag
// too: the appId look-up waits for the object like the app's own reads.
func TestReplicationLagObjectIDOnly(t *testing.T) {
	w := newFaultWorld(t, fastRetry, 1)
	ids := w.apps[0]
	w.srv.NotFoundReads(ids.ApplicationID, 2)
	sig := createdSignal(ids)
	sig.AppID = ""
	app, calls, trips, _, err := w.run(t, graph.SubjectOf(sig))
	if err != nil {
		t.Fatalf("object-id-only signal during replication lag: %v", err)
	}
	checkTypical(t, app, ids, "typical")
	// Two look-ups answered 404, the third found the appId, then the app's
	// $batch and its follow-up.
	if trips != 4 || batches(calls) != 1 {
		t.Errorf("%d round trips, %d batches; want %d and %d", trips, batches(calls), 4, 1)
	}
}

// Throttling inside $batch: Graph answers 429 with Retry-After to items of
// a batch, which the SDK does not retry; the client retries those items
// after Retry-After.
func TestThrottledInsideBatch(t *testing.T) {
	retry := fastRetry
	retry.MaxWait = 5 * time.Second
	w := newFaultWorld(t, retry, 2)

	// Every item of the first batch.
	w.srv.ThrottleNext(readsPerAppBatch, time.Second, fakegraph.InnerOnly())
	app, calls, trips, elapsed, err := w.run(t, graph.SubjectOf(createdSignal(w.apps[0])))
	if err != nil {
		t.Fatal(err)
	}
	checkTypical(t, app, w.apps[0], "typical")
	if elapsed < time.Second {
		t.Errorf("resolved in %v: did not wait Retry-After (1s)", elapsed)
	}
	if trips != 2 || batches(calls) != 2 {
		t.Errorf("%d round trips, want %d", trips, 2)
	}

	// One item only: the retry batch holds just that one.
	w.srv.ThrottleNext(1, time.Second, fakegraph.InnerOnly())
	app, calls, trips, elapsed, err = w.run(t, graph.SubjectOf(createdSignal(w.apps[1])))
	if err != nil {
		t.Fatal(err)
	}
	checkTypical(t, app, w.apps[1], "typical")
	if elapsed < time.Second {
		t.Errorf("resolved in %v: did not wait Retry-After (1s)", elapsed)
	}
	ids := batchIDs(calls)
	if trips != 2 || len(ids) != 2 || innerCalls(calls, ids[0]) != readsPerAppBatch || innerCalls(calls, ids[1]) != 1 {
		t.Errorf("%d round trips, batches %v with %d and %d items; want 2 batches of %d and 1 items", trips, ids, innerCalls(calls, ids[0]), innerCalls(calls, ids[len(ids)-1]), readsPerAppBatch)
	}
	noRejects(t, w.srv)
}

// Throttled past the attempts: an error naming the 429, after exactly
// Attempts batches.
func TestThrottledInsideBatchGivesUp(t *testing.T) {
	retry := fastRetry
	retry.Attempts = 3
	w := newFaultWorld(t, retry, 1)
	w.srv.ThrottleNext(1000, 0, fakegraph.InnerOnly())
	_, calls, _, _, err := w.run(t, graph.SubjectOf(createdSignal(w.apps[0])))
	var se *graph.StatusError
	if !errors.As(err, &se) || se.Status != 429 {
		t.Fatalf("err = %v, want a StatusError 429", err)
	}
	if got := batches(calls); got != 3 {
		t.Errorf("%d batches, want 3 (Attempts)", got)
	}
}

// A 429 to the $batch request itself is retried by msgraph-sdk-go's retry
// handler, which honours Retry-After.
func TestThrottledTopLevel(t *testing.T) {
	w := newFaultWorld(t, fastRetry, 1)
	w.srv.ThrottleNext(1, time.Second, fakegraph.OnRoute(fakegraph.RouteBatch))
	app, calls, trips, elapsed, err := w.run(t, graph.SubjectOf(createdSignal(w.apps[0])))
	if err != nil {
		t.Fatal(err)
	}
	checkTypical(t, app, w.apps[0], "typical")
	if elapsed < time.Second {
		t.Errorf("resolved in %v: did not wait Retry-After (1s)", elapsed)
	}
	// The throttled $batch and its retry are both round trips on the wire.
	if trips != 2 || batches(calls) != 2 || calls[0].Status != 429 {
		t.Errorf("%d round trips; calls %+v", trips, calls)
	}

	// A write's $batch retried the same way carries its body intact.
	w.srv.ThrottleNext(1, time.Second, fakegraph.OnRoute(fakegraph.RouteBatch))
	ids := w.apps[0]
	res, err := w.c.Apply(context.Background(), []appwarden.Write{{Method: "PATCH", Path: "/servicePrincipals/" + ids.ServicePrincipalID, Body: map[string]any{"accountEnabled": false}}})
	if err != nil || len(res) != 1 || res[0].Err != nil || res[0].Status != 204 {
		t.Fatalf("Apply after a throttled $batch: %v %+v", err, res)
	}
	if st, _ := w.tenant.AppState(ids.AppID); st.AccountEnabled {
		t.Error("the service principal is still enabled")
	}
	noRejects(t, w.srv)
}

// 503 inside a batch is retried like throttling; a persistent 500 is an
// error (returned, not a panic), inside the batch or for the batch itself.
func TestServerErrors(t *testing.T) {
	t.Run("503 inside the batch", func(t *testing.T) {
		w := newFaultWorld(t, fastRetry, 1)
		w.srv.FailNext(readsPerAppBatch, 503, fakegraph.InnerOnly())
		app, calls, _, _, err := w.run(t, graph.SubjectOf(createdSignal(w.apps[0])))
		if err != nil {
			t.Fatal(err)
		}
		checkTypical(t, app, w.apps[0], "typical")
		if batches(calls) != 2 {
			t.Errorf("%d batches, want %d", batches(calls), 2)
		}
	})
	t.Run("persistent 500 inside the batch", func(t *testing.T) {
		w := newFaultWorld(t, fastRetry, 1)
		w.srv.FailNext(1000, 500, fakegraph.InnerOnly())
		app, calls, _, _, err := w.run(t, graph.SubjectOf(createdSignal(w.apps[0])))
		var se *graph.StatusError
		if app != nil || !errors.As(err, &se) || se.Status != 500 || errors.Is(err, graph.ErrNotYetVisible) {
			t.Fatalf("app %v, err = %v; want a StatusError 500", app, err)
		}
		if batches(calls) != 1 {
			t.Errorf("%d batches, want 1 (500 is not retried)", batches(calls))
		}
	})
	t.Run("persistent 500 for the batch", func(t *testing.T) {
		w := newFaultWorld(t, fastRetry, 1)
		w.srv.FailNext(1000, 500, fakegraph.OnRoute(fakegraph.RouteBatch))
		app, calls, _, _, err := w.run(t, graph.SubjectOf(createdSignal(w.apps[0])))
		var se *graph.StatusError
		if app != nil || !errors.As(err, &se) || se.Status != 500 || !strings.Contains(err.Error(), "generalException") {
			t.Fatalf("app %v, err = %v; want a StatusError 500", app, err)
		}
		if batches(calls) != 1 {
			t.Errorf("%d batches, want 1", batches(calls))
		}
	})
	t.Run("persistent 503 inside the batch", func(t *testing.T) {
		w := newFaultWorld(t, fastRetry, 1)
		w.srv.FailNext(1000, 503, fakegraph.InnerOnly())
		_, calls, _, _, err := w.run(t, graph.SubjectOf(createdSignal(w.apps[0])))
		var se *graph.StatusError
		if !errors.As(err, &se) || se.Status != 503 {
			t.Fatalf("err = %v; want a StatusError 503", err)
		}
		if batches(calls) != fastRetry.Attempts {
			t.Errorf("%d batches, want %d", batches(calls), fastRetry.Attempts)
		}
	})
}

// maxLagBatches bounds the batches a resolution may send while a 404 lasts:
// every wait is at least LagFirst and they add up to at most LagBudget.
func maxLagBatches(p graph.RetryPolicy) int { return 1 + int(p.LagBudget/p.LagFirst) }

// A deleted app (persistent 404, signal older than DeletedAfter) resolves as
// Deleted, without looping.
func TestDeletedApp(t *testing.T) {
	retry := fastRetry
	retry.LagBudget = 100 * time.Millisecond
	w := newFaultWorld(t, retry, 2)
	for i, ids := range w.apps {
		if err := w.tenant.DeleteApp(ids.AppID); err != nil {
			t.Fatal(err)
		}
		sig := createdSignal(ids)
		sig.Kind, sig.Time = appwarden.AppUpdated, time.Now().Add(-time.Hour)
		name := "by appId"
		if i == 1 {
			sig.AppID, name = "", "by object id only"
		}
		app, calls, trips, _, err := w.run(t, graph.SubjectOf(sig))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !app.Deleted || app.Application != nil || len(app.ServicePrincipals) != 0 || !app.Creator.IsZero() {
			t.Errorf("%s: app = %+v, want deleted", name, app)
		}
		if i == 0 && app.AppID != ids.AppID {
			t.Errorf("%s: appId %q", name, app.AppID)
		}
		if trips > int64(maxLagBatches(retry))+1 || topLevel(calls) != int(trips) {
			t.Errorf("%s: %d round trips, want at most %d", name, trips, maxLagBatches(retry)+1)
		}
	}
	// The sweep saw the object a moment ago: a 404 past the budget means it
	// was deleted since.
	sig := createdSignal(w.apps[0])
	sig.Source = appwarden.SourceSweep
	app, _, _, _, err := w.run(t, graph.SubjectOf(sig))
	if err != nil || !app.Deleted {
		t.Errorf("sweep signal: app %+v, err %v; want deleted", app, err)
	}
}

// A fresh app that stays invisible past the lag budget is an error wrapping
// ErrNotYetVisible: the signal waits in the inbox for the timer.
func TestNotYetVisible(t *testing.T) {
	retry := fastRetry
	retry.LagBudget = 100 * time.Millisecond
	w := newFaultWorld(t, retry, 1)
	ids := w.apps[0]
	w.srv.NotFoundReads(ids.AppID, 1_000_000)
	w.srv.NotFoundReads(ids.ApplicationID, 1_000_000)

	app, calls, trips, _, err := w.run(t, graph.SubjectOf(createdSignal(ids)))
	if app != nil || !errors.Is(err, graph.ErrNotYetVisible) {
		t.Fatalf("app %v, err %v; want ErrNotYetVisible", app, err)
	}
	if n := batches(calls); n < 2 || n > maxLagBatches(retry) || int64(n) != trips {
		t.Errorf("%d batches (%d round trips), want between 2 and %d", n, trips, maxLagBatches(retry))
	}

	// Through ResolveSignal, as the pipeline calls it.
	_, err = w.c.ResolveSignal(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), createdSignal(ids))
	if !errors.Is(err, graph.ErrNotYetVisible) {
		t.Errorf("ResolveSignal: %v", err)
	}

	// A signal naming only the object id.
	sig := createdSignal(ids)
	sig.AppID = ""
	app, calls, _, _, err = w.run(t, graph.SubjectOf(sig))
	if app != nil || !errors.Is(err, graph.ErrNotYetVisible) {
		t.Fatalf("object id only: app %v, err %v; want ErrNotYetVisible", app, err)
	}
	if n := topLevel(calls); n > maxLagBatches(retry) {
		t.Errorf("object id only: %d round trips, want at most %d", n, maxLagBatches(retry))
	}
}

// Cancelling the invocation stops the lag retries.
func TestLagStopsOnCancel(t *testing.T) {
	retry := fastRetry
	retry.LagBudget, retry.LagFirst, retry.LagMax = time.Hour, 50*time.Millisecond, 50*time.Millisecond
	w := newFaultWorld(t, retry, 1)
	w.srv.NotFoundReads(w.apps[0].AppID, 1_000_000)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := w.c.Resolve(ctx, graph.SubjectOf(createdSignal(w.apps[0])))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the context's", err)
	}
}

// TestThrottleHoldsTheProcess: once Graph answers 429 with Retry-After, a
// resolution that another invocation starts meanwhile waits for it too,
// rather than being refused and spending one of its attempts.
func TestThrottleHoldsTheProcess(t *testing.T) {
	retry := fastRetry
	retry.MaxWait = 5 * time.Second
	w := newFaultWorld(t, retry, 2)
	w.srv.ThrottleNext(readsPerAppBatch, 2*time.Second, fakegraph.InnerOnly())
	first := make(chan error, 1)
	go func() {
		_, err := w.c.Resolve(context.Background(), graph.SubjectOf(createdSignal(w.apps[0])))
		first <- err
	}()
	// Wait until the first resolution's batch has been throttled.
	for deadline := time.Now().Add(5 * time.Second); ; {
		n := 0
		for _, c := range w.srv.CallsSince(0) {
			if c.Fault == fakegraph.FaultThrottle {
				n++
			}
		}
		if n == readsPerAppBatch {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first resolution was never throttled")
		}
		time.Sleep(5 * time.Millisecond)
	}
	mark := w.srv.Mark()
	// A write (a containment) is not held: it reaches Graph before the
	// throttled resolution's retry.
	sp := w.apps[1].ServicePrincipalID
	wrote := time.Now()
	res, err := w.c.Apply(context.Background(), []appwarden.Write{{Method: "PATCH", Path: "/servicePrincipals/" + sp, Body: map[string]any{"accountEnabled": false}}})
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("Apply while reads are held: %v %+v", err, res)
	}
	// The pause is 2 s; a local write takes milliseconds.
	if d := time.Since(wrote); d > time.Second {
		t.Errorf("the write took %v: it waited behind the held reads", d)
	}
	writes, reads := 0, 0
	for _, c := range w.srv.CallsSince(mark) {
		switch {
		case c.IsWrite():
			writes++
		case c.Inner:
			reads++
		}
	}
	if writes != 1 || reads != 0 {
		t.Errorf("while reads were held, Graph saw %d writes and %d reads before the write returned; want the write alone", writes, reads)
	}
	if st, _ := w.tenant.AppState(w.apps[1].AppID); st.AccountEnabled {
		t.Error("the write was not applied")
	}
	mark = w.srv.Mark()
	start := time.Now()
	app, err := w.c.Resolve(context.Background(), graph.SubjectOf(createdSignal(w.apps[1])))
	if err != nil {
		t.Fatal(err)
	}
	checkTypical(t, app, w.apps[1], "typical")
	// It was sent after the pause (2 s from the 429, less the polling above),
	// and was not refused.
	if elapsed := time.Since(start); elapsed < time.Second {
		t.Errorf("the second resolution took %v: it did not wait for the Retry-After another request was given", elapsed)
	}
	for _, c := range w.srv.CallsSince(mark) {
		if c.Status == 429 {
			t.Errorf("a request was throttled again: %s %s", c.Method, c.Path)
		}
	}
	if err := <-first; err != nil {
		t.Fatalf("the throttled resolution: %v", err)
	}
	noRejects(t, w.srv)
}
