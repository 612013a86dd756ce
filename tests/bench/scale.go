package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/tests/azurite"
	"github.com/appwarden/appwarden/tests/harness"
)

// tokenUse splits the requests that took a token from the stand-in's rate
// limiter (every request but the $batch envelope itself, and not the ones
// it refused).
type tokenUse struct {
	used, refused       int
	reads, writes, feed int // of used: reads of apps, writes, delta pages
	resolutions         int // successful reads of an application by appId: one per resolution
}

func tokensUsed(calls []fakegraph.Call) tokenUse {
	var u tokenUse
	for _, c := range calls {
		if c.Route == fakegraph.RouteBatch && !c.Inner {
			continue
		}
		if c.Fault == fakegraph.FaultRateLimit {
			u.refused++
			continue
		}
		u.used++
		switch {
		case c.IsWrite():
			u.writes++
		case c.Route == fakegraph.RouteApplicationDelta || c.Route == fakegraph.RouteServicePrincipalDelta:
			u.feed++
		default:
			u.reads++
		}
		if c.Route == fakegraph.RouteApplicationByAppID && c.Status == 200 {
			u.resolutions++
		}
	}
	return u
}

// ---- burst ----

type burstResult struct {
	apps, conc      int
	drain           time.Duration // every event acknowledged and a sweep finished
	contained       time.Duration // the last service principal disabled
	tokens          tokenUse
	floorNeeded     int
	redeliveries    int
	sweeps, sweepOK int
	problems        []string
}

func (b *burstResult) markdown() string {
	var s strings.Builder
	minOurs := time.Duration(float64(b.tokens.used) / 50 * float64(time.Second))
	minDesign := time.Duration(float64(13*b.apps) / 50 * float64(time.Second))
	minFloor := time.Duration(float64(b.floorNeeded) / 50 * float64(time.Second))
	fmt.Fprintf(&s, "### Burst: %d risky apps created at once, Graph throttled at 50 requests/s\n\n", b.apps)
	fmt.Fprintf(&s, "Each app is announced by its own Event Hub invocation (%d in flight, redelivered on 500 after 1 s doubling to 10 s),\n", b.conc)
	fmt.Fprintf(&s, "while the timer sweeps every 30 s (each invocation bounded by host.json's 1-minute functionTimeout). The stand-in\n")
	fmt.Fprintf(&s, "answers 429 (Retry-After: until the next token) beyond a 50/s token bucket holding 50; every request inside a `$batch`\n")
	fmt.Fprintf(&s, "takes a token.\n\n")
	fmt.Fprintf(&s, "| | |\n|---|---:|\n")
	fmt.Fprintf(&s, "| Every app contained after | %s |\n", ms(b.contained))
	fmt.Fprintf(&s, "| Drained (every event acknowledged, a sweep finished) after | %s |\n", ms(b.drain))
	t := b.tokens
	fmt.Fprintf(&s, "| Requests that took a token | %d (%.1f per app: %d reads, %d writes, %d delta pages) |\n", t.used, float64(t.used)/float64(b.apps), t.reads, t.writes, t.feed)
	fmt.Fprintf(&s, "| Resolutions (successful reads of an application) | %d (%.2f per app) |\n", t.resolutions, float64(t.resolutions)/float64(b.apps))
	fmt.Fprintf(&s, "| Throttle's minimum for the requests made: requests / 50 | %s (drain is %.2f× it) |\n", ms(minOurs), b.drain.Seconds()/minOurs.Seconds())
	fmt.Fprintf(&s, "| Throttle's minimum for AppWarden's design: 13 per app (event: 6 reads + 1 write; sweep: 6 reads) / 50 | %s (drain is %.2f× it) |\n", ms(minDesign), b.drain.Seconds()/minDesign.Seconds())
	fmt.Fprintf(&s, "| Throttle's minimum for the floor: 2 per app / 50 | %s (drain is %.2f× it) |\n", ms(minFloor), b.drain.Seconds()/minFloor.Seconds())
	fmt.Fprintf(&s, "| Requests answered 429 | %d |\n", t.refused)
	fmt.Fprintf(&s, "| Event invocations redelivered | %d |\n", b.redeliveries)
	fmt.Fprintf(&s, "| Sweep invocations (succeeded) | %d (%d) |\n", b.sweeps, b.sweepOK)
	if len(b.problems) == 0 {
		fmt.Fprintf(&s, "| Disabling writes per service principal | exactly 1 for each of the %d |\n", b.apps)
	}
	s.WriteString("\n")
	return s.String()
}

func runBurst(ctx context.Context, bin string, n, conc int) (*burstResult, error) {
	br := &burstResult{apps: n, conc: conc, floorNeeded: 2 * n}
	tenant := harness.NewTenant()
	apps := addApps(tenant, "burst", n)
	g, err := harness.StartGraph(tenant)
	if err != nil {
		return nil, err
	}
	defer g.Close()
	g.SetRateLimit(50, 50, -1)
	p, err := startHandler(ctx, bin, handlerEnv(g, nil))
	if err != nil {
		return nil, err
	}
	defer p.Stop()

	bodies := make([][]byte, n)
	for i, ids := range apps {
		bodies[i] = harness.EventHubAudits(harness.AuditFor(ids))
	}
	start := time.Now()
	var next, redeliveries atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				_, att, err := harness.Deliver(ctx, p, harness.FnEventHub, bodies[i],
					harness.Redelivery{Attempts: 1000, Backoff: time.Second, MaxBackoff: 10 * time.Second})
				redeliveries.Add(int64(att - 1))
				if err != nil {
					mu.Lock()
					br.problems = append(br.problems, fmt.Sprintf("burst event %d: %v", i, err))
					mu.Unlock()
					return
				}
			}
		}()
	}
	eventsDone := make(chan struct{})
	go func() { wg.Wait(); close(eventsDone) }()

	// The timer: a tick every 30 s, never two at once (the host's timer
	// trigger is a singleton), each bounded by functionTimeout.
	sweepDone := false
	for tick := 0; ; tick++ {
		at := start.Add(time.Duration(tick) * 30 * time.Second)
		if d := time.Until(at); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if !sweepDone {
			ictx, cancel := context.WithTimeout(ctx, harness.FunctionTimeout)
			r, err := p.Invoke(ictx, harness.FnTimer, harness.TimerEnvelope(at.Add(30*time.Second)))
			cancel()
			br.sweeps++
			if err == nil && r.OK() {
				br.sweepOK++
				sweepDone = true
			}
		}
		select {
		case <-eventsDone:
			if sweepDone {
				br.drain = time.Since(start)
				goto done
			}
		default:
		}
		if time.Since(start) > 30*time.Minute {
			return nil, errors.New("burst did not drain within 30 minutes")
		}
	}
done:
	br.redeliveries = int(redeliveries.Load())
	writes := harness.DisablingWrites(g.Server)
	for _, ids := range apps {
		at, ok := g.DisabledAt(ids.ServicePrincipalID)
		if !ok {
			br.problems = append(br.problems, "burst: "+ids.ServicePrincipalID+" not contained")
			continue
		}
		br.contained = max(br.contained, at.Sub(start))
		if w := writes[ids.ServicePrincipalID]; w != 1 {
			br.problems = append(br.problems, fmt.Sprintf("burst: %s has %d disabling writes, want 1", ids.ServicePrincipalID, w))
		}
	}
	br.tokens = tokensUsed(g.Calls())
	return br, nil
}

// ---- big tenant ----

type bigResult struct {
	apps, risky int
	state       string
	build       time.Duration
	sweep       time.Duration
	invocations int
	peakRSS     int64
	endRSS      int64
	cpu         time.Duration
	requests    int
	replyBytes  int // the largest invocation answer (its Logs)
	replyLines  int
	problems    []string
}

func bigMarkdown(rs []*bigResult) string {
	var s strings.Builder
	fmt.Fprintf(&s, "### Big tenant: a full sweep\n\n")
	fmt.Fprintf(&s, "Every app is new to AppWarden (first sweep, created within the look-back), 1 in 100 is risky (contained), the\n")
	fmt.Fprintf(&s, "rest benign; L = 0. The timer is invoked back to back, each invocation bounded by the 1-minute functionTimeout;\n")
	fmt.Fprintf(&s, "the sweep's cursor (saved after every page) carries it across invocations.\n\n")
	fmt.Fprintf(&s, "| Apps | State | Tenant built in | Sweep took | Rate | Invocations | Handler CPU | Peak RSS (VmHWM) | RSS at end | Largest answer (Logs lines) |\n")
	fmt.Fprintf(&s, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rs {
		fmt.Fprintf(&s, "| %d | %s | %s | %s | %.0f apps/s | %d | %s | %s | %s | %s (%d) |\n", r.apps, r.state, ms(r.build), ms(r.sweep),
			float64(r.apps)/r.sweep.Seconds(), r.invocations, ms(r.cpu), harness.MB(r.peakRSS), harness.MB(r.endRSS), harness.MB(int64(r.replyBytes)), r.replyLines)
	}
	s.WriteString("\n")
	return s.String()
}

// benchTB lets the bench use tests/azurite, which wants a testing.TB.
type benchTB struct {
	testing.TB // nil: only the methods below are called
	mu         sync.Mutex
	cleanups   []func()
	dirs       []string
}

type tbFailure struct{ msg string }

func (b *benchTB) Helper()                           {}
func (b *benchTB) Fatalf(format string, args ...any) { panic(tbFailure{fmt.Sprintf(format, args...)}) }
func (b *benchTB) Skipf(format string, args ...any)  { panic(tbFailure{fmt.Sprintf(format, args...)}) }
func (b *benchTB) Cleanup(f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cleanups = append(b.cleanups, f)
}
func (b *benchTB) TempDir() string {
	d, err := os.MkdirTemp("", "appwarden-bench-")
	if err != nil {
		panic(tbFailure{err.Error()})
	}
	b.dirs = append(b.dirs, d)
	return d
}
func (b *benchTB) done() {
	for i := len(b.cleanups) - 1; i >= 0; i-- {
		b.cleanups[i]()
	}
	for _, d := range b.dirs {
		os.RemoveAll(d)
	}
}

func startAzurite() (conn string, stop func(), err error) {
	tb := &benchTB{}
	defer func() {
		if p := recover(); p != nil {
			f, ok := p.(tbFailure)
			if !ok {
				panic(p)
			}
			tb.done()
			err = errors.New(f.msg)
		}
	}()
	s := azurite.Start(tb)
	return s.ConnectionString(), tb.done, nil
}

func runBig(ctx context.Context, bin string, n int, state string) (*bigResult, error) {
	br := &bigResult{apps: n, state: state}
	t0 := time.Now()
	tenant := harness.NewTenant()
	var risky []fakegraph.IDs
	for i := 0; i < n; i++ {
		if i%100 == 0 {
			risky = append(risky, harness.AddRiskyApp(tenant, fmt.Sprintf("big-risky-%06d", i)))
		} else {
			harness.AddBenignApp(tenant, fmt.Sprintf("big-%06d", i))
		}
	}
	br.risky = len(risky)
	br.build = time.Since(t0)
	g, err := harness.StartGraph(tenant)
	if err != nil {
		return nil, err
	}
	defer g.Close()
	extra := map[string]string{}
	if state == "azurite" {
		conn, stop, err := startAzurite()
		if err != nil {
			return nil, err
		}
		defer stop()
		extra["AzureWebJobsStorage"] = conn
	}
	p, err := startHandler(ctx, bin, handlerEnv(g, extra))
	if err != nil {
		return nil, err
	}
	defer p.Stop()
	u0, err := p.Usage()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	for {
		next := start.Add(time.Duration(br.invocations+1) * 30 * time.Second)
		ictx, cancel := context.WithTimeout(ctx, harness.FunctionTimeout)
		r, err := p.Invoke(ictx, harness.FnTimer, harness.TimerEnvelope(next))
		cancel()
		br.invocations++
		br.replyBytes = max(br.replyBytes, len(r.Body))
		br.replyLines = max(br.replyLines, len(r.Logs))
		if err == nil && r.OK() {
			break
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if time.Since(start) > 20*time.Minute {
			return nil, errors.New("the sweep did not finish within 20 minutes")
		}
	}
	br.sweep = time.Since(start)
	u1, err := p.Usage()
	if err != nil {
		return nil, err
	}
	br.cpu, br.peakRSS, br.endRSS = u1.CPU-u0.CPU, u1.PeakRSS, u1.RSS
	writes := harness.DisablingWrites(g.Server)
	for _, ids := range risky {
		if w := writes[ids.ServicePrincipalID]; w != 1 {
			br.problems = append(br.problems, fmt.Sprintf("big %d: risky %s has %d disabling writes, want 1", n, ids.ServicePrincipalID, w))
		}
	}
	if total := len(writes); total != len(risky) {
		br.problems = append(br.problems, fmt.Sprintf("big %d: %d service principals written, want the %d risky ones", n, total, len(risky)))
	}
	st := g.Stats()
	br.requests = st.Requests
	return br, nil
}
