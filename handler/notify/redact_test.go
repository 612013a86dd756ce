package notify_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/notify"
	"github.com/appwarden/appwarden/handler/notify/notifytest"
	"github.com/appwarden/appwarden/handler/store"
)

// TestWebhookSecretsNeverLeak makes the webhook fail every way it can and
// looks for its secret in every log line, every returned error and every
// stored outbox entry.
func TestWebhookSecretsNeverLeak(t *testing.T) {
	const sig = "Zx9vQm3LkT7pW2rN8bY4cF6hJ1dS5gA0eU"
	const path = "/workflows/8d2e4c1b9a7f4e3d/triggers/manual/paths/invoke"
	query := "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=" + sig

	// A server that echoes the URL it was called on in its error bodies,
	// as some gateways do.
	echo := func(status int, hdr http.Header) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for k, v := range hdr {
				w.Header()[k] = v
			}
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":{"code":"Failed","message":"the request to %s failed; sig=%s"}}`, r.URL.String(), r.URL.Query().Get("sig"))
		}))
		t.Cleanup(s.Close)
		return s
	}
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(hang.Close)
	refused := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr
	}()
	dnsFail := &http.Client{Transport: &http.Transport{DialContext: func(_ context.Context, _, addr string) (net.Conn, error) {
		host, _, _ := net.SplitHostPort(addr)
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
	}}, Timeout: 2 * time.Second}

	cases := []struct {
		name   string
		base   string
		client *http.Client
	}{
		{"connection refused", refused, nil},
		{"HTTP 500 echoing the URL", echo(500, nil).URL, nil},
		{"HTTP 429 with Retry-After", echo(429, http.Header{"Retry-After": []string{"1"}}).URL, nil},
		{"HTTP 404", echo(404, nil).URL, nil},
		{"DNS failure", "https://prod-27.westeurope.logic.azure.com:443", dnsFail},
		{"TLS to a plain server", strings.Replace(echo(500, nil).URL, "http://", "https://", 1), nil},
		{"timeout", hang.URL, &http.Client{Timeout: 300 * time.Millisecond}},
		{"malformed URL", "http://127.0.0.1:99999", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			webhook := tc.base + path + query
			var logs bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			st := store.NewMemory()
			c := &clock{}
			client := tc.client
			if client == nil {
				client = &http.Client{Timeout: 2 * time.Second}
			}
			n := notify.New(notify.Options{Store: st, Teams: webhook, Security: webhook + "&x=1", MinSeverity: appwarden.SeverityMedium,
				HTTPClient: client, Now: c.Now, Budget: 700 * time.Millisecond})
			var errs []error
			s := notifytest.Enforced() // critical: goes to both webhooks
			errs = append(errs, n.Notify(context.Background(), log, s.App, s.Decision, s.Outcome))
			n.Alert(context.Background(), log, "blast-radius limit reached")
			c.Advance(2 * time.Hour)
			errs = append(errs, n.Flush(context.Background(), log))
			ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
			errs = append(errs, notify.PostForTest(ctx, n, notify.ChannelTeams, []byte(`{}`)))
			cancel()

			var texts []string
			texts = append(texts, logs.String())
			delivery := errs[len(errs)-1]
			if delivery == nil {
				t.Fatal("the delivery did not fail: the case tests nothing")
			}
			for _, err := range errs {
				if err != nil {
					texts = append(texts, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
				}
			}
			recs, _ := st.List(context.Background(), notify.PartitionOutbox)
			for _, r := range recs {
				texts = append(texts, string(r.Data))
			}
			if len(recs) == 0 {
				t.Error("the failed notifications are not waiting in the outbox")
			}
			all := strings.Join(texts, "\n")
			if m := regexp.MustCompile(`sig=[^\[]`).FindString(all); m != "" {
				t.Errorf("a signature leaked: %q", m)
			}
			for _, secret := range []string{sig, url.QueryEscape(sig), sig[:12], webhook, path} {
				if strings.Contains(all, secret) {
					i := strings.Index(all, secret)
					t.Errorf("%q leaked: ...%s...", secret, all[max(0, i-120):min(len(all), i+len(secret)+40)])
				}
			}
			if !strings.Contains(delivery.Error(), "[webhook]") {
				t.Errorf("the error does not say which webhook failed: %v", delivery)
			}
			t.Logf("error: %v", delivery)
		})
	}
}
