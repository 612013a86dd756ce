package graph_test

import (
	"context"
	"errors"
	"testing"

	"github.com/appwarden/appwarden/handler/fakegraph"
)

// TestReadCollections: collections come back in the order asked, 20 to a
// $batch and a few batches at a time; an object gone meanwhile reads empty.
func TestReadCollections(t *testing.T) {
	tenant := fakegraph.NewTenant(tenantID)
	tenant.AddMicrosoftGraph()
	var paths []string
	for range 45 {
		paths = append(paths, "/applications/"+typicalApp(tenant, "typical").ApplicationID+"/owners")
	}
	paths = append(paths, "/applications/00000000-0000-0000-0000-00000000dead/owners")
	srv := serve(t, tenant)
	c := client(t, srv, fastRetry)

	mark := srv.Mark()
	out, err := c.ReadCollections(context.Background(), paths, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(paths) {
		t.Fatalf("%d collections for %d paths", len(out), len(paths))
	}
	for i := range 45 {
		if len(out[i]) != 2 {
			t.Errorf("%s: %d owners, want 2", paths[i], len(out[i]))
		}
	}
	if len(out[45]) != 0 {
		t.Errorf("a missing application has %d owners", len(out[45]))
	}
	if n := batches(srv.CallsSince(mark)); n != 3 {
		t.Errorf("%d $batch requests for %d paths, want 3", n, len(paths))
	}

	if _, err := c.ReadCollections(context.Background(), append(paths, "/nonsense"), 2); err == nil {
		t.Error("a collection Graph refuses gave no error")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.ReadCollections(ctx, paths, 2); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v on a cancelled context, want context.Canceled", err)
	}
}
