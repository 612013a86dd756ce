// Package graphtest builds Graph clients for tests the production way: a
// managed identity credential through the Graph stand-in's token endpoint,
// then graph.New against the stand-in.
package graphtest

import (
	"testing"

	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/graph"
)

// Client returns a client of srv with the given retry policy. It sets the
// managed identity variables for the test (so the test must not run in
// parallel with another that sets them differently).
func Client(t testing.TB, srv *fakegraph.Server, retry graph.RetryPolicy) *graph.Client {
	t.Helper()
	t.Setenv("IDENTITY_ENDPOINT", srv.TokenURL())
	t.Setenv("IDENTITY_HEADER", srv.IdentityHeader())
	cred, err := graph.ManagedIdentity(srv.ManagedIdentityClientID())
	if err != nil {
		t.Fatal(err)
	}
	c, err := graph.New(graph.Options{Endpoint: srv.URL(), Credential: cred, Retry: retry})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
