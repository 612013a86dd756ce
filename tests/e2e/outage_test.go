package e2e

// A Teams outage during a burst, in this process: the handler's own wiring
// (setup.Wire, the custom handler's Server) over the Graph stand-in, with
// the notifier on a clock the test moves, so that a later Flush can be
// shown to deliver what the outage left in the outbox without waiting out
// its backoff.

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden/appwardentest"
	"github.com/appwarden/appwarden/handler/config"
	"github.com/appwarden/appwarden/handler/graph"
	"github.com/appwarden/appwarden/handler/notify"
	"github.com/appwarden/appwarden/handler/setup"
)

// flakyHook is a Teams webhook stand-in that is down (500, or hanging
// until the caller gives up) or up (202).
type flakyHook struct {
	mode atomic.Value // "up", "500", "hang"
	mu   sync.Mutex
	by   map[string][]string // bodies answered 202, per channel path
	n    atomic.Int64
}

func (h *flakyHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.n.Add(1)
	var b bytes.Buffer
	_, _ = b.ReadFrom(r.Body)
	switch h.mode.Load() {
	case "500":
		http.Error(w, "down", http.StatusInternalServerError)
	case "hang":
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
	default:
		h.mu.Lock()
		h.by[strings.Trim(r.URL.Path, "/")] = append(h.by[strings.Trim(r.URL.Path, "/")], b.String())
		h.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}
}

func (h *flakyHook) delivered(ch string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.by[ch]...)
}

// offsetClock is now, moved on by the test.
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *offsetClock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// TestTeamsOutageDelaysNoContainment: a burst of 30 risky apps while the
// Teams webhooks fail (500) or hang. Every app is contained, the
// invocation answers 200 within 10 s, nothing is delivered and the
// notifications wait in the outbox; once the webhook is back, a later Flush
// (the timer's) delivers them: digests naming every app.
func TestTeamsOutageDelaysNoContainment(t *testing.T) {
	for _, mode := range []string{"500", "hang"} {
		t.Run(mode, func(t *testing.T) {
			const n = 30
			tenant, ids, recs := burstTenant(n)
			g := startGraph(t, tenant)
			hook := &flakyHook{by: map[string][]string{}}
			hook.mode.Store(mode)
			hs := httptest.NewServer(hook)
			t.Cleanup(hs.Close)

			env := map[string]string{
				config.IdentityEndpoint: g.TokenURL(), config.IdentityHeader: g.IdentityHeader(),
				config.ClientID: selfAppID, config.GraphEndpoint: g.URL(), config.ModeSetting: "enforce",
				config.MaxActionsPerHour: "10000", config.TeamsWebhookURL: hs.URL + "/owners", config.SecurityWebhookURL: hs.URL + "/security",
			}
			t.Setenv(config.IdentityEndpoint, env[config.IdentityEndpoint]) // azidentity reads these from the environment
			t.Setenv(config.IdentityHeader, env[config.IdentityHeader])
			cfg, err := config.Load(func(k string) string { return env[k] })
			if err != nil {
				t.Fatal(err)
			}
			logs := &appwardentest.LogBuffer{}
			log := slog.New(slog.NewJSONHandler(logs, nil))
			ctx := context.Background()
			stg, err := setup.Wire(ctx, cfg, log, graph.ManagedIdentity)
			if err != nil {
				t.Fatal(err)
			}
			clock := &offsetClock{}
			nt := notify.New(notify.Options{Store: stg.Store, Teams: hs.URL + "/owners", Security: hs.URL + "/security",
				MinSeverity: cfg.NotifyMinSeverity, Now: clock.Now})
			stg.Notifier, stg.Pipeline.Notifier, stg.Pipeline.Outbox, stg.Remediator.Alerter = nt, nt, nt, nt
			srv := httptest.NewServer(stg.Server(log).Handler())
			t.Cleanup(srv.Close)

			start := time.Now()
			resp, err := http.Post(srv.URL+"/OnAuditLogBatch", "application/json", bytes.NewReader(eventHubEnvelope(t, recs...)))
			if err != nil {
				t.Fatal(err)
			}
			var reply struct{ Logs []string }
			_ = json.NewDecoder(resp.Body).Decode(&reply)
			resp.Body.Close()
			took := time.Since(start)
			if resp.StatusCode != http.StatusOK || took > 10*time.Second {
				t.Errorf("status %d after %s; want 200 within 10 s. Logs %q", resp.StatusCode, took.Round(time.Millisecond), reply.Logs)
			}
			by, _ := writesByApp(g, ids)
			for _, id := range ids {
				if len(by[id.AppID]) != 1 {
					t.Errorf("app %s: writes %q, want its one containment", id.AppID, by[id.AppID])
				}
			}
			if got := len(hook.delivered("owners")) + len(hook.delivered("security")); got != 0 {
				t.Fatalf("%d messages delivered while the webhook is down", got)
			}
			if hook.n.Load() == 0 {
				t.Error("no delivery was tried")
			}
			queued, err := stg.Store.List(ctx, notify.PartitionOutbox)
			if err != nil || len(queued) == 0 {
				t.Fatalf("the outbox holds %d entries (%v); the undelivered notifications must wait there", len(queued), err)
			}

			// The webhook is back; the timer's Flush, once the backoff is over.
			hook.mode.Store("up")
			clock.Advance(2 * time.Hour)
			if err := nt.Flush(ctx, log); err != nil {
				t.Fatalf("flush: %v", err)
			}
			for _, ch := range []string{"owners", "security"} {
				all := strings.Join(hook.delivered(ch), "\n")
				for _, id := range ids {
					if !strings.Contains(all, id.AppID) {
						t.Errorf("%s: app %s not delivered by the later Flush", ch, id.AppID)
					}
				}
				if got := len(hook.delivered(ch)); got > 3 {
					t.Errorf("%s: %d messages after the outage; want the digest", ch, got)
				}
			}
			if left, _ := stg.Store.List(ctx, notify.PartitionOutbox); len(left) != 0 {
				t.Errorf("%d entries still in the outbox after the Flush", len(left))
			}
			t.Logf("Teams %s: %d apps contained, answered in %s (%d webhook attempts during the outage, %d entries left in the outbox)",
				mode, n, took.Round(time.Millisecond), hook.n.Load(), len(queued))
		})
	}
}
