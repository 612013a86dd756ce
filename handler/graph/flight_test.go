package graph_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/graph"
)

// readsOf counts the stand-in's reads naming the app (by appId), inside
// batches or not.
func readsOf(srv *fakegraph.Server, appID string) (n int) {
	for _, c := range srv.Calls() {
		if c.Method == "GET" && strings.Contains(strings.ToLower(c.Path), strings.ToLower(appID)) {
			n++
		}
	}
	return n
}

// flightWorld: typical apps, a warm client, and Graph answering slowly
// enough that resolutions started together overlap.
func flightWorld(t *testing.T, n int) (*fakegraph.Server, *graph.Client, []fakegraph.IDs) {
	t.Helper()
	tenant := fakegraph.NewTenant(tenantID)
	tenant.AddMicrosoftGraph()
	warm := typicalApp(tenant, "warm")
	var apps []fakegraph.IDs
	for i := 0; i < n; i++ {
		apps = append(apps, typicalApp(tenant, "typical"))
	}
	srv := serve(t, tenant)
	c := client(t, srv, fastRetry)
	if _, err := c.Resolve(context.Background(), graph.Subject{AppID: warm.AppID}); err != nil {
		t.Fatal(err)
	}
	settle(t, srv)
	srv.Reset()
	srv.SetLatency(300 * time.Millisecond)
	return srv, c, apps
}

// resolveAll resolves the signals at once, the first a little ahead so that
// it leads the flight, and returns the apps in order.
func resolveAll(t *testing.T, c *graph.Client, sigs ...appwarden.Signal) []*appwarden.App {
	t.Helper()
	out := make([]*appwarden.App, len(sigs))
	var wg sync.WaitGroup
	for i, sig := range sigs {
		if i == 1 {
			time.Sleep(50 * time.Millisecond)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			app, err := c.Resolve(context.Background(), graph.SubjectOf(sig))
			if err != nil {
				t.Errorf("signal %d: %v", i, err)
				return
			}
			out[i] = app
		}()
	}
	wg.Wait()
	return out
}

// Concurrent resolutions of one app share one read; each gets its own copy,
// with its own creator.
func TestFlightSharesConcurrentResolutions(t *testing.T) {
	srv, c, apps := flightWorld(t, 1)
	ids := apps[0]
	created := createdSignal(ids) // Time: before either resolution starts
	swept := appwarden.Signal{Kind: appwarden.AppCreated, AppID: ids.AppID, ObjectID: ids.ApplicationID, ObjectType: appwarden.ObjectApplication, Time: time.Now(), Source: appwarden.SourceSweep}
	got := resolveAll(t, c, created, swept, created)
	settle(t, srv)
	if n := readsOf(srv, ids.AppID); n != 2 {
		t.Errorf("%d reads of the app for three concurrent resolutions, want 2 (one $batch)", n)
	}
	if st := srv.Stats(); st.Requests != 1 {
		t.Errorf("%d round trips, want 1", st.Requests)
	}
	for i, app := range got {
		if app == nil {
			continue
		}
		checkTypical(t, app, ids, "typical")
		if want := created.Initiator; i != 1 && app.Creator != want || i == 1 && app.Creator != swept.Initiator {
			t.Errorf("resolution %d: creator %+v", i, app.Creator)
		}
	}
	if got[0] != nil && got[2] != nil && &got[0].Owners[0] == &got[2].Owners[0] {
		t.Error("two resolutions share memory")
	}
}

// Resolutions of different apps do not share.
func TestFlightDifferentAppsDoNotShare(t *testing.T) {
	srv, c, apps := flightWorld(t, 2)
	got := resolveAll(t, c, createdSignal(apps[0]), createdSignal(apps[1]))
	settle(t, srv)
	for i, ids := range apps {
		if n := readsOf(srv, ids.AppID); n != 2 {
			t.Errorf("app %d: %d reads, want 2", i, n)
		}
		if got[i] != nil {
			checkTypical(t, got[i], ids, "typical")
		}
	}
}

// A signal whose change came after the flight started does not share it (its
// read may predate the change): it waits for the flight, then reads again.
// A change's signal does not share a creation's flight either (the creation
// reads no federated credentials or directory roles).
func TestFlightNotSharedAcrossALaterChange(t *testing.T) {
	for _, tc := range []struct {
		name  string
		later func(ids fakegraph.IDs) appwarden.Signal
		reads int
	}{
		{"a change after the flight began", func(ids fakegraph.IDs) appwarden.Signal {
			sig := createdSignal(ids)
			sig.Time = time.Now().Add(time.Hour)
			return sig
		}, 2 + 2},
		{"a change's signal on a creation's flight", func(ids fakegraph.IDs) appwarden.Signal {
			sig := createdSignal(ids)
			sig.Kind = appwarden.CredentialAdded
			return sig
		}, 2 + 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, c, apps := flightWorld(t, 1)
			ids := apps[0]
			start := time.Now()
			got := resolveAll(t, c, createdSignal(ids), tc.later(ids))
			settle(t, srv)
			if n := readsOf(srv, ids.AppID); n != tc.reads {
				t.Errorf("%d reads, want %d (two resolutions)", n, tc.reads)
			}
			// One at a time: the second read started after the first ended.
			if d := time.Since(start); d < 600*time.Millisecond {
				t.Errorf("both resolutions done in %v: they overlapped", d)
			}
			if got[1] != nil {
				checkTypical(t, got[1], ids, "typical")
			}
		})
	}
}

// A joiner whose context ends stops waiting; the flight goes on for the
// others.
func TestFlightJoinerContext(t *testing.T) {
	srv, c, apps := flightWorld(t, 1)
	ids := apps[0]
	done := make(chan error, 1)
	go func() {
		_, err := c.Resolve(context.Background(), graph.SubjectOf(createdSignal(ids)))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Resolve(ctx, graph.SubjectOf(createdSignal(ids))); err == nil {
		t.Error("a joiner past its deadline got an app")
	}
	if err := <-done; err != nil {
		t.Errorf("leader: %v", err)
	}
	settle(t, srv)
}
