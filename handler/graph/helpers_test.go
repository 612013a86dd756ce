package graph_test

import (
	"context"
	"github.com/appwarden/appwarden/handler/graph/graphtest"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/graph"
)

// fastRetry is a retry policy with waits small enough for tests. LagBudget
// bounds how long a 404 is retried; DeletedAfter stays at its default.
var fastRetry = graph.RetryPolicy{
	Attempts:  4,
	MaxWait:   50 * time.Millisecond,
	LagBudget: 2 * time.Second,
	LagFirst:  5 * time.Millisecond,
	LagMax:    20 * time.Millisecond,
}

// serve starts the Graph stand-in for one test.
func serve(t testing.TB, tenant *fakegraph.Tenant, opts ...fakegraph.Option) *fakegraph.Server {
	t.Helper()
	srv, err := fakegraph.Start(tenant, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("closing the stand-in: %v", err)
		}
	})
	return srv
}

// client builds the client the production way: a managed identity credential
// (azidentity, through the stand-in's token endpoint) and graph.New. Each call
// makes a new client with its own permission cache.
func client(t *testing.T, srv *fakegraph.Server, retry graph.RetryPolicy) *graph.Client {
	t.Helper()
	return graphtest.Client(t, srv, retry)
}

// batches counts the $batch requests among calls, and the inner requests
// that named route.
func batches(calls []fakegraph.Call) (n int) {
	for _, c := range calls {
		if !c.Inner && c.Route == fakegraph.RouteBatch {
			n++
		}
	}
	return n
}

// topLevel counts the Graph HTTP requests among calls (a $batch counts once).
func topLevel(calls []fakegraph.Call) (n int) {
	for _, c := range calls {
		if !c.Inner {
			n++
		}
	}
	return n
}

// noRejects fails the test if the stand-in saw a request it does not serve
// (an unknown route, a malformed request, a missing token).
func noRejects(t *testing.T, srv *fakegraph.Server) {
	t.Helper()
	for _, c := range srv.Rejected() {
		t.Errorf("rejected call: %s %s -> %d", c.Method, c.Path, c.Status)
	}
}

// resolve resolves a subject and returns the app and the round trips counted
// by graph.WithTrips, cross-checked against the stand-in's own count of Graph
// HTTP requests.
func resolve(t *testing.T, srv *fakegraph.Server, c *graph.Client, s graph.Subject) (app *appwarden.App, trips int64, err error) {
	t.Helper()
	ctx, n := graph.WithTrips(context.Background())
	mark := srv.Mark()
	app, err = c.Resolve(ctx, s)
	trips = n.Count()
	settle(t, srv)
	if got := int64(topLevel(srv.CallsSince(mark))); got != trips {
		t.Errorf("graph.WithTrips counted %d round trips, the stand-in saw %d Graph HTTP requests", trips, got)
	}
	return app, trips, err
}

// settle waits until the stand-in has finished (and so recorded) every
// request, since it records a request just after answering it.
func settle(t testing.TB, srv *fakegraph.Server) {
	t.Helper()
	for i := 0; srv.InFlight() > 0; i++ {
		if i > 5000 {
			t.Fatalf("the stand-in still has %d requests in flight", srv.InFlight())
		}
		time.Sleep(time.Millisecond)
	}
}
