package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/graph"
)

// spnURI is a service principal name of Microsoft Graph, which audit records
// of grants carry where an appId is expected.
const spnURI = "00000003-0000-0000-c000-000000000000/ags.windows.net"

// routeCalls counts the calls on a route.
func routeCalls(calls []fakegraph.Call, route string) (n int) {
	for _, c := range calls {
		if c.Route == route {
			n++
		}
	}
	return n
}

// checkUnresolvable checks that err is Graph's permanent refusal with that
// status and code, and nothing transient.
func checkUnresolvable(t *testing.T, app *appwarden.App, err error, status int, code string) {
	t.Helper()
	var pe *graph.PermanentError
	var se *graph.StatusError
	if app != nil || !errors.Is(err, appwarden.ErrUnresolvable) || !errors.As(err, &pe) || !errors.As(err, &se) {
		t.Fatalf("app %v, err %v (%T); want a PermanentError matching appwarden.ErrUnresolvable", app, err, err)
	}
	if pe.Status != status || pe.Code != code || se.Status != status || !strings.Contains(err.Error(), code) {
		t.Errorf("refusal %d %q (%v); want %d %s", pe.Status, pe.Code, err, status, code)
	}
	if errors.Is(err, graph.ErrNotYetVisible) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a permanent refusal is also transient: %v", err)
	}
}

// A 400 is Graph refusing the request itself: one attempt, no re-reads, and
// an error that says the app is unresolvable, with Graph's code and message.
func TestUnresolvableBadRequest(t *testing.T) {
	w := newFaultWorld(t, fastRetry, 1)
	ids := w.apps[0]

	t.Run("service principal name taken for an appId", func(t *testing.T) {
		sig := createdSignal(ids)
		sig.AppID, sig.ObjectID, sig.ObjectType = spnURI, "", ""
		app, calls, trips, _, err := w.run(t, graph.SubjectOf(sig))
		checkUnresolvable(t, app, err, 400, "Request_BadRequest")
		if !strings.Contains(err.Error(), "Invalid object identifier '"+spnURI+"'") {
			t.Errorf("the error does not carry Graph's message: %v", err)
		}
		if trips != 1 || batches(calls) != 1 {
			t.Errorf("%d round trips, %d batches; want one $batch and no retry", trips, batches(calls))
		}
	})
	t.Run("object id that is not a GUID", func(t *testing.T) {
		sig := createdSignal(ids)
		sig.AppID, sig.ObjectID = "", "not-a-guid"
		app, _, trips, _, err := w.run(t, graph.SubjectOf(sig))
		checkUnresolvable(t, app, err, 400, "Request_BadRequest")
		if trips != 1 {
			t.Errorf("%d round trips, want 1", trips)
		}
	})
	t.Run("400 on the application", func(t *testing.T) {
		w.srv.FailNext(1, 400, fakegraph.OnRoute(fakegraph.RouteApplicationByAppID), fakegraph.InnerOnly())
		app, calls, trips, _, err := w.run(t, graph.SubjectOf(createdSignal(ids)))
		checkUnresolvable(t, app, err, 400, "Request_BadRequest")
		if trips != 1 || batches(calls) != 1 {
			t.Errorf("%d round trips, %d batches; want one $batch and no retry", trips, batches(calls))
		}
	})
	noRejects(t, w.srv)
}

// A 403 on one object of the $batch (here the service principal) makes the
// whole app unresolvable: judging it without that object would be judging
// something else. ResolveSignal says so in its log line.
func TestUnresolvableForbidden(t *testing.T) {
	w := newFaultWorld(t, fastRetry, 1)
	ids := w.apps[0]
	w.srv.FailNext(1, 403, fakegraph.OnRoute(fakegraph.RouteServicePrincipalByAppID), fakegraph.InnerOnly())
	app, calls, trips, _, err := w.run(t, graph.SubjectOf(createdSignal(ids)))
	checkUnresolvable(t, app, err, 403, "Authorization_RequestDenied")
	if trips != 1 || batches(calls) != 1 {
		t.Errorf("%d round trips, %d batches; want one $batch and no retry", trips, batches(calls))
	}

	w.srv.FailNext(1, 403, fakegraph.OnRoute(fakegraph.RouteServicePrincipalByAppID), fakegraph.InnerOnly())
	var buf bytes.Buffer
	_, err = w.c.ResolveSignal(context.Background(), slog.New(slog.NewJSONHandler(&buf, nil)), createdSignal(ids))
	if !errors.Is(err, appwarden.ErrUnresolvable) {
		t.Fatalf("ResolveSignal: %v", err)
	}
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log %q: %v", buf.String(), err)
	}
	if line["msg"] != "unresolvable in Graph" || line["status"] != float64(403) || line["code"] != "Authorization_RequestDenied" {
		t.Errorf("log line = %v", line)
	}
	noRejects(t, w.srv)
}

// A resource whose service principal cannot be read does not stop the app
// from being judged: its permissions stay visible by id.
func TestRefusedResourceIsNotTheApp(t *testing.T) {
	w := newWorld(t)
	c := client(t, w.srv, fastRetry)
	// The resources read by object id (app role assignments, grants) are
	// only read after the app's own $batch.
	w.srv.FailNext(100, 403, fakegraph.OnRoute(fakegraph.RouteServicePrincipal), fakegraph.InnerOnly())
	app, _, err := resolve(t, w.srv, c, graph.SubjectOf(signalFor(appwarden.AppCreated, time.Now())))
	if err != nil {
		t.Fatalf("a refused resource failed the app: %v", err)
	}
	if app.AppID != payrollAppID || app.Application == nil || len(app.Permissions) == 0 || app.Unresolvable != "" {
		t.Errorf("app = %+v", app)
	}
	if w.srv.Stats().Faults == 0 {
		t.Error("no resource read was refused: the test proves nothing")
	}
}

// deletedWorld is a fault world whose apps are deleted (in deleted items),
// with a short re-read budget.
func deletedWorld(t *testing.T, n int) (*faultWorld, graph.RetryPolicy) {
	t.Helper()
	retry := fastRetry
	retry.LagBudget, retry.LagFirst, retry.LagMax = 300*time.Millisecond, 20*time.Millisecond, 50*time.Millisecond
	w := newFaultWorld(t, retry, n)
	for _, ids := range w.apps {
		if err := w.tenant.DeleteApp(ids.AppID); err != nil {
			t.Fatal(err)
		}
	}
	return w, retry
}

// An app deleted before a recent signal is looked up answers 404 like a new
// one still replicating; after the re-reads, within the budget, deleted
// items tell the difference: it is gone, and that is no error.
func TestDeletedBeforeLookupIsGone(t *testing.T) {
	w, retry := deletedWorld(t, 3)
	for i, tc := range []struct {
		name  string
		edit  func(*appwarden.Signal)
		route string
		items int // deleted-items requests
	}{
		{"appId and object id", func(*appwarden.Signal) {}, fakegraph.RouteDeletedItem, 1},
		{"appId only", func(s *appwarden.Signal) { s.ObjectID, s.ObjectType = "", "" }, fakegraph.RouteDeletedItems, 2},
		{"object id only", func(s *appwarden.Signal) { s.AppID = "" }, fakegraph.RouteDeletedItem, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ids := w.apps[i]
			sig := createdSignal(ids) // a change of a moment ago
			tc.edit(&sig)
			app, calls, trips, elapsed, err := w.run(t, graph.SubjectOf(sig))
			if err != nil {
				t.Fatalf("err = %v; want the app gone, not an error", err)
			}
			if !app.Deleted || app.AppID != ids.AppID || app.Application != nil || app.Creator != creator {
				t.Errorf("app = %+v; want %s deleted", app, ids.AppID)
			}
			if elapsed > retry.LagBudget+time.Second {
				t.Errorf("took %v: re-read past the budget of %v", elapsed, retry.LagBudget)
			}
			if n := int(trips) - 1; n < 2 || n > maxLagBatches(retry) {
				t.Errorf("%d reads before deleted items; want between 2 and %d", n, maxLagBatches(retry))
			}
			// Deleted items are asked once, last.
			if got := routeCalls(calls, tc.route); got != tc.items {
				t.Errorf("%d calls on %s, want %d", got, tc.route, tc.items)
			}
			if last := calls[len(calls)-2]; last.Route != tc.route {
				t.Errorf("deleted items were not the last thing asked: %+v", calls)
			}
		})
	}
	noRejects(t, w.srv)
}

// A change too old for replication lag to explain a 404 asks deleted items
// at once: a deleted app costs two round trips, not the re-read budget.
func TestOldDeletedAppIsGoneAtOnce(t *testing.T) {
	w, _ := deletedWorld(t, 2)
	for i, name := range []string{"by appId", "by object id only"} {
		ids := w.apps[i]
		sig := createdSignal(ids)
		sig.Kind, sig.Time = appwarden.AppUpdated, time.Now().Add(-time.Hour)
		if i == 1 {
			sig.AppID = ""
		}
		app, _, trips, elapsed, err := w.run(t, graph.SubjectOf(sig))
		if err != nil || !app.Deleted || app.AppID != ids.AppID {
			t.Fatalf("%s: app %+v, err %v; want %s deleted", name, app, err, ids.AppID)
		}
		if trips != 2 || elapsed > 250*time.Millisecond {
			t.Errorf("%s: %d round trips in %v; want 2 (the read, deleted items) and no waiting", name, trips, elapsed)
		}
	}
	// The sweep has just seen the object: the same.
	sig := createdSignal(w.apps[0])
	sig.Source = appwarden.SourceSweep
	app, _, trips, _, err := w.run(t, graph.SubjectOf(sig))
	if err != nil || !app.Deleted || trips != 2 {
		t.Errorf("sweep: app %+v, err %v, %d round trips; want deleted in 2", app, err, trips)
	}
}

// An old change whose object is not even in deleted items (purged) is gone
// once the re-reads are over, as before deleted items were consulted.
func TestOldPurgedAppIsGone(t *testing.T) {
	w, retry := deletedWorld(t, 1)
	ids := w.apps[0]
	if err := w.tenant.Purge(ids.AppID); err != nil {
		t.Fatal(err)
	}
	sig := createdSignal(ids)
	sig.Time = time.Now().Add(-time.Hour)
	app, calls, _, elapsed, err := w.run(t, graph.SubjectOf(sig))
	if err != nil || !app.Deleted || app.AppID != ids.AppID {
		t.Fatalf("app %+v, err %v; want deleted", app, err)
	}
	if routeCalls(calls, fakegraph.RouteDeletedItem) != 1 || elapsed > retry.LagBudget+time.Second {
		t.Errorf("%d deleted-items look-ups in %v; want 1, within the budget", routeCalls(calls, fakegraph.RouteDeletedItem), elapsed)
	}
}

// A recent object that is absent and not among deleted items is most likely
// still replicating: ErrNotYetVisible, transient, after one look in deleted
// items.
func TestFreshAbsentIsNotYetVisible(t *testing.T) {
	retry := fastRetry
	retry.LagBudget = 100 * time.Millisecond
	w := newFaultWorld(t, retry, 1)
	ids := w.apps[0]
	w.srv.NotFoundReads(ids.AppID, 1_000_000)
	app, calls, _, _, err := w.run(t, graph.SubjectOf(createdSignal(ids)))
	if app != nil || !errors.Is(err, graph.ErrNotYetVisible) || errors.Is(err, appwarden.ErrUnresolvable) {
		t.Fatalf("app %v, err %v; want ErrNotYetVisible", app, err)
	}
	if n := routeCalls(calls, fakegraph.RouteDeletedItem); n != 1 {
		t.Errorf("%d deleted-items look-ups, want 1", n)
	}
	noRejects(t, w.srv)
}

// Throttling and server errors stay transient: never unresolvable.
func TestThrottlingAndServerErrorsStayTransient(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		fault  func(*fakegraph.Server)
	}{
		{"429", 429, func(s *fakegraph.Server) { s.ThrottleNext(1000, 0, fakegraph.InnerOnly()) }},
		{"503", 503, func(s *fakegraph.Server) { s.FailNext(1000, 503, fakegraph.InnerOnly()) }},
		{"500", 500, func(s *fakegraph.Server) { s.FailNext(1000, 500, fakegraph.InnerOnly()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newFaultWorld(t, fastRetry, 1)
			tc.fault(w.srv)
			_, _, _, _, err := w.run(t, graph.SubjectOf(createdSignal(w.apps[0])))
			var se *graph.StatusError
			var pe *graph.PermanentError
			if !errors.As(err, &se) || se.Status != tc.status || errors.Is(err, appwarden.ErrUnresolvable) || errors.As(err, &pe) {
				t.Errorf("err = %v; want a transient StatusError %d", err, tc.status)
			}
		})
	}
}

// The invocation's deadline bounds every wait: re-reads stop short of it
// (a recent object is then not yet visible, an old one gone), and a
// Retry-After that outlasts it is not waited for. The errors wrap
// context.DeadlineExceeded.
func TestWaitsRespectTheDeadline(t *testing.T) {
	retry := fastRetry
	retry.LagBudget, retry.LagFirst, retry.LagMax, retry.MaxWait = 10*time.Second, 50*time.Millisecond, 200*time.Millisecond, 5*time.Second
	const deadline = 400 * time.Millisecond
	within := func(t *testing.T, c *graph.Client, s graph.Subject) (*appwarden.App, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		start := time.Now()
		app, err := c.Resolve(ctx, s)
		if d := time.Since(start); d > deadline+200*time.Millisecond {
			t.Errorf("took %v with a deadline of %v", d, deadline)
		}
		return app, err
	}

	t.Run("recent object", func(t *testing.T) {
		w := newFaultWorld(t, retry, 1)
		w.srv.NotFoundReads(w.apps[0].AppID, 1_000_000)
		_, err := within(t, w.c, graph.SubjectOf(createdSignal(w.apps[0])))
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, graph.ErrNotYetVisible) {
			t.Errorf("err = %v; want ErrNotYetVisible wrapping the deadline", err)
		}
	})
	t.Run("old purged object", func(t *testing.T) {
		w := newFaultWorld(t, retry, 1)
		ids := w.apps[0]
		if err := w.tenant.DeleteApp(ids.AppID); err != nil {
			t.Fatal(err)
		}
		if err := w.tenant.Purge(ids.AppID); err != nil {
			t.Fatal(err)
		}
		sig := createdSignal(ids)
		sig.Time = time.Now().Add(-time.Hour)
		app, err := within(t, w.c, graph.SubjectOf(sig))
		if err != nil || !app.Deleted {
			t.Errorf("app %+v, err %v; want deleted before the deadline", app, err)
		}
	})
	t.Run("Retry-After past the deadline", func(t *testing.T) {
		w := newFaultWorld(t, retry, 1)
		w.srv.ThrottleNext(readsPerAppBatch, 3*time.Second, fakegraph.InnerOnly())
		_, err := within(t, w.c, graph.SubjectOf(createdSignal(w.apps[0])))
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, appwarden.ErrUnresolvable) {
			t.Errorf("err = %v; want the deadline's", err)
		}
	})
}

// A 403 on a part of the app (its owners: AppWarden lacks
// User.ReadBasic.All) is not a refusal of the app: it is judged on the rest,
// and the decision says what could not be read.
//
// Owners come expanded with the app; the owners endpoint is read only when
// the expanded list is full (Graph expands at most 20), so the app here has
// more.
func TestForbiddenPartIsJudgedOnTheRest(t *testing.T) {
	tenant := fakegraph.NewTenant(tenantID)
	tenant.AddMicrosoftGraph()
	var owners []fakegraph.Owner
	for i := 0; i < 25; i++ {
		owners = append(owners, fakegraph.Owner{ID: fmt.Sprintf("%08d-0000-4000-8000-000000000000", i), UPN: fmt.Sprintf("u%d@contoso.example", i)})
	}
	ids := tenant.AddApp(fakegraph.AppSpec{Owners: owners, Requested: []fakegraph.Permission{fakegraph.GraphScope("User.Read")}})
	srv := serve(t, tenant)
	c := client(t, srv, fastRetry)
	srv.FailNext(100, 403, fakegraph.OnRoute(fakegraph.RouteApplicationByAppID+"/owners"), fakegraph.InnerOnly())
	app, _, err := resolve(t, srv, c, graph.SubjectOf(createdSignal(ids)))
	if err != nil {
		t.Fatalf("a refused owners read failed the app: %v", err)
	}
	if app.Application == nil || len(app.Permissions) == 0 || app.Unresolvable != "" {
		t.Errorf("app = %+v, want it resolved with its permissions", app)
	}
	if len(app.Unread) != 1 || !strings.Contains(app.Unread[0], "application owners") || !strings.Contains(app.Unread[0], "403") {
		t.Errorf("Unread = %q, want the application owners named with the 403", app.Unread)
	}
	if len(app.Owners) != fakegraph.ExpandLimit {
		t.Errorf("%d owners, want the %d expanded ones kept", len(app.Owners), fakegraph.ExpandLimit)
	}
}
