package sweep_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/store"
)

// The first sweep records old apps as a baseline and judges only those
// created within the lookback; service principals (which have no creation
// time) are baseline too. Each judged app resolves in Graph from its signal.
func TestFirstSweepBaselinesOldApps(t *testing.T) {
	tenant, old, recent := tenantWith(30, 5)
	srv := serve(t, tenant, fakegraph.WithDeltaPageSize(7))
	c := client(t, srv)
	st := store.NewMemory()
	h := &handled{resolve: c}
	stats, err := newSweeper(c, st, h).Sweep(context.Background(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	sigs := h.take()
	if got := appIDs(sigs, appwarden.ObjectApplication); !equal(got, idsOf(recent)) {
		t.Errorf("judged %v, want only the %d recent apps %v", got, len(recent), idsOf(recent))
	}
	if len(sigs) != len(recent) {
		t.Errorf("%d signals, want %d", len(sigs), len(recent))
	}
	for _, s := range sigs {
		if s.Kind != appwarden.AppCreated || s.Source != appwarden.SourceSweep || s.ObjectType != appwarden.ObjectApplication ||
			s.ObjectID == "" || s.DedupeKey == "" || s.Time.IsZero() || s.Activity != "delta applications" {
			t.Errorf("signal %+v", s)
		}
		app := h.apps[s.AppID+"|"+s.ObjectType]
		if app == nil || app.Application == nil || app.Application.ID != s.ObjectID || len(app.Permissions) != 1 || !app.Permissions[0].Granted {
			t.Errorf("resolution of %s: %+v", s.AppID, app)
		}
	}
	apps, sps := tenant.Counts()
	want := appwarden.SweepStats{Objects: apps + sps, Judged: len(recent), Baseline: len(old) + sps}
	stats.Pages = 0
	if stats != want {
		t.Errorf("stats %+v, want %+v", stats, want)
	}
	for _, feed := range []string{appwarden.FeedApplications, appwarden.FeedServicePrincipals} {
		link, baselined := cursorOf(t, st, feed)
		if !baselined || !strings.HasPrefix(link, srv.URL()+"/v1.0/"+feed+"/delta?") || !strings.Contains(link, "$deltatoken=") {
			t.Errorf("%s cursor = %q baselined %v, want the deltaLink", feed, link, baselined)
		}
	}
	if r := srv.Rejected(); len(r) != 0 {
		t.Errorf("rejected calls: %+v", r)
	}
}

// A later sweep sees only what changed since: an edited app, a new app (its
// application and its service principal), nothing else; and a sweep after
// no change sees nothing.
func TestSecondSweepSeesOnlyChanges(t *testing.T) {
	tenant, old, _ := tenantWith(20, 2)
	srv := serve(t, tenant, fakegraph.WithDeltaPageSize(5))
	c := client(t, srv)
	st := store.NewMemory()
	h := &handled{}
	s := newSweeper(c, st, h)
	if _, err := s.Sweep(context.Background(), quiet); err != nil {
		t.Fatal(err)
	}
	h.take()

	edited := old[3]
	if err := tenant.UpdateApplication(edited.AppID, func(a models.Applicationable) {
		a.GetWeb().SetRedirectUris([]string{"https://evil.example/callback"})
	}); err != nil {
		t.Fatal(err)
	}
	added := tenant.AddApp(fakegraph.AppSpec{DisplayName: "added later"})

	stats, err := s.Sweep(context.Background(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	sigs := h.take()
	if got, want := appIDs(sigs, appwarden.ObjectApplication), idsOf([]fakegraph.IDs{edited, added}); !equal(got, want) {
		t.Errorf("applications judged %v, want %v", got, want)
	}
	if got := appIDs(sigs, appwarden.ObjectServicePrincipal); !equal(got, []string{added.AppID}) {
		t.Errorf("service principals judged %v, want the new app's", got)
	}
	for _, sig := range sigs {
		wantID := added.ApplicationID
		switch {
		case sig.AppID == edited.AppID:
			wantID = edited.ApplicationID
		case sig.ObjectType == appwarden.ObjectServicePrincipal:
			wantID = added.ServicePrincipalID
		}
		if sig.Kind != appwarden.AppUpdated || sig.ObjectID != wantID || sig.Source != appwarden.SourceSweep {
			t.Errorf("signal %+v", sig)
		}
	}
	if stats.Objects != 3 || stats.Judged != 3 || stats.Baseline != 0 || stats.Removed != 0 {
		t.Errorf("stats %+v", stats)
	}

	stats, err = s.Sweep(context.Background(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	if sigs := h.take(); len(sigs) != 0 || stats.Objects != 0 || stats.Pages != 2 {
		t.Errorf("sweep with no change: %d signals, stats %+v", len(sigs), stats)
	}
}

// The cursor lives in the store: a new Sweeper with a new Graph client over
// the same store (a restart, or another instance) sees only what changed.
func TestCursorSurvivesRestart(t *testing.T) {
	tenant, old, _ := tenantWith(12, 0)
	srv := serve(t, tenant, fakegraph.WithDeltaPageSize(5))
	st := store.NewMemory()
	h := &handled{}
	if _, err := newSweeper(client(t, srv), st, h).Sweep(context.Background(), quiet); err != nil {
		t.Fatal(err)
	}
	if sigs := h.take(); len(sigs) != 0 {
		t.Fatalf("first sweep judged %d", len(sigs))
	}
	if err := tenant.UpdateApplication(old[7].AppID, func(a models.Applicationable) { a.SetNotes(ptr("changed")) }); err != nil {
		t.Fatal(err)
	}
	if err := tenant.UpdateServicePrincipal(old[2].AppID, func(sp models.ServicePrincipalable) { sp.SetAccountEnabled(ptr(false)) }); err != nil {
		t.Fatal(err)
	}

	mark := srv.Mark()
	h2 := &handled{}
	stats, err := newSweeper(client(t, srv), st, h2).Sweep(context.Background(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	sigs := h2.take()
	if got := appIDs(sigs, appwarden.ObjectApplication); !equal(got, []string{old[7].AppID}) {
		t.Errorf("applications after restart: %v", got)
	}
	if got := appIDs(sigs, appwarden.ObjectServicePrincipal); !equal(got, []string{old[2].AppID}) {
		t.Errorf("service principals after restart: %v", got)
	}
	// Two requests, one per feed, each starting from the stored deltaLink.
	var delta int
	for _, call := range srv.CallsSince(mark) {
		if call.Route == fakegraph.RouteApplicationDelta || call.Route == fakegraph.RouteServicePrincipalDelta {
			delta++
			if !strings.Contains(call.Path, "$deltatoken=") {
				t.Errorf("restarted sweep began with %s, not the stored deltaLink", call.Path)
			}
		}
	}
	if delta != 2 || stats.Pages != 2 || stats.Objects != 2 {
		t.Errorf("%d delta requests, stats %+v", delta, stats)
	}
}

// JudgeAll judges everything on the first sweep: old and recent
// applications, and every service principal.
func TestJudgeAll(t *testing.T) {
	tenant, old, recent := tenantWith(9, 3)
	srv := serve(t, tenant, fakegraph.WithDeltaPageSize(4))
	c := client(t, srv)
	h := &handled{}
	s := newSweeper(c, store.NewMemory(), h)
	s.JudgeAll = true
	stats, err := s.Sweep(context.Background(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	sigs := h.take()
	all := idsOf(old, recent)
	if got := appIDs(sigs, appwarden.ObjectApplication); !equal(got, all) {
		t.Errorf("applications judged %v, want all %v", got, all)
	}
	if got := appIDs(sigs, appwarden.ObjectServicePrincipal); !equal(got, idsOf(old, recent, []fakegraph.IDs{{AppID: fakegraph.GraphAppID}})) {
		t.Errorf("service principals judged %v", got)
	}
	for _, sig := range sigs {
		want := appwarden.AppCreated
		if sig.ObjectType == appwarden.ObjectServicePrincipal {
			want = appwarden.ServicePrincipalCreated
		}
		if sig.Kind != want {
			t.Errorf("%s %s: kind %s, want %s", sig.ObjectType, sig.AppID, sig.Kind, want)
		}
	}
	if stats.Baseline != 0 || stats.Judged != len(sigs) {
		t.Errorf("stats %+v", stats)
	}
}

// Deleted objects come back from delta as removed: counted, not handled.
func TestRemovedAreCounted(t *testing.T) {
	tenant, old, _ := tenantWith(6, 0)
	srv := serve(t, tenant)
	c := client(t, srv)
	h := &handled{}
	s := newSweeper(c, store.NewMemory(), h)
	if _, err := s.Sweep(context.Background(), quiet); err != nil {
		t.Fatal(err)
	}
	for _, ids := range old[:2] {
		if err := tenant.DeleteApp(ids.AppID); err != nil {
			t.Fatal(err)
		}
	}
	stats, err := s.Sweep(context.Background(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	if sigs := h.take(); len(sigs) != 0 {
		t.Errorf("removed objects were handled: %+v", sigs)
	}
	if stats.Removed != 4 || stats.Objects != 4 || stats.Judged != 0 {
		t.Errorf("stats %+v, want 4 removed (2 applications, 2 service principals)", stats)
	}
}

// An error from Handle stops the sweep and leaves the cursor on the failed
// page, so the next sweep handles that page again (and what follows), not
// the pages before it.
func TestHandleErrorKeepsCursorOnFailedPage(t *testing.T) {
	tenant, _, recent := tenantWith(0, 10)
	srv := serve(t, tenant, fakegraph.WithDeltaPageSize(3))
	c := client(t, srv)
	st := store.NewMemory()
	boom := errors.New("policy store unavailable")
	h := &handled{fail: map[string]error{recent[4].AppID: boom}} // on the second page
	s := newSweeper(c, st, h)

	stats, err := s.Sweep(context.Background(), quiet)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), recent[4].AppID) {
		t.Fatalf("err = %v, want the handler's, naming the app", err)
	}
	first := h.take()
	if got := appIDs(first, appwarden.ObjectApplication); !equal(got, idsOf(recent[:6])) {
		t.Errorf("first sweep handled %v, want the first two pages", got)
	}
	if stats.Pages != 2 {
		t.Errorf("stats %+v, want 2 pages", stats)
	}
	link, baselined := cursorOf(t, st, appwarden.FeedApplications)
	if baselined || !strings.Contains(link, "$skiptoken=") {
		t.Errorf("cursor after the failure = %q baselined %v, want the second page's link", link, baselined)
	}
	if _, found, _ := st.Get(context.Background(), appwarden.PartitionCursors, appwarden.FeedServicePrincipals); found {
		t.Error("the service principal feed was swept after the failure")
	}

	if _, err := s.Sweep(context.Background(), quiet); err != nil {
		t.Fatal(err)
	}
	second := h.take()
	if got := appIDs(second, appwarden.ObjectApplication); !equal(got, idsOf(recent[3:])) {
		t.Errorf("retry handled %v, want the failed page and the rest %v", got, idsOf(recent[3:]))
	}
	for _, sig := range second {
		if sig.Kind != appwarden.AppCreated {
			t.Errorf("retry of the first sweep: kind %s", sig.Kind)
		}
	}
	if _, baselined := cursorOf(t, st, appwarden.FeedApplications); !baselined {
		t.Error("applications feed not baselined after the retry")
	}
	cursorOf(t, st, appwarden.FeedServicePrincipals)
}

// Parallel bounds how many objects of a page are handled at once.
func TestParallelIsBounded(t *testing.T) {
	tenant, _, recent := tenantWith(0, 40)
	srv := serve(t, tenant, fakegraph.WithDeltaPageSize(40))
	c := client(t, srv)
	h := &handled{resolve: c}
	s := newSweeper(c, store.NewMemory(), h)
	s.Parallel = 3
	if _, err := s.Sweep(context.Background(), quiet); err != nil {
		t.Fatal(err)
	}
	if n := len(h.take()); n != len(recent) {
		t.Errorf("%d handled", n)
	}
	if h.maxSeen > 3 || h.maxSeen < 1 {
		t.Errorf("%d handled at once, want at most 3", h.maxSeen)
	}
}

// A corrupt cursor is an error, not a silent restart from scratch.
func TestCorruptCursor(t *testing.T) {
	tenant, _, _ := tenantWith(1, 0)
	srv := serve(t, tenant)
	st := store.NewMemory()
	if _, err := st.Replace(context.Background(), appwarden.Record{Partition: appwarden.PartitionCursors, Key: appwarden.FeedApplications, Kind: appwarden.KindCursor, Time: time.Now(), Data: []byte(`{`)}); err != nil {
		t.Fatal(err)
	}
	_, err := newSweeper(client(t, srv), st, &handled{}).Sweep(context.Background(), quiet)
	if err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("err = %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// A deltaLink Graph has forgotten (7 days without a sweep: 400
// syncStateNotFound) does not stop the sweeper for good: the feed starts
// over as a first sweep, judging only what is recent, and the next sweep
// is incremental again.
func TestExpiredDeltaLinkStartsOver(t *testing.T) {
	tenant, old, recent := tenantWith(8, 2)
	srv := serve(t, tenant, fakegraph.WithDeltaPageSize(3))
	c := client(t, srv)
	st := store.NewMemory()
	h := &handled{}
	s := newSweeper(c, st, h)
	if _, err := s.Sweep(context.Background(), quiet); err != nil {
		t.Fatal(err)
	}
	h.take()

	tenant.ExpireDeltaTokens()
	added := tenant.AddApp(fakegraph.AppSpec{DisplayName: "added while the link expired"})
	stats, err := s.Sweep(context.Background(), quiet)
	if err != nil {
		t.Fatalf("sweep with an expired deltaLink: %v", err)
	}
	sigs := h.take()
	want := idsOf(recent, []fakegraph.IDs{added})
	if got := appIDs(sigs, appwarden.ObjectApplication); !equal(got, want) {
		t.Errorf("judged %v, want the recent apps %v", got, want)
	}
	if len(sigs) != len(want) {
		t.Errorf("%d signals: %+v", len(sigs), sigs)
	}
	apps, sps := tenant.Counts()
	if stats.Objects != apps+sps || stats.Baseline != len(old)+sps {
		t.Errorf("stats %+v", stats)
	}
	for _, feed := range []string{appwarden.FeedApplications, appwarden.FeedServicePrincipals} {
		if link, baselined := cursorOf(t, st, feed); !baselined || !strings.Contains(link, "$deltatoken=") {
			t.Errorf("%s cursor %q baselined %v", feed, link, baselined)
		}
	}

	if err := tenant.UpdateApplication(old[0].AppID, func(a models.Applicationable) { a.SetNotes(ptr("x")) }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sweep(context.Background(), quiet); err != nil {
		t.Fatal(err)
	}
	if got := appIDs(h.take(), appwarden.ObjectApplication); !equal(got, []string{old[0].AppID}) {
		t.Errorf("next sweep judged %v, want only the edited app", got)
	}

	// Any other error from the feed is returned as it is.
	srv.FailNext(1, 500, fakegraph.OnRoute(fakegraph.RouteApplicationDelta))
	if _, err := s.Sweep(context.Background(), quiet); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("err = %v, want the 500", err)
	}
}

// baselines records what the first sweep hands to the baseline.
type baselines struct {
	apps map[string]*appwarden.Application
}

func (b *baselines) RecordDelta(_ context.Context, appID string, a *appwarden.Application) error {
	b.apps[appID] = a
	return nil
}

// The first sweep records each old app's baseline from its delta object
// (its requested permissions among them), and nothing for the apps it
// judges (their decision records it) or for service principals.
func TestFirstSweepRecordsOldAppsBaseline(t *testing.T) {
	tenant, old, recent := tenantWith(12, 3)
	backup := tenant.AddApp(fakegraph.AppSpec{CreatedDateTime: time.Now().AddDate(-1, 0, 0),
		Requested: []fakegraph.Permission{fakegraph.GraphRole("Files.ReadWrite.All")}, RedirectURIs: []string{"https://backup.contoso.example/cb"}})
	old = append(old, backup)
	srv := serve(t, tenant, fakegraph.WithDeltaPageSize(5))
	c := client(t, srv)
	b := &baselines{apps: map[string]*appwarden.Application{}}
	sw := newSweeper(c, store.NewMemory(), &handled{resolve: c})
	sw.Baseline = b
	if _, err := sw.Sweep(context.Background(), quiet); err != nil {
		t.Fatal(err)
	}
	if len(b.apps) != len(old) {
		t.Fatalf("%d baselines recorded, want one per old app (%d)", len(b.apps), len(old))
	}
	for _, ids := range old {
		a := b.apps[ids.AppID]
		if a == nil || a.ID != ids.ApplicationID || a.SignInAudience == "" {
			t.Errorf("baseline of %s: %+v", ids.AppID, a)
		}
	}
	if a := b.apps[backup.AppID]; a == nil || len(a.RequiredResourceAccess) != 1 || len(a.RedirectURIs) != 1 {
		t.Errorf("the backup app's baseline lacks its requested permission or redirect URI: %+v", a)
	}
	for _, ids := range recent {
		if b.apps[ids.AppID] != nil {
			t.Errorf("a recent app (judged, not baselined) got a delta baseline: %s", ids.AppID)
		}
	}
}
