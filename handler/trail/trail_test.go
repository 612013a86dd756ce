package trail_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/store"
	"github.com/appwarden/appwarden/handler/trail"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestSignalRecordedOncePerDedupeKey(t *testing.T) {
	ctx := context.Background()
	tr := trail.New(store.NewMemory())
	sig := appwarden.Signal{Kind: appwarden.AppCreated, AppID: "5BEE10B5-db93-4475-ae1a-3d87e059d287", DedupeKey: "audit:x", Time: time.Unix(1700000000, 0), Source: appwarden.SourceEventHub}
	if seen, err := tr.Seen(ctx, "audit:x"); err != nil || seen {
		t.Fatalf("Seen before any delivery = %v, %v", seen, err)
	}
	for i := range 3 {
		via, err := tr.RecordSignal(ctx, quiet, sig)
		if err != nil || via != appwarden.SourceEventHub {
			t.Fatalf("delivery %d: RecordSignal = %q, %v; want eventhub", i+1, via, err)
		}
	}
	if seen, err := tr.Seen(ctx, "audit:x"); err != nil || !seen {
		t.Fatalf("Seen after delivery = %v, %v", seen, err)
	}
	// The same record pulled from Graph: the trail names the entry point
	// that took it first, so the pipeline leaves it to that one.
	pulled := sig
	pulled.Source = appwarden.SourceAuditPull
	if via, err := tr.RecordSignal(ctx, quiet, pulled); err != nil || via != appwarden.SourceEventHub {
		t.Fatalf("pulled duplicate: RecordSignal = %q, %v; want eventhub", via, err)
	}
	h, err := tr.History(ctx, "5bee10b5-db93-4475-ae1a-3d87e059d287")
	if err != nil || len(h) != 1 || h[0].Kind != appwarden.KindSignal {
		t.Fatalf("history = %+v, %v; want one signal (appIds are case-insensitive)", h, err)
	}
}

func TestHistoryIsInTimeOrder(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	tr := trail.New(st)
	base := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	tr.Now = func() time.Time { return base.Add(time.Hour) }
	appID := "5bee10b5-db93-4475-ae1a-3d87e059d287"
	// An action record whose key sorts first but happened after the decision.
	act, _ := json.Marshal(map[string]any{"kind": "disableServicePrincipal"})
	if _, err := st.Put(ctx, appwarden.Record{Partition: appID, Key: "action|aaa", Kind: appwarden.KindAction, Time: base.Add(2 * time.Minute), Data: act}); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.RecordSignal(ctx, quiet, appwarden.Signal{Kind: appwarden.AppCreated, AppID: appID, DedupeKey: "audit:1", Time: base}); err != nil {
		t.Fatal(err)
	}
	app := &appwarden.App{AppID: appID, ResolvedAt: base.Add(time.Minute)}
	d := &appwarden.Decision{AppID: appID, Mode: appwarden.ModeEnforce}
	if err := tr.RecordDecision(ctx, quiet, appwarden.Signal{DedupeKey: "audit:1"}, app, d, &appwarden.Outcome{}); err != nil {
		t.Fatal(err)
	}
	h, err := tr.History(ctx, appID)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range h {
		kinds = append(kinds, e.Kind)
	}
	want := []string{appwarden.KindSignal, appwarden.KindDecision, appwarden.KindAction}
	if len(kinds) != len(want) {
		t.Fatalf("history kinds = %v; want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("history kinds = %v; want %v (signal, then the decision dated when the app was read, then the action)", kinds, want)
		}
	}
}

// An app Graph refused to resolve is recorded with the reason and dated when
// recorded (it was never read), without changing the caller's app; the log
// line carries the reason.
func TestUnresolvableDecision(t *testing.T) {
	ctx := context.Background()
	tr := trail.New(store.NewMemory())
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	tr.Now = func() time.Time { return now }
	appID := "00000003-0000-0000-c000-000000000000/ags.windows.net"
	reason := "graph: application: HTTP 400 Request_BadRequest Invalid object identifier '" + appID + "'."
	app := &appwarden.App{AppID: appID, Unresolvable: reason}
	var logs bytes.Buffer
	if err := tr.RecordDecision(ctx, slog.New(slog.NewJSONHandler(&logs, nil)), appwarden.Signal{DedupeKey: "audit:1"}, app, nil, nil); err != nil {
		t.Fatal(err)
	}
	if !app.ResolvedAt.IsZero() {
		t.Error("RecordDecision changed the caller's app")
	}
	h, err := tr.History(ctx, appID)
	if err != nil || len(h) != 1 {
		t.Fatalf("history = %+v, %v", h, err)
	}
	var rec struct {
		App appwarden.App `json:"app"`
	}
	if err := json.Unmarshal(h[0].Data, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.App.Unresolvable != reason || !rec.App.ResolvedAt.Equal(now) || !h[0].Time.Equal(now) {
		t.Errorf("recorded %s at %v", h[0].Data, h[0].Time)
	}
	var line map[string]any
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil || line["unresolvable"] != reason {
		t.Errorf("log line %q", logs.String())
	}
}
