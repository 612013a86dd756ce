package auditpull_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/appwarden/appwardentest"
	"github.com/appwarden/appwarden/handler/auditlog"
	"github.com/appwarden/appwarden/handler/auditpull"
	"github.com/appwarden/appwarden/handler/inbox"
	"github.com/appwarden/appwarden/handler/store"
	"github.com/appwarden/appwarden/handler/trail"
)

var t0 = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

// entry is one audit record in the fake log: it is listed from Visible on
// (Entra publishes records minutes after the activity).
type entry struct {
	raw     json.RawMessage
	at      time.Time
	visible time.Time
}

// fakeLog is an in-test appwarden.AuditSource.
type fakeLog struct {
	mu         sync.Mutex
	entries    []entry
	now        func() time.Time
	pageSize   int
	descending bool
	calls      []time.Time // since of each call
	categories [][]string
	failAfter  int // fail the read after this many pages (0: never)
}

func (f *fakeLog) add(raw json.RawMessage, at, visible time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries = append(f.entries, entry{raw, at, visible})
}

func (f *fakeLog) DirectoryAudits(ctx context.Context, since time.Time, categories []string, fn func([]json.RawMessage) error) error {
	f.mu.Lock()
	f.calls = append(f.calls, since)
	f.categories = append(f.categories, categories)
	var list []entry
	for _, e := range f.entries {
		if !e.at.Before(since) && !f.now().Before(e.visible) {
			list = append(list, e)
		}
	}
	f.mu.Unlock()
	sort.SliceStable(list, func(i, j int) bool {
		if f.descending {
			return list[i].at.After(list[j].at)
		}
		return list[i].at.Before(list[j].at)
	})
	size := f.pageSize
	if size <= 0 {
		size = 2
	}
	for page := 0; len(list) > 0; page++ {
		if f.failAfter > 0 && page == f.failAfter {
			return errors.New("graph: 503 service unavailable")
		}
		n := min(size, len(list))
		var raws []json.RawMessage
		for _, e := range list[:n] {
			raws = append(raws, e.raw)
		}
		list = list[n:]
		if err := fn(raws); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeLog) sinces() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// record is a real "Add application" directoryAudit (the fixture) with its
// id and activity time replaced.
func record(t *testing.T, id string, at time.Time) json.RawMessage {
	t.Helper()
	obj := appwardentest.FixtureObject(t, "eventhub/directoryaudit-add-application.json")
	obj["id"] = id
	obj["activityDateTime"] = at.Format(time.RFC3339Nano)
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// recorder stands in for the pipeline and the trail: process records each
// signal's dedupe key (as RecordSignal does), Seen answers from them.
type recorder struct {
	mu        sync.Mutex
	processed []string
	sigs      []appwarden.Signal
	recorded  map[string]bool
	fail      map[string]error
	onProcess func(appwarden.Signal)
}

func newRecorder() *recorder { return &recorder{recorded: map[string]bool{}, fail: map[string]error{}} }

func (r *recorder) Seen(_ context.Context, key string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.recorded[key], nil
}

func (r *recorder) process(_ context.Context, _ *slog.Logger, sig appwarden.Signal) error {
	r.mu.Lock()
	r.recorded[sig.DedupeKey] = true
	r.processed = append(r.processed, sig.DedupeKey)
	r.sigs = append(r.sigs, sig)
	err := r.fail[sig.DedupeKey]
	hook := r.onProcess
	r.mu.Unlock()
	if hook != nil {
		hook(sig)
	}
	if sig.Source != appwarden.SourceAuditPull {
		return fmt.Errorf("signal %s has source %q, want %q", sig.DedupeKey, sig.Source, appwarden.SourceAuditPull)
	}
	return err
}

func (r *recorder) signals() []appwarden.Signal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sigs)
}

func (r *recorder) keys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.processed)
}

// pending records what the pull handed to the inbox; inbox is what it
// holds now.
type pending struct {
	mu             sync.Mutex
	inbox          map[string]bool
	failed, handed []string
	holdErr        error
}

func (p *pending) Hold(_ context.Context, sig appwarden.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.holdErr != nil {
		return p.holdErr
	}
	p.inbox[sig.DedupeKey] = true
	return nil
}

func (p *pending) Done(_ context.Context, sig appwarden.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.inbox, sig.DedupeKey)
	return nil
}

func (p *pending) held() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for k := range p.inbox {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (p *pending) Failed(_ context.Context, sig appwarden.Signal, _ error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failed = append(p.failed, sig.DedupeKey)
	return nil
}

func (p *pending) HandOff(_ context.Context, sig appwarden.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.handed = append(p.handed, sig.DedupeKey)
	return nil
}

type poisonList struct {
	mu   sync.Mutex
	list []appwarden.Poison
}

func (p *poisonList) RecordPoison(_ context.Context, rec appwarden.Poison) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.list = append(p.list, rec)
	return nil
}

type rig struct {
	clk    *clock
	log    *fakeLog
	store  appwarden.Store
	rec    *recorder
	pend   *pending
	poison *poisonList
	logs   *appwardentest.LogBuffer
}

func newRig() *rig {
	clk := &clock{t: t0}
	return &rig{
		clk: clk, log: &fakeLog{now: clk.now}, store: store.NewMemory(), rec: newRecorder(),
		pend: &pending{inbox: map[string]bool{}}, poison: &poisonList{}, logs: &appwardentest.LogBuffer{},
	}
}

func (r *rig) puller(owner string) *auditpull.Puller {
	return &auditpull.Puller{
		Source: r.log, Store: r.store, Decode: auditlog.Decode, Seen: r.rec,
		Pending: r.pend, Poison: r.poison, Owner: owner, Now: r.clk.now,
	}
}

func (r *rig) run(t *testing.T, p *auditpull.Puller) auditpull.Stats {
	t.Helper()
	st, err := p.Run(context.Background(), slog.New(slog.NewTextHandler(r.logs, nil)), r.rec.process)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return st
}

func TestFirstPullReadsTheLastIntervalAndOverlapOnly(t *testing.T) {
	r := newRig()
	r.log.add(record(t, "old", t0.Add(-time.Hour)), t0.Add(-time.Hour), t0.Add(-time.Hour))
	r.log.add(record(t, "recent", t0.Add(-3*time.Minute)), t0.Add(-3*time.Minute), t0.Add(-time.Minute))
	st := r.run(t, r.puller("a"))

	if want := t0.Add(-auditpull.DefaultInterval - auditpull.DefaultOverlap); !st.Since.Equal(want) {
		t.Errorf("first pull since %s, want now - interval - overlap = %s", st.Since, want)
	}
	if got := r.rec.keys(); !slices.Equal(got, []string{"audit:recent"}) {
		t.Errorf("processed %v, want only the record within the first window", got)
	}
	if !st.Complete || !st.Through.Equal(t0) || st.New != 1 {
		t.Errorf("stats %+v: want complete, through %s, 1 new", st, t0)
	}
	if cats := r.log.categories[0]; !slices.Equal(cats, []string{"ApplicationManagement", "RoleManagement"}) {
		t.Errorf("categories %v", cats)
	}
	if !strings.Contains(r.logs.String(), `msg="audit pull finished"`) || !strings.Contains(r.logs.String(), "new=1") {
		t.Errorf("no summary line:\n%s", r.logs)
	}
}

func TestPullRunsOncePerIntervalAndOverlapsForLateRecords(t *testing.T) {
	r := newRig()
	p := r.puller("a")
	r.log.add(record(t, "a1", t0.Add(-30*time.Second)), t0.Add(-30*time.Second), t0.Add(-10*time.Second))
	r.run(t, p)

	// Dated before the first pull, published after it (the audit lag).
	late := t0.Add(-20 * time.Second)
	r.log.add(record(t, "late", late), late, t0.Add(2*time.Minute))

	r.clk.set(t0.Add(30 * time.Second)) // the next tick: not due
	if st := r.run(t, p); st.Pulled {
		t.Fatalf("a pull 30 s after the last one ran (interval %s): %+v", auditpull.DefaultInterval, st)
	}
	if n := len(r.log.sinces()); n != 1 {
		t.Fatalf("source read %d times, want 1", n)
	}

	r.clk.set(t0.Add(time.Minute)) // due, but the late record is not published yet
	st := r.run(t, p)
	if !st.Pulled || !st.Since.Equal(t0.Add(-auditpull.DefaultOverlap)) {
		t.Fatalf("second pull %+v: want it to read from the cursor minus the overlap (%s)", st, t0.Add(-auditpull.DefaultOverlap))
	}
	if st.Duplicates != 1 || st.New != 0 {
		t.Errorf("second pull: %+v, want the first record skipped as a duplicate", st)
	}

	r.clk.set(t0.Add(2*time.Minute + time.Second))
	st = r.run(t, p)
	if st.New != 1 {
		t.Errorf("third pull %+v: the late record, dated before the first pull, was not taken", st)
	}
	if got := r.rec.keys(); !slices.Equal(got, []string{"audit:a1", "audit:late"}) {
		t.Errorf("processed %v: each record exactly once", got)
	}
}

func TestRecordAlreadyPushedIsNotProcessedAgain(t *testing.T) {
	r := newRig()
	r.rec.recorded["audit:pushed"] = true // OnAuditLogBatch recorded it first
	r.log.add(record(t, "pushed", t0.Add(-time.Minute)), t0.Add(-time.Minute), t0.Add(-time.Minute))
	r.log.add(record(t, "only-pulled", t0.Add(-time.Minute)), t0.Add(-time.Minute), t0.Add(-time.Minute))
	st := r.run(t, r.puller("a"))
	if got := r.rec.keys(); !slices.Equal(got, []string{"audit:only-pulled"}) {
		t.Errorf("processed %v, want only the record the stream did not deliver", got)
	}
	if st.Duplicates != 1 || st.New != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestFailedRecordGoesToPendingAndTheCursorMovesOn(t *testing.T) {
	r := newRig()
	r.rec.fail["audit:b"] = errors.New("graph: 429 too many requests")
	for i, id := range []string{"a", "b", "c"} {
		at := t0.Add(time.Duration(i-3) * time.Minute)
		r.log.add(record(t, id, at), at, at)
	}
	st := r.run(t, r.puller("a"))
	if st.Held != 1 || st.New != 2 || !st.Complete || !st.Through.Equal(t0) {
		t.Errorf("stats %+v: want a and c new, b held, the cursor at the pull's start", st)
	}
	if !slices.Equal(r.pend.held(), []string{"audit:b"}) || !slices.Equal(r.pend.failed, []string{"audit:b"}) || !slices.Equal(r.pend.handed, []string{"audit:b"}) {
		t.Errorf("pending: in the inbox %v, failed %v, handed off %v: want b (and only b) in each", r.pend.held(), r.pend.failed, r.pend.handed)
	}
}

func TestSignalIsHeldBeforeItIsProcessed(t *testing.T) {
	r := newRig()
	at := t0.Add(-time.Minute)
	r.log.add(record(t, "a", at), at, at)
	var heldDuring []string
	r.rec.onProcess = func(appwarden.Signal) { heldDuring = r.pend.held() }
	r.run(t, r.puller("a"))
	if !slices.Equal(heldDuring, []string{"audit:a"}) {
		t.Errorf("in the inbox while processing: %v, want the signal (a crash then leaves it to the timer)", heldDuring)
	}
	if got := r.pend.held(); len(got) != 0 {
		t.Errorf("in the inbox after it was decided: %v, want none", got)
	}
}

func TestInboxFailureStopsBeforeTheRecordAndTheNextPullTakesIt(t *testing.T) {
	r := newRig()
	for i, id := range []string{"a", "b", "c"} {
		at := t0.Add(time.Duration(i-3) * time.Minute)
		r.log.add(record(t, id, at), at, at)
	}
	p := r.puller("a")
	r.rec.onProcess = func(appwarden.Signal) { r.pend.holdErr = errors.New("table storage: 503") }
	st, err := p.Run(context.Background(), slog.New(slog.NewTextHandler(r.logs, nil)), r.rec.process)
	if err == nil || !strings.Contains(err.Error(), "holding audit:b") {
		t.Fatalf("Run error %v, want the inbox failure on b named", err)
	}
	if st.Complete || st.New != 1 || !st.Through.Equal(t0.Add(-3*time.Minute)) {
		t.Errorf("stats %+v: want a handled and the cursor at a, before b", st)
	}
	r.rec.onProcess, r.pend.holdErr = nil, nil
	r.clk.set(t0.Add(time.Minute))
	if st := r.run(t, p); st.New != 2 || st.Duplicates != 1 {
		t.Errorf("next pull %+v: want b and c taken, a skipped", st)
	}
}

func TestContextEndKeepsTheCursorAtTheLastHandledRecord(t *testing.T) {
	for _, desc := range []bool{false, true} {
		t.Run(fmt.Sprintf("descending=%v", desc), func(t *testing.T) {
			r := newRig()
			r.log.descending = desc
			r.log.pageSize = 1
			var ids []string
			for i := range 4 {
				at := t0.Add(time.Duration(i-4) * time.Minute)
				id := fmt.Sprintf("r%d", i)
				ids = append(ids, "audit:"+id)
				r.log.add(record(t, id, at), at, at)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r.rec.onProcess = func(appwarden.Signal) {
				if len(r.rec.keys()) == 2 {
					cancel() // the invocation's budget runs out after two records
				}
			}
			p := r.puller("a")
			st, err := p.Run(ctx, slog.New(slog.NewTextHandler(r.logs, nil)), r.rec.process)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if st.Complete || st.New != 2 {
				t.Fatalf("stats %+v: want two records handled, the pull unfinished", st)
			}
			first := t0.Add(-auditpull.DefaultInterval - auditpull.DefaultOverlap)
			want := time.Time{} // the cursor stays unset: the next pull reads the same window
			if !desc {
				want = t0.Add(-3 * time.Minute) // r1, the last of the oldest-first records handled
			}
			if !st.Through.Equal(want) {
				t.Errorf("cursor through %s, want %s", st.Through, want)
			}
			r.rec.onProcess = nil
			r.clk.set(t0.Add(time.Minute))
			st2 := r.run(t, p)
			wantSince := first.Add(time.Minute) // a first pull again, one minute later
			if !desc {
				wantSince = want.Add(-auditpull.DefaultOverlap)
			}
			if !st2.Since.Equal(wantSince) {
				t.Errorf("next pull since %s, want %s", st2.Since, wantSince)
			}
			got := r.rec.keys()
			slices.Sort(got)
			if !slices.Equal(got, ids) {
				t.Errorf("processed %v, want every record once: %v", got, ids)
			}
		})
	}
}

func TestTwoInstancesPullOneWindowOnce(t *testing.T) {
	r := newRig()
	at := t0.Add(-time.Minute)
	r.log.add(record(t, "x", at), at, at)
	a, b := r.puller("instance-a"), r.puller("instance-b")
	var bStats auditpull.Stats
	// B's tick comes while A is pulling: A's claim keeps B out.
	r.rec.onProcess = func(appwarden.Signal) {
		bStats = r.run(t, b)
	}
	aStats := r.run(t, a)
	if !aStats.Pulled || bStats.Pulled {
		t.Fatalf("a pulled %v, b pulled %v: want only a", aStats.Pulled, bStats.Pulled)
	}
	// A's lease has ended with its pull; B's next tick is not due either.
	r.rec.onProcess = nil
	r.clk.set(t0.Add(30 * time.Second))
	if st := r.run(t, b); st.Pulled {
		t.Errorf("b pulled 30 s after a: %+v", st)
	}
	if n := len(r.log.sinces()); n != 1 {
		t.Errorf("the log was read %d times, want 1", n)
	}
}

// raceStore lets another instance claim the cursor between this instance's
// read of it and its write.
type raceStore struct {
	appwarden.Store
	once   sync.Once
	before func()
}

func (s *raceStore) Get(ctx context.Context, partition, key string) (appwarden.Record, bool, error) {
	rec, ok, err := s.Store.Get(ctx, partition, key)
	if partition == appwarden.PartitionCursors {
		s.once.Do(s.before)
	}
	return rec, ok, err
}

func TestTwoInstancesReadingTheSameCursorOnlyOneWins(t *testing.T) {
	for _, existing := range []bool{false, true} {
		t.Run(fmt.Sprintf("cursor exists=%v", existing), func(t *testing.T) {
			r := newRig()
			at := t0.Add(-time.Minute)
			r.log.add(record(t, "x", at), at, at)
			if existing {
				r.run(t, r.puller("earlier"))
				r.clk.set(t0.Add(time.Minute))
			}
			b := r.puller("instance-b")
			var bStats auditpull.Stats
			a := r.puller("instance-a")
			a.Store = &raceStore{Store: r.store, before: func() { bStats = r.run(t, b) }}
			aStats := r.run(t, a)
			if !bStats.Pulled || aStats.Pulled {
				t.Errorf("a pulled %v, b pulled %v: want b (which wrote first) only", aStats.Pulled, bStats.Pulled)
			}
		})
	}
}

func TestALeaseKeepsOthersOutUntilItRunsOut(t *testing.T) {
	r := newRig()
	raw, _ := json.Marshal(map[string]any{"through": t0.Add(-time.Hour), "lastPull": t0.Add(-10 * time.Minute),
		"holder": "crashed", "leaseUntil": t0.Add(time.Minute)})
	if _, err := r.store.Replace(context.Background(), appwarden.Record{Partition: appwarden.PartitionCursors, Key: auditpull.CursorKey, Kind: appwarden.KindCursor, Data: raw}); err != nil {
		t.Fatal(err)
	}
	if st := r.run(t, r.puller("a")); st.Pulled {
		t.Fatalf("pulled while another instance's lease runs: %+v", st)
	}
	r.clk.set(t0.Add(time.Minute))
	st := r.run(t, r.puller("a"))
	if !st.Pulled || !st.Since.Equal(t0.Add(-time.Hour-auditpull.DefaultOverlap)) {
		t.Errorf("after the lease: %+v, want a pull from the stored cursor minus the overlap", st)
	}
}

func TestIgnoredAndPoisonRecordsAreNotedOnce(t *testing.T) {
	r := newRig()
	at := t0.Add(-2 * time.Minute)
	ignored, _ := json.Marshal(map[string]any{"id": "user-1", "activityDisplayName": "Add user", "activityDateTime": at,
		"category": "UserManagement", "result": "success", "targetResources": []any{}})
	bad := appwardentest.FixtureObject(t, "eventhub/directoryaudit-add-application.json")
	bad["id"], bad["activityDateTime"], bad["targetResources"] = "bad-1", at, "not a list"
	badRaw, _ := json.Marshal(bad)
	r.log.add(ignored, at, at)
	r.log.add(badRaw, at, at)
	r.log.add(json.RawMessage(`{"id": "trunc-1", "activityDateTime": `), at, at) // not JSON at all
	p := r.puller("a")
	st := r.run(t, p)
	if st.Ignored != 1 || st.Poison != 2 || st.Records != 3 {
		t.Fatalf("stats %+v: want 1 ignored, 2 poison", st)
	}
	if len(r.poison.list) != 2 || r.poison.list[0].Function != auditpull.PoisonFunction || r.poison.list[0].Body == "" || len(r.poison.list[0].Errors) == 0 {
		t.Errorf("poison %+v: want each malformed record kept with its body and errors", r.poison.list)
	}
	if !strings.Contains(r.logs.String(), "audit record ignored") || !strings.Contains(r.logs.String(), "Add user") {
		t.Errorf("the ignored record is not logged:\n%s", r.logs)
	}
	r.clk.set(t0.Add(time.Minute))
	st = r.run(t, p)
	if st.Duplicates != 3 || len(r.poison.list) != 2 {
		t.Errorf("second pull over the same records %+v, poison %d: want them noted once", st, len(r.poison.list))
	}
}

func TestSourceErrorIsReturnedAndProgressKept(t *testing.T) {
	r := newRig()
	r.log.failAfter = 1
	for i := range 4 {
		at := t0.Add(time.Duration(i-4) * time.Minute)
		r.log.add(record(t, fmt.Sprintf("r%d", i), at), at, at)
	}
	st, err := r.puller("a").Run(context.Background(), slog.New(slog.NewTextHandler(r.logs, nil)), r.rec.process)
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "directoryAudits") {
		t.Fatalf("Run error %v, want the read failure named", err)
	}
	if st.New != 2 || !st.Through.Equal(t0.Add(-3*time.Minute)) {
		t.Errorf("stats %+v: want the first page handled and the cursor after it", st)
	}
}

// TestWithTheTrailAndTheInbox runs the pull over the real adapters it is
// wired to: the trail's dedupe markers answer Seen, the inbox is Pending.
// A record the stream delivered first is left to it; a record whose
// handling fails stays in the inbox, and the inbox's re-drive decides it.
func TestWithTheTrailAndTheInbox(t *testing.T) {
	r := newRig()
	tr := trail.New(r.store)
	tr.Now = r.clk.now
	ib := &inbox.Inbox{Store: r.store, Now: r.clk.now}
	log := slog.New(slog.NewTextHandler(r.logs, nil))
	ctx := context.Background()

	at := t0.Add(-2 * time.Minute)
	for _, id := range []string{"pushed", "flaky", "plain"} {
		r.log.add(record(t, id, at), at, at)
	}
	// OnAuditLogBatch took "pushed" first.
	if _, err := tr.RecordSignal(ctx, log, appwarden.Signal{Kind: appwarden.AppCreated, DedupeKey: "audit:pushed", Source: appwarden.SourceEventHub}); err != nil {
		t.Fatal(err)
	}
	var decided []string
	failing := true
	process := func(ctx context.Context, log *slog.Logger, sig appwarden.Signal) error {
		via, err := tr.RecordSignal(ctx, log, sig)
		if err != nil || via != sig.Source {
			return err
		}
		if sig.DedupeKey == "audit:flaky" && failing {
			return errors.New("graph: 429")
		}
		decided = append(decided, sig.DedupeKey)
		return nil
	}
	p := &auditpull.Puller{Source: r.log, Store: r.store, Decode: auditlog.Decode, Seen: tr, Pending: ib, Poison: tr, Now: r.clk.now}
	st, err := p.Run(ctx, log, process)
	if err != nil {
		t.Fatal(err)
	}
	if st.Duplicates != 1 || st.New != 1 || st.Held != 1 || !st.Complete {
		t.Errorf("stats %+v: want pushed skipped, plain new, flaky held", st)
	}
	entries, err := ib.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Signal.DedupeKey != "audit:flaky" || !entries[0].HandedOff || entries[0].LastError == "" {
		t.Fatalf("inbox %+v: want only flaky, handed off to the timer with its error", entries)
	}
	// The next pull over the same window takes nothing again.
	r.clk.set(t0.Add(time.Minute))
	if st, err := p.Run(ctx, log, process); err != nil || st.Duplicates != 3 {
		t.Errorf("second pull %+v, %v: want all three skipped", st, err)
	}
	// The timer's re-drive decides the held one.
	failing = false
	if err := ib.Redrive(ctx, log, process); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(decided, []string{"audit:plain", "audit:flaky"}) {
		t.Errorf("decided %v, want plain by the pull and flaky by the inbox", decided)
	}
}
