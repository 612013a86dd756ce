package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/appwarden/appwarden/handler/graph/graphtest"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/graph"
	"github.com/appwarden/appwarden/handler/pipeline"
	"github.com/appwarden/appwarden/handler/store"
	"github.com/appwarden/appwarden/handler/trail"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// judge stands for policy, remediation and notification, none of which may
// see an app that was not resolved.
type judge struct{ t *testing.T }

func (j judge) Evaluate(app *appwarden.App) appwarden.Decision {
	j.t.Errorf("policy judged %+v", app)
	return appwarden.Decision{}
}

func (j judge) Act(context.Context, *slog.Logger, *appwarden.App, appwarden.Decision) (appwarden.Outcome, error) {
	j.t.Error("acted")
	return appwarden.Outcome{}, nil
}

func (j judge) Notify(context.Context, *slog.Logger, *appwarden.App, appwarden.Decision, appwarden.Outcome) error {
	j.t.Error("notified")
	return nil
}

// world is the pipeline over the Graph stand-in and an in-memory trail.
type world struct {
	tenant *fakegraph.Tenant
	srv    *fakegraph.Server
	trail  *trail.Trail
	p      *pipeline.Pipeline
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{tenant: fakegraph.NewTenant("")}
	w.tenant.AddMicrosoftGraph()
	srv, err := fakegraph.Start(w.tenant)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	w.srv = srv
	c := graphtest.Client(t, srv, graph.RetryPolicy{
		MaxWait: 50 * time.Millisecond, LagBudget: 200 * time.Millisecond, LagFirst: 20 * time.Millisecond, LagMax: 50 * time.Millisecond,
	})
	w.trail = trail.New(store.NewMemory())
	j := judge{t}
	w.p = &pipeline.Pipeline{Trail: w.trail, Resolver: c, Policy: j, Actor: j, Notifier: j, Decisions: w.trail}
	return w
}

// decisions returns the app of each decision recorded for appID.
func (w *world) decisions(t *testing.T, appID string) []appwarden.App {
	t.Helper()
	h, err := w.trail.History(context.Background(), appID)
	if err != nil {
		t.Fatal(err)
	}
	var out []appwarden.App
	for _, e := range h {
		if e.Kind != appwarden.KindDecision {
			continue
		}
		var rec struct {
			App      appwarden.App    `json:"app"`
			Decision *json.RawMessage `json:"decision"`
		}
		if err := json.Unmarshal(e.Data, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Decision != nil {
			t.Errorf("a decision was recorded for an app not judged: %s", e.Data)
		}
		out = append(out, rec.App)
	}
	return out
}

// The grant record that names Microsoft Graph's service principal name
// where an appId belongs: Graph answers 400, the invocation succeeds, and
// the trail says why nothing was judged, in Graph's words.
func TestUnresolvableIsRecordedNotRetried(t *testing.T) {
	w := newWorld(t)
	spn := "00000003-0000-0000-c000-000000000000/ags.windows.net"
	sig := appwarden.Signal{Kind: appwarden.AppRoleGranted, AppID: spn, Time: time.Now(), Source: appwarden.SourceEventHub, DedupeKey: "audit:1"}
	var buf bytes.Buffer
	if err := w.p.Process(context.Background(), slog.New(slog.NewTextHandler(&buf, nil)), sig); err != nil {
		t.Fatalf("Process = %v; want nil (the invocation answers 200)", err)
	}
	if strings.Contains(buf.String(), "level=ERROR") {
		t.Errorf("a 400 about one input logged an ERROR:\n%s", buf.String())
	}
	got := w.decisions(t, spn)
	if len(got) != 1 {
		t.Fatalf("%d decisions recorded, want 1", len(got))
	}
	app := got[0]
	if !strings.Contains(app.Unresolvable, "Request_BadRequest") || !strings.Contains(app.Unresolvable, "Invalid object identifier") || app.ResolvedAt.IsZero() {
		t.Errorf("recorded app = %+v; want unresolvable with Graph's code and message, dated", app)
	}
}

// A 403 on the app's service principal: the same, and an ERROR that tells
// the operator AppWarden lacks a permission (every app it cannot read goes
// unjudged), where a 400 about one input is not one.
func TestForbiddenIsRecordedNotRetried(t *testing.T) {
	w := newWorld(t)
	ids := w.tenant.AddApp(fakegraph.AppSpec{DisplayName: "hidden"})
	w.srv.FailNext(1, 403, fakegraph.OnRoute(fakegraph.RouteServicePrincipalByAppID), fakegraph.InnerOnly())
	sig := appwarden.Signal{Kind: appwarden.AppCreated, AppID: ids.AppID, Time: time.Now(), Source: appwarden.SourceEventGrid, DedupeKey: "audit:2"}
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	if err := w.p.HandleApp(context.Background(), log, sig); err != nil {
		t.Fatalf("HandleApp = %v; want nil", err)
	}
	if got := w.decisions(t, ids.AppID); len(got) != 1 || !strings.Contains(got[0].Unresolvable, "Authorization_RequestDenied") {
		t.Errorf("decisions = %+v", got)
	}
	if !strings.Contains(buf.String(), "level=ERROR") || !strings.Contains(buf.String(), "Application.Read.All") {
		t.Errorf("no ERROR naming the permission to check in the logs:\n%s", buf.String())
	}
}

// An app deleted before its recent signal is looked up: gone, recorded,
// within the re-read budget, and the invocation succeeds.
func TestDeletedIsRecordedAsGone(t *testing.T) {
	w := newWorld(t)
	ids := w.tenant.AddApp(fakegraph.AppSpec{DisplayName: "short-lived"})
	if err := w.tenant.DeleteApp(ids.AppID); err != nil {
		t.Fatal(err)
	}
	sig := appwarden.Signal{Kind: appwarden.AppCreated, AppID: ids.AppID, ObjectID: ids.ApplicationID, ObjectType: appwarden.ObjectApplication,
		Time: time.Now(), Source: appwarden.SourceEventGrid, DedupeKey: "audit:3"}
	if err := w.p.HandleApp(context.Background(), quiet, sig); err != nil {
		t.Fatalf("HandleApp = %v; want nil", err)
	}
	if got := w.decisions(t, ids.AppID); len(got) != 1 || !got[0].Deleted || got[0].Unresolvable != "" {
		t.Errorf("decisions = %+v; want one, gone", got)
	}
}

// Throttling and server errors still fail the invocation, and nothing is
// recorded as decided.
func TestTransientStillFails(t *testing.T) {
	w := newWorld(t)
	ids := w.tenant.AddApp(fakegraph.AppSpec{DisplayName: "busy"})
	w.srv.FailNext(1000, 500, fakegraph.InnerOnly())
	sig := appwarden.Signal{Kind: appwarden.AppCreated, AppID: ids.AppID, Time: time.Now(), Source: appwarden.SourceEventGrid, DedupeKey: "audit:4"}
	err := w.p.HandleApp(context.Background(), quiet, sig)
	if err == nil || errors.Is(err, appwarden.ErrUnresolvable) {
		t.Fatalf("HandleApp = %v; want a transient error", err)
	}
	if got := w.decisions(t, ids.AppID); len(got) != 0 {
		t.Errorf("decisions = %+v; want none", got)
	}
}
