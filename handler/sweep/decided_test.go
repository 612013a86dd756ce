package sweep_test

import (
	"context"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/baseline"
	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/graph"
	"github.com/appwarden/appwarden/handler/store"
)

// The sweep skips an object whose change AppWarden already decided (the
// event got there first: its facts were recorded after the previous pass,
// and the delta object shows nothing they lack), and still resolves an app
// changed after its decision, and one never decided.
func TestSweepSkipsDecided(t *testing.T) {
	tenant, _, _ := tenantWith(2, 0)
	srv := serve(t, tenant)
	c := client(t, srv)
	st := store.NewMemory()
	keeper := &baseline.Keeper{Store: st, Lookback: lookback}
	h := &handled{}
	s := newSweeper(c, st, h)
	s.Baseline = keeper
	ctx := context.Background()
	if _, err := s.Sweep(ctx, quiet); err != nil { // the first pass: the old apps become the baseline
		t.Fatal(err)
	}
	h.take()

	spec := fakegraph.AppSpec{Requested: []fakegraph.Permission{fakegraph.GraphRole("Mail.Send")}, Owners: []fakegraph.Owner{{DisplayName: "Dev"}}}
	decided := tenant.AddApp(spec)
	changed := tenant.AddApp(spec)
	fresh := tenant.AddApp(spec)
	// The events decide the first two: resolved and recorded, as the
	// pipeline does after acting.
	for _, ids := range []fakegraph.IDs{decided, changed} {
		app, err := c.Resolve(ctx, graph.Subject{AppID: ids.AppID, Kind: appwarden.AppCreated})
		if err != nil {
			t.Fatal(err)
		}
		if err := keeper.Record(ctx, app); err != nil {
			t.Fatal(err)
		}
	}
	// Then a secret is added to the second: a change after its decision.
	time.Sleep(5 * time.Millisecond)
	tenant.AddApplicationPassword(changed.AppID, "later")

	stats, err := s.Sweep(ctx, quiet)
	if err != nil {
		t.Fatal(err)
	}
	sigs := h.take()
	want := idsOf([]fakegraph.IDs{changed, fresh})
	if got := appIDs(sigs, appwarden.ObjectApplication); !equal(got, want) {
		t.Errorf("applications resolved: %v, want %v (changed and fresh, not the decided one)", got, want)
	}
	// The service principals of the decided apps are skipped: their apps
	// were decided after the previous pass; the fresh app's is not.
	if got := appIDs(sigs, appwarden.ObjectServicePrincipal); !equal(got, []string{fresh.AppID}) {
		t.Errorf("service principals resolved: %v, want only %s", got, fresh.AppID)
	}
	if stats.Skipped != 3 {
		t.Errorf("stats %+v, want 3 skipped (the decided app, two service principals)", stats)
	}
}

// Without a previous pass (the first sweep) nothing counts as decided, and a
// first sweep's partial baseline never does.
func TestDecidedNeedsAFullRecordSinceThePreviousPass(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	keeper := &baseline.Keeper{Store: st, Lookback: lookback}
	a := &appwarden.Application{ID: "o1", AppID: "a1", SignInAudience: "AzureADMyOrg"}
	o := appwarden.DeltaObject{Feed: appwarden.FeedApplications, ID: "o1", AppID: "a1", Application: a}
	since := time.Now().Add(-time.Minute)
	if err := keeper.RecordDelta(ctx, "a1", a); err != nil {
		t.Fatal(err)
	}
	if ok, err := keeper.Decided(ctx, o, since); ok || err != nil {
		t.Errorf("a partial baseline counted as decided (%v, %v)", ok, err)
	}
	if err := keeper.Record(ctx, &appwarden.App{AppID: "a1", Application: a}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := keeper.Decided(ctx, o, since); !ok {
		t.Error("a decision after the previous pass, same facts: not decided")
	}
	if ok, _ := keeper.Decided(ctx, o, time.Time{}); ok {
		t.Error("decided without a previous pass")
	}
	if ok, _ := keeper.Decided(ctx, o, time.Now().Add(time.Minute)); ok {
		t.Error("a decision before the previous pass counted")
	}
	b := *a
	b.SignInAudience = "AzureADandPersonalMicrosoftAccount"
	if ok, _ := keeper.Decided(ctx, appwarden.DeltaObject{Feed: appwarden.FeedApplications, ID: "o1", AppID: "a1", Application: &b}, since); ok {
		t.Error("a new audience counted as decided")
	}
}
