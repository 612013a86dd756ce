package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/demo"
	"github.com/appwarden/appwarden/handler/fakegraph"
)

// TestSnapshotExport exports the demo tenant from the Graph stand-in, through
// the managed identity as in Azure, reads the file back with fakegraph.Load
// and checks that nothing but GETs reached Graph.
func TestSnapshotExport(t *testing.T) {
	cliEnv(t)
	tenant, _ := demo.Build(time.Now().UTC())
	// Small pages, so every listing follows nextLinks.
	srv, err := fakegraph.Start(tenant, fakegraph.WithPageSize(1))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	t.Setenv("IDENTITY_ENDPOINT", srv.TokenURL())
	t.Setenv("IDENTITY_HEADER", srv.IdentityHeader())
	t.Setenv("APPWARDEN_GRAPH_ENDPOINT", srv.URL())
	tenant.AddOwner("b6b6b6b6-2222-4222-8222-00000000b6b6", fakegraph.Owner{UPN: "third@contoso.example"})

	out := filepath.Join(t.TempDir(), "snapshot.json")
	code, stdout, stderr := runCLI("snapshot", "export", "--out", out)
	if code != 0 || stdout != "" {
		t.Fatalf("exit %d\nstdout %q\nstderr %s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "exported 10 applications, 13 service principals, 9 owner lists, 4 app role assignments and 1 delegated grants of tenant "+demo.TenantID) {
		t.Errorf("stderr = %s", stderr)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	back, err := fakegraph.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	if back.TenantID() != demo.TenantID {
		t.Errorf("tenant id %s", back.TenantID())
	}
	a1, s1 := tenant.Counts()
	a2, s2 := back.Counts()
	if a1 != a2 || s1 != s2 {
		t.Errorf("exported %d apps, %d service principals; the tenant has %d, %d", a2, s2, a1, s1)
	}
	for _, id := range []string{"5bee10b5-db93-4475-ae1a-3d87e059d287", "b6b6b6b6-1111-4111-8111-00000000b6b6", "0d7e3f6b-8a9c-4b1d-9e2f-3a4b5c6d7e8f"} {
		want, _ := tenant.AppState(id)
		got, _ := back.AppState(id)
		if len(got.Owners) != len(want.Owners) || len(got.Assignments) != len(want.Assignments) || len(got.Grants) != len(want.Grants) || got.AccountEnabled != want.AccountEnabled {
			t.Errorf("%s: exported %+v\nwant %+v", id, got, want)
		}
	}
	if w, r := srv.Writes(), srv.Rejected(); len(w) != 0 || len(r) != 0 {
		t.Errorf("writes %v, rejected %v", w, r)
	}
	for _, c := range srv.Calls() {
		if c.Method != "GET" && c.Route != fakegraph.RouteBatch {
			t.Errorf("%s %s: export only reads", c.Method, c.Path)
		}
	}
}
