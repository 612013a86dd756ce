package functions_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/functions"
	"github.com/appwarden/appwarden/handler/functions/hostemu"
	"github.com/appwarden/appwarden/handler/inbox"
	"github.com/appwarden/appwarden/handler/store"
)

func TestPlain(t *testing.T) {
	obj := map[string]any{"a": 1.0}
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"an object stays", obj, obj},
		{"JSON text of an object", `{"a":1}`, obj},
		{"a string holding a string holding an object (Event Grid)", `"{\n  \"a\": 1\n}"`, obj},
		{"a string holding an array of message strings (Event Hub many)", `["{\"a\":1}","{\"a\":1}"]`, []any{obj, obj}},
		{"a plain array of message strings", []any{`{"a":1}`, obj}, []any{obj, obj}},
		{"base64 stays for the decoder", "eyJhIjoxfQ==", "eyJhIjoxfQ=="},
		{"a word stays", "hello", "hello"},
		{"a number in a string stays a string", "42", "42"},
		{"text that is not JSON stays", `{"a":`, `{"a":`},
		{"null", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := functions.Plain(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Plain(%#v) = %#v, want %#v", tc.in, got, tc.want)
			}
		})
	}
}

// TestHostEncodedFixtures: what the host really sends (FACTS.md §2)
// decodes to signals with no poison.
func TestHostEncodedFixtures(t *testing.T) {
	for _, tc := range []struct {
		file, fn string
		want     []appwarden.SignalKind
	}{
		{"invocation-eventgrid.json", fnEventGrid, []appwarden.SignalKind{appwarden.ProviderRegistered}},
		{"invocation-eventhub-many.json", fnEventHub, []appwarden.SignalKind{appwarden.AppCreated, appwarden.ServicePrincipalCreated}},
		{"invocation-timer.json", fnTimer, []appwarden.SignalKind{appwarden.SweepRequested}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			h := newHarness(t)
			rec := h.invoke(t, tc.fn, fixture(t, "functions-host/"+tc.file))
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			var kinds []appwarden.SignalKind
			for _, s := range h.proc.got() {
				kinds = append(kinds, s.Kind)
			}
			if !reflect.DeepEqual(kinds, tc.want) {
				t.Errorf("signals %v, want %v", kinds, tc.want)
			}
			if p := h.poison.got(); len(p) != 0 {
				t.Errorf("poison recorded: %+v", p[0].Errors)
			}
		})
	}
}

// flakyStore fails every Put while failPut is set (a state-store outage).
type flakyStore struct {
	appwarden.Store
	failPut bool
}

func (f *flakyStore) Put(ctx context.Context, r appwarden.Record) (bool, error) {
	if f.failPut {
		return false, errors.New("state store unavailable")
	}
	return f.Store.Put(ctx, r)
}

// checkingProcessor checks that each signal is already held in the inbox
// when work on it starts, then fails or blocks as told.
type checkingProcessor struct {
	t     *testing.T
	inbox *inbox.Inbox
	err   error
	block bool
	// unheld says the signal is not expected in the inbox.
	unheld bool
	seen   []string
}

func (p *checkingProcessor) Process(ctx context.Context, _ *slog.Logger, sig appwarden.Signal) error {
	p.seen = append(p.seen, sig.DedupeKey)
	if _, ok, err := p.inbox.Store.Get(ctx, appwarden.PartitionInbox, sig.DedupeKey); !p.unheld && (err != nil || !ok) {
		p.t.Errorf("signal %s is not in the inbox when work on it starts (err %v)", sig.DedupeKey, err)
	}
	if p.block {
		<-ctx.Done()
		return ctx.Err()
	}
	return p.err
}

func pendingKeys(t *testing.T, b *inbox.Inbox) []string {
	t.Helper()
	es, err := b.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range es {
		if e.State == inbox.Pending {
			keys = append(keys, e.Signal.DedupeKey)
		}
	}
	return keys
}

func inboxHarness(t *testing.T, st appwarden.Store, proc *checkingProcessor) (*harness, *inbox.Inbox) {
	h := newHarness(t)
	b := &inbox.Inbox{Store: st}
	proc.t, proc.inbox = t, b
	h.srv.Processor = proc
	h.srv.Inbox = b
	return h, b
}

var twoApps = fixtureBodies{"eventhub/directoryaudit-add-application.json", "eventhub/directoryaudit-add-service-principal.json"}

type fixtureBodies []string

func (f fixtureBodies) batch(t *testing.T, retry, maxRetries int) []byte {
	var bodies [][]byte
	for _, rel := range f {
		bodies = append(bodies, fixture(t, rel))
	}
	if maxRetries == 0 {
		return hostemu.EventHub(now, bodies...)
	}
	return hostemu.EventHubRetry(now, retry, maxRetries, bodies...)
}

func TestDecidedSignalsLeaveTheInbox(t *testing.T) {
	proc := &checkingProcessor{}
	h, b := inboxHarness(t, store.NewMemory(), proc)
	if rec := h.invoke(t, fnEventHub, twoApps.batch(t, 0, 0)); rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if len(proc.seen) != 2 {
		t.Fatalf("processed %v, want both signals", proc.seen)
	}
	if keys := pendingKeys(t, b); len(keys) != 0 {
		t.Errorf("decided signals still pending: %v", keys)
	}
}

// TestEventHubRetriesThenAcknowledges: Event Hubs redelivers nothing
// (FACTS.md §2). A transient failure fails each try the retry policy makes,
// keeping the signals pending; the last retry answers 200 because the
// inbox holds them all and the timer will finish them.
func TestEventHubRetriesThenAcknowledges(t *testing.T) {
	proc := &checkingProcessor{err: errors.New("graph: 503 Service Unavailable")}
	h, b := inboxHarness(t, store.NewMemory(), proc)
	for _, try := range []struct {
		retry, max int
		want       int
	}{{0, 0, 500}, {1, 5, 500}, {4, 5, 500}, {5, 5, 200}} {
		rec := h.invoke(t, fnEventHub, twoApps.batch(t, try.retry, try.max))
		if rec.Code != try.want {
			t.Fatalf("retry %d of %d: status %d, want %d: %s", try.retry, try.max, rec.Code, try.want, rec.Body)
		}
		if try.want == 200 && !logsContain(replyLogs(t, rec), "last retry (5 of 5): 2 signal(s) stay pending in the inbox; the timer will finish them") {
			t.Errorf("the last retry's Logs do not say the timer will finish the signals: %q", replyLogs(t, rec))
		}
	}
	if keys := pendingKeys(t, b); len(keys) != 2 {
		t.Fatalf("pending %v, want both signals", keys)
	}
	es, _ := b.List(context.Background())
	for _, e := range es {
		if e.Attempts != 4 || e.LastError != "graph: 503 Service Unavailable" || !e.HandedOff {
			t.Errorf("entry %+v: want 4 attempts counted with the last error, handed off to the timer", e)
		}
	}
}

// TestLastRetryFailsWhenNotHeld: a signal that could not be saved is not
// acknowledged, even on the last retry.
func TestLastRetryFailsWhenNotHeld(t *testing.T) {
	st := &flakyStore{Store: store.NewMemory(), failPut: true}
	proc := &checkingProcessor{err: errors.New("graph: 503"), unheld: true}
	h, _ := inboxHarness(t, st, proc)
	if rec := h.invoke(t, fnEventHub, twoApps.batch(t, 5, 5)); rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500 when the inbox could not hold the signals: %s", rec.Code, rec.Body)
	}
}

// TestBudgetBoundsTheInvocation: work that outlasts the budget is cut off,
// the answer comes at once, and every signal stays pending.
func TestBudgetBoundsTheInvocation(t *testing.T) {
	proc := &checkingProcessor{block: true}
	h, b := inboxHarness(t, store.NewMemory(), proc)
	h.srv.Budget = 50 * time.Millisecond
	start := time.Now()
	rec := h.invoke(t, fnEventHub, twoApps.batch(t, 0, 0))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500 (work left over): %s", rec.Code, rec.Body)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("answered after %s; the budget was 50ms", took)
	}
	if len(proc.seen) != 1 {
		t.Errorf("started %v; the second signal should not start once the budget is spent", proc.seen)
	}
	if keys := pendingKeys(t, b); len(keys) != 2 {
		t.Errorf("pending %v, want both signals", keys)
	}
	if !logsContain(replyLogs(t, rec), "invocation budget spent before this signal") {
		t.Errorf("Logs do not say the budget was spent: %q", replyLogs(t, rec))
	}
}

// TestTimerTickIsNotHeld: a tick is replaced by the next one, and is what
// re-drives the inbox; it is never held itself.
func TestTimerTickIsNotHeld(t *testing.T) {
	// The tick fails, so a tick that had been held would stay pending.
	proc := &checkingProcessor{unheld: true, err: errors.New("graph: 503")}
	h, b := inboxHarness(t, store.NewMemory(), proc)
	if rec := h.invoke(t, fnTimer, hostemu.Tick(now, now)); rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500 for a failed tick: %s", rec.Code, rec.Body)
	}
	if es, _ := b.List(context.Background()); len(es) != 0 {
		t.Errorf("the inbox holds %+v after a tick", es)
	}
}

// slowStore answers each call after delay, as a remote table does, or when
// the caller's context ends, whichever comes first.
type slowStore struct {
	appwarden.Store
	put, rw time.Duration // Put's delay; Get's and Replace's
}

func wait(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *slowStore) Put(ctx context.Context, r appwarden.Record) (bool, error) {
	if err := wait(ctx, s.put); err != nil {
		return false, err
	}
	return s.Store.Put(ctx, r)
}

func (s *slowStore) Get(ctx context.Context, partition, key string) (appwarden.Record, bool, error) {
	if err := wait(ctx, s.rw); err != nil {
		return appwarden.Record{}, false, err
	}
	return s.Store.Get(ctx, partition, key)
}

func (s *slowStore) Replace(ctx context.Context, r appwarden.Record) (string, error) {
	if err := wait(ctx, s.rw); err != nil {
		return "", err
	}
	return s.Store.Replace(ctx, r)
}

// manyApps is a batch of n messages, each an "Add application" record
// about a different app.
func manyApps(t *testing.T, n int) [][]byte {
	t.Helper()
	tmpl := string(fixture(t, "eventhub/directoryaudit-add-application.json"))
	bodies := make([][]byte, n)
	for i := range bodies {
		b := strings.NewReplacer(
			"Directory_7d1c0b9e-2a3f-4c5d-8e9f-0a1b2c3d4e5f_ABC12_100000001", fmt.Sprintf("Directory_many_%04d", i),
			"5bee10b5-db93-4475-ae1a-3d87e059d287", fmt.Sprintf("5bee10b5-db93-4475-ae1a-%012d", i),
			"a0847fad-c428-4478-bd58-d4ad0d9f48be", fmt.Sprintf("a0847fad-c428-4478-bd58-%012d", i),
		).Replace(tmpl)
		bodies[i] = []byte(b)
	}
	return bodies
}

// TestLastRetryHandsOffAtOnce: the last retry can leave a whole batch
// pending, and each hand-off to the timer is a read and a write; they go
// out together, so the answer does not wait for them one by one (64 apps
// at 2 x 40 ms each would take 5 s in turn).
func TestLastRetryHandsOffAtOnce(t *testing.T) {
	const apps = 64
	st := &slowStore{Store: store.NewMemory(), rw: 40 * time.Millisecond}
	h := newHarness(t)
	h.proc.err = errors.New("graph: 503 Service Unavailable")
	b := &inbox.Inbox{Store: st}
	h.srv.Inbox = b
	start := time.Now()
	rec := h.invoke(t, fnEventHub, hostemu.EventHubRetry(now, 5, 5, manyApps(t, apps)...))
	took := time.Since(start)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200 on the last retry: %s", rec.Code, rec.Body)
	}
	if took > 2*time.Second {
		t.Errorf("the last retry answered after %s; the hand-offs ran one after another", took)
	}
	es, err := b.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	handed := 0
	for _, e := range es {
		if e.State == inbox.Pending && e.HandedOff {
			handed++
		}
	}
	if len(es) != apps || handed != apps {
		t.Errorf("%d entries, %d pending and handed off; want all %d", len(es), handed, apps)
	}
}

// TestBudgetCountsFromArrival: a state store too slow to save the signals
// within the budget does not hold the answer past it; the signals are not
// safely saved, so the invocation fails (it is retried) even on the last
// retry.
func TestBudgetCountsFromArrival(t *testing.T) {
	st := &slowStore{Store: store.NewMemory(), put: 5 * time.Second}
	h := newHarness(t)
	h.srv.Inbox = &inbox.Inbox{Store: st}
	h.srv.Budget = 100 * time.Millisecond
	start := time.Now()
	rec := h.invoke(t, fnEventHub, twoApps.batch(t, 5, 5))
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("answered after %s; the budget was 100ms", took)
	}
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("status %d, want 500: the signals could not be saved in time: %s", rec.Code, rec.Body)
	}
	if n := len(h.proc.got()); n != 0 {
		t.Errorf("%d signals were worked on after the budget was spent saving them", n)
	}
}

// TestNotYetVisibleWaitsForTheTimer: an object Graph does not show yet,
// past one invocation's re-reads and not among deleted items, is neither
// decided nor a failure to redeliver (#13: only throttling, 5xx, timeouts
// and the state store fail an invocation). The invocation answers 200 and
// the signal stays pending, handed to the timer, which reads it again.
func TestNotYetVisibleWaitsForTheTimer(t *testing.T) {
	proc := &checkingProcessor{err: fmt.Errorf("%w: appId x after 10s, and not among deleted items", appwarden.ErrNotYetVisible)}
	h, b := inboxHarness(t, store.NewMemory(), proc)
	rec := h.invoke(t, fnEventHub, twoApps.batch(t, 0, 0))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", rec.Code, rec.Body)
	}
	if !logsContain(replyLogs(t, rec), "the timer reads it again") {
		t.Errorf("Logs do not say the timer finishes the signal: %q", replyLogs(t, rec))
	}
	es, err := b.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 {
		t.Fatalf("inbox holds %d entries, want both signals", len(es))
	}
	for _, e := range es {
		if e.State != inbox.Pending || !e.HandedOff || e.Attempts != 1 || !strings.Contains(e.LastError, "not visible yet") {
			t.Errorf("entry %+v: want pending, handed to the timer, one attempt with the reason", e)
		}
	}
}

// TestNotYetVisibleWithoutAnInboxFails: with nowhere to keep the signal,
// the invocation fails so that its input is redelivered.
func TestNotYetVisibleWithoutAnInboxFails(t *testing.T) {
	h := newHarness(t)
	h.srv.Processor = failing{appwarden.ErrNotYetVisible}
	rec := h.invoke(t, fnEventHub, twoApps.batch(t, 0, 0))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500 with no inbox: %s", rec.Code, rec.Body)
	}
	if !logsContain(replyLogs(t, rec), "transient failure") {
		t.Errorf("Logs do not report the failure: %q", replyLogs(t, rec))
	}
}

type failing struct{ err error }

func (f failing) Process(context.Context, *slog.Logger, appwarden.Signal) error { return f.err }
