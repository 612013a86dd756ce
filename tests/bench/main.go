// Command bench measures AppWarden against its floor: the real handler
// binary (built as `make package` builds it) driven as the Functions host
// drives it, against the Graph stand-in run in this process, next to a
// minimal net/http program (tests/bench/floor) that makes only the two
// essential calls per app. It prints each figure, the floor's and the ratio,
// checks the goals, and writes tests/bench/RESULTS.md.
//
//	go run ./tests/bench                 # the core table (about 3-4 minutes)
//	go run ./tests/bench -quick          # a quick subset, prints only
//	go run ./tests/bench -scale          # adds the burst and big-tenant runs
//	go run ./tests/bench -burst 2000 -big 10000,100000
//
// APPWARDEN_HANDLER_BIN reuses a prebuilt handler binary.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/appwarden/appwarden/tests/harness"
)

type options struct {
	quick        bool
	out          string
	latencies    []time.Duration
	seq          int
	events       int
	concurrency  int
	repeat       int
	tableEvents  int
	batch        int
	readyRuns    int
	burst        int
	burstConc    int
	big          []int // sizes swept with in-memory state
	bigAzurite   []int // sizes swept with Table Storage state (Azurite)
	handlerEnv   map[string]string
	pprof        string
	pprofHandler string
}

func parseFlags() (options, error) {
	var o options
	var lat, big, bigAz string
	var scale bool
	flag.BoolVar(&o.quick, "quick", false, "a quick subset: fewer events, L=0 and 50 ms, no scale runs; prints only unless -out")
	flag.StringVar(&o.out, "out", "", "write the results (markdown) here (default: tests/bench/RESULTS.md for a full run)")
	flag.StringVar(&lat, "latency", "0,20,50", "injected Graph latencies in ms (\"none\": skip the core table, e.g. for scale runs alone)")
	flag.IntVar(&o.seq, "seq", 200, "events sent one at a time per latency (time-to-contain samples, round trips)")
	flag.IntVar(&o.events, "events", 4000, "events per throughput run")
	flag.IntVar(&o.concurrency, "concurrency", 64, "concurrent deliveries in throughput runs")
	flag.IntVar(&o.tableEvents, "table-events", 1000, "events of the run with Table Storage state (Azurite); 0 skips it")
	flag.IntVar(&o.repeat, "repeat", 3, "throughput runs per latency (the best is reported: the machine is shared)")
	flag.IntVar(&o.readyRuns, "ready-runs", 9, "start-ups timed (median)")
	flag.IntVar(&o.batch, "batch", 100, "apps in the one-invocation batch scenario, run at L = 0 and 50 ms (0 skips it)")
	flag.IntVar(&o.burst, "burst", 0, "run the burst scenario with this many risky apps created at once (the issue's: 2000)")
	flag.IntVar(&o.burstConc, "burst-concurrency", 16, "concurrent event deliveries in the burst")
	flag.StringVar(&big, "big", "", "run full sweeps of tenants of these sizes with in-memory state, e.g. 10000,100000")
	flag.StringVar(&bigAz, "big-azurite", "", "run full sweeps of tenants of these sizes with Table Storage state (Azurite), e.g. 2000,10000,20000")
	flag.BoolVar(&scale, "scale", false, "shorthand for -burst 2000 -big 10000,100000 -big-azurite 2000,10000,20000")
	flag.StringVar(&o.pprof, "pprof", "", "serve the bench process's own pprof (the stand-in's cost) on this address, e.g. 127.0.0.1:6062")
	flag.StringVar(&o.pprofHandler, "pprof-handler", "", "profile the handler: build it with net/http/pprof added (through go build -overlay; the sources are unchanged) serving on this address, e.g. 127.0.0.1:6061; figures of such a run are not the release binary's")
	var henv string
	flag.StringVar(&henv, "handler-env", "", "extra app settings for the handler, K=V,K=V (e.g. APPWARDEN_LOG_LEVEL=warn)")
	flag.Parse()
	o.handlerEnv = map[string]string{}
	for _, kv := range strings.Split(henv, ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok {
			o.handlerEnv[k] = v
		} else if strings.TrimSpace(kv) != "" {
			return o, fmt.Errorf("-handler-env: %q is not K=V", kv)
		}
	}
	if o.quick {
		if !isSet("latency") {
			lat = "0,50"
		}
		if !isSet("seq") {
			o.seq = 50
		}
		if !isSet("events") {
			o.events = 1000
		}
		if !isSet("ready-runs") {
			o.readyRuns = 5
		}
		if !isSet("repeat") {
			o.repeat = 1
		}
		if !isSet("table-events") {
			o.tableEvents = 0
		}
	}
	if scale {
		if o.burst == 0 {
			o.burst = 2000
		}
		if big == "" {
			big = "10000,100000"
		}
		if bigAz == "" {
			bigAz = "2000,10000,20000"
		}
	}
	for _, s := range strings.Split(lat, ",") {
		if lat == "none" {
			break
		}
		ms, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || ms < 0 {
			return o, fmt.Errorf("-latency: %q is not a number of milliseconds", s)
		}
		o.latencies = append(o.latencies, time.Duration(ms)*time.Millisecond)
	}
	for _, f := range []struct {
		name, v string
		dst     *[]int
	}{{"big", big, &o.big}, {"big-azurite", bigAz, &o.bigAzurite}} {
		if f.v == "" {
			continue
		}
		for _, s := range strings.Split(f.v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n <= 0 {
				return o, fmt.Errorf("-%s: %q is not a tenant size", f.name, s)
			}
			*f.dst = append(*f.dst, n)
		}
	}
	if o.out == "" && !o.quick {
		root, err := harness.RepoRoot()
		if err != nil {
			return o, err
		}
		o.out = filepath.Join(root, "tests", "bench", "RESULTS.md")
	}
	return o, nil
}

func isSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

func main() {
	o, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if o.pprof != "" {
		runtime.SetMutexProfileFraction(5)
		go func() { _ = http.ListenAndServe(o.pprof, nil) }()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	code := 0
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		code = 1
	}
	harness.Cleanup()
	os.Exit(code)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func run(ctx context.Context, o options) error {
	began := time.Now()
	logf("building the handler (CGO_ENABLED=0, -trimpath, -ldflags='-s -w')")
	bin, err := harness.ReleaseHandlerBin()
	if err != nil {
		return err
	}
	if o.pprofHandler != "" {
		pbin, dir, err := buildProfiledHandler()
		if dir != "" {
			defer os.RemoveAll(dir)
		}
		if err != nil {
			return err
		}
		bin = pbin
		o.handlerEnv["APPWARDEN_BENCH_PPROF"] = o.pprofHandler
		logf("profiling: the handler serves pprof on http://%s/debug/pprof/ during the latency runs", o.pprofHandler)
	}
	floorBin, floorDir, err := harness.Build("./tests/bench/floor", "floor", true)
	if err != nil {
		return err
	}
	defer os.RemoveAll(floorDir)

	res := &results{machine: describeMachine(), opts: o}
	res.binSize, res.floorSize = fileSize(bin), fileSize(floorBin)

	if len(o.latencies) > 0 {
		logf("start-up: %d runs each", o.readyRuns)
		if res.ready, res.floorReady, err = measureReady(ctx, bin, floorBin, o.readyRuns); err != nil {
			return err
		}
	}

	for _, l := range o.latencies {
		thr := l == 0 || l == 20*time.Millisecond
		logf("latency %s: %d sequential events%s", l, o.seq, map[bool]string{true: fmt.Sprintf(", %d events at %d in flight", o.events, o.concurrency)}[thr])
		lr, err := runLatency(ctx, bin, floorBin, l, o, thr)
		if err != nil {
			return fmt.Errorf("latency %s: %w", l, err)
		}
		logf("  time to contain p50 %s (floor %s)", ms(percentile(lr.ttc, 0.5)), ms(percentile(lr.floorTTC, 0.5)))
		if lr.thr != nil {
			b := lr.thr.best()
			logf("  throughput %.0f events/s (others used %.0f%% of the CPUs), peak RSS %s", b.rate(), 100*b.others(), harness.MB(lr.thr.runs[0].peakRSS))
		}
		res.lat = append(res.lat, lr)
	}
	if len(o.latencies) > 0 {
		logf("round trips per decision: a plain app, a privileged app, an escalation")
		if res.shapes, err = measureShapes(ctx, bin, o); err != nil {
			return fmt.Errorf("round trips per decision: %w", err)
		}
		for _, sh := range res.shapes {
			logf("  %s: %d round trips to resolve (%d requests), %d to act", sh.name, sh.trips.Resolve, sh.trips.ResolveInner, sh.trips.Act)
		}
	}
	if o.batch > 0 {
		for _, l := range []time.Duration{0, 50 * time.Millisecond} {
			logf("batch: %d risky apps in one Event Hub invocation, L=%s, Teams webhooks on", o.batch, l)
			br, err := runBatch(ctx, bin, o.batch, l, o.handlerEnv)
			if err != nil {
				return fmt.Errorf("batch at L=%s: %w", l, err)
			}
			logf("  answered in %s; contained p50 %s, last %s; %d notifications, the first %s after delivery",
				ms(br.answered), ms(percentile(br.contained, 0.5)), ms(br.lastContained), br.posts, ms(br.firstPost))
			res.batches = append(res.batches, br)
		}
	}
	if len(o.latencies) > 0 && o.tableEvents > 0 {
		logf("Table Storage state (Azurite): %d events at %d in flight", o.tableEvents, o.concurrency)
		run, problems, err := runTableRSS(ctx, bin, o.tableEvents, o.concurrency)
		if err != nil {
			return fmt.Errorf("table-state run: %w", err)
		}
		res.tableRSS, res.tableProblems = run, problems
	}
	if o.burst > 0 {
		logf("burst: %d risky apps at once, Graph throttled at 50 requests/s", o.burst)
		br, err := runBurst(ctx, bin, o.burst, o.burstConc)
		if err != nil {
			logf("  failed: %v", err)
			res.scaleFailures = append(res.scaleFailures, fmt.Sprintf("burst of %d apps: %v", o.burst, err))
		}
		if br != nil {
			logf("  contained in %s, drained in %s", ms(br.contained), ms(br.drain))
			res.burst = br
		}
	}
	for _, st := range []string{"memory", "azurite"} {
		sizes := o.big
		if st == "azurite" {
			sizes = o.bigAzurite
		}
		for _, n := range sizes {
			logf("big tenant: full sweep of %d apps (%s state)", n, st)
			br, err := runBig(ctx, bin, n, st)
			if err != nil {
				logf("  failed: %v", err)
				res.scaleFailures = append(res.scaleFailures, fmt.Sprintf("big tenant of %d apps with %s state: %v", n, st, err))
				continue
			}
			logf("  swept in %s (%.0f apps/s), peak RSS %s", ms(br.sweep), float64(n)/br.sweep.Seconds(), harness.MB(br.peakRSS))
			res.big = append(res.big, br)
		}
	}
	res.took = time.Since(began)
	md := res.markdown()
	fmt.Println(md)
	if o.out != "" {
		old, _ := os.ReadFile(o.out)
		if err := os.WriteFile(o.out, []byte(withAnalysis(md, old)), 0o644); err != nil {
			return err
		}
		logf("wrote %s", o.out)
	}
	if problems := res.integrityProblems(); len(problems) > 0 {
		return fmt.Errorf("correctness problems:\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

func fileSize(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.Size()
}
