package sweep_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/store"
	"github.com/appwarden/appwarden/handler/sweep"
)

// sampled wraps the Graph client's delta feed and samples the heap after
// every page, to see the sweep's peak and not only what is left after it.
// The sample follows a GC: without it, the heap in use includes garbage the
// GC lets pile up in proportion to the live heap, which here is mostly the
// stand-in's tenant.
type sampled struct {
	appwarden.DeltaFeed
	pages    int
	peak     uint64        // highest HeapInuse seen after a page
	sampling time.Duration // time spent sampling
	perPage  func()        // run before each sample (e.g. dropping the stand-in's call log)
}

func (s *sampled) DeltaPages(ctx context.Context, feed, link string, fn func(appwarden.DeltaPage) error) error {
	return s.DeltaFeed.DeltaPages(ctx, feed, link, func(p appwarden.DeltaPage) error {
		err := fn(p)
		if s.perPage != nil {
			s.perPage()
		}
		start := time.Now()
		s.pages++
		s.peak = max(s.peak, heapInuse())
		s.sampling += time.Since(start)
		return err
	})
}

func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// bigTenant is a tenant of n apps (an application and a service principal
// each) created at the given time, with Microsoft Graph.
func bigTenant(n int, created time.Time) *fakegraph.Tenant {
	tenant := fakegraph.NewTenant("")
	tenant.AddMicrosoftGraph()
	for i := 0; i < n; i++ {
		tenant.AddApp(fakegraph.AppSpec{
			CreatedDateTime: created,
			Secrets:         []fakegraph.Credential{{}},
			Requested:       []fakegraph.Permission{fakegraph.GraphRole("User.Read.All")},
		})
	}
	return tenant
}

type sweepMemory struct {
	objects, pages, judged int
	growth, peak           int64 // bytes over the heap in use before the sweep
}

// measureSweep runs a first sweep of an n-app tenant with delta pages of
// 200, in which every application is recent, so each is judged: resolved
// in Graph through the real client, as the pipeline does. It reports how the
// heap in use grew: after the sweep (after GC), and at its peak (sampled
// after each page). The tenant, the stand-in, the client and the store exist
// before the first measurement, and the stand-in's call log is dropped after
// each page, so only what the sweep and the client keep is measured.
func measureSweep(t *testing.T, n int) sweepMemory {
	t.Helper()
	tenant := bigTenant(n, time.Now().Add(-time.Hour))
	srv := serve(t, tenant, fakegraph.WithDeltaPageSize(200))
	c := client(t, srv)
	st := store.NewMemory()
	var resolved atomic.Int64
	feed := &sampled{DeltaFeed: c, perPage: srv.Reset}
	s := &sweep.Sweeper{Feed: feed, Store: st, Lookback: lookback, Handle: func(ctx context.Context, log *slog.Logger, sig appwarden.Signal) error {
		app, err := c.ResolveSignal(ctx, log, sig)
		if err != nil {
			return err
		}
		if app.Application == nil || app.Application.ID != sig.ObjectID || len(app.Permissions) != 1 {
			return fmt.Errorf("%s resolved as %+v", sig.AppID, app)
		}
		resolved.Add(1)
		return nil
	}}

	before := heapInuse()
	stats, err := s.Sweep(context.Background(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	after := heapInuse()
	runtime.KeepAlive(tenant)
	runtime.KeepAlive(srv)
	runtime.KeepAlive(c)
	runtime.KeepAlive(st)

	apps, sps := tenant.Counts()
	if stats.Objects != apps+sps || stats.Judged != n || int(resolved.Load()) != n || stats.Baseline != sps {
		t.Fatalf("%d apps: stats %+v, %d resolved; want %d judged", n, stats, resolved.Load(), n)
	}
	m := sweepMemory{objects: stats.Objects, pages: feed.pages, judged: stats.Judged, growth: int64(after) - int64(before), peak: int64(feed.peak) - int64(before)}
	t.Logf("%6d apps: %5d objects in %3d pages, %5d resolved; heap in use %+.2f MB after the sweep, peak %+.2f MB",
		n, m.objects, m.pages, m.judged, mb(m.growth), mb(m.peak))
	return m
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// A 10,000-app tenant sweeps in constant memory: neither what the sweep
// keeps nor its peak grows with the tenant (compared with 2,000 apps).
func TestSweepMemoryIsConstant(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 10,000-app tenant")
	}
	small := measureSweep(t, 2_000)
	large := measureSweep(t, 10_000)
	if small.pages != 10+11 || large.pages != 50+51 {
		t.Fatalf("pages: %d for 10,000 apps, %d for 2,000", large.pages, small.pages)
	}
	// Differences under 512 KB are noise (GC timing, pools): compare growths
	// no smaller than that. Five times the tenant must not take anywhere
	// near five times the memory, nor the 8,000 more apps more than 3 MB
	// (under 400 bytes each: a leak of anything per request or per app shows).
	const floor, slack = 512 << 10, 3 << 20
	for _, c := range []struct {
		what         string
		small, large int64
	}{
		{"heap kept after the sweep", small.growth, large.growth},
		{"peak heap during the sweep", small.peak, large.peak},
	} {
		ratio := float64(max(c.large, floor)) / float64(max(c.small, floor))
		t.Logf("%s: %.2f MB for 2,000 apps, %.2f MB for 10,000: ratio %.2f", c.what, mb(c.small), mb(c.large), ratio)
		if ratio >= 2.5 || c.large-c.small > slack {
			t.Errorf("%s grows with the tenant: %.2f MB for 2,000 apps, %.2f MB for 10,000 (ratio %.2f)", c.what, mb(c.small), mb(c.large), ratio)
		}
	}
}

var bench10k struct {
	tenant *fakegraph.Tenant
}

// BenchmarkSweep10k sweeps a 10,000-app tenant (both feeds, delta pages of
// 200) through the real Graph client, judging every object and resolving
// each in Graph as the pipeline would. It reports the peak heap in use
// (sampled after each page, the tenant's own memory excluded) and the apps
// judged per second.
func BenchmarkSweep10k(b *testing.B) {
	if bench10k.tenant == nil {
		bench10k.tenant = bigTenant(10_000, time.Now().Add(-400*24*time.Hour))
	}
	tenant := bench10k.tenant
	srv := serve(b, tenant, fakegraph.WithDeltaPageSize(200))
	c := client(b, srv)
	base := heapInuse()
	var peak uint64
	var judged int64
	var sampling time.Duration
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		feed := &sampled{DeltaFeed: c, perPage: srv.Reset}
		s := &sweep.Sweeper{Feed: feed, Store: store.NewMemory(), JudgeAll: true, Lookback: lookback, Parallel: 8,
			Handle: func(ctx context.Context, log *slog.Logger, sig appwarden.Signal) error {
				_, err := c.ResolveSignal(ctx, log, sig)
				return err
			}}
		stats, err := s.Sweep(context.Background(), quiet)
		if err != nil {
			b.Fatal(err)
		}
		judged += int64(stats.Judged)
		peak = max(peak, feed.peak)
		sampling += feed.sampling
	}
	b.StopTimer()
	elapsed := time.Since(start) - sampling
	b.ReportMetric(mb(int64(peak)-int64(base)), "peak-heap-MB")
	b.ReportMetric(float64(judged)/elapsed.Seconds(), "apps/s")
}
