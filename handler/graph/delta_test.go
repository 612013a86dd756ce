package graph_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/graph"
)

// DeltaPages streams a feed page by page: each object with its ids, name and
// creation time (applications) or managed identity flag (service
// principals); deleted objects as removed; a Resume link per page, the
// deltaLink on the final one.
func TestDeltaPages(t *testing.T) {
	tenant := fakegraph.NewTenant(tenantID)
	var apps []fakegraph.IDs
	for i := 0; i < 5; i++ {
		apps = append(apps, tenant.AddApp(fakegraph.AppSpec{DisplayName: "app", CreatedDateTime: created.Add(time.Duration(i) * time.Minute)}))
	}
	mi := tenant.AddServicePrincipal(fakegraph.SPSpec{DisplayName: "func-x", ServicePrincipalType: "ManagedIdentity"})
	srv := serve(t, tenant, fakegraph.WithDeltaPageSize(2))
	c := client(t, srv, fastRetry)
	ctx := context.Background()

	var pages []graph.DeltaPage
	start := c.DeltaStart(graph.FeedApplications)
	if !strings.HasPrefix(start, srv.URL()+"/v1.0/applications/delta?") {
		t.Errorf("DeltaStart = %s", start)
	}
	if err := c.DeltaPages(ctx, graph.FeedApplications, start, func(p graph.DeltaPage) error {
		pages = append(pages, p)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(pages) != 3 || pages[0].Final || pages[1].Final || !pages[2].Final || !strings.Contains(pages[2].Resume, "$deltatoken=") || !strings.Contains(pages[0].Resume, "$skiptoken=") {
		t.Fatalf("pages = %+v", pages)
	}
	i := 0
	for _, p := range pages {
		for _, o := range p.Objects {
			want := graph.DeltaObject{Feed: graph.FeedApplications, ID: apps[i].ApplicationID, AppID: apps[i].AppID, DisplayName: "app", Created: created.Add(time.Duration(i) * time.Minute)}
			// The registration's own properties come along, for the first
			// sweep's baseline.
			if a := o.Application; a == nil || a.ID != apps[i].ApplicationID || a.AppID != apps[i].AppID || a.SignInAudience == "" {
				t.Errorf("object %d carries application %+v", i, o.Application)
			}
			o.Application = nil
			if o != want {
				t.Errorf("object %d = %+v, want %+v", i, o, want)
			}
			i++
		}
	}
	deltaLink := pages[2].Resume

	var sps []graph.DeltaObject
	if err := c.DeltaPages(ctx, graph.FeedServicePrincipals, c.DeltaStart(graph.FeedServicePrincipals), func(p graph.DeltaPage) error {
		sps = append(sps, p.Objects...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(sps) != 6 || sps[5].ID != mi.ServicePrincipalID || !sps[5].ManagedIdentity || sps[0].ManagedIdentity || sps[0].Feed != graph.FeedServicePrincipals {
		t.Errorf("service principals = %+v", sps)
	}

	// Changes since: one deleted, one added.
	if err := tenant.DeleteApp(apps[1].AppID); err != nil {
		t.Fatal(err)
	}
	added := tenant.AddApp(fakegraph.AppSpec{DisplayName: "new"})
	var changed []graph.DeltaObject
	if err := c.DeltaPages(ctx, graph.FeedApplications, deltaLink, func(p graph.DeltaPage) error {
		changed = append(changed, p.Objects...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(changed) != 2 || !changed[0].Removed || changed[0].ID != apps[1].ApplicationID || changed[0].AppID != "" ||
		changed[1].Removed || changed[1].AppID != added.AppID {
		t.Errorf("changes = %+v", changed)
	}

	// An error from fn stops the stream; an expired link says so.
	stop := errors.New("stop")
	n := 0
	if err := c.DeltaPages(ctx, graph.FeedApplications, start, func(graph.DeltaPage) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("stop: %v after %d pages", err, n)
	}
	tenant.ExpireDeltaTokens()
	err := c.DeltaPages(ctx, graph.FeedApplications, deltaLink, func(graph.DeltaPage) error { return nil })
	if !errors.Is(err, appwarden.ErrResyncRequired) {
		t.Errorf("expired link: %v, want ResyncRequired", err)
	}
	noRejects(t, srv)
}
