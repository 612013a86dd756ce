package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/inbox"
	"github.com/appwarden/appwarden/handler/store"
	"github.com/appwarden/appwarden/handler/trail"
)

// history shows, on each decision, what the change it judged added and who
// made it; a new app's decision (everything counts as added) does not list
// everything again.
func TestHistoryShowsWhatEachChangeAdded(t *testing.T) {
	decision := func(ch *appwarden.Change) trail.Entry {
		data, err := json.Marshal(map[string]any{
			"app":      appwarden.App{AppID: "5bee10b5-db93-4475-ae1a-3d87e059d287", Change: ch},
			"decision": appwarden.Decision{Mode: appwarden.ModeEnforce, Explanation: "Payroll Sync: critical, a credential on a privileged app."},
		})
		if err != nil {
			t.Fatal(err)
		}
		return trail.Entry{Time: time.Now(), Kind: appwarden.KindDecision, Data: data}
	}
	got := summarize(decision(&appwarden.Change{Kind: appwarden.CredentialAdded, Initiator: appwarden.Initiator{UPN: "eve@contoso.example"},
		Added: []appwarden.Fact{{Kind: appwarden.FactCredential, ID: "7e7e7e7e-0000-4000-8000-000000000007", Name: "backup", State: appwarden.CredentialPassword}}}))
	for _, want := range []string{"mode=enforce", "added: credential 7e7e7e7e-0000-4000-8000-000000000007 (backup) password", "by eve@contoso.example"} {
		if !strings.Contains(got, want) {
			t.Errorf("history line %q lacks %q", got, want)
		}
	}
	if got := summarize(decision(&appwarden.Change{Kind: appwarden.AppUpdated})); !strings.Contains(got, "the change added nothing") {
		t.Errorf("a rename's line %q does not say the change added nothing", got)
	}
	if got := summarize(decision(&appwarden.Change{Kind: appwarden.AppCreated, New: true, Added: []appwarden.Fact{{Kind: appwarden.FactOwner, ID: "x"}}})); strings.Contains(got, "added:") {
		t.Errorf("a new app's line %q lists what it added", got)
	}
}

// `history --app _inbox` shows every signal the inbox holds: one still
// pending (with its attempts and last error) and one the timer gave up
// (state=expired, with the reason), both as the inbox itself wrote them.
func TestHistoryShowsPendingAndExpiredInboxEntries(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	now := t0
	b := &inbox.Inbox{Store: st, Now: func() time.Time { return now }}
	sig := func(appID, key string) appwarden.Signal {
		return appwarden.Signal{Kind: appwarden.AppCreated, AppID: appID, Source: appwarden.SourceEventHub, DedupeKey: key}
	}
	old := sig("5bee10b5-db93-4475-ae1a-3d87e059d287", "audit:Directory_old")
	recent := sig("6cff21c6-ec04-4586-bf2b-4e98f16ae398", "audit:Directory_recent")
	graphDown := errors.New("graph: 503 Service Unavailable")

	// The old signal fails once and is still undecided a day later; the
	// recent one, held an hour before the tick, fails at that tick.
	if err := b.Hold(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := b.Failed(ctx, old, graphDown); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(24 * time.Hour)
	if err := b.Hold(ctx, recent); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(25 * time.Hour)
	quiet := slog.New(slog.DiscardHandler)
	if err := b.Redrive(ctx, quiet, func(context.Context, *slog.Logger, appwarden.Signal) error { return graphDown }); err == nil {
		t.Fatal("the re-drive of a failing signal reported no error")
	}

	var out, errOut bytes.Buffer
	if code := printHistory(ctx, trail.New(st), appwarden.PartitionInbox, false, &out, &errOut); code != 0 {
		t.Fatalf("history exited %d: %s", code, errOut.String())
	}
	line := func(key string) string {
		for l := range strings.Lines(out.String()) {
			if strings.Contains(l, "dedupeKey="+key+" ") {
				return l
			}
		}
		t.Errorf("history does not show %s:\n%s", key, out.String())
		return ""
	}
	wants := map[string][]string{
		old.DedupeKey: {appwarden.KindInbox, "appId=" + old.AppID, "state=" + inbox.Expired, "attempts=1",
			"reason=still undecided after 25h0m0s and 1 attempts; last error: " + graphDown.Error()},
		recent.DedupeKey: {appwarden.KindInbox, "appId=" + recent.AppID, "state=" + inbox.Pending, "attempts=1", "lastError=" + graphDown.Error()},
	}
	for key, want := range wants {
		l := line(key)
		if l == "" {
			continue
		}
		for _, w := range want {
			if !strings.Contains(l, w) {
				t.Errorf("history line %q lacks %q", l, w)
			}
		}
	}
	if l := line(recent.DedupeKey); strings.Contains(l, "reason=") {
		t.Errorf("the pending entry's line %q gives a reason", l)
	}
}
