package expiry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/baseline"
	"github.com/appwarden/appwarden/handler/expiry"
	"github.com/appwarden/appwarden/handler/store"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const passDay = 24 * time.Hour

// start is a morning after the pass's time (08:00 UTC).
var start = time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)

// clock is a settable time for Passes.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// heard records what the notifier was handed, keyed by marker.
type heard struct {
	mu    sync.Mutex
	calls int
	got   map[string]int
	items []appwarden.Expiring
	fail  error
	keep  bool
}

func (h *heard) NotifyExpiring(_ context.Context, _ *slog.Logger, due []appwarden.Expiring) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail != nil {
		return h.fail
	}
	h.calls++
	if h.got == nil {
		h.got = map[string]int{}
	}
	for _, e := range due {
		h.got[expiry.MarkerKey(e)]++
		if h.keep {
			h.items = append(h.items, e)
		}
	}
	return nil
}

func (h *heard) total() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.got {
		n += c
	}
	return n
}

func appNo(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i) }

// credApp is an app registered here, with one secret ending at end and
// one owner.
func credApp(i int, end time.Time) *appwarden.App {
	id := appNo(i)
	return &appwarden.App{
		AppID: id, DisplayName: fmt.Sprintf("app %d", i),
		Application: &appwarden.Application{ID: "0b" + id[2:], AppID: id, DisplayName: fmt.Sprintf("app %d", i),
			PasswordCredentials: []appwarden.Credential{{KeyID: "5e" + id[2:], DisplayName: "ci secret", StartDateTime: end.AddDate(-1, 0, 0), EndDateTime: end}}},
		ServicePrincipals: []appwarden.ServicePrincipal{{ID: "5b" + id[2:], AppID: id, ServicePrincipalType: "Application", AppOwnerOrganizationID: "c0c0c0c0-0000-4000-8000-00000000000c"}},
		Owners:            []appwarden.Principal{{ID: "0a" + id[2:], UPN: fmt.Sprintf("owner%d@contoso.example", i), Type: "user"}},
	}
}

func record(t testing.TB, st appwarden.Store, apps ...*appwarden.App) {
	t.Helper()
	k := &baseline.Keeper{Store: st}
	for _, a := range apps {
		if err := k.Record(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
}

func newPass(st appwarden.Store, c *clock, n appwarden.ExpiryNotifier) *expiry.Pass {
	return &expiry.Pass{Store: st, Facts: baseline.Ledger{Store: st}, Thresholds: expiry.DefaultThresholds, At: 8 * time.Hour, Notifier: n, Now: c.Now, Owner: "test"}
}

// TestPassReportsEachThresholdOnce: a secret ending in 40 days is reported
// at 30, 14, 7 and 1 day and once expired, each once, over 45 days of
// daily passes, each a new Pass (a restart) over the same store; a second
// run the same day, even with the day's cursor lost, reports nothing again.
func TestPassReportsEachThresholdOnce(t *testing.T) {
	st := store.NewMemory()
	end := start.Add(40*passDay + 2*time.Hour)
	record(t, st, credApp(1, end))
	c := &clock{t: start}
	h := &heard{}
	var when []string
	for d := range 45 {
		c.Set(start.Add(time.Duration(d) * passDay))
		before := h.total()
		if _, err := newPass(st, c, h).RunStats(context.Background(), quiet); err != nil {
			t.Fatal(err)
		}
		// Later the same day: done already.
		c.Set(start.Add(time.Duration(d)*passDay + 3*time.Hour))
		if s, err := newPass(st, c, h).RunStats(context.Background(), quiet); err != nil || s.Ran {
			t.Fatalf("day %d: a second run the same day ran (%+v, %v)", d, s, err)
		}
		if h.total() > before {
			when = append(when, fmt.Sprint(d))
		}
	}
	id := appNo(1)
	key := "5e" + id[2:]
	for _, th := range []string{"30d", "14d", "7d", "1d", "expired"} {
		if n := h.got[id+"|"+key+"|"+th]; n != 1 {
			t.Errorf("threshold %s reported %d times; want once (all: %v)", th, n, h.got)
		}
	}
	if len(h.got) != 5 {
		t.Errorf("reported %v; want exactly the five thresholds", h.got)
	}
	// 40d2h left on day 0: 30d on day 11 (29d2h), 14d on day 27, 7d on
	// day 34, 1d on day 40 (2h left), expired on day 41.
	if fmt.Sprint(when) != "[11 27 34 40 41]" {
		t.Errorf("reported on days %v; want [11 27 34 40 41]", when)
	}

	// Markers outlive the cursor: a pass that lost its cursor (a new
	// store record, a restart mid-pass) reports nothing twice.
	if err := st.Delete(context.Background(), appwarden.PartitionCursors, expiry.CursorKey); err != nil {
		t.Fatal(err)
	}
	before := h.total()
	if s, err := newPass(st, c, h).RunStats(context.Background(), quiet); err != nil || !s.Ran || !s.Finished || s.Due != 1 || s.Reported != 0 {
		t.Fatalf("rerun without a cursor = %+v, %v; want one due, none reported", s, err)
	}
	if h.total() != before {
		t.Fatal("a rerun reported a credential twice")
	}
}

// TestPassRunsOnceADayAtItsTime: not before the time of day (the first
// pass waits for today's, not yesterday's), once at or after it, and again
// the next day at or after it.
func TestPassRunsOnceADayAtItsTime(t *testing.T) {
	st := store.NewMemory()
	record(t, st, credApp(1, start.Add(3*passDay)))
	c := &clock{}
	run := func(at time.Time) bool {
		t.Helper()
		c.Set(at)
		s, err := newPass(st, c, &heard{}).RunStats(context.Background(), quiet)
		if err != nil {
			t.Fatal(err)
		}
		return s.Ran
	}
	day := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		at   time.Duration
		want bool
	}{
		{7*time.Hour + 59*time.Minute, false}, // first ever, before 08:00
		{8 * time.Hour, true},
		{8*time.Hour + time.Minute, false},
		{23 * time.Hour, false},
		{passDay + 7*time.Hour, false}, // next day, before 08:00
		{passDay + 8*time.Hour + 30*time.Second, true},
		{passDay + 20*time.Hour, false},
		{3*passDay + 2*time.Hour, true}, // two days missed: the pass due is yesterday's 08:00
		{3*passDay + 9*time.Hour, true}, // today's
	} {
		if got := run(day.Add(tc.at)); got != tc.want {
			t.Errorf("at %s: ran %v; want %v", day.Add(tc.at).Format(time.RFC3339), got, tc.want)
		}
	}
	// Off: no thresholds, no run.
	c.Set(day.Add(5 * passDay))
	p := newPass(st, c, &heard{})
	p.Thresholds = nil
	if s, err := p.RunStats(context.Background(), quiet); err != nil || s.Ran {
		t.Errorf("with no thresholds the pass ran: %+v, %v", s, err)
	}
}

// population records n apps with secrets at assorted ends (and, for some,
// a certificate on the service principal), every 50th a managed identity
// and the next a Microsoft app (both with expiring credentials, both to
// be skipped). want counts the warnings expected per threshold.
func population(t testing.TB, st appwarden.Store, n int, now time.Time) (want map[string]int) {
	t.Helper()
	want = map[string]int{}
	lefts := []struct {
		left time.Duration
		th   string
	}{
		{-3 * passDay, "expired"}, {-400 * passDay, "expired"}, {12 * time.Hour, "1d"}, {5 * passDay, "7d"},
		{10 * passDay, "14d"}, {20 * passDay, "30d"}, {31 * passDay, ""}, {60 * passDay, ""}, {400 * passDay, ""}, {2 * 365 * passDay, ""},
	}
	k := &baseline.Keeper{Store: st}
	for i := range n {
		l := lefts[i%len(lefts)]
		app := credApp(i, now.Add(l.left))
		sp := &app.ServicePrincipals[0]
		skip := false
		switch i % 50 {
		case 7:
			app.Application = nil
			sp.ServicePrincipalType = "ManagedIdentity"
			sp.KeyCredentials = []appwarden.Credential{{KeyID: "ce" + app.AppID[2:], EndDateTime: now.Add(2 * passDay)}}
			skip = true
		case 8:
			app.Application = nil
			sp.AppOwnerOrganizationID = appwarden.MicrosoftServicesTenantID
			sp.PasswordCredentials = []appwarden.Credential{{KeyID: "ce" + app.AppID[2:], EndDateTime: now.Add(-2 * passDay)}}
			skip = true
		}
		if i%3 == 0 && !skip {
			sp.KeyCredentials = []appwarden.Credential{{KeyID: "ce" + app.AppID[2:], EndDateTime: now.Add(6 * passDay)}}
			want["7d"]++
		}
		if !skip && l.th != "" {
			want[l.th]++
		}
		if err := k.Record(context.Background(), app); err != nil {
			t.Fatal(err)
		}
	}
	return want
}

// sampling is a store whose pages sample the live heap (after a GC)
// while a pass walks it, so that a pass holding every record shows. It
// keeps no markers (each is new, inserted once, in a single run), so that
// the heap measured is the pass's, not the store's state growing: in
// Table Storage, markers take no memory at all.
type sampling struct {
	appwarden.Store
	peak uint64
	gets int
}

func (s *sampling) Get(ctx context.Context, partition, key string) (appwarden.Record, bool, error) {
	if partition == expiry.PartitionMarkers {
		// Mid-page too: every 250th marker read.
		if s.gets++; s.gets%250 == 0 {
			s.sample()
		}
		return appwarden.Record{}, false, nil
	}
	return s.Store.Get(ctx, partition, key)
}

func (s *sampling) Put(ctx context.Context, rec appwarden.Record) (bool, error) {
	if rec.Partition == expiry.PartitionMarkers {
		return true, nil
	}
	return s.Store.Put(ctx, rec)
}

func (s *sampling) ListAfter(ctx context.Context, partition, after string, limit int) ([]appwarden.Record, error) {
	s.sample()
	return s.Store.ListAfter(ctx, partition, after, limit)
}

func (s *sampling) sample() {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s.peak = max(s.peak, m.HeapAlloc)
}

type counting struct{ n map[string]int }

func (c *counting) NotifyExpiring(_ context.Context, _ *slog.Logger, due []appwarden.Expiring) error {
	for _, e := range due {
		th := "expired"
		if !e.Expired {
			th = fmt.Sprintf("%dd", e.Threshold/passDay)
		}
		c.n[th]++
	}
	return nil
}

// TestPassPopulation: 10,000 apps' facts records, credentials at assorted
// ends: each threshold gets exactly the credentials within it, expired
// ones are reported, managed identities and Microsoft apps are skipped;
// and the heap the pass adds stays flat from 1,000 to 10,000 apps.
func TestPassPopulation(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 apps")
	}
	growth := map[int]uint64{}
	for _, n := range []int{1000, 10000} {
		st := store.NewMemory()
		want := population(t, st, n, start)
		s := &sampling{Store: st}
		runtime.GC()
		s.sample()
		base := s.peak
		c := &counting{n: map[string]int{}}
		p := newPass(s, &clock{t: start}, c)
		p.Batch = 1000
		stats, err := p.RunStats(context.Background(), quiet)
		if err != nil {
			t.Fatal(err)
		}
		s.sample()
		growth[n] = s.peak - base
		if fmt.Sprint(c.n) != fmt.Sprint(want) {
			t.Errorf("%d apps: reported %v; want %v", n, c.n, want)
		}
		if wantSkipped := 2 * (n / 50); stats.Skipped != wantSkipped || stats.Apps != n || !stats.Finished {
			t.Errorf("%d apps: %+v; want %d walked, %d skipped, finished", n, stats, n, wantSkipped)
		}
		t.Logf("%d apps: heap grew at most %d KiB during the pass; %+v", n, growth[n]>>10, stats)
		runtime.KeepAlive(st)
	}
	// A pass that held every record would grow by several MiB at 10,000
	// apps (about 1 KiB of JSON and its decoded facts each); one page at a
	// time grows by the page and the warnings of one hand-off.
	if growth[10000] > 2*growth[1000]+1<<20 {
		t.Errorf("heap growth %d KiB at 10,000 apps against %d KiB at 1,000: not flat", growth[10000]>>10, growth[1000]>>10)
	}
}

// owners stands for Graph's owner read.
type owners struct {
	mu    sync.Mutex
	reads map[string]int
	fail  bool
}

func (o *owners) AppOwners(_ context.Context, appID string) ([]appwarden.Principal, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reads[appID]++
	if o.fail {
		return nil, errors.New("graph: 503")
	}
	return []appwarden.Principal{{ID: "0a" + appID[2:], UPN: "read@contoso.example", Type: "user"}}, nil
}

// TestPassReadsOwnersOnlyWhenNeeded: a first sweep's record (no owners)
// gets its owners from Graph, only when it has a warning to send, once per
// new warning; a decision's record uses the owners it holds; an app whose
// owners cannot be read is left for the next day.
func TestPassReadsOwnersOnlyWhenNeeded(t *testing.T) {
	st := store.NewMemory()
	k := &baseline.Keeper{Store: st}
	ctx := context.Background()
	due, later := credApp(1, start.Add(5*passDay)), credApp(2, start.Add(300*passDay))
	for _, a := range []*appwarden.App{due, later} {
		if err := k.RecordDelta(ctx, a.AppID, a.Application); err != nil {
			t.Fatal(err)
		}
	}
	decided := credApp(3, start.Add(5*passDay))
	record(t, st, decided)
	o := &owners{reads: map[string]int{}, fail: true}
	h := &heard{keep: true}
	c := &clock{t: start}
	p := newPass(st, c, h)
	p.Owners = o

	s, err := p.RunStats(ctx, quiet)
	if err != nil || s.Failed != 1 || s.Reported != 1 {
		t.Fatalf("with Graph failing: %+v, %v; want the decided app reported, the other failed", s, err)
	}
	o.fail = false
	c.Set(start.Add(passDay))
	if s, err = p.RunStats(ctx, quiet); err != nil || s.Reported != 1 {
		t.Fatalf("next day: %+v, %v; want the first sweep's app reported", s, err)
	}
	c.Set(start.Add(2 * passDay))
	if s, err = p.RunStats(ctx, quiet); err != nil || s.Reported != 0 {
		t.Fatalf("third day: %+v, %v; want nothing new", s, err)
	}
	if o.reads[due.AppID] != 2 || o.reads[later.AppID] != 0 || o.reads[decided.AppID] != 0 {
		t.Errorf("owner reads %v; want 2 for the due first-sweep app (one failed), none for the others", o.reads)
	}
	for _, e := range h.items {
		want := "owner3@contoso.example"
		if e.AppID == due.AppID {
			want = "read@contoso.example"
		}
		if len(e.Owners) != 1 || e.Owners[0].UPN != want || e.DisplayName == "" || e.ObjectID == "" {
			t.Errorf("warning %+v; want owner %s, a name and an object id", e, want)
		}
	}
}

// TestPassNotifierFailureReportsLater: when the notifier fails, the
// markers are taken back and the pass is not done: the next tick reports
// the same warnings, once.
func TestPassNotifierFailureReportsLater(t *testing.T) {
	st := store.NewMemory()
	record(t, st, credApp(1, start.Add(5*passDay)), credApp(2, start.Add(-passDay)))
	h := &heard{fail: errors.New("outbox unavailable")}
	c := &clock{t: start}
	if _, err := newPass(st, c, h).RunStats(context.Background(), quiet); err == nil {
		t.Fatal("the notifier's failure was not returned")
	}
	h.fail = nil
	c.Set(start.Add(time.Minute))
	s, err := newPass(st, c, h).RunStats(context.Background(), quiet)
	if err != nil || !s.Ran || s.Reported != 2 || h.total() != 2 {
		t.Fatalf("after the failure: %+v, %v, heard %v; want both reported once", s, err, h.got)
	}
}

// cancelling cancels the pass's context at its second page, as an
// invocation's deadline would.
type cancelling struct {
	appwarden.Store
	pages  int
	cancel func()
}

func (c *cancelling) ListAfter(ctx context.Context, partition, after string, limit int) ([]appwarden.Record, error) {
	c.pages++
	if c.pages == 2 && c.cancel != nil {
		c.cancel()
	}
	return c.Store.ListAfter(ctx, partition, after, limit)
}

// TestPassGoesOnAfterADeadline: a pass cut short hands on what it found and
// the next tick goes on from there; every warning is reported once.
func TestPassGoesOnAfterADeadline(t *testing.T) {
	mem := store.NewMemory()
	var apps []*appwarden.App
	for i := range 40 {
		apps = append(apps, credApp(i, start.Add(time.Duration(i%4)*5*passDay)))
	}
	record(t, mem, apps...)
	ctx, cancel := context.WithCancel(context.Background())
	st := &cancelling{Store: mem, cancel: cancel}
	h := &heard{}
	c := &clock{t: start}
	p := newPass(st, c, h)
	p.Page = 10
	s, err := p.RunStats(ctx, quiet)
	if err != nil || !s.Ran || s.Finished || s.Apps == 0 || s.Apps >= 40 {
		t.Fatalf("cut short: %+v, %v; want part of the apps, not finished", s, err)
	}
	first := h.total()
	st.cancel = nil
	c.Set(start.Add(30 * time.Second))
	s2, err := p.RunStats(context.Background(), quiet)
	if err != nil || !s2.Finished || s.Apps+s2.Apps != 40 {
		t.Fatalf("next tick: %+v, %v; want the remaining %d apps", s2, err, 40-s.Apps)
	}
	if h.total() != 40 || first == 0 {
		t.Errorf("reported %d (%d before the deadline); want 40, each once: %v", h.total(), first, h.got)
	}
	for k, n := range h.got {
		if n != 1 {
			t.Errorf("%s reported %d times", k, n)
		}
	}
}
