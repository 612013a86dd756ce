package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/google/uuid"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/config"
	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/graph"
	awpolicy "github.com/appwarden/appwarden/handler/policy"
	"github.com/appwarden/appwarden/handler/remediate"
	"github.com/appwarden/appwarden/handler/report"
	"github.com/appwarden/appwarden/handler/store"
	"github.com/appwarden/appwarden/handler/trail"
)

// readOnlyPermissions is what the dry runs (scan, replay, snapshot export)
// need on Microsoft Graph, as application permissions of the identity (or
// delegated, for a signed-in operator with a directory reader role).
const readOnlyPermissions = `Graph permissions (read only; enough for everything but --enforce):
  Application.Read.All   applications, service principals, their delta feeds,
                         owners and app role assignments
  Directory.Read.All     delegated permission grants (oauth2PermissionGrants
                         have no narrower read permission), and owners' names
                         and UPNs (User.ReadBasic.All alone covers owners)
`

// enforcePermissions is what --enforce adds.
const enforcePermissions = `With --enforce, also:
  Application.ReadWrite.All               disable service principals, deactivate
                                          registrations, remove secrets, tag apps
  AppRoleAssignment.ReadWrite.All         remove critical app role assignments
  DelegatedPermissionGrant.ReadWrite.All  revoke delegated grants
(only the ones the policy's enforce-mode actions use).
`

const credentialsHelp = `Credentials: the managed identity when IDENTITY_ENDPOINT is set (as in
Azure; AZURE_CLIENT_ID picks a user-assigned one), otherwise
DefaultAzureCredential (environment, workload identity, az login). The Graph
endpoint is APPWARDEN_GRAPH_ENDPOINT (default https://graph.microsoft.com).
With --tenant FILE no credential is used: the snapshot is served by an
in-process Graph stand-in on 127.0.0.1, through the same Graph client.
`

const scanUsage = `Usage: handler scan [--tenant snapshot.json] [--policy FILE] [--format FORMAT]
                    [--out FILE]... [--fail-on SEVERITY] [--enforce [--yes]]

Judges every app registration and service principal of a tenant against a
policy and reports what AppWarden would do to each, without changing
anything. It reads the live tenant, or a snapshot file (handler snapshot
export) with --tenant. Apps stream through page by page from Graph's delta
feeds and are resolved a few at a time (--parallel), so memory stays flat
however large the tenant; the report lists them in feed order.

Decisions are made as AppWarden makes them with APPWARDEN_MODE=enforce: a
rule's own mode decides whether its actions would be applied ("would do")
or only recorded ("audit only"). Protected apps (AppWarden's own, Microsoft
first-party apps, managed identities, APPWARDEN_BREAK_GLASS_APP_IDS, the
policy's allowlist) are judged and reported, never acted on.

Nothing is written unless --enforce. --enforce applies the decisions' actions
(within APPWARDEN_MAX_ACTIONS_PER_HOUR) and records them in the state store
(AzureWebJobsStorage) so that handler release can undo them; it asks you to
type yes first, unless --yes. Scan sends no notifications.

Formats (--format, or each --out file's extension):
  text       the summary table by rule and severity, then each app with
             findings: its findings and actions (the default, on stdout)
  json       one document {"summary": {...}, "apps": [...]}; apps holds
             every judged app, also those without findings
  csv        one row per finding: appId,displayName,ruleId,severity,evidence
             (cells that a spreadsheet would run as a formula get a ' first)
  markdown   the summary table and each app with findings
  html       one self-contained page (inline CSS and SVG charts of findings
             by severity and by rule, no script, no external asset)
With --out, reports go to files (repeat --out for several formats at once,
from one scan) and stdout shows the text summary.

Progress goes to stderr: a bar on a terminal, "scanned N apps…" lines
otherwise (--quiet: none).

` + readOnlyPermissions + enforcePermissions + credentialsHelp + `
Exit codes: 0 clean (no finding at or above --fail-on),
1 findings at or above --fail-on (default high),
2 usage or runtime error (including apps that could not be resolved: the
scan is then incomplete, and the report says so).

Examples:
  handler scan
  handler scan --tenant snapshot.json --format html > scan.html
  handler scan --out scan.html --out scan.csv --out scan.json
  handler scan --tenant snapshot.json --policy my-policy.yaml --fail-on critical
  handler scan --enforce

Flags:
`

// stdin is where --enforce reads its confirmation (tests replace it).
var stdin io.Reader = os.Stdin

// stringsFlag is a repeatable string flag.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

// parseCLI parses flags that may come before or after positional
// arguments. It returns the positional arguments and an exit code: -1 to go
// on, 0 after --help (usage on stdout), 2 after a usage error.
func parseCLI(fs *flag.FlagSet, usage string, args []string, stdout, stderr io.Writer) ([]string, int) {
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	printUsage := func(w io.Writer) {
		fmt.Fprint(w, usage)
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(stderr)
	}
	var pos []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout)
			return nil, 0
		}
		if err != nil {
			fmt.Fprintln(stderr)
			printUsage(stderr)
			return nil, 2
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, -1
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), -1
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// failOnFlag reads --fail-on: a severity, or none.
func failOnFlag(s string) (appwarden.Severity, bool, error) {
	if strings.EqualFold(strings.TrimSpace(s), "none") {
		return 0, false, nil
	}
	sev, err := appwarden.ParseSeverity(s)
	if err != nil {
		return 0, false, fmt.Errorf("--fail-on: %v (or none)", err)
	}
	return sev, true, nil
}

// cliPolicy loads --policy, else APPWARDEN_POLICY_FILE, else the built-in
// policy, and names it.
func cliPolicy(cfg config.Config, file string) (*awpolicy.Policy, string, error) {
	if file == "" {
		file = cfg.PolicyFile
	}
	if file == "" {
		p, err := awpolicy.Default()
		return p, "built-in", err
	}
	p, err := awpolicy.Load(file)
	if err != nil {
		return nil, "", err
	}
	return p, file, nil
}

// cliTarget is the Graph a CLI command talks to: the live tenant, or a
// snapshot served by an in-process Graph stand-in.
type cliTarget struct {
	client   *graph.Client
	server   *fakegraph.Server // nil for the live tenant
	cred     azcore.TokenCredential
	endpoint string
	source   string // what the reports call it
	tenantID string // when known
	objects  int    // applications plus service principals, when known
}

// staticToken is a credential holding one token (the in-process stand-in's).
type staticToken string

func (s staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(s), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// cliTransport keeps an idle connection for each request the CLI has in
// flight (http.DefaultTransport keeps two per host, so parallel resolution
// would pay a new TLS handshake for most requests).
func cliTransport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return t
}

// openTarget connects to the live tenant, or loads a snapshot and serves it
// on 127.0.0.1. Either way the Graph client is the one the handler uses.
func openTarget(cfg config.Config, snapshot string, retry graph.RetryPolicy) (*cliTarget, error) {
	if snapshot == "" {
		cred, err := graph.NewCredential(cfg.IdentityEndpoint != "", cfg.ClientID)
		if err != nil {
			return nil, err
		}
		gc, err := graph.New(graph.Options{Endpoint: cfg.GraphEndpoint, Credential: cred, Retry: retry, Transport: cliTransport()})
		if err != nil {
			return nil, err
		}
		return &cliTarget{client: gc, cred: cred, endpoint: cfg.GraphEndpoint, source: "the tenant at " + cfg.GraphEndpoint}, nil
	}
	f, err := os.Open(snapshot)
	if err != nil {
		return nil, fmt.Errorf("--tenant: %w", err)
	}
	tenant, err := fakegraph.Load(bufio.NewReaderSize(f, 1<<20))
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("--tenant %s: %w", snapshot, err)
	}
	srv, err := fakegraph.Start(tenant)
	if err != nil {
		return nil, fmt.Errorf("--tenant: starting the Graph stand-in: %w", err)
	}
	cred := staticToken(srv.IssueToken())
	gc, err := graph.New(graph.Options{Endpoint: srv.URL(), Credential: cred, Retry: retry, Transport: cliTransport()})
	if err != nil {
		srv.Close()
		return nil, err
	}
	apps, sps := tenant.Counts()
	return &cliTarget{client: gc, server: srv, cred: cred, endpoint: srv.URL(),
		source: "snapshot " + snapshot, tenantID: tenant.TenantID(), objects: apps + sps}, nil
}

func (t *cliTarget) Close() {
	if t.server != nil {
		t.server.Close()
	}
}

// stateStore is where --enforce records its actions: the configured store
// for the live tenant (so handler release can undo them), memory for a
// snapshot. It says whether undo records are lost when the command ends.
func (t *cliTarget) stateStore(ctx context.Context, cfg config.Config) (store.Store, bool, error) {
	if t.server != nil || cfg.Storage.InMemory() {
		return store.NewMemoryWithHistory(store.DefaultMemoryHistory), t.server == nil, nil
	}
	st, err := openStore(ctx, cfg, cfg.IdentityEndpoint != "")
	return st, false, err
}

// countingWriter counts the writes a command sends to Graph.
type countingWriter struct {
	next remediate.Graph
	n    atomic.Int64
}

func (c *countingWriter) Apply(ctx context.Context, ws []remediate.Write) ([]remediate.Result, error) {
	c.n.Add(int64(len(ws)))
	return c.next.Apply(ctx, ws)
}

// confirm asks the operator to type yes. Interrupting (ctx ends) is a no.
func confirm(ctx context.Context, stderr io.Writer, what string) bool {
	fmt.Fprintf(stderr, "%s\nType yes to continue: ", what)
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		answer <- line
	}()
	var line string
	select {
	case line = <-answer:
	case <-ctx.Done():
		fmt.Fprintln(stderr)
	}
	if strings.TrimSpace(line) != "yes" {
		fmt.Fprintln(stderr, "not confirmed; nothing was changed")
		return false
	}
	return true
}

// scanOutput is one report being written.
type scanOutput struct {
	name string // "" for stdout
	file *os.File
	buf  *bufio.Writer
	w    report.Writer
}

func openScanOutputs(outs []string, format string, formatSet bool, stdout io.Writer) ([]*scanOutput, error) {
	if len(outs) == 0 {
		f, err := report.ParseFormat(format)
		if err != nil {
			return nil, fmt.Errorf("--format: %v", err)
		}
		w, err := report.NewWriter(f, stdout, report.Options{})
		if err != nil {
			return nil, err
		}
		return []*scanOutput{{w: w}}, nil
	}
	if formatSet && len(outs) > 1 {
		return nil, errors.New("--format goes with a single --out; with several, each file's extension names its format")
	}
	var res []*scanOutput
	fail := func(err error) ([]*scanOutput, error) {
		for _, o := range res {
			o.file.Close()
			os.Remove(o.name)
		}
		return nil, err
	}
	for _, name := range outs {
		f, ok := report.FormatOf(name)
		if formatSet {
			var err error
			if f, err = report.ParseFormat(format); err != nil {
				return fail(fmt.Errorf("--format: %v", err))
			}
		} else if !ok {
			return fail(fmt.Errorf("--out %s: cannot tell the format from the extension (.txt, .json, .csv, .md, .html), or give --format", name))
		}
		file, err := os.Create(name)
		if err != nil {
			return fail(fmt.Errorf("--out: %w", err))
		}
		buf := bufio.NewWriterSize(file, 64<<10)
		w, _ := report.NewWriter(f, buf, report.Options{})
		res = append(res, &scanOutput{name: name, file: file, buf: buf, w: w})
	}
	w, _ := report.NewWriter(report.Text, stdout, report.Options{SummaryOnly: true})
	return append(res, &scanOutput{w: w}), nil
}

func runScan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	tenantFile := fs.String("tenant", "", "a snapshot file (`FILE` from handler snapshot export) to scan instead of the live tenant")
	policyFile := fs.String("policy", "", "policy `FILE` (default: APPWARDEN_POLICY_FILE, else the built-in policy)")
	format := fs.String("format", "text", "report `FORMAT`: text, json, csv, markdown or html")
	var outs stringsFlag
	fs.Var(&outs, "out", "write the report to `FILE` (format from the extension unless --format); repeatable")
	failOn := fs.String("fail-on", "high", "exit 1 when a finding is at or above `SEVERITY` (info, low, medium, high, critical, or none)")
	enforce := fs.Bool("enforce", false, "apply the decisions' actions to the tenant (asks to type yes)")
	yes := fs.Bool("yes", false, "with --enforce: do not ask")
	parallel := fs.Int("parallel", 8, "apps resolved at once (`N`)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	pos, code := parseCLI(fs, scanUsage, args, stdout, stderr)
	if code >= 0 {
		return code
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "handler scan: "+format+"\n", a...)
		return 2
	}
	if len(pos) > 0 {
		return usageErr("unexpected argument %q (see handler scan --help)", pos[0])
	}
	if *yes && !*enforce {
		return usageErr("--yes goes with --enforce")
	}
	if *parallel < 1 || *parallel > 64 {
		return usageErr("--parallel: want 1 to 64")
	}
	floor, failing, err := failOnFlag(*failOn)
	if err != nil {
		return usageErr("%v", err)
	}
	formatSet := false
	fs.Visit(func(f *flag.Flag) { formatSet = formatSet || f.Name == "format" })
	if _, err := report.ParseFormat(*format); err != nil {
		return usageErr("--format: %v", err)
	}
	cfg, err := config.FromEnv()
	if err != nil {
		fmt.Fprintf(stderr, "handler scan: invalid configuration:\n%v\n", err)
		return 2
	}
	pol, polName, err := cliPolicy(cfg, *policyFile)
	if err != nil {
		return usageErr("%v", err)
	}
	target, err := openTarget(cfg, *tenantFile, graph.RetryPolicy{LagBudget: 2 * time.Second})
	if err != nil {
		return usageErr("%v", err)
	}
	defer target.Close()
	if target.server == nil {
		if target.tenantID = tokenTenantID(ctx, target); target.tenantID != "" {
			target.source = "tenant " + target.tenantID + " at " + target.endpoint
		}
	}

	sc := &scanner{graph: target.client, policy: pol, guard: cfg.Guard(), parallel: *parallel}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	sc.log = log
	var writes *countingWriter
	if *enforce {
		st, volatile, err := target.stateStore(ctx, cfg)
		if err != nil {
			return usageErr("%v", err)
		}
		what := fmt.Sprintf("handler scan --enforce CHANGES %s: the actions of every decision in enforce mode are applied (at most %d per rolling hour, APPWARDEN_MAX_ACTIONS_PER_HOUR).",
			target.source, cfg.MaxActionsPerHour)
		if volatile {
			what += "\nWARNING: no state store is configured (AzureWebJobsStorage), so the undo records are lost when scan ends and handler release cannot undo these actions."
		}
		if !*yes && !confirm(ctx, stderr, what) {
			return 2
		}
		writes = &countingWriter{next: graphWriter{target.client}}
		sc.actor = &remediate.Remediator{Graph: writes, Store: st, Guard: cfg.Guard(), MaxPerHour: cfg.MaxActionsPerHour, Owner: instanceName()}
		sc.trail = trail.New(st)
	}
	outputs, err := openScanOutputs(outs, *format, formatSet, stdout)
	if err != nil {
		return usageErr("%v", err)
	}

	runKind := "dry run"
	if *enforce {
		runKind = "enforce"
	}
	meta := report.Meta{Source: target.source, TenantID: target.tenantID, Policy: polName, PolicyVersion: pol.Version(), Run: runKind, Started: time.Now().UTC()}
	tally := report.NewTally(meta)
	var prog *report.Progress
	if !*quiet {
		prog = report.NewProgress(stderr, report.IsTerminal(stderr), target.objects)
	}
	sc.progress = prog
	judged := 0
	scanErr := sc.run(ctx, func(a report.App) error {
		tally.Add(a)
		for _, o := range outputs {
			if err := o.w.App(a); err != nil {
				return fmt.Errorf("writing the report: %w", err)
			}
		}
		prog.Judged()
		if judged++; target.server != nil && judged%1000 == 0 {
			target.server.Reset() // the stand-in's call log would grow with the tenant
		}
		return nil
	})
	prog.Finish()
	sum := tally.Summary(time.Now().UTC())
	if scanErr != nil {
		sum.Incomplete = scanErr.Error()
	}
	failed := false
	for _, o := range outputs {
		err := o.w.Close(sum)
		if o.file != nil {
			err = errors.Join(err, o.buf.Flush(), o.file.Close())
			if err == nil {
				fmt.Fprintf(stderr, "wrote %s\n", o.name)
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "handler scan: %s: %v\n", orStdout(o.name), err)
			failed = true
		}
	}
	if writes != nil {
		fmt.Fprintf(stderr, "%d writes sent to Graph\n", writes.n.Load())
	}
	switch {
	case scanErr != nil:
		fmt.Fprintf(stderr, "handler scan: %v\n", scanErr)
		return 2
	case failed:
		return 2
	case sum.Errors > 0:
		fmt.Fprintf(stderr, "handler scan: %d apps could not be judged (see the report)\n", sum.Errors)
		return 2
	case failing && sum.AtLeast(floor) > 0:
		return 1
	}
	return 0
}

func orStdout(name string) string {
	if name == "" {
		return "stdout"
	}
	return name
}

// scanner judges every app of a tenant.
type scanner struct {
	graph    *graph.Client
	policy   *awpolicy.Policy
	guard    appwarden.Guard
	parallel int
	log      *slog.Logger
	progress *report.Progress
	// actor and trail are set with --enforce.
	actor *remediate.Remediator
	trail *trail.Trail
}

// pendingApp is an app being judged; done delivers its result.
type pendingApp struct{ done chan report.App }

// run streams both delta feeds from their start and judges each app, up to
// s.parallel at once; emit sees the results one at a time in feed order.
// Only a window of 2×parallel apps is in flight, and of the apps seen only
// their appIds are kept (to judge a service principal once, with its
// application).
func (s *scanner) run(ctx context.Context, emit func(report.App) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := make(chan *pendingApp, 2*s.parallel)
	sem := make(chan struct{}, s.parallel)
	var feedErr error
	go func() {
		defer close(queue)
		seen := map[uuid.UUID]struct{}{}
		for _, feed := range []string{graph.FeedApplications, graph.FeedServicePrincipals} {
			err := s.graph.DeltaPages(ctx, feed, s.graph.DeltaStart(feed), func(page graph.DeltaPage) error {
				for _, o := range page.Objects {
					s.progress.Read(1)
					if o.Removed || o.AppID == "" {
						continue
					}
					key, err := uuid.Parse(o.AppID)
					if err != nil {
						key = uuid.NewSHA1(uuid.Nil, []byte(o.AppID))
					}
					if _, dup := seen[key]; dup {
						continue // judged with its application
					}
					if feed == graph.FeedApplications {
						seen[key] = struct{}{}
					}
					p := &pendingApp{done: make(chan report.App, 1)}
					select {
					case sem <- struct{}{}:
					case <-ctx.Done():
						return ctx.Err()
					}
					go func() {
						defer func() { <-sem }()
						p.done <- s.judge(ctx, o)
					}()
					select {
					case queue <- p:
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				return nil
			})
			if err != nil {
				feedErr = err
				return
			}
		}
	}()
	var emitErr error
	for p := range queue {
		a := <-p.done
		if emitErr != nil {
			continue
		}
		if err := emit(a); err != nil {
			emitErr = err
			cancel()
		}
	}
	if emitErr != nil {
		return emitErr
	}
	if feedErr != nil {
		return feedErr
	}
	return ctx.Err()
}

// judge resolves one object's app and decides; with an actor it acts too.
func (s *scanner) judge(ctx context.Context, o graph.DeltaObject) report.App {
	typ, kind := appwarden.ObjectApplication, report.KindApplication
	if o.Feed == graph.FeedServicePrincipals {
		typ, kind = appwarden.ObjectServicePrincipal, report.KindServicePrincipal
	}
	res := report.App{AppID: o.AppID, DisplayName: o.DisplayName, Kind: kind, Severity: "none"}
	app, err := s.graph.Resolve(ctx, graph.Subject{AppID: o.AppID, ObjectID: o.ID, ObjectType: typ})
	if err != nil {
		res.Error = err.Error()
		return res
	}
	if app.Deleted {
		res.Deleted = true
		return res
	}
	d := s.policy.Evaluate(app, awpolicy.Env{Now: app.ResolvedAt, Mode: appwarden.ModeEnforce, Guard: s.guard})
	res = appResult(app, d)
	if s.actor == nil {
		res.Actions = plannedActions(app, d)
		return res
	}
	out, err := s.actor.Act(ctx, s.log, app, d)
	res.Actions = outcomeActions(d, out)
	if err != nil {
		res.Error = "acting: " + err.Error()
	}
	sig := appwarden.Signal{Kind: appwarden.AppUpdated, AppID: app.AppID, ObjectID: o.ID, ObjectType: typ, DisplayName: app.DisplayName,
		Time: app.ResolvedAt, Source: appwarden.SourceCLI, Activity: "handler scan --enforce", DedupeKey: "scan:" + o.ID + ":" + app.ResolvedAt.Format(time.RFC3339Nano)}
	if rerr := s.trail.RecordDecision(ctx, s.log, sig, app, &d, &out); rerr != nil && res.Error == "" {
		res.Error = "recording the decision: " + rerr.Error()
	}
	return res
}

// appResult is an app's report entry without its actions.
func appResult(app *appwarden.App, d appwarden.Decision) report.App {
	res := report.App{AppID: app.AppID, DisplayName: app.DisplayName, Kind: report.KindApplication, Protected: d.Protected,
		Mode: d.Mode, Severity: "none", Explanation: d.Explanation, Findings: d.Findings}
	if app.Application == nil {
		res.Kind, res.SPOnlyReason = report.KindServicePrincipal, app.SPOnlyReason
	}
	if sev, ok := d.MaxSeverity(); ok {
		res.Severity = sev.String()
	}
	return res
}

// plannedActions are what AppWarden would do with a decision: the planned
// writes ("would do" in enforce mode, "audit only" when the rules are in
// audit mode), and notifications.
func plannedActions(app *appwarden.App, d appwarden.Decision) []report.Action {
	var out []report.Action
	status := report.AuditOnly
	if d.Mode == appwarden.ModeEnforce {
		status = report.WouldDo
	}
	for _, st := range remediate.Plan(app, d, app.ResolvedAt) {
		out = append(out, report.Action{Kind: string(st.Kind), Target: st.Target, Status: status, Note: st.Note})
	}
	for _, k := range d.Actions {
		if k == appwarden.ActionNotify {
			out = append(out, report.Action{Kind: string(k), Status: report.WouldNotify})
		}
	}
	return out
}

// outcomeActions are what remediation did with a decision.
func outcomeActions(d appwarden.Decision, o appwarden.Outcome) []report.Action {
	var out []report.Action
	for _, a := range o.Actions {
		status := report.Done
		if a.DryRun {
			status = report.AuditOnly
		}
		out = append(out, report.Action{Kind: string(a.Kind), Target: a.Target, Status: status})
	}
	if o.Skipped != "" {
		out = append(out, report.Action{Kind: "none", Status: report.NotActed, Note: o.Skipped})
	}
	for _, k := range d.Actions {
		if k == appwarden.ActionNotify {
			out = append(out, report.Action{Kind: string(k), Status: report.NotSent, Note: "the CLI sends no notifications"})
		}
	}
	return out
}
