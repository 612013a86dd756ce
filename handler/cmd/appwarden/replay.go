package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/auditlog"
	"github.com/appwarden/appwarden/handler/config"
	"github.com/appwarden/appwarden/handler/functions"
	"github.com/appwarden/appwarden/handler/graph"
	"github.com/appwarden/appwarden/handler/pipeline"
	"github.com/appwarden/appwarden/handler/remediate"
	"github.com/appwarden/appwarden/handler/report"
	"github.com/appwarden/appwarden/handler/setup"
	"github.com/appwarden/appwarden/handler/shape"
	"github.com/appwarden/appwarden/handler/store"
	"github.com/appwarden/appwarden/handler/sweep"
	"github.com/appwarden/appwarden/handler/trail"
)

const replayLong = `Sends one input through AppWarden's pipeline, as the deployed handler would
(decode → resolve in Graph → policy → remediate), and prints the signals it
decodes, what Graph says about each app (the resolution), the decision and
the actions AppWarden would take. EVENT.json (or - for stdin) is any input
the handler accepts:
  - a Functions host envelope {"Data": {...}, "Metadata": {...}} for
    OnEventGridEvent, OnAuditLogBatch or SweepTimer
  - a bare Event Grid event or CloudEvent (or an array of them)
  - an Event Hub message {"records": [...]} from the Entra audit stream
  - a single directoryAudit record
A sweep signal (a resource-provider registration, the timer) runs the Graph
delta sweep as a first sweep does (APPWARDEN_SWEEP_LOOKBACK,
APPWARDEN_SWEEP_JUDGE_ALL), with a cursor of its own: the deployed
handler's sweep cursor is not touched.

Decisions are made as with APPWARDEN_MODE=enforce, so the rules' own modes
decide what would be applied. Nothing is written unless --enforce: the
remediation runs in audit mode and reports what it would do. --enforce
applies the actions to the tenant (or to the in-process snapshot with
--tenant) after you type yes (or --yes), and records them in the state store
(AzureWebJobsStorage) so appwarden release can undo them. Replay sends no
notifications and leaves no trail of its dry runs.

` + readOnlyPermissions + credentialsHelp + `
Exit codes: 0 clean, 1 findings at or above --fail-on (default high),
2 usage or runtime error (including input the handler would record as
poison, and a signal whose app could not be resolved).`

const replayExamples = `  appwarden replay tests/testdata/eventhub/directoryaudit-add-application.json --tenant snapshot.json
  appwarden replay tests/testdata/functions-host/invocation-eventhub-many.json --policy my-policy.yaml
  appwarden replay event.json --format json | jq '.signals[].results[].decision'
  cat record.json | appwarden replay - --fail-on none`

// replayOptions are replay's flags.
type replayOptions struct {
	tenant, policy, format *string
	failOn                 *failOn
	enforce                *enforceFlags
	verbose                *bool
}

func newReplayCmd(stdin io.Reader) *cobra.Command {
	var o replayOptions
	cmd := &cobra.Command{
		Use:     "replay EVENT.json",
		Short:   "Send one event through the pipeline and show what AppWarden would do",
		Long:    replayLong,
		Example: replayExamples,
		Args:    exactArgs(1, "exactly one EVENT.json (or - for stdin)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return status(runReplay(cmd.Context(), o, args[0], stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
	}
	fs := cmd.Flags()
	o.tenant = addTenant(fs)
	o.policy = addPolicy(fs)
	o.format = fs.String("format", "text", "`FORMAT` of the output: text or json")
	o.failOn = addFailOn(fs, "high")
	o.enforce = addEnforce(fs)
	o.verbose = fs.Bool("verbose", false, "print the pipeline's log lines (JSON) on stderr")
	return cmd
}

// replayInput is one input decoded as the handler decodes it.
type replayInput struct {
	Shape    string // what the input is, in words
	Function string // the function that receives it
	Batch    appwarden.Batch
}

// decodeReplay recognises the input's shape and decodes it with the
// function's own decoder.
func decodeReplay(data []byte, now time.Time) (replayInput, error) {
	v, err := shape.Decode(data, "input")
	if err != nil {
		return replayInput{}, err
	}
	// A JSON-encoded document (one or more layers of JSON text in a
	// string) is read as the functions layer reads a binding value.
	v = functions.Plain(v)
	byName := map[string]functions.Function{}
	for _, f := range setup.Functions() {
		byName[f.Name] = f
	}
	decodeWith := func(fn, shapeName string, v any, path string, t time.Time) replayInput {
		return replayInput{Shape: shapeName, Function: fn, Batch: byName[fn].Decode(v, path, t)}
	}
	switch val := v.(type) {
	case map[string]any:
		if _, ok := val["Data"]; ok {
			return decodeEnvelope(data, now)
		}
		switch {
		case has(val, "records"):
			return decodeWith(setup.FnEventHub, `Event Hub message {"records": [...]}`, val, "message", now), nil
		case auditlog.Looks(val):
			return decodeWith(setup.FnEventHub, "directoryAudit record", val, "record", now), nil
		case has(val, "specversion"):
			return decodeWith(setup.FnEventGrid, "CloudEvent", val, "event", now), nil
		case has(val, "eventType"):
			return decodeWith(setup.FnEventGrid, "Event Grid event", val, "event", now), nil
		case has(val, "ScheduleStatus") || has(val, "IsPastDue"):
			return decodeWith(setup.FnTimer, "timer trigger value", val, "timer", now), nil
		}
	case []any:
		if len(val) == 0 {
			return replayInput{}, errors.New("input: an empty array holds no events")
		}
		if first, ok := val[0].(map[string]any); ok && (has(first, "eventType") || has(first, "specversion")) {
			return decodeWith(setup.FnEventGrid, fmt.Sprintf("array of %d Event Grid events", len(val)), val, "events", now), nil
		}
		return decodeWith(setup.FnEventHub, fmt.Sprintf("array of %d Event Hub messages", len(val)), val, "messages", now), nil
	}
	return replayInput{}, errors.New(`input: not a shape the handler accepts (a host envelope {"Data": ...}, an Event Grid event or CloudEvent, {"records": [...]}, or a directoryAudit record)`)
}

func has(m map[string]any, key string) bool { _, ok := m[key]; return ok }

// decodeEnvelope decodes a host envelope as the custom handler does: the
// function named by Metadata.sys.MethodName, or the one whose binding is
// present; signals without a time get the invocation's time.
func decodeEnvelope(data []byte, now time.Time) (replayInput, error) {
	var env functions.Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return replayInput{}, fmt.Errorf(`input: not a host envelope {"Data":{...},"Metadata":{...}}: %v`, err)
	}
	var sys struct{ MethodName, UtcNow string }
	if raw, ok := env.Metadata["sys"]; ok {
		_ = json.Unmarshal(raw, &sys)
	}
	invoked := now
	if t, err := time.Parse(time.RFC3339Nano, sys.UtcNow); err == nil {
		invoked = t
	}
	binding := func(f functions.Function) (json.RawMessage, bool) {
		for k, v := range env.Data {
			if strings.EqualFold(k, f.Binding) {
				return v, true
			}
		}
		return nil, false
	}
	fns := setup.Functions()
	slices.SortStableFunc(fns, func(a, b functions.Function) int {
		// the function the host named comes first
		return boolRank(!strings.EqualFold(a.Name, sys.MethodName)) - boolRank(!strings.EqualFold(b.Name, sys.MethodName))
	})
	for _, f := range fns {
		raw, ok := binding(f)
		if !ok {
			continue
		}
		path := "Data." + f.Binding
		v, err := shape.Decode(raw, path)
		var b appwarden.Batch
		if err != nil {
			b.Poison = []error{err}
		} else {
			// the host's JSON-in-string layers go, as in the handler
			b = f.Decode(functions.Plain(v), path, invoked)
		}
		for i := range b.Signals {
			if b.Signals[i].Time.IsZero() {
				b.Signals[i].Time = invoked
			}
		}
		return replayInput{Shape: "Functions host envelope for " + f.Name, Function: f.Name, Batch: b}, nil
	}
	names := make([]string, 0, len(fns))
	for _, f := range fns {
		names = append(names, f.Binding)
	}
	return replayInput{}, fmt.Errorf("input: a host envelope without a binding this handler serves (Data.%s)", strings.Join(names, ", Data."))
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// replayResult is one app judged for a signal.
type replayResult struct {
	App      *appwarden.App      `json:"app"`
	Decision *appwarden.Decision `json:"decision,omitempty"`
	Outcome  *appwarden.Outcome  `json:"outcome,omitempty"`
	Actions  []report.Action     `json:"actions"`
}

type replaySignal struct {
	Signal  appwarden.Signal      `json:"signal"`
	Sweep   *appwarden.SweepStats `json:"sweep,omitempty"`
	Results []replayResult        `json:"results"`
	Error   string                `json:"error,omitempty"`
}

type replayOutput struct {
	Input         string         `json:"input"`
	Shape         string         `json:"shape"`
	Function      string         `json:"function"`
	Graph         string         `json:"graph,omitempty"`
	Policy        string         `json:"policy,omitempty"`
	PolicyVersion string         `json:"policyVersion,omitempty"`
	Run           string         `json:"run"`
	Signals       []replaySignal `json:"signals"`
	Ignored       []string       `json:"ignored,omitempty"`
	Poison        []string       `json:"poison,omitempty"`
	GraphWrites   int64          `json:"graphWrites"`
}

// replayRecorder is the pipeline's decision recorder: it keeps each result
// for printing, and with --enforce records it in the trail as well.
type replayRecorder struct {
	trail   *trail.Trail
	enforce bool
	mu      sync.Mutex
	results []replayResult
}

func (r *replayRecorder) RecordDecision(ctx context.Context, log *slog.Logger, sig appwarden.Signal, app *appwarden.App, d *appwarden.Decision, o *appwarden.Outcome) error {
	res := replayResult{App: app, Decision: d, Outcome: o}
	if d != nil && o != nil {
		res.Actions = replayActions(*d, *o, r.enforce)
	}
	r.mu.Lock()
	r.results = append(r.results, res)
	r.mu.Unlock()
	if r.trail != nil {
		return r.trail.RecordDecision(ctx, log, sig, app, d, o)
	}
	return nil
}

func (r *replayRecorder) take() []replayResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.results
	r.results = nil
	return out
}

func replayActions(d appwarden.Decision, o appwarden.Outcome, enforce bool) []report.Action {
	if enforce {
		return outcomeActions(d, o)
	}
	var out []report.Action
	for _, a := range o.Actions {
		act := report.Action{Kind: string(a.Kind), Target: a.Target, Status: report.AuditOnly, Note: "the rule is in audit mode: AppWarden records it and changes nothing"}
		if d.Mode == appwarden.ModeEnforce {
			act.Status, act.Note = report.WouldDo, "dry run: --enforce applies it"
		}
		out = append(out, act)
	}
	if o.Skipped != "" {
		out = append(out, report.Action{Kind: "none", Status: report.NotActed, Note: o.Skipped})
	}
	for _, k := range d.Actions {
		if k == appwarden.ActionNotify {
			out = append(out, report.Action{Kind: string(k), Status: report.WouldNotify, Note: "replay sends no notifications"})
		}
	}
	return out
}

// auditActor runs remediation in audit mode: it records what it would do
// (in replay's own memory) and writes nothing to Graph.
type auditActor struct{ r *remediate.Remediator }

func (a auditActor) Act(ctx context.Context, log *slog.Logger, app *appwarden.App, d appwarden.Decision) (appwarden.Outcome, error) {
	d.Mode = appwarden.ModeAudit
	return a.r.Act(ctx, log, app, d)
}

// replaySweeper keeps the stats of the sweep a signal triggers.
type replaySweeper struct {
	s     *sweep.Sweeper
	stats *appwarden.SweepStats
}

func (r *replaySweeper) Sweep(ctx context.Context, log *slog.Logger) (appwarden.SweepStats, error) {
	st, err := r.s.Sweep(ctx, log)
	r.stats = &st
	return st, err
}

func runReplay(ctx context.Context, o replayOptions, input string, stdin io.Reader, stdout, stderr io.Writer) int {
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "appwarden replay: "+format+"\n", a...)
		return 2
	}
	tenantFile, policyFile, format, enforce, yes, verbose := o.tenant, o.policy, o.format, &o.enforce.enforce, &o.enforce.yes, o.verbose
	pos := []string{input}
	if *format != "text" && *format != "json" {
		return usageErr("--format: want text or json")
	}
	if *yes && !*enforce {
		return usageErr("--yes goes with --enforce")
	}
	var (
		data []byte
		err  error
	)
	if pos[0] == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(pos[0])
	}
	if err != nil {
		return usageErr("%v", err)
	}
	in, err := decodeReplay(data, time.Now().UTC())
	if err != nil {
		return usageErr("%s: %v", pos[0], err)
	}
	cfg, err := config.FromEnv()
	if err != nil {
		fmt.Fprintf(stderr, "appwarden replay: invalid configuration:\n%v\n", err)
		return 2
	}
	pol, polName, err := cliPolicy(cfg, *policyFile)
	if err != nil {
		return usageErr("%v", err)
	}
	out := replayOutput{Input: pos[0], Shape: in.Shape, Function: in.Function, Policy: polName, PolicyVersion: pol.Version(), Run: "dry run", Ignored: in.Batch.Ignored}
	if *enforce {
		out.Run = "enforce"
	}
	for _, p := range in.Batch.Poison {
		out.Poison = append(out.Poison, p.Error())
	}
	failed := len(out.Poison) > 0
	if len(in.Batch.Signals) > 0 {
		retry := graph.RetryPolicy{} // the handler's: a 404 is re-read for 10 s, then deleted items decide
		if *tenantFile != "" {
			// A snapshot has no replication lag: what is missing is missing.
			retry = graph.RetryPolicy{LagBudget: time.Millisecond, LagFirst: time.Millisecond}
		}
		target, err := openTarget(cfg, *tenantFile, retry)
		if err != nil {
			return usageErr("%v", err)
		}
		defer target.Close()
		out.Graph = target.source
		level := slog.LevelError
		if *verbose {
			level = slog.LevelInfo
		}
		log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
		scratch := store.NewMemory() // signals, the sweep's cursor, dry-run action records
		actStore := appwarden.Store(scratch)
		rec := &replayRecorder{enforce: *enforce}
		if *enforce {
			st, volatile, err := target.stateStore(ctx, cfg)
			if err != nil {
				return usageErr("%v", err)
			}
			what := fmt.Sprintf("appwarden replay --enforce CHANGES %s: the actions of every decision in enforce mode are applied.", target.source)
			if volatile {
				what += "\nWARNING: no state store is configured (AzureWebJobsStorage), so appwarden release cannot undo these actions later."
			}
			if !*yes && !confirm(ctx, stdin, stderr, what) {
				return 2
			}
			actStore, rec.trail = st, trail.New(st)
		}
		writes := &countingWriter{next: target.client}
		rem := &remediate.Remediator{Graph: writes, Store: actStore, Guard: cfg.Guard(), MaxPerHour: cfg.MaxActionsPerHour, Owner: setup.InstanceName()}
		var actor pipeline.Actor = auditActor{rem}
		if *enforce {
			actor = rem
		}
		p := &pipeline.Pipeline{
			Trail:     trail.New(scratch),
			Resolver:  target.client,
			Policy:    setup.Evaluator{Policy: pol, Mode: appwarden.ModeEnforce, Guard: cfg.Guard()},
			Actor:     actor,
			Decisions: rec,
		}
		for _, sig := range in.Batch.Signals {
			sw := &replaySweeper{s: &sweep.Sweeper{Feed: target.client, Store: scratch, Handle: p.HandleApp, Lookback: cfg.SweepLookback, JudgeAll: cfg.SweepJudgeAll}}
			p.Sweeper = sw
			rs := replaySignal{Signal: sig}
			if err := p.Process(ctx, log.With("signal", string(sig.Kind), "appId", sig.AppID), sig); err != nil {
				rs.Error = err.Error()
				failed = true
			}
			rs.Sweep = sw.stats
			rs.Results = rec.take()
			if sig.Kind.Sweeps() {
				slices.SortFunc(rs.Results, func(a, b replayResult) int {
					return strings.Compare(strings.ToLower(a.App.DisplayName)+a.App.AppID, strings.ToLower(b.App.DisplayName)+b.App.AppID)
				})
			}
			out.Signals = append(out.Signals, rs)
		}
		out.GraphWrites = writes.n.Load()
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return 2
		}
	} else {
		printReplay(stdout, out, cfg)
	}
	worst := appwarden.Severity(-1)
	for _, s := range out.Signals {
		for _, r := range s.Results {
			if r.Decision != nil {
				if sev, ok := r.Decision.MaxSeverity(); ok {
					worst = max(worst, sev)
				}
			}
		}
	}
	switch {
	case failed:
		return 2
	case o.failOn.fails(worst, worst >= 0):
		return 1
	}
	return 0
}

// printReplay writes the replay for people.
func printReplay(w io.Writer, out replayOutput, cfg config.Config) {
	c := report.Clean
	fmt.Fprintf(w, "AppWarden replay of %s\n", c(out.Input))
	fmt.Fprintf(w, "  input      %s, as %s receives it\n", out.Shape, out.Function)
	if out.Graph != "" {
		fmt.Fprintf(w, "  graph      %s\n", c(out.Graph))
	}
	fmt.Fprintf(w, "  policy     %s (%s)\n", c(out.Policy), out.PolicyVersion)
	if out.Run == "enforce" {
		fmt.Fprintf(w, "  run        enforce: actions are applied\n")
	} else {
		fmt.Fprintf(w, "  run        dry run: nothing is written (--enforce applies the actions)\n")
	}
	fmt.Fprintf(w, "\n%d signal(s)\n", len(out.Signals))
	for i, s := range out.Signals {
		fmt.Fprintf(w, "  %d. %s\n", i+1, c(signalLine(s.Signal)))
	}
	for _, r := range out.Ignored {
		fmt.Fprintf(w, "  ignored: %s\n", c(r))
	}
	for _, p := range out.Poison {
		fmt.Fprintf(w, "  POISON: %s (the handler records this input as poison and answers 200)\n", c(p))
	}
	for i, s := range out.Signals {
		fmt.Fprintf(w, "\nSignal %d: %s\n", i+1, strings.TrimSpace(string(s.Signal.Kind)+" "+s.Signal.AppID))
		if s.Signal.Kind.Sweeps() {
			if s.Sweep != nil {
				fmt.Fprintf(w, "  sweep      the Graph delta sweep ran: %d objects read, %d judged, %d baseline, %d skipped",
					s.Sweep.Objects, s.Sweep.Judged, s.Sweep.Baseline, s.Sweep.Skipped)
				if !cfg.SweepJudgeAll {
					fmt.Fprintf(w, " (a first sweep judges only apps created in the last %s; APPWARDEN_SWEEP_JUDGE_ALL=true judges all)", cfg.SweepLookback)
				}
				fmt.Fprintln(w)
			}
		}
		for _, r := range s.Results {
			printReplayResult(w, r)
		}
		if s.Error != "" {
			fmt.Fprintf(w, "  ERROR      %s (the handler answers 500 and the input is redelivered)\n", c(s.Error))
		}
	}
	fmt.Fprintf(w, "\nwrites sent to Graph: %d\n", out.GraphWrites)
}

func signalLine(s appwarden.Signal) string {
	var b strings.Builder
	b.WriteString(string(s.Kind))
	if s.DisplayName != "" {
		fmt.Fprintf(&b, " %q", s.DisplayName)
	}
	if s.AppID != "" {
		fmt.Fprintf(&b, " appId %s", s.AppID)
	}
	if s.ObjectID != "" {
		fmt.Fprintf(&b, " %s %s", s.ObjectType, s.ObjectID)
	}
	fmt.Fprintf(&b, " — %s %q", s.Source, strings.TrimSpace(s.Activity))
	if !s.Time.IsZero() {
		fmt.Fprintf(&b, " at %s", s.Time.UTC().Format(time.RFC3339))
	}
	if !s.Initiator.IsZero() {
		fmt.Fprintf(&b, " by %s", s.Initiator)
	}
	return b.String()
}

func printReplayResult(w io.Writer, r replayResult) {
	c := report.Clean
	a := r.App
	fmt.Fprintf(w, "  app        %s (%s)\n", c(firstNonEmpty(a.DisplayName, "(no name)")), a.AppID)
	if a.Deleted {
		fmt.Fprintf(w, "  resolved   no longer in Microsoft Graph: nothing to judge\n")
		return
	}
	var parts []string
	if ap := a.Application; ap != nil {
		parts = append(parts, fmt.Sprintf("application %s (%s, created %s)", ap.ID, ap.SignInAudience, ap.CreatedDateTime.Format("2006-01-02")))
	} else {
		parts = append(parts, "no application object: "+a.SPOnlyReason)
	}
	for _, sp := range a.ServicePrincipals {
		state := "enabled"
		if !sp.AccountEnabled {
			state = "disabled"
		}
		parts = append(parts, fmt.Sprintf("service principal %s (%s, %s)", sp.ID, state, orDash(sp.ServicePrincipalType)))
	}
	var owners []string
	for _, o := range a.Owners {
		owners = append(owners, firstNonEmpty(o.UPN, o.DisplayName, o.ID))
	}
	if len(owners) == 0 {
		owners = []string{"none"}
	}
	parts = append(parts, "owners: "+strings.Join(owners, ", "))
	fmt.Fprintf(w, "  resolved   %s\n", c(strings.Join(parts, "; ")))
	if ap := a.Application; ap != nil {
		fmt.Fprintf(w, "  creds      %d secret(s), %d certificate(s); %d redirect URI(s)\n", len(ap.PasswordCredentials), len(ap.KeyCredentials), len(ap.RedirectURIs))
	}
	for _, p := range a.Permissions {
		var how []string
		if p.Requested {
			how = append(how, "requested")
		}
		if p.Granted {
			how = append(how, "granted")
		}
		if p.AdminConsent {
			how = append(how, "admin consent")
		}
		fmt.Fprintf(w, "  permission %-36s %-11s %-28s privilege %d\n", c(p.Name), p.Type, strings.Join(how, ", "), p.Privilege)
	}
	if d := r.Decision; d != nil {
		fmt.Fprintf(w, "  decision   %s: %s\n", d.Mode, c(d.Explanation))
		if d.Protected != "" {
			fmt.Fprintf(w, "  protected  %s: never acted on\n", c(d.Protected))
		}
		for _, f := range d.Findings {
			fmt.Fprintf(w, "  finding    %-9s %-30s %s\n", f.Severity, f.RuleID, c(report.EvidenceText(f.Evidence)))
		}
	}
	for _, act := range r.Actions {
		fmt.Fprintf(w, "  action     %s\n", c(report.ActionText(act)))
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
