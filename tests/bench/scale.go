package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
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

// designPerApp is the requests a new risky app costs by design: a
// creation's resolution (2: graph.Client.Resolve) and the write.
const designPerApp = 3

type burstResult struct {
	apps, conc      int
	policy          harness.RetryPolicy
	drain           time.Duration // every batch's tries over, every app contained, then a tick succeeded
	contained       time.Duration // the last service principal disabled
	tokens          tokenUse
	floorNeeded     int
	retries         int // invocations that were retries of a failed try
	leftPending     int // batches answered 200 on the last retry, their signals pending in the inbox
	redriven        int // "pending signal decided" lines in the ticks' answers (the re-drive takes every held signal)
	sweeps, sweepOK int
	problems        []string
}

func (b *burstResult) markdown() string {
	var s strings.Builder
	minOurs := time.Duration(float64(b.tokens.used) / 50 * float64(time.Second))
	minDesign := time.Duration(float64(designPerApp*b.apps) / 50 * float64(time.Second))
	minFloor := time.Duration(float64(b.floorNeeded) / 50 * float64(time.Second))
	fmt.Fprintf(&s, "### Burst: %d risky apps created at once, Graph throttled at 50 requests/s\n\n", b.apps)
	fmt.Fprintf(&s, "Each app is announced by its own Event Hub batch (%d in flight). As in Azure, a batch whose invocation fails is\n", b.conc)
	fmt.Fprintf(&s, "not redelivered: OnAuditLogBatch's retry policy (function.json: %s, %d retries, %s doubling to %s) runs it\n",
		b.policy.Strategy, b.policy.MaxRetryCount, ms(b.policy.MinimumInterval), ms(b.policy.MaximumInterval))
	fmt.Fprintf(&s, "again, and after the last retry it is gone; the handler answers that last retry 200 once every signal is pending in\n")
	fmt.Fprintf(&s, "its inbox, for the timer to finish. The timer ticks every 30 s, one tick at a time, each re-driving the inbox and\n")
	fmt.Fprintf(&s, "sweeping (each invocation's work bounded by the handler's 20 s budget). The stand-in answers 429 (Retry-After:\n")
	fmt.Fprintf(&s, "until the next token) beyond a 50/s token bucket holding 50; every request inside a `$batch` takes a token.\n\n")
	fmt.Fprintf(&s, "| | |\n|---|---:|\n")
	fmt.Fprintf(&s, "| Every app contained after | %s |\n", ms(b.contained))
	fmt.Fprintf(&s, "| Drained (every batch's tries over, every app contained, then a tick succeeded) after | %s |\n", ms(b.drain))
	t := b.tokens
	fmt.Fprintf(&s, "| Requests that took a token | %d (%.1f per app: %d reads, %d writes, %d delta pages) |\n", t.used, float64(t.used)/float64(b.apps), t.reads, t.writes, t.feed)
	fmt.Fprintf(&s, "| Resolutions (successful reads of an application) | %d (%.2f per app) |\n", t.resolutions, float64(t.resolutions)/float64(b.apps))
	fmt.Fprintf(&s, "| Throttle's minimum for the requests made: requests / 50 | %s (drain is %.2f× it) |\n", ms(minOurs), b.drain.Seconds()/minOurs.Seconds())
	fmt.Fprintf(&s, "| Throttle's minimum for AppWarden's design: %d per app (event: a creation's 2 reads + 1 write; what the event decided, the sweep and the pulled audit log skip) / 50 | %s (drain is %.2f× it) |\n", designPerApp, ms(minDesign), b.drain.Seconds()/minDesign.Seconds())
	fmt.Fprintf(&s, "| Throttle's minimum for the floor: 2 per app / 50 | %s (drain is %.2f× it) |\n", ms(minFloor), b.drain.Seconds()/minFloor.Seconds())
	fmt.Fprintf(&s, "| Requests answered 429 | %d |\n", t.refused)
	fmt.Fprintf(&s, "| Event invocations that were retries (retry policy) | %d |\n", b.retries)
	fmt.Fprintf(&s, "| Batches answered 200 on the last retry, signals left pending in the inbox | %d |\n", b.leftPending)
	fmt.Fprintf(&s, "| Pending signals decided by the timer's re-drive (any held signal: also ones whose own invocation was in flight or awaiting a retry) | %d |\n", b.redriven)
	fmt.Fprintf(&s, "| Timer ticks (succeeded) | %d (%d) |\n", b.sweeps, b.sweepOK)
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

	policy, err := harness.FunctionRetryPolicy(harness.FnEventHub)
	if err != nil {
		return nil, err
	}
	br.policy = policy
	batches := make([]harness.HubBatch, n)
	for i, ids := range apps {
		batches[i] = harness.AuditBatch(harness.AuditFor(ids))
	}
	start := time.Now()
	// The timer: a tick every 30 s (the production schedule), never two at
	// once (the host's timer trigger is a singleton), each bounded by
	// the handler's 20 s budget; each re-drives the inbox, then sweeps.
	var redriven atomic.Int64
	tp := harness.PlayTimer(p, 30*time.Second, func(r harness.Reply, _ error) {
		for _, l := range r.Logs {
			if strings.Contains(l, "pending signal decided") {
				redriven.Add(1)
			}
		}
	})
	defer tp.Stop()
	var next, retries, leftPending atomic.Int64
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
				// The real policy, uncompressed: what the host does.
				res, err := harness.DeliverEventHub(ctx, p, batches[i], harness.HubRetries{Policy: policy})
				retries.Add(int64(res.Tries - 1))
				if err == nil && res.LastRetry {
					leftPending.Add(1)
				}
				if err != nil {
					mu.Lock()
					br.problems = append(br.problems, fmt.Sprintf("burst event %d lost: %v", i, err))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	// Every batch's tries are over; what is left pending is the timer's.
	// Drained: every app contained, then a tick succeeded (its re-drive and
	// its sweep both finished).
	for _, ids := range apps {
		wctx, cancel := context.WithTimeout(ctx, max(time.Minute, 30*time.Minute-time.Since(start)))
		_, err := g.WaitDisabled(wctx, ids.ServicePrincipalID)
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			return nil, errors.New("burst: not every app was contained within 30 minutes")
		}
	}
	for _, ok0 := tp.Ticks(); ; {
		if err := tp.Await(ctx, 1); err != nil {
			return nil, err
		}
		if _, ok := tp.Ticks(); ok > ok0 {
			break
		}
		if time.Since(start) > 30*time.Minute {
			return nil, errors.New("burst: no tick succeeded within 30 minutes")
		}
	}
	br.drain = time.Since(start)
	tp.Stop()
	br.sweeps, br.sweepOK = tp.Ticks()
	br.retries, br.leftPending, br.redriven = int(retries.Load()), int(leftPending.Load()), int(redriven.Load())
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
	fmt.Fprintf(&s, "rest benign; L = 0. The timer is invoked back to back; each invocation's work is bounded by the handler's 20 s\n")
	fmt.Fprintf(&s, "budget, the sweep's cursor (saved after every page) carries it across invocations, and an app an invocation\n")
	fmt.Fprintf(&s, "could not decide waits in the inbox for the next tick. \"Sweep took\" runs until a tick leaves nothing pending.\n\n")
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
		// Done when a tick succeeds and leaves nothing pending: an app the
		// sweep could not decide within an invocation's budget waits in
		// the inbox, and the next tick's re-drive decides it.
		if err == nil && r.OK() && !mentionsPending(r.Logs) {
			break
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if time.Since(start) > 20*time.Minute {
			return nil, errors.New("the sweep and its pending apps were not done within 20 minutes")
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

// mentionsPending reports whether a tick's Logs speak of signals pending in
// the inbox: apps the sweep left there, or ones its re-drive took.
func mentionsPending(logs []string) bool {
	return slices.ContainsFunc(logs, func(l string) bool { return strings.Contains(l, "pending") })
}
