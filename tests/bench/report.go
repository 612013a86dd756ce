package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/appwarden/appwarden/tests/harness"
)

type results struct {
	machine machine
	opts    options
	took    time.Duration

	binSize, floorSize int64
	ready, floorReady  []time.Duration
	lat                []*latResult
	burst              *burstResult
	big                []*bigResult
	tableRSS           *thrRun
	tableProblems      []string
	scaleFailures      []string
	shapes             []shape
	batches            []*batchResult
}

func (r *results) integrityProblems() []string {
	out := append([]string(nil), r.tableProblems...)
	for _, l := range r.lat {
		out = append(out, l.problems...)
	}
	if r.burst != nil {
		out = append(out, r.burst.problems...)
	}
	for _, b := range r.big {
		out = append(out, b.problems...)
	}
	for _, b := range r.batches {
		out = append(out, b.problems...)
	}
	return out
}

func ms(d time.Duration) string {
	switch {
	case d == 0:
		return "0 ms"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func ratio(ours, floor float64) string {
	if floor == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", ours/floor)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

type row struct {
	figure, ours, floor, ratio, goal, met string
}

func (r *results) lat0() *latResult {
	for _, l := range r.lat {
		if l.L == 0 {
			return l
		}
	}
	if len(r.lat) > 0 {
		return r.lat[0]
	}
	return nil
}

func (r *results) rows() []row {
	var rows []row
	if l := r.lat0(); l != nil {
		mode, most := commonTrips(l.warmTrips)
		rows = append(rows,
			row{"Graph round trips to resolve, warm (permission names cached)", fmt.Sprintf("%d (%d requests inside; max seen %d)", mode.Resolve, mode.ResolveInner, most.Resolve), "1", ratio(float64(mode.Resolve), 1), "≤ 2", verdict(most.Resolve <= 2)},
			row{"Graph round trips to resolve, cold (first event of a process)", fmt.Sprintf("%d (%d inside) + %d token", l.coldTrips.Resolve, l.coldTrips.ResolveInner, l.coldTokens), "1 + 1 token", ratio(float64(l.coldTrips.Resolve), 1), "≤ 2", verdict(l.coldTrips.Resolve <= 2)},
			row{"Graph round trips to act (disable the service principal)", fmt.Sprintf("%d (%d inside; max seen %d)", mode.Act, mode.ActInner, most.Act), "1", ratio(float64(mode.Act), 1), "≤ 1", verdict(most.Act <= 1 && l.coldTrips.Act <= 1)},
		)
	}
	for _, l := range r.lat {
		goal, met50, met99 := "–", "", ""
		p50, p99 := percentile(l.ttc, 0.5), percentile(l.ttc, 0.99)
		f50, f99 := percentile(l.floorTTC, 0.5), percentile(l.floorTTC, 0.99)
		if l.L == 50*time.Millisecond {
			goal = "≤ 1.5× floor"
			met50 = verdict(float64(p50) <= 1.5*float64(f50))
			met99 = verdict(float64(p99) <= 1.5*float64(f99))
		}
		rows = append(rows,
			row{fmt.Sprintf("Time to contain p50, L = %s (warm; %d events)", ms(l.L), len(l.ttc)), ms(p50), ms(f50), ratio(float64(p50), float64(f50)), goal, met50},
			row{fmt.Sprintf("Time to contain p99, L = %s", ms(l.L)), ms(p99), ms(f99), ratio(float64(p99), float64(f99)), goal, met99},
		)
		if l.L == 50*time.Millisecond || l.L == 0 {
			rows = append(rows, row{fmt.Sprintf("Time to contain, cold first event, L = %s", ms(l.L)), ms(l.coldTTC), "–", "–", "–", ""})
		}
	}
	for _, l := range r.lat {
		if l.thr == nil {
			continue
		}
		b, f := l.thr.best(), l.thr.bestFloor()
		frate := float64(l.thr.events) / f.wall.Seconds()
		goal, met := "–", ""
		if l.L == 0 {
			goal, met = "≥ 1,000/s", verdict(b.rate() >= 1000)
		}
		rows = append(rows, row{fmt.Sprintf("Throughput, L = %s, %d in flight (best of %d runs of %d events; other processes used %.0f%% of the CPUs meanwhile)", ms(l.L), r.opts.concurrency, len(l.thr.runs), l.thr.events, 100*b.others()),
			fmt.Sprintf("%.0f events/s", b.rate()), fmt.Sprintf("%.0f apps/s", frate), ratio(b.rate(), frate), goal, met})
	}
	for _, l := range r.lat {
		if l.thr == nil {
			continue
		}
		per, fper := l.thr.cpuPerEvent()
		var bench time.Duration
		for _, run := range l.thr.runs {
			bench += run.benchCPU
		}
		bench /= time.Duration(l.thr.events * len(l.thr.runs))
		rows = append(rows, row{fmt.Sprintf("CPU time per event, L = %s (the handler process; all runs)", ms(l.L)), ms(per), ms(fper), ratio(float64(per), float64(fper)), "–", ""})
		rows = append(rows, row{fmt.Sprintf("CPU per event in the bench process meanwhile (Graph stand-in, host, tap), L = %s", ms(l.L)), ms(bench), "–", "–", "–", ""})
	}
	for _, l := range r.lat {
		if l.thr == nil {
			continue
		}
		first := l.thr.runs[0]
		rows = append(rows, row{fmt.Sprintf("Peak RSS (VmHWM) after %d events at %d in flight, in-memory state, L = %s (largest sampled: code pages %s, anonymous %s)", first.events, r.opts.concurrency, ms(l.L), harness.MB(first.maxFile), harness.MB(first.maxAnon)),
			harness.MB(first.peakRSS), harness.MB(l.thr.floor[0].peak), ratio(float64(first.peakRSS), float64(l.thr.floor[0].peak)), "≤ 50 MB", verdict(first.peakRSS <= 50<<20)})
	}
	if s := r.tableRSS; s != nil {
		rows = append(rows, row{fmt.Sprintf("Peak RSS (VmHWM) after %d events at %d in flight, Table Storage state (Azurite), L = 0 (largest sampled: code pages %s, anonymous %s; %.0f events/s, CPU %s per event)", s.events, r.opts.concurrency, harness.MB(s.maxFile), harness.MB(s.maxAnon), s.rate(), ms(s.cpu/time.Duration(s.events))),
			harness.MB(s.peakRSS), "–", "–", "≤ 50 MB", verdict(s.peakRSS <= 50<<20)})
	}
	if len(r.ready) > 0 {
		m, f := median(r.ready), median(r.floorReady)
		rows = append(rows, row{fmt.Sprintf("Start to first GET / answer (median of %d)", len(r.ready)), ms(m), ms(f), ratio(float64(m), float64(f)), "≤ 50 ms", verdict(m <= 50*time.Millisecond)})
	}
	rows = append(rows, row{"Binary size (static, stripped)", harness.MB(r.binSize), harness.MB(r.floorSize), ratio(float64(r.binSize), float64(r.floorSize)), "–", ""})
	return rows
}

func (r *results) markdown() string {
	var b strings.Builder
	m := r.machine
	fmt.Fprintf(&b, "# AppWarden benchmark results\n\n")
	fmt.Fprintf(&b, "Generated by `go run ./tests/bench%s` on %s (the run took %s).\n\n", r.flagsLine(), m.Date, r.took.Round(time.Second))
	fmt.Fprintf(&b, "| Machine | |\n|---|---|\n")
	fmt.Fprintf(&b, "| CPU | %s |\n| Cores | %d (shared with other engineers' test runs; load average at start %s) |\n| Kernel | %s |\n| Go | %s |\n\n", m.CPU, m.Cores, m.Load, m.Kernel, m.Go)

	b.WriteString(howMeasured)
	b.WriteString("\n## AppWarden against the floor\n\n")
	b.WriteString("| Figure | AppWarden | Floor | Ratio | Goal | |\n|---|---:|---:|---:|---|---|\n")
	for _, rw := range r.rows() {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", rw.figure, rw.ours, rw.floor, rw.ratio, rw.goal, rw.met)
	}
	for _, l := range r.lat {
		if l.thr == nil {
			continue
		}
		var rates []string
		retried, pending := 0, 0
		for _, run := range l.thr.runs {
			rates = append(rates, fmt.Sprintf("%.0f/s (others %.0f%%)", run.rate(), 100*run.others()))
			retried += run.retries
			pending += run.leftPending
		}
		fmt.Fprintf(&b, "\nThroughput runs at L = %s: %s.", ms(l.L), strings.Join(rates, ", "))
		if retried > 0 {
			fmt.Fprintf(&b, " %d invocations were retries under OnAuditLogBatch's retry policy (after a 500).", retried)
		}
		if pending > 0 {
			fmt.Fprintf(&b, " %d batches were answered 200 on the policy's last retry with their signals pending in the inbox; timer ticks after the run finished them.", pending)
		}
		b.WriteString("\n")
	}
	if len(r.batches) > 0 {
		b.WriteString("\n## One invocation, many apps\n\n")
		b.WriteString("One Event Hub invocation holding one \"Add application\" record per new risky app, Teams webhooks configured (owners' and security channel, a local stand-in answering 202). Times from delivery. Goal: every app contained within 1 s at L = 0 and 3 s at L = 50 ms, the invocation answered within 10 s, notifications included.\n\n")
		b.WriteString("| Graph latency | Apps | Contained p50 / last | Goal | Invocation answered | Notifications |\n|---|---:|---:|---|---:|---|\n")
		for _, br := range r.batches {
			b.WriteString(br.row())
		}
	}
	if len(r.shapes) > 0 {
		b.WriteString("\n## Round trips per decision\n\n")
		b.WriteString("Counted by the stand-in around one Event Hub invocation, warm token and permission cache (a cold cache adds one round trip that names the resources' permissions). Requests inside the `$batch` requests in brackets.\n\n")
		b.WriteString("| App | To resolve | To act | What AppWarden did |\n|---|---:|---:|---|\n")
		for _, sh := range r.shapes {
			fmt.Fprintf(&b, "| %s | %d (%d) | %d (%d) | %s |\n", sh.name, sh.trips.Resolve, sh.trips.ResolveInner, sh.trips.Act, sh.trips.ActInner, sh.done)
		}
	}
	if r.burst != nil || len(r.big) > 0 || len(r.scaleFailures) > 0 {
		b.WriteString("\n## Scale\n\n")
	}
	if r.burst != nil {
		b.WriteString(r.burst.markdown())
	}
	if len(r.big) > 0 {
		b.WriteString(bigMarkdown(r.big))
	}
	for _, f := range r.scaleFailures {
		fmt.Fprintf(&b, "Not measured: %s.\n\n", f)
	}
	if p := r.integrityProblems(); len(p) > 0 {
		b.WriteString("\n## Correctness problems seen during the run\n\n")
		for _, s := range p {
			fmt.Fprintf(&b, "- %s\n", s)
		}
	} else {
		b.WriteString("\nEvery risky app of every run ended with its service principal disabled by exactly one write (counted per service principal in the stand-in's write log), and the stand-in rejected no request.\n")
	}
	return b.String()
}

// analysisMarker starts the hand-written part of RESULTS.md (what the
// figures mean, why a goal is missed, what was changed); the bench keeps
// everything from it on when it rewrites the file.
const analysisMarker = "<!-- Hand-written analysis below: kept when the bench rewrites this file. -->"

// withAnalysis appends the hand-written analysis of the existing file.
func withAnalysis(md string, existing []byte) string {
	if i := strings.Index(string(existing), analysisMarker); i >= 0 {
		return md + "\n" + string(existing[i:])
	}
	return md + "\n" + analysisMarker + "\n\n## Analysis\n\n(not written yet)\n"
}

func (r *results) flagsLine() string {
	// Every flag the run was given, as given: the header must name the run
	// that produced the figures.
	var parts []string
	flag.Visit(func(f *flag.Flag) {
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() && f.Value.String() == "true" {
			parts = append(parts, "-"+f.Name)
			return
		}
		parts = append(parts, "-"+f.Name+" "+f.Value.String())
	})
	if len(parts) == 0 {
		return ""
	}
	return " " + strings.Join(parts, " ")
}

const howMeasured = `## How it is measured

- **AppWarden** is the real handler binary, built as ` + "`make package`" + ` builds it (CGO_ENABLED=0, -trimpath,
  -ldflags='-s -w'), started as the Functions host starts it (FUNCTIONS_CUSTOMHANDLER_PORT, GET / polled) in
  enforce mode with the built-in policy, in-memory state, no webhooks, and the blast-radius limit off
  (APPWARDEN_MAX_ACTIONS_PER_HOUR=0). Its Graph is ` + "`handler/fakegraph`" + ` running in the bench process behind a tap
  (` + "`tests/harness.Graph`" + `) that timestamps the moment a disabling write has been applied. L is the stand-in's
  injected latency, added to every Graph HTTP request (a ` + "`$batch`" + ` once).
- **An event** is one Event Hub invocation carrying one "Add application" audit record for a fresh app that
  requests and holds RoleManagement.ReadWrite.Directory (rule critical-app-permission: disable the service
  principal). Each event names a different app.
- **The floor** (` + "`tests/bench/floor`" + `) is a standard-library-only Go program built with the same flags: one token
  from the same managed identity endpoint, then per app ` + "`GET /servicePrincipals(appId='…')?$select=id`" + ` and
  ` + "`PATCH /servicePrincipals/{id} {\"accountEnabled\":false}`" + `. It judges nothing, records nothing and is not a
  server; it is the least any containment can do. Its start-up and size figures are a net/http server
  answering GET /.
- **Round trips** are counted by the stand-in around single events (a ` + "`$batch`" + ` is one round trip; a batch carrying
  a write is "act", anything else "resolve"). **Time to contain** runs from just before the event's POST
  (the floor: just before its GET) to the moment the stand-in has applied the PATCH; events are sent one at a
  time. **Throughput** runs the events with 64 deliveries in flight (the floor: 64 goroutines). **CPU per
  event** is the handler's utime+stime from /proc/<pid>/stat across the throughput run, divided by the
  events. **Peak RSS** is VmHWM from /proc/<pid>/status after that run. **Start-up** polls GET / every
  millisecond (the host polls every 25 ms) from just before exec.
`
