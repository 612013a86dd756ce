package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/notify"
	"github.com/appwarden/appwarden/handler/notify/notifytest"
	"github.com/appwarden/appwarden/handler/store"
)

// cardActions are the Action.OpenUrl urls of a delivered Teams message,
// wherever they are (card actions or an ActionSet in the body).
func cardURLs(t *testing.T, body []byte) []string {
	t.Helper()
	var msg any
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatal(err)
	}
	var urls []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["type"] == "Action.OpenUrl" {
				urls = append(urls, x["url"].(string))
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(msg)
	return urls
}

// newExpiryRouted is newRouted with the clock at the expiry samples' now.
func newExpiryRouted(t *testing.T, security bool) (*routed, *notify.Notifier) {
	r := &routed{teams: newHook(t), mails: &mailer{}}
	o := notify.Options{Store: store.NewMemory(), Teams: r.teams.url(), MailSender: "appwarden@contoso.example", Mailer: r.mails,
		MinSeverity: appwarden.SeverityMedium, Budget: 2 * time.Second, Now: func() time.Time { return notifytest.ExpiryNow }}
	if security {
		r.security = newHook(t)
		o.Security = r.security.url()
	}
	return r, notify.New(o)
}

func credentialsURL(appID string) string {
	return "https://entra.microsoft.com/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/Credentials/appId/" + appID
}

// TestExpiryOwnerDigest: an owner with five apps due gets one digest, one
// card and one email, naming every app and every credential, each app
// with its Certificates & secrets link; not five cards.
func TestExpiryOwnerDigest(t *testing.T) {
	r, n := newExpiryRouted(t, true)
	due := notifytest.ExpiryOwnerDigest().Expiry
	if err := n.NotifyExpiring(context.Background(), quietLog(), due); err != nil {
		t.Fatal(err)
	}
	posts := r.teams.delivered()
	if len(posts) != 1 || len(r.security.all()) != 0 {
		t.Fatalf("owners' channel got %d messages, security %d: want one digest", len(posts), len(r.security.all()))
	}
	if len(r.mails.sent) != 1 {
		t.Fatalf("%d emails, want one digest", len(r.mails.sent))
	}
	m := r.mails.sent[0]
	if strings.Join(m.to, ",") != "alice.martin@contoso.example" {
		t.Errorf("digest mailed to %v", m.to)
	}
	urls := strings.Join(cardURLs(t, posts[0]), "\n")
	for _, e := range due {
		for what, s := range map[string]string{"card": string(posts[0]), "email": m.html} {
			for _, want := range []string{e.DisplayName, e.Credential.KeyID, e.Credential.DisplayName} {
				if !strings.Contains(s, want) {
					t.Errorf("the digest %s does not name %q", what, want)
				}
			}
		}
		if !strings.Contains(urls, credentialsURL(e.AppID)) {
			t.Errorf("the digest card has no link to %s's Certificates & secrets", e.DisplayName)
		}
		if !strings.Contains(m.html, `href="`+credentialsURL(e.AppID)) {
			t.Errorf("the digest email has no link to %s's Certificates & secrets", e.DisplayName)
		}
	}
	if !bytes.Contains(posts[0], []byte(`"mentioned":{"id":"alice@contoso.example"`)) {
		t.Error("the digest does not mention its owner")
	}
}

// TestExpiryCoOwner: an app with two owners, one of whom gets a digest,
// still gets its own card for the other owner, mentioning only them.
func TestExpiryCoOwner(t *testing.T) {
	r, n := newExpiryRouted(t, true)
	due := notifytest.ExpiringOwnerApps() // Bob co-owns the first app; Alice owns all five
	if err := n.NotifyExpiring(context.Background(), quietLog(), due); err != nil {
		t.Fatal(err)
	}
	posts := r.teams.delivered()
	if len(posts) != 2 {
		t.Fatalf("%d messages, want Alice's digest and the first app's card for Bob", len(posts))
	}
	var card []byte
	for _, p := range posts {
		if !bytes.Contains(p, []byte(due[1].DisplayName)) {
			card = p
		}
	}
	if card == nil || !bytes.Contains(card, []byte(due[0].Credential.KeyID)) || !bytes.Contains(card, []byte(`"name":"Bob Okafor"`)) ||
		bytes.Contains(card, []byte(`"name":"Alice Martin"`)) {
		t.Errorf("the co-owned app's card should mention Bob alone:\n%s", card)
	}
	// Bob has neither mail nor UPN: only Alice's digest is mailed.
	if len(r.mails.sent) != 1 {
		t.Errorf("%d emails, want 1", len(r.mails.sent))
	}
}

// TestExpiryCard: one app's owners get one card and one email naming each
// due credential (name, key id, type, where, expiry, threshold, expired N
// days ago), the renewal steps, and the app's Certificates & secrets page.
func TestExpiryCard(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	r, n := newExpiryRouted(t, true)
	due := notifytest.ExpiryCard().Expiry
	if err := n.NotifyExpiring(context.Background(), log, due); err != nil {
		t.Fatal(err)
	}
	posts := r.teams.delivered()
	if len(posts) != 1 || len(r.security.all()) != 0 || len(r.mails.sent) != 1 {
		t.Fatalf("teams %d security %d mail %d, want 1, 0, 1", len(posts), len(r.security.all()), len(r.mails.sent))
	}
	m := r.mails.sent[0]
	if strings.Join(m.to, ",") != "alice.martin@contoso.example" { // Bob has no mailbox
		t.Errorf("mailed to %v", m.to)
	}
	want := []string{
		notifytest.SecretKey, "ci-deploy", notifytest.CertKey, "CN=payroll-sync.contoso.example", notifytest.SPSecret, "legacy-job",
		"Client secret", "Certificate", "2026-03-09 08:44 UTC", "in 7 days", "expired 3 days ago", "30 days",
		"enterprise app (service principal)", "app registration",
		"update the app", "managed identity", "federated credential", "delete the old credential",
	}
	for what, s := range map[string]string{"card": string(posts[0]), "email": m.html} {
		for _, w := range want {
			if !strings.Contains(strings.ToLower(s), strings.ToLower(w)) {
				t.Errorf("the %s lacks %q", what, w)
			}
		}
		if strings.Contains(s, "Q~x") {
			t.Errorf("the %s shows the secret's hint", what)
		}
	}
	urls := cardURLs(t, posts[0])
	if len(urls) == 0 || urls[0] != credentialsURL(notifytest.AppID) {
		t.Errorf("card links %v, want first %s", urls, credentialsURL(notifytest.AppID))
	}
	if !strings.Contains(m.html, `href="`+credentialsURL(notifytest.AppID)+`"`) {
		t.Error("the email has no link to Certificates & secrets")
	}
	if !strings.Contains(m.subject, "credentials of your app expire soon") || !strings.Contains(m.subject, "Contoso Payroll Sync") {
		t.Errorf("subject %q", m.subject)
	}
	for _, secretish := range []string{"Q~x", "ci-deploy", "legacy-job"} {
		if strings.Contains(logs.String(), secretish) {
			t.Errorf("the log names a credential (%q):\n%s", secretish, logs.String())
		}
	}

	// The same warning again (a rerun of the pass) is not sent twice.
	if err := n.NotifyExpiring(context.Background(), log, due); err != nil {
		t.Fatal(err)
	}
	if len(r.teams.delivered()) != 1 || len(r.mails.sent) != 1 {
		t.Errorf("the same warning went out again: teams %d, mail %d", len(r.teams.delivered()), len(r.mails.sent))
	}
}

// TestExpiryOwnerless: an ownerless app's warning goes to the security
// channel alone (to the owners' channel, saying why, without one).
func TestExpiryOwnerless(t *testing.T) {
	due := notifytest.ExpiryOwnerless().Expiry
	t.Run("security", func(t *testing.T) {
		r, n := newExpiryRouted(t, true)
		if err := n.NotifyExpiring(context.Background(), quietLog(), due); err != nil {
			t.Fatal(err)
		}
		sec := r.security.delivered()
		if len(sec) != 1 || len(r.teams.all()) != 0 || len(r.mails.sent) != 0 {
			t.Fatalf("security %d teams %d mail %d, want 1, 0, 0", len(sec), len(r.teams.all()), len(r.mails.sent))
		}
		for _, w := range []string{"because the app has no owners", notifytest.SecretKey, "legacy-batch-export", "Owners: none"} {
			if !bytes.Contains(sec[0], []byte(w)) {
				t.Errorf("the security copy lacks %q", w)
			}
		}
	})
	t.Run("no security channel", func(t *testing.T) {
		r, n := newExpiryRouted(t, false)
		if err := n.NotifyExpiring(context.Background(), quietLog(), due); err != nil {
			t.Fatal(err)
		}
		posts := r.teams.delivered()
		if len(posts) != 1 || !bytes.Contains(posts[0], []byte("no security channel is configured")) {
			t.Fatalf("teams %d: the ownerless warning must reach someone, saying why", len(posts))
		}
	})
}

// TestExpiryWaitsInTheOutbox: a warning Teams refuses does not fail the
// pass; it waits in the outbox and Flush delivers it once.
func TestExpiryWaitsInTheOutbox(t *testing.T) {
	h := newHook(t)
	h.setRespond(func(int, *http.Request) (int, http.Header) { return http.StatusServiceUnavailable, nil })
	st := store.NewMemory()
	c := &clock{}
	n := newNotifier(st, h, c, nil)
	if err := n.NotifyExpiring(context.Background(), quietLog(), notifytest.ExpiryCard().Expiry); err != nil {
		t.Fatalf("a Teams outage failed the pass: %v", err)
	}
	if outboxLen(t, st) != 1 || len(h.delivered()) != 0 {
		t.Fatalf("outbox %d delivered %d", outboxLen(t, st), len(h.delivered()))
	}
	h.setRespond(func(int, *http.Request) (int, http.Header) { return http.StatusAccepted, nil })
	c.Advance(2 * time.Hour)
	if err := n.Flush(context.Background(), quietLog()); err != nil {
		t.Fatal(err)
	}
	if err := n.Flush(context.Background(), quietLog()); err != nil {
		t.Fatal(err)
	}
	if len(h.delivered()) != 1 || outboxLen(t, st) != 0 {
		t.Errorf("after Flush: delivered %d, outbox %d", len(h.delivered()), outboxLen(t, st))
	}
}

var _ appwarden.ExpiryNotifier = (*notify.Notifier)(nil)
