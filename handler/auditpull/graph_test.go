package auditpull_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/auditlog"
	"github.com/appwarden/appwarden/handler/auditpull"
	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/graph"
	"github.com/appwarden/appwarden/handler/graph/graphtest"
)

// TestPullFromGraph pulls through the production Graph client from the
// stand-in's /auditLogs/directoryAudits, with Entra's audit lag: an
// escalation on an existing app (a new secret) and a directory role given
// to its service principal (RoleManagement) are taken once each, within one
// interval of being published, and not again by the overlapping pulls.
func TestPullFromGraph(t *testing.T) {
	clk := &clock{t: t0}
	tenant := fakegraph.NewTenant("")
	tenant.AddMicrosoftGraph()
	ids := tenant.AddApp(fakegraph.AppSpec{DisplayName: "Payroll sync", PublisherDomain: "contoso.com"})
	tenant.ClearAuditLog()
	tenant.SetAuditClock(clk.now)
	tenant.SetAuditLag(2 * time.Minute)
	srv, err := fakegraph.Start(tenant)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	gc := graphtest.Client(t, srv, graph.RetryPolicy{})
	src, ok := any(gc).(appwarden.AuditSource)
	if !ok {
		t.Skip("graph.Client does not implement appwarden.AuditSource (DirectoryAudits) yet")
	}

	r := newRig()
	r.clk = clk
	p := &auditpull.Puller{Source: src, Store: r.store, Decode: auditlog.Decode, Seen: r.rec, Pending: r.pend, Poison: r.poison, Now: clk.now}
	log := slog.New(slog.NewTextHandler(r.logs, nil))
	ctx := context.Background()
	pull := func(at time.Time) auditpull.Stats {
		t.Helper()
		clk.set(at)
		st, err := p.Run(ctx, log, r.rec.process)
		if err != nil {
			t.Fatalf("pull at %s: %v", at.Format(time.TimeOnly), err)
		}
		return st
	}

	pull(t0) // the first pull: nothing yet
	tenant.AddApplicationPassword(ids.AppID, "sneaky")
	tenant.AssignDirectoryRole(ids.AppID, fakegraph.RolePrivilegedRoleAdministrator)
	if st := pull(t0.Add(time.Minute)); st.New != 0 {
		t.Fatalf("records listed before their audit lag passed: %+v", st)
	}
	st := pull(t0.Add(2*time.Minute + time.Second))
	if st.New != 2 {
		t.Fatalf("pull after the lag: %+v\nlog:\n%s", st, r.logs)
	}
	kinds := map[appwarden.SignalKind]bool{}
	for _, k := range r.rec.keys() {
		if !strings.HasPrefix(k, "audit:") {
			t.Errorf("dedupe key %q is not audit:<record id>", k)
		}
	}
	for _, sig := range r.rec.signals() {
		kinds[sig.Kind] = true
		// "Add member to role" names the service principal by object id
		// only (FACTS.md §1); the others carry the appId.
		if sig.AppID != ids.AppID && !(sig.AppID == "" && strings.EqualFold(sig.ObjectID, ids.ServicePrincipalID)) {
			t.Errorf("signal %s names app %q (object %q), want appId %q or service principal %q", sig.DedupeKey, sig.AppID, sig.ObjectID, ids.AppID, ids.ServicePrincipalID)
		}
	}
	if !kinds[appwarden.CredentialAdded] || !kinds[appwarden.DirectoryRoleGranted] {
		t.Errorf("signal kinds %v, want CredentialAdded and DirectoryRoleGranted", kinds)
	}
	for _, at := range []time.Duration{3 * time.Minute, 4 * time.Minute} {
		if st := pull(t0.Add(at + time.Second)); st.New != 0 || st.Duplicates != 2 {
			t.Errorf("overlapping pull at +%s: %+v, want both records skipped", at, st)
		}
	}
	if got := slices.Compact(slices.Sorted(slices.Values(r.rec.keys()))); len(got) != 2 {
		t.Errorf("processed %v, want two records, once each", r.rec.keys())
	}
}
