package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/tests/harness"
)

// selfAppID is AppWarden's own app (AZURE_CLIENT_ID) in the bench tenant.
const selfAppID = "a9a9a9a9-0000-4000-8000-00000000a11d"

type machine struct {
	CPU, Kernel, Go, Date, Load string
	Cores                       int
}

func describeMachine() machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version(), Date: time.Now().UTC().Format("2006-01-02 15:04 MST")}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			m.Load = strings.Join(f[:3], " ")
		}
	}
	return m
}

// handlerEnv is the app settings of a bench handler: enforce mode, the
// stand-in's Graph and identity endpoints, in-memory state unless extra
// says otherwise. The blast-radius limit is off (0): a benchmark acts on
// thousands of apps, and the limit's bookkeeping is not what is measured.
func handlerEnv(g *harness.Graph, extra map[string]string) map[string]string {
	env := g.HandlerEnv()
	env["APPWARDEN_MODE"] = "enforce"
	env["AZURE_CLIENT_ID"] = selfAppID
	env["APPWARDEN_MAX_ACTIONS_PER_HOUR"] = "0"
	for k, v := range extra {
		env[k] = v
	}
	return env
}

func startHandler(ctx context.Context, bin string, env map[string]string) (*harness.Proc, error) {
	return harness.Start(ctx, harness.Options{Bin: bin, Env: env, DiscardLogs: true})
}

// measureReady times start-up to the first GET / answer, polling every
// millisecond (the host polls every 25 ms, which would round every figure
// up to a multiple of 25 ms).
func measureReady(ctx context.Context, bin, floorBin string, runs int) (ours, floor []time.Duration, err error) {
	g, err := harness.StartGraph(harness.NewTenant())
	if err != nil {
		return nil, nil, err
	}
	defer g.Close()
	env := handlerEnv(g, nil)
	for i := 0; i < runs; i++ {
		p, err := harness.Start(ctx, harness.Options{Bin: bin, Env: env, Poll: time.Millisecond, DiscardLogs: true})
		if err != nil {
			return nil, nil, err
		}
		ours = append(ours, p.ReadyIn)
		p.Stop()
		f, err := harness.Start(ctx, harness.Options{Bin: floorBin, Args: []string{"serve"}, Poll: time.Millisecond, DiscardLogs: true})
		if err != nil {
			return nil, nil, err
		}
		floor = append(floor, f.ReadyIn)
		f.Stop()
	}
	return ours, floor, nil
}

// ---- the floor ----

type floorJob struct {
	Graph          string   `json:"graph"`
	TokenURL       string   `json:"tokenURL"`
	IdentityHeader string   `json:"identityHeader"`
	AppIDs         []string `json:"appIds"`
	Concurrency    int      `json:"concurrency"`
}

type floorResult struct {
	Starts     []int64 `json:"starts"`
	Ends       []int64 `json:"ends"`
	CPU        int64   `json:"cpuNs"`
	PeakRSS    int64   `json:"peakRSS"`
	Errors     int     `json:"errors"`
	RoundTrips int64   `json:"roundTrips"`
	FirstError string  `json:"firstError"`
	ElapsedNs  int64   `json:"elapsedNs"`
}

func runFloor(ctx context.Context, floorBin string, g *harness.Graph, apps []fakegraph.IDs, conc int) (floorResult, error) {
	job := floorJob{Graph: g.URL(), TokenURL: g.TokenURL(), IdentityHeader: g.IdentityHeader(), Concurrency: conc}
	for _, a := range apps {
		job.AppIDs = append(job.AppIDs, a.AppID)
	}
	in, _ := json.Marshal(job)
	cmd := exec.CommandContext(ctx, floorBin, "client")
	cmd.Stdin = bytes.NewReader(in)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return floorResult{}, fmt.Errorf("floor client: %v\n%s", err, errOut.String())
	}
	var r floorResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return r, fmt.Errorf("floor client: %v: %s", err, out.String())
	}
	if r.Errors > 0 {
		return r, fmt.Errorf("floor client: %d errors, first: %s", r.Errors, r.FirstError)
	}
	return r, nil
}

// ---- one latency ----

type latResult struct {
	L time.Duration

	coldTrips  harness.Trips
	coldTokens int
	coldTTC    time.Duration
	warmTrips  map[harness.Trips]int // how many warm events took each split
	ttc        []time.Duration
	floorTTC   []time.Duration
	floorTrips float64 // round trips per app

	thr *throughput

	problems []string
}

// throughput is the runs at one latency: AppWarden's and the floor's.
type throughput struct {
	events int // per run
	runs   []thrRun
	floor  []floorRun
}

// thrRun is one run of events with many deliveries in flight.
type thrRun struct {
	events      int
	wall        time.Duration
	cpu         time.Duration // the handler's
	benchCPU    time.Duration // this process (stand-in and host) meanwhile
	othersCPU   time.Duration // every other process on the machine meanwhile
	retries     int           // invocations the retry policy made after a failed try
	leftPending int           // batches answered 200 on the policy's last retry, their signals pending in the inbox
	peakRSS     int64         // VmHWM after the run
	maxAnon     int64         // largest RssAnon sampled during the run
	maxFile     int64         // largest RssFile sampled during the run
}

type floorRun struct {
	wall, cpu time.Duration
	peak      int64
}

func (r thrRun) rate() float64 { return float64(r.events) / r.wall.Seconds() }

// others is the share of the machine's CPUs other processes used.
func (r thrRun) others() float64 {
	return r.othersCPU.Seconds() / (r.wall.Seconds() * float64(runtime.NumCPU()))
}

// best is the fastest run (the one least disturbed by other processes).
func (t *throughput) best() thrRun {
	b := t.runs[0]
	for _, r := range t.runs[1:] {
		if r.rate() > b.rate() {
			b = r
		}
	}
	return b
}

func (t *throughput) bestFloor() floorRun {
	b := t.floor[0]
	for _, r := range t.floor[1:] {
		if r.wall < b.wall {
			b = r
		}
	}
	return b
}

// cpuPerEvent is the handler's CPU per event over every run.
func (t *throughput) cpuPerEvent() (ours, floor time.Duration) {
	var c, f time.Duration
	for _, r := range t.runs {
		c += r.cpu
	}
	for _, r := range t.floor {
		f += r.cpu
	}
	n := time.Duration(t.events * len(t.runs))
	return c / n, f / time.Duration(t.events*len(t.floor))
}

// machineBusy is the CPU time every process on the machine has used (from
// /proc/stat: user, nice, system, irq, softirq, steal).
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		if i < len(f) {
			n, _ := strconv.ParseInt(f[i], 10, 64)
			ticks += n
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// throughputRetries is OnAuditLogBatch's retry policy (function.json) with
// its intervals compressed by 100 (5 s..1 min become 50 ms..600 ms): a
// throughput run measures the handler, not the host's waits.
func throughputRetries() (harness.HubRetries, error) {
	p, err := harness.FunctionRetryPolicy(harness.FnEventHub)
	return harness.HubRetries{Policy: p.Compress(100)}, err
}

// drive delivers one event per app, conc at a time, as the host would (a
// failed batch is retried under the function's retry policy, and no more),
// and measures the handler meanwhile. Batches the handler acknowledged on
// the last retry with their signals pending in its inbox are finished after
// the measured run by timer ticks (finishPending), as the timer would in
// production.
func drive(ctx context.Context, p *harness.Proc, g *harness.Graph, apps []fakegraph.IDs, conc int) (thrRun, []string, error) {
	run := thrRun{events: len(apps)}
	hr, err := throughputRetries()
	if err != nil {
		return run, nil, err
	}
	batches := make([]harness.HubBatch, len(apps))
	for i, ids := range apps {
		batches[i] = harness.AuditBatch(harness.AuditFor(ids))
	}
	u0, err := p.Usage()
	if err != nil {
		return run, nil, err
	}
	b0, m0 := selfCPU(), machineBusy()
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for {
			if u, err := p.Usage(); err == nil {
				run.maxAnon, run.maxFile = max(run.maxAnon, u.Anon), max(run.maxFile, u.File)
			}
			select {
			case <-stopSampling:
				return
			case <-tk.C:
			}
		}
	}()
	var next, retries, leftPending atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var problems []string
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(batches) {
					return
				}
				res, err := harness.DeliverEventHub(ctx, p, batches[i], hr)
				retries.Add(int64(res.Tries - 1))
				if err == nil && res.LastRetry {
					leftPending.Add(1)
				}
				if err != nil {
					mu.Lock()
					problems = append(problems, fmt.Sprintf("throughput event %d: %v", i, err))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	run.wall = time.Since(start)
	run.benchCPU = selfCPU() - b0
	close(stopSampling)
	<-sampled
	u1, err := p.Usage()
	if err != nil {
		return run, problems, err
	}
	run.cpu, run.peakRSS = u1.CPU-u0.CPU, u1.PeakRSS
	run.retries, run.leftPending = int(retries.Load()), int(leftPending.Load())
	run.othersCPU = max(0, machineBusy()-m0-run.cpu-run.benchCPU)
	if run.leftPending > 0 {
		if err := finishPending(ctx, p, g, apps); err != nil {
			problems = append(problems, fmt.Sprintf("throughput: %d batches left pending after the last retry: %v", run.leftPending, err))
		}
	}
	return run, problems, nil
}

// finishPending plays the timer (every 500 ms: the 30 s schedule,
// compressed) until every app is contained, for signals the handler left
// pending in its inbox after a batch's last retry: in production the next
// ticks re-drive them.
func finishPending(ctx context.Context, p *harness.Proc, g *harness.Graph, apps []fakegraph.IDs) error {
	tp := harness.PlayTimer(p, 500*time.Millisecond, nil)
	defer tp.Stop()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for _, ids := range apps {
		if _, err := g.WaitDisabled(wctx, ids.ServicePrincipalID); err != nil {
			return fmt.Errorf("%s not contained by the timer's re-drive within 2 minutes", ids.ServicePrincipalID)
		}
	}
	return nil
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func addApps(t *fakegraph.Tenant, prefix string, n int) []fakegraph.IDs {
	out := make([]fakegraph.IDs, n)
	for i := range out {
		out[i] = harness.AddRiskyApp(t, fmt.Sprintf("%s-%05d", prefix, i))
	}
	return out
}

func runLatency(ctx context.Context, bin, floorBin string, l time.Duration, o options, withThroughput bool) (*latResult, error) {
	lr := &latResult{L: l, warmTrips: map[harness.Trips]int{}}
	tenant := harness.NewTenant()
	cold := addApps(tenant, "cold", 1)
	seq := addApps(tenant, "seq", o.seq)
	floorSeq := addApps(tenant, "floorseq", o.seq)
	var thr, floorThr []fakegraph.IDs
	if withThroughput {
		thr = addApps(tenant, "thr", o.events*o.repeat)
		floorThr = addApps(tenant, "floorthr", o.events*o.repeat)
	}
	g, err := harness.StartGraph(tenant)
	if err != nil {
		return nil, err
	}
	defer g.Close()
	g.SetLatency(l)

	p, err := startHandler(ctx, bin, handlerEnv(g, o.handlerEnv))
	if err != nil {
		return nil, err
	}
	defer p.Stop()

	one := func(ids fakegraph.IDs) (harness.Trips, int, time.Duration, error) {
		st0 := g.Stats()
		mark := g.Mark()
		body := harness.EventHubAudits(harness.AuditFor(ids))
		t0 := time.Now()
		r, err := p.Invoke(ctx, harness.FnEventHub, body)
		if err != nil {
			return harness.Trips{}, 0, 0, err
		}
		if !r.OK() {
			return harness.Trips{}, 0, 0, fmt.Errorf("HTTP %d: %q", r.Status, r.Logs)
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		at, err := g.WaitDisabled(wctx, ids.ServicePrincipalID)
		cancel()
		if err != nil {
			return harness.Trips{}, 0, 0, fmt.Errorf("%s not disabled after the invocation succeeded", ids.ServicePrincipalID)
		}
		return harness.CountTrips(g.CallsSince(mark)), g.Stats().TokenRequests - st0.TokenRequests, at.Sub(t0), nil
	}

	// Cold: the first event of a fresh process (no token, no permission
	// names cached).
	if lr.coldTrips, lr.coldTokens, lr.coldTTC, err = one(cold[0]); err != nil {
		return nil, fmt.Errorf("cold event: %w", err)
	}
	for _, ids := range seq {
		trips, _, ttc, err := one(ids)
		if err != nil {
			lr.problems = append(lr.problems, fmt.Sprintf("L=%s sequential event: %v", l, err))
			continue
		}
		lr.warmTrips[trips]++
		lr.ttc = append(lr.ttc, ttc)
	}
	fr, err := runFloor(ctx, floorBin, g, floorSeq, 1)
	if err != nil {
		return nil, err
	}
	for i, ids := range floorSeq {
		at, ok := g.DisabledAt(ids.ServicePrincipalID)
		if !ok {
			lr.problems = append(lr.problems, "floor did not disable "+ids.ServicePrincipalID)
			continue
		}
		lr.floorTTC = append(lr.floorTTC, at.Sub(time.Unix(0, fr.Starts[i])))
	}
	lr.floorTrips = float64(fr.RoundTrips) / float64(len(floorSeq))

	if withThroughput {
		t := &throughput{events: o.events}
		for i := 0; i < o.repeat; i++ {
			apps := thr[i*o.events : (i+1)*o.events]
			run, problems, err := drive(ctx, p, g, apps, o.concurrency)
			if err != nil {
				return nil, err
			}
			lr.problems = append(lr.problems, problems...)
			t.runs = append(t.runs, run)
			fr, err := runFloor(ctx, floorBin, g, floorThr[i*o.events:(i+1)*o.events], o.concurrency)
			if err != nil {
				return nil, err
			}
			t.floor = append(t.floor, floorRun{wall: time.Duration(fr.ElapsedNs), cpu: time.Duration(fr.CPU), peak: fr.PeakRSS})
		}
		lr.thr = t
	}

	// Nothing lost, nothing done twice.
	writes := harness.DisablingWrites(g.Server)
	check := func(apps []fakegraph.IDs, who string) {
		for _, ids := range apps {
			if n := writes[ids.ServicePrincipalID]; n != 1 {
				lr.problems = append(lr.problems, fmt.Sprintf("L=%s %s: %s has %d disabling writes, want 1", l, who, ids.ServicePrincipalID, n))
			}
		}
	}
	check(append(append(cold, seq...), thr...), "AppWarden")
	check(append(floorSeq, floorThr...), "floor")
	if rej := g.Rejected(); len(rej) > 0 {
		lr.problems = append(lr.problems, fmt.Sprintf("L=%s: %d requests rejected by the stand-in, first %s %s", l, len(rej), rej[0].Method, rej[0].Path))
	}
	return lr, nil
}

// ---- statistics ----

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// commonTrips is the most frequent warm split, and the largest seen.
func commonTrips(m map[harness.Trips]int) (mode, most harness.Trips) {
	best := -1
	for t, n := range m {
		if n > best || (n == best && t.Total() < mode.Total()) {
			mode, best = t, n
		}
		if t.Total() > most.Total() {
			most = t
		}
	}
	return mode, most
}

// runTableRSS runs events at conc in flight with the state in Table
// Storage (Azurite), as in Azure, where the state does not live in the
// handler's memory.
func runTableRSS(ctx context.Context, bin string, events, conc int) (*thrRun, []string, error) {
	conn, stop, err := startAzurite()
	if err != nil {
		return nil, nil, err
	}
	defer stop()
	tenant := harness.NewTenant()
	apps := addApps(tenant, "table", events)
	g, err := harness.StartGraph(tenant)
	if err != nil {
		return nil, nil, err
	}
	defer g.Close()
	p, err := startHandler(ctx, bin, handlerEnv(g, map[string]string{"AzureWebJobsStorage": conn}))
	if err != nil {
		return nil, nil, err
	}
	defer p.Stop()
	run, problems, err := drive(ctx, p, g, apps, conc)
	if err != nil {
		return nil, nil, err
	}
	writes := harness.DisablingWrites(g.Server)
	for _, ids := range apps {
		if n := writes[ids.ServicePrincipalID]; n != 1 {
			problems = append(problems, fmt.Sprintf("table-state run: %s has %d disabling writes, want 1", ids.ServicePrincipalID, n))
		}
	}
	return &run, problems, nil
}
