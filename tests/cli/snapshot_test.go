package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/appwarden/appwarden/handler/fakegraph"
)

// graphEnv is the environment of a handler that talks to a Graph stand-in
// as it talks to Graph in Azure: through its managed identity.
func graphEnv(srv *fakegraph.Server) []string {
	return cleanEnv(append(srv.Env(), "APPWARDEN_GRAPH_ENDPOINT="+srv.URL())...)
}

// appFindings is an app's findings as comparable strings.
func appFindings(r jsonReport) map[string][]string {
	out := map[string][]string{}
	for _, a := range r.Apps {
		var fs []string
		for _, f := range a.Findings {
			var ev []string
			for _, e := range f.Evidence {
				ev = append(ev, e.Kind+":"+e.ID+":"+e.Name+":"+e.Detail)
			}
			fs = append(fs, f.RuleID+" "+f.Severity+" "+strings.Join(ev, ","))
		}
		for _, act := range a.Actions {
			fs = append(fs, "action "+act.Kind+" "+act.Target+" "+act.Status)
		}
		slices.Sort(fs)
		out[a.AppID] = append([]string{a.DisplayName + " " + a.Kind + " " + a.Protected + " " + a.Mode}, fs...)
	}
	return out
}

// TestSnapshotRoundTrip exports the 5,000-app tenant from the Graph
// stand-in (through the managed identity, with small pages so every owner
// list and grant listing is paged), checks that the export only read, and
// scans the export: the findings must be those of the original.
func TestSnapshotRoundTrip(t *testing.T) {
	tenant, e, original := big(t)
	srv, err := fakegraph.Start(tenant, fakegraph.WithPageSize(2))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	export := filepath.Join(t.TempDir(), "export.json")
	r := run(t, graphEnv(srv), "", "snapshot", "export", "--out", export)
	t.Logf("export took %s: %s", r.took, strings.TrimSpace(r.stderr[strings.LastIndex(strings.TrimSpace(r.stderr), "\n")+1:]))
	if r.code != 0 {
		t.Fatalf("export: exit %d\n%s", r.code, r.stderr)
	}
	want := fmt.Sprintf("exported %d applications, %d service principals", e.applications, e.apps)
	if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "of tenant "+tenantID) {
		t.Errorf("export summary lacks %q:\n%s", want, r.stderr)
	}
	st := srv.Stats()
	if st.Writes != 0 || st.Rejected != 0 || len(srv.Writes()) != 0 {
		t.Errorf("export wrote %d times, %d calls rejected: %v", st.Writes, st.Rejected, srv.Rejected())
	}
	for route := range st.Routes {
		if !strings.HasPrefix(route, "GET ") && route != fakegraph.RouteBatch {
			t.Errorf("export called %s", route)
		}
	}
	// Every application's owners, plus the second pages of those with three
	// owners (pages of two): the nextLinks were followed.
	if st.Routes[fakegraph.RouteApplicationOwners] != e.applications+e.applications/10 ||
		st.Routes[fakegraph.RouteServicePrincipalOwners] != e.apps || st.TokenRequests == 0 {
		t.Errorf("routes %v, %d token requests", st.Routes, st.TokenRequests)
	}

	// The export loads, and holds what the tenant holds.
	f, err := os.Open(export)
	if err != nil {
		t.Fatal(err)
	}
	back, err := fakegraph.Load(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	a1, s1 := tenant.Counts()
	a2, s2 := back.Counts()
	if a1 != a2 || s1 != s2 || back.TenantID() != tenantID {
		t.Errorf("export holds %d apps, %d service principals of %s; want %d, %d of %s", a2, s2, back.TenantID(), a1, s1, tenantID)
	}

	// Scanning the export finds exactly what scanning the original does.
	dir := t.TempDir()
	r1 := run(t, nil, "", "scan", "--tenant", original, "--quiet", "--out", filepath.Join(dir, "original.json"))
	r2 := run(t, nil, "", "scan", "--tenant", export, "--quiet", "--out", filepath.Join(dir, "export.json"))
	if r1.code != 1 || r2.code != 1 {
		t.Fatalf("scans: exit %d and %d\n%s\n%s", r1.code, r2.code, r1.stderr, r2.stderr)
	}
	orig, exp := readJSONReport(t, filepath.Join(dir, "original.json")), readJSONReport(t, filepath.Join(dir, "export.json"))
	fo, fe := appFindings(orig), appFindings(exp)
	if len(fo) != e.apps || len(fe) != len(fo) {
		t.Fatalf("%d apps in the original's report, %d in the export's; want %d", len(fo), len(fe), e.apps)
	}
	diffs := 0
	for id, want := range fo {
		if got := fe[id]; !slices.Equal(got, want) {
			if diffs++; diffs <= 5 {
				t.Errorf("app %s:\n  export   %q\n  original %q", id, got, want)
			}
		}
	}
	if diffs > 0 {
		t.Errorf("%d apps differ", diffs)
	}
	so, se := orig.Summary, exp.Summary
	so.Source, se.Source = "", ""
	if fmt.Sprint(so) != fmt.Sprint(se) {
		t.Errorf("summaries differ:\n  export   %+v\n  original %+v", se, so)
	}
}
