package sweep_test

import (
	"context"
	"encoding/json"
	"github.com/appwarden/appwarden/handler/graph/graphtest"
	"io"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/graph"
	"github.com/appwarden/appwarden/handler/sweep"
)

const lookback = 24 * time.Hour

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// tenantWith is a tenant holding Microsoft Graph, old apps (created well
// before the lookback) and recent ones, in that order of creation.
func tenantWith(old, recent int) (*fakegraph.Tenant, []fakegraph.IDs, []fakegraph.IDs) {
	tenant := fakegraph.NewTenant("")
	tenant.AddMicrosoftGraph()
	var o, r []fakegraph.IDs
	for i := 0; i < old; i++ {
		o = append(o, tenant.AddApp(fakegraph.AppSpec{CreatedDateTime: time.Now().Add(-90 * 24 * time.Hour)}))
	}
	for i := 0; i < recent; i++ {
		r = append(r, tenant.AddApp(fakegraph.AppSpec{
			CreatedDateTime: time.Now().Add(-time.Hour),
			Requested:       []fakegraph.Permission{fakegraph.GraphRole("Mail.Send")},
			Granted:         []fakegraph.Permission{fakegraph.GraphRole("Mail.Send")},
		}))
	}
	return tenant, o, r
}

func serve(t testing.TB, tenant *fakegraph.Tenant, opts ...fakegraph.Option) *fakegraph.Server {
	t.Helper()
	srv, err := fakegraph.Start(tenant, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// client builds the Graph client the production way: a managed identity
// credential through the stand-in's token endpoint, and graph.New.
func client(t testing.TB, srv *fakegraph.Server) *graph.Client {
	t.Helper()
	return graphtest.Client(t, srv, graph.RetryPolicy{
		MaxWait: 50 * time.Millisecond, LagBudget: time.Second, LagFirst: 5 * time.Millisecond, LagMax: 20 * time.Millisecond,
	})
}

// handled records the signals a sweep hands over, and can fail some.
type handled struct {
	mu      sync.Mutex
	sigs    []appwarden.Signal
	fail    map[string]error // by appId, once
	active  int
	maxSeen int
	resolve *graph.Client // when set, each signal is resolved in Graph
	apps    map[string]*appwarden.App
}

func (h *handled) Handle(ctx context.Context, log *slog.Logger, sig appwarden.Signal) error {
	h.mu.Lock()
	h.sigs = append(h.sigs, sig)
	h.active++
	h.maxSeen = max(h.maxSeen, h.active)
	err := h.fail[sig.AppID]
	delete(h.fail, sig.AppID)
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.active--
		h.mu.Unlock()
	}()
	if err != nil {
		return err
	}
	if h.resolve != nil {
		app, err := h.resolve.ResolveSignal(ctx, log, sig)
		if err != nil {
			return err
		}
		h.mu.Lock()
		if h.apps == nil {
			h.apps = map[string]*appwarden.App{}
		}
		h.apps[sig.AppID+"|"+sig.ObjectType] = app
		h.mu.Unlock()
	}
	return nil
}

// take returns the signals handled since the last take, sorted by appId
// then object type.
func (h *handled) take() []appwarden.Signal {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.sigs
	h.sigs = nil
	sort.Slice(out, func(i, j int) bool {
		if out[i].AppID != out[j].AppID {
			return out[i].AppID < out[j].AppID
		}
		return out[i].ObjectType < out[j].ObjectType
	})
	return out
}

// appIDs lists the appIds of signals, per object type.
func appIDs(sigs []appwarden.Signal, objectType string) []string {
	var out []string
	for _, s := range sigs {
		if s.ObjectType == objectType {
			out = append(out, s.AppID)
		}
	}
	sort.Strings(out)
	return out
}

func idsOf(apps ...[]fakegraph.IDs) []string {
	var out []string
	for _, list := range apps {
		for _, a := range list {
			out = append(out, a.AppID)
		}
	}
	sort.Strings(out)
	return out
}

func newSweeper(c *graph.Client, st appwarden.Store, h *handled) *sweep.Sweeper {
	return &sweep.Sweeper{Feed: c, Store: st, Handle: h.Handle, Lookback: lookback, Parallel: 4}
}

// cursorOf reads a feed's persisted cursor.
func cursorOf(t *testing.T, st appwarden.Store, feed string) (link string, baselined bool) {
	t.Helper()
	rec, found, err := st.Get(context.Background(), appwarden.PartitionCursors, feed)
	if err != nil || !found {
		t.Fatalf("cursor of %s: found %v, %v", feed, found, err)
	}
	if rec.Kind != appwarden.KindCursor {
		t.Errorf("cursor record kind %q", rec.Kind)
	}
	var c struct {
		Link      string `json:"link"`
		Baselined bool   `json:"baselined"`
	}
	if err := json.Unmarshal(rec.Data, &c); err != nil {
		t.Fatal(err)
	}
	return c.Link, c.Baselined
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
