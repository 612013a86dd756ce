package sweep_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/store"
	"github.com/appwarden/appwarden/handler/sweep"
)

// scripted is a delta feed that serves, for each link, the pages given for
// it, and remembers the links followed.
type scripted struct {
	mu    sync.Mutex
	pages map[string][]appwarden.DeltaPage // by link
	links []string
}

func (f *scripted) DeltaStart(feed string) string { return "start:" + feed }

func (f *scripted) DeltaPages(_ context.Context, _, link string, fn func(appwarden.DeltaPage) error) error {
	f.mu.Lock()
	f.links = append(f.links, link)
	pages := f.pages[link]
	f.mu.Unlock()
	for _, p := range pages {
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

// deciding is a Baseline whose Decider answers from a list of apps decided
// at a given time: an object is decided when its app's decision is at or
// after since (as baseline.Keeper.Decided tells it). It records each
// question.
type deciding struct {
	mu      sync.Mutex
	decided map[string]time.Time // appId: when it was decided
	asked   map[string][]time.Time
}

func (d *deciding) RecordDelta(context.Context, string, *appwarden.Application) error { return nil }

func (d *deciding) Decided(_ context.Context, o appwarden.DeltaObject, since time.Time) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.asked == nil {
		d.asked = map[string][]time.Time{}
	}
	d.asked[o.AppID] = append(d.asked[o.AppID], since)
	at, ok := d.decided[o.AppID]
	return ok && !since.IsZero() && !at.Before(since), nil
}

func (d *deciding) questions(appID string) []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.asked[appID]
}

// clock is a Sweeper's Now that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)

// recentApp is an application delta object created at the given time.
func recentApp(appID string, created time.Time) appwarden.DeltaObject {
	return appwarden.DeltaObject{Feed: appwarden.FeedApplications, ID: "obj-" + appID, AppID: appID, Created: created,
		Application: &appwarden.Application{ID: "obj-" + appID, AppID: appID, CreatedDateTime: created}}
}

// A first pass judges an application created within the look-back as new,
// unless its app was already decided after its creation (an event about
// it came first): that one is skipped, not handed over again. The question
// is asked with since = the app's creation.
func TestFirstPassSkipsAnAppDecidedAfterItsCreation(t *testing.T) {
	clk := &clock{t: t0}
	createdA, createdB := t0.Add(-2*time.Hour), t0.Add(-time.Hour)
	feed := &scripted{pages: map[string][]appwarden.DeltaPage{
		"start:" + appwarden.FeedApplications: {{Objects: []appwarden.DeltaObject{
			recentApp("app-decided", createdA),
			recentApp("app-fresh", createdB),
			// Decided, but before it was created (a record of an earlier
			// app with the same id): judged.
			recentApp("app-stale", createdB),
		}, Resume: "delta:apps", Final: true}},
		"start:" + appwarden.FeedServicePrincipals: {{Resume: "delta:sps", Final: true}},
	}}
	dec := &deciding{decided: map[string]time.Time{
		"app-decided": createdA.Add(time.Minute),
		"app-stale":   createdB.Add(-time.Minute),
	}}
	h := &handled{}
	s := &sweep.Sweeper{Feed: feed, Store: store.NewMemory(), Handle: h.Handle, Lookback: lookback, Parallel: 1, Baseline: dec, Now: clk.Now}
	stats, err := s.Sweep(context.Background(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	sigs := h.take()
	if got, want := appIDs(sigs, appwarden.ObjectApplication), []string{"app-fresh", "app-stale"}; !equal(got, want) {
		t.Errorf("handled %v, want %v (not the app decided after its creation)", got, want)
	}
	for _, sig := range sigs {
		if sig.Kind != appwarden.AppCreated {
			t.Errorf("%s handed over as %s, want %s", sig.AppID, sig.Kind, appwarden.AppCreated)
		}
	}
	if stats.Judged != 2 || stats.Skipped != 1 {
		t.Errorf("stats %+v, want 2 judged and 1 skipped", stats)
	}
	for app, created := range map[string]time.Time{"app-decided": createdA, "app-fresh": createdB, "app-stale": createdB} {
		if q := dec.questions(app); len(q) != 1 || !q[0].Equal(created) {
			t.Errorf("Decided(%s) asked with since %v, want once with its creation %v", app, q, created)
		}
	}
}

// cursorSeen reads a feed's cursor record: its save time and the `seen`
// its JSON holds.
func cursorSeen(t *testing.T, st appwarden.Store, feed string) (saved, seen time.Time) {
	t.Helper()
	rec, found, err := st.Get(context.Background(), appwarden.PartitionCursors, feed)
	if err != nil || !found {
		t.Fatalf("cursor of %s: found %v, %v", feed, found, err)
	}
	var c struct {
		Seen *time.Time `json:"seen"`
	}
	if err := json.Unmarshal(rec.Data, &c); err != nil {
		t.Fatal(err)
	}
	if c.Seen == nil {
		t.Fatalf("cursor of %s holds no seen: %s", feed, rec.Data)
	}
	return rec.Time, *c.Seen
}

// A pass's cursor holds when its last page arrived (before that page was
// worked on), and the next pass asks what was decided since then, not since
// the cursor was saved: a decision made while that page was being handled
// counts.
func TestNextPassCountsDecisionsFromTheLastPageArrival(t *testing.T) {
	clk := &clock{t: t0}
	recent := t0.Add(-time.Hour)
	feed := &scripted{pages: map[string][]appwarden.DeltaPage{
		"start:" + appwarden.FeedApplications: {
			{Objects: []appwarden.DeltaObject{recentApp("app-1", recent)}, Resume: "next:apps"},
			{Objects: []appwarden.DeltaObject{recentApp("app-2", recent)}, Resume: "delta:apps", Final: true},
		},
		"start:" + appwarden.FeedServicePrincipals: {{Resume: "delta:sps", Final: true}},
	}}
	dec := &deciding{decided: map[string]time.Time{}}
	h := &handled{}
	// Each app takes a minute to handle.
	handle := func(ctx context.Context, log *slog.Logger, sig appwarden.Signal) error {
		clk.advance(time.Minute)
		return h.Handle(ctx, log, sig)
	}
	st := store.NewMemory()
	s := &sweep.Sweeper{Feed: feed, Store: st, Handle: handle, Lookback: lookback, Parallel: 1, Baseline: dec, Now: clk.Now}
	ctx := context.Background()
	if _, err := s.Sweep(ctx, quiet); err != nil {
		t.Fatal(err)
	}
	if got := appIDs(h.take(), appwarden.ObjectApplication); !equal(got, []string{"app-1", "app-2"}) {
		t.Fatalf("first pass handled %v, want both apps", got)
	}
	// The first page arrived at t0 and was saved at t0+1m; the second (the
	// last) arrived at t0+1m and was saved at t0+2m.
	lastArrival := t0.Add(time.Minute)
	saved, seen := cursorSeen(t, st, appwarden.FeedApplications)
	if !seen.Equal(lastArrival) {
		t.Errorf("cursor seen = %v, want the last page's arrival %v", seen, lastArrival)
	}
	if !saved.Equal(t0.Add(2 * time.Minute)) {
		t.Fatalf("cursor saved at %v, want %v (the test needs arrival and save apart)", saved, t0.Add(2*time.Minute))
	}

	// The second pass: app-2 was decided (by an event) while the last page
	// was being worked on, after it arrived and before the cursor was
	// saved; app-3 changed and was never decided.
	feed.mu.Lock()
	feed.pages["delta:apps"] = []appwarden.DeltaPage{{Objects: []appwarden.DeltaObject{
		recentApp("app-2", recent), recentApp("app-3", recent),
	}, Resume: "delta:apps-2", Final: true}}
	feed.mu.Unlock()
	dec.mu.Lock()
	dec.decided["app-2"] = lastArrival.Add(30 * time.Second)
	dec.mu.Unlock()
	clk.advance(time.Hour)
	secondArrival := clk.Now()
	stats, err := s.Sweep(ctx, quiet)
	if err != nil {
		t.Fatal(err)
	}
	sigs := h.take()
	if got := appIDs(sigs, appwarden.ObjectApplication); !equal(got, []string{"app-3"}) {
		t.Errorf("second pass handled %v, want only app-3 (app-2 was decided after the last page arrived)", got)
	}
	for _, sig := range sigs {
		if sig.Kind != appwarden.AppUpdated {
			t.Errorf("second pass handed %s over as %s, want %s", sig.AppID, sig.Kind, appwarden.AppUpdated)
		}
	}
	if stats.Skipped != 1 {
		t.Errorf("second pass stats %+v, want 1 skipped", stats)
	}
	for _, app := range []string{"app-2", "app-3"} {
		q := dec.questions(app)
		if len(q) == 0 || !q[len(q)-1].Equal(lastArrival) {
			t.Errorf("second pass asked Decided(%s) with since %v, want the last page's arrival %v (not the cursor's save %v)", app, q, lastArrival, saved)
		}
	}
	// And the second pass's cursor holds its own last page's arrival.
	if _, seen := cursorSeen(t, st, appwarden.FeedApplications); !seen.Equal(secondArrival) {
		t.Errorf("second cursor seen = %v, want %v", seen, secondArrival)
	}
	feed.mu.Lock()
	links := append([]string(nil), feed.links...)
	feed.mu.Unlock()
	want := []string{"start:" + appwarden.FeedApplications, "start:" + appwarden.FeedServicePrincipals, "delta:apps", "delta:sps"}
	if !equal(links, want) {
		t.Errorf("links followed %v, want %v", links, want)
	}
}
