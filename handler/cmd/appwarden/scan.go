package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/config"
	"github.com/appwarden/appwarden/handler/expiry"
	"github.com/appwarden/appwarden/handler/graph"
	"github.com/appwarden/appwarden/handler/pipeline"
	awpolicy "github.com/appwarden/appwarden/handler/policy"
	"github.com/appwarden/appwarden/handler/remediate"
	"github.com/appwarden/appwarden/handler/report"
	"github.com/appwarden/appwarden/handler/setup"
	"github.com/appwarden/appwarden/handler/trail"
)

const scanLong = `Judges every app registration and service principal of a tenant against a
policy and reports what AppWarden would do to each, without changing
anything. It reads the live tenant, or a snapshot file (appwarden snapshot
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
(AzureWebJobsStorage) so that appwarden release can undo them; it asks you to
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

Expiring credentials (--expiring WINDOW, e.g. 30d, or a duration such as
12h): the scan also lists every client secret and certificate, on the
registrations and on the service principals, that expires within WINDOW of
the scan's start, and those already expired (still present), soonest first:
app, appId, credential name, keyId, type, where it is (registration or
service principal), end date and days left (rounded down; negative once
expired). Managed identities and Microsoft first-party apps are left out
(Azure and Microsoft rotate their credentials). In each format:
  text, markdown  a section after the summary
  json       a top-level "expiring" array of {appId, displayName,
             credentialName, keyId, type, on, objectId, endDateTime,
             daysLeft, expired}, and its counts in summary.expiry
  csv        a second file next to the findings' CSV, FILE.expiring.csv
             (for --out FILE.csv): appId,displayName,credentialName,keyId,
             type,on,endDateTime,daysLeft,expired; the findings' CSV keeps
             one row per finding, so csv with --expiring needs --out
  html       a table and an expiry timeline chart (already expired, then
             per day up to 14 days, per week up to 26 weeks, longer
             buckets beyond)
Expiring credentials do not change the exit code: --fail-on is about
findings.

Progress goes to stderr: a bar on a terminal, "scanned N apps…" lines
otherwise (--quiet: none).

` + readOnlyPermissions + enforcePermissions + credentialsHelp + `
Exit codes: 0 clean (no finding at or above --fail-on),
1 findings at or above --fail-on (default high),
2 usage or runtime error (including apps that could not be resolved: the
scan is then incomplete, and the report says so).`

const scanExamples = `  appwarden scan
  appwarden scan --tenant snapshot.json --format html > scan.html
  appwarden scan --out scan.html --out scan.csv --out scan.json
  appwarden scan --tenant snapshot.json --policy my-policy.yaml --fail-on critical
  appwarden scan --tenant snapshot.json --expiring 30d
  appwarden scan --expiring 30d --out scan.html --out scan.csv
  appwarden scan --enforce`

// scanOptions are scan's flags.
type scanOptions struct {
	tenant, policy, format *string
	outs                   *[]string
	failOn                 *failOn
	enforce                *enforceFlags
	parallel               *int
	quiet                  *bool
	expiring               *string
	expiringSet            bool // --expiring was given, maybe empty
}

func newScanCmd(stdin io.Reader) *cobra.Command {
	var o scanOptions
	cmd := &cobra.Command{
		Use:     "scan",
		Short:   "Judge every app of a tenant (or a snapshot) and report; writes nothing unless --enforce",
		Long:    scanLong,
		Example: scanExamples,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.expiringSet = cmd.Flags().Changed("expiring")
			return status(runScan(cmd.Context(), o, cmd.Flags().Changed("format"), stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
	}
	fs := cmd.Flags()
	o.tenant = addTenant(fs)
	o.policy = addPolicy(fs)
	o.format = fs.String("format", "text", "report `FORMAT`: text, json, csv, markdown or html")
	o.outs = fs.StringArray("out", nil, "write the report to `FILE` (format from the extension unless --format); repeatable")
	o.failOn = addFailOn(fs, "high")
	o.enforce = addEnforce(fs)
	o.parallel = fs.Int("parallel", 8, "apps resolved at once (`N`, 1 to 64)")
	o.quiet = addQuiet(fs)
	o.expiring = fs.String("expiring", "", "also list the credentials that expire within `WINDOW` (30d, or a duration such as 12h), and those already expired; no effect on the exit code")
	return cmd
}

// scanOutput is one report being written.
type scanOutput struct {
	name string // "" for stdout
	file *os.File
	buf  *bufio.Writer
	w    report.Writer
}

// openScanOutputs opens the reports: stdout, or each --out file (and the
// text summary on stdout). With expiring (--expiring), each CSV file gets
// its companion FILE.expiring.csv.
func openScanOutputs(outs []string, format string, formatSet, expiring bool, stdout io.Writer) ([]*scanOutput, error) {
	if len(outs) == 0 {
		f, err := report.ParseFormat(format)
		if err != nil {
			return nil, fmt.Errorf("--format: %v", err)
		}
		if f == report.CSV && expiring {
			return nil, errors.New("--expiring with csv needs --out FILE.csv: the findings go to FILE.csv, the expiring credentials to FILE.expiring.csv")
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
		if f != report.CSV || !expiring {
			continue
		}
		companion := expiringCSVName(name)
		if slices.Contains(outs, companion) {
			return fail(fmt.Errorf("--out %s: with --expiring, %s holds the expiring credentials of %s", companion, companion, name))
		}
		file, err = os.Create(companion)
		if err != nil {
			return fail(fmt.Errorf("--out: %w", err))
		}
		buf = bufio.NewWriterSize(file, 64<<10)
		res = append(res, &scanOutput{name: companion, file: file, buf: buf, w: report.NewExpiringCSVWriter(buf)})
	}
	w, _ := report.NewWriter(report.Text, stdout, report.Options{SummaryOnly: true})
	return append(res, &scanOutput{w: w}), nil
}

// expiringCSVName is the file of the expiring credentials that goes with
// the findings' CSV file name: scan.csv → scan.expiring.csv.
func expiringCSVName(name string) string {
	base := name
	if ext := filepath.Ext(name); strings.EqualFold(ext, ".csv") {
		base = strings.TrimSuffix(name, ext)
	}
	return base + ".expiring.csv"
}

func runScan(ctx context.Context, o scanOptions, formatSet bool, stdin io.Reader, stdout, stderr io.Writer) int {
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "appwarden scan: "+format+"\n", a...)
		return 2
	}
	tenantFile, policyFile, format, outs, enforce, yes, parallel, quiet := o.tenant, o.policy, o.format, *o.outs, &o.enforce.enforce, &o.enforce.yes, o.parallel, o.quiet
	if *yes && !*enforce {
		return usageErr("--yes goes with --enforce")
	}
	if *parallel < 1 || *parallel > 64 {
		return usageErr("--parallel: want 1 to 64")
	}
	if _, err := report.ParseFormat(*format); err != nil {
		return usageErr("--format: %v", err)
	}
	var window time.Duration
	if o.expiring != nil && (*o.expiring != "" || o.expiringSet) {
		var err error
		if window, err = expiry.ParseWindow(*o.expiring); err != nil {
			return usageErr("--expiring: %v", err)
		}
		if f, _ := report.ParseFormat(*format); len(outs) == 0 && f == report.CSV {
			return usageErr("--expiring with csv needs --out FILE.csv: the findings go to FILE.csv, the expiring credentials to FILE.expiring.csv")
		}
	}
	cfg, err := config.FromEnv()
	if err != nil {
		fmt.Fprintf(stderr, "appwarden scan: invalid configuration:\n%v\n", err)
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

	var (
		writes *countingWriter
		rem    *remediate.Remediator
		tr     *trail.Trail
	)
	if *enforce {
		st, volatile, err := target.stateStore(ctx, cfg)
		if err != nil {
			return usageErr("%v", err)
		}
		what := fmt.Sprintf("appwarden scan --enforce CHANGES %s: the actions of every decision in enforce mode are applied (at most %d per rolling hour, APPWARDEN_MAX_ACTIONS_PER_HOUR).",
			target.source, cfg.MaxActionsPerHour)
		if volatile {
			what += "\nWARNING: no state store is configured (AzureWebJobsStorage), so the undo records are lost when scan ends and appwarden release cannot undo these actions."
		}
		if !*yes && !confirm(ctx, stdin, stderr, what) {
			return 2
		}
		writes = &countingWriter{next: target.client}
		rem = &remediate.Remediator{Graph: writes, Store: st, Guard: cfg.Guard(), MaxPerHour: cfg.MaxActionsPerHour, Owner: setup.InstanceName()}
		tr = trail.New(st)
	}
	sc := newScanner(target.client, pol, cfg.Guard(), rem, tr)
	sc.parallel = *parallel
	sc.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	outputs, err := openScanOutputs(outs, *format, formatSet, window > 0, stdout)
	if err != nil {
		return usageErr("%v", err)
	}

	runKind := "dry run"
	if *enforce {
		runKind = "enforce"
	}
	meta := report.Meta{Source: target.source, TenantID: target.tenantID, Policy: polName, PolicyVersion: pol.Version(), Run: runKind, Started: time.Now().UTC()}
	tally := report.NewTally(meta)
	var expiring *report.ExpiryList // only the expiring rows are kept, not the apps
	if window > 0 {
		asOf := meta.Started.Truncate(time.Second)
		expiring = report.NewExpiryList(window, asOf, appwarden.ThresholdLabel(window))
		sc.listExpiring(window, asOf)
	}
	var prog *report.Progress
	if !*quiet {
		prog = report.NewProgress(stderr, report.IsTerminal(stderr), target.objects)
	}
	sc.progress = prog
	judged := 0
	scanErr := sc.run(ctx, func(a report.App) error {
		tally.Add(a)
		expiring.Add(a.Expiring...)
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
	sum.Expiry = expiring.Expiry()
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
			fmt.Fprintf(stderr, "appwarden scan: %s: %v\n", orStdout(o.name), err)
			failed = true
		}
	}
	if writes != nil {
		fmt.Fprintf(stderr, "%d writes sent to Graph\n", writes.n.Load())
	}
	switch {
	case scanErr != nil:
		fmt.Fprintf(stderr, "appwarden scan: %v\n", scanErr)
		return 2
	case failed:
		return 2
	case sum.Errors > 0:
		fmt.Fprintf(stderr, "appwarden scan: %d apps could not be judged (see the report)\n", sum.Errors)
		return 2
	case o.failOn.on && sum.AtLeast(o.failOn.sev) > 0:
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

// scanner judges every app of a tenant through the pipeline: each object of
// the delta feeds becomes a signal for pipeline.HandleApp, which resolves
// it, evaluates the policy and acts (with --enforce the remediator; in a dry
// run planActor, which only records what it would do); scanRecorder, the
// pipeline's decision recorder, turns each outcome into the app's report
// entry.
type scanner struct {
	graph    *graph.Client
	pipeline *pipeline.Pipeline
	parallel int
	log      *slog.Logger
	progress *report.Progress
	recorder *scanRecorder
}

// listExpiring makes each app's report entry carry its credentials that
// expire within window of now, or have expired (scan --expiring).
func (s *scanner) listExpiring(window time.Duration, now time.Time) {
	s.recorder.expiring, s.recorder.now = window, now
}

// newScanner wires the pipeline scan runs. With rem (--enforce) it acts
// and records each decision in tr; without, it plans.
func newScanner(c *graph.Client, pol *awpolicy.Policy, guard appwarden.Guard, rem *remediate.Remediator, tr *trail.Trail) *scanner {
	var actor pipeline.Actor = planActor{}
	if rem != nil {
		actor = rem
	}
	rec := &scanRecorder{trail: tr}
	return &scanner{graph: c, recorder: rec, pipeline: &pipeline.Pipeline{
		Resolver:  c,
		Policy:    setup.Evaluator{Policy: pol, Mode: appwarden.ModeEnforce, Guard: guard},
		Actor:     actor,
		Decisions: rec,
	}}
}

// pendingApp is an app being judged: the pipeline's stages fill it (they
// find it in the context), and done delivers its report entry.
type pendingApp struct {
	planned  []report.Action // planActor's
	recorded bool            // scanRecorder has set res
	res      report.App
	done     chan report.App
}

type pendingKey struct{}

func pendingOf(ctx context.Context) *pendingApp {
	p, _ := ctx.Value(pendingKey{}).(*pendingApp)
	return p
}

// run streams both delta feeds from their start and judges each app, up to
// s.parallel at once; emit sees the results one at a time in feed order.
// Only a window of 2×parallel apps is in flight, and of the apps seen only
// their appIds are kept (to judge a service principal once, with its
// application). An error of emit cancels the scan; an error of the feeds
// ends the listing, and the apps already read are still judged and
// emitted before run returns it.
func (s *scanner) run(parent context.Context, emit func(report.App) error) error {
	g, ctx := errgroup.WithContext(parent)
	var judges errgroup.Group // judges return no error: theirs go into the report
	judges.SetLimit(s.parallel)
	defer judges.Wait()
	queue := make(chan *pendingApp, 2*s.parallel)
	var feedErr error
	g.Go(func() error {
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
					if err := ctx.Err(); err != nil {
						return err
					}
					p := &pendingApp{done: make(chan report.App, 1)}
					judges.Go(func() error {
						p.done <- s.judge(ctx, p, o)
						return nil
					})
					select {
					case queue <- p:
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				return nil
			})
			if err != nil {
				feedErr = err // read after g.Wait
				return nil
			}
		}
		return nil
	})
	g.Go(func() error {
		for p := range queue {
			if err := emit(<-p.done); err != nil {
				return err
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	if feedErr != nil {
		return feedErr
	}
	return parent.Err()
}

// judge takes one object through the pipeline and returns its report entry.
func (s *scanner) judge(ctx context.Context, p *pendingApp, o graph.DeltaObject) report.App {
	typ := appwarden.ObjectApplication
	if o.Feed == graph.FeedServicePrincipals {
		typ = appwarden.ObjectServicePrincipal
	}
	sig := appwarden.Signal{Kind: appwarden.AppUpdated, AppID: o.AppID, ObjectID: o.ID, ObjectType: typ, DisplayName: o.DisplayName,
		Source: appwarden.SourceCLI, Activity: "appwarden scan"}
	err := s.pipeline.HandleApp(context.WithValue(ctx, pendingKey{}, p), s.log, sig)
	// The pipeline wraps its stages' errors ("resolving …", "acting on …");
	// the report gives the stage's own.
	cause := err
	if u := errors.Unwrap(err); u != nil {
		cause = u
	}
	switch {
	case !p.recorded && err == nil:
		res := sigEntry(sig)
		res.Error = "the pipeline recorded no decision"
		return res
	case !p.recorded:
		res := sigEntry(sig)
		res.Error = cause.Error()
		return res
	case err != nil:
		p.res.Error = "acting: " + cause.Error()
	}
	return p.res
}

// sigEntry is the report entry of an app known only by its signal.
func sigEntry(sig appwarden.Signal) report.App {
	kind := report.KindApplication
	if sig.ObjectType == appwarden.ObjectServicePrincipal {
		kind = report.KindServicePrincipal
	}
	return report.App{AppID: sig.AppID, DisplayName: sig.DisplayName, Kind: kind, Severity: "none"}
}

// planActor is scan's actor in a dry run: it records, in the app's
// pendingApp, what AppWarden would do with the decision, and does nothing.
type planActor struct{}

func (planActor) Act(ctx context.Context, _ *slog.Logger, app *appwarden.App, d appwarden.Decision) (appwarden.Outcome, error) {
	if p := pendingOf(ctx); p != nil {
		p.planned = plannedActions(app, d)
	}
	return appwarden.Outcome{Mode: appwarden.ModeAudit}, nil
}

// scanRecorder is scan's pipeline.DecisionRecorder: it builds each app's
// report entry from what the pipeline found, decided and did, and with
// --enforce (trail set) records the decision in the trail as the handler
// does. A failure to record is the app's error in the report, not the
// pipeline's: an acting error, which the pipeline returns after recording,
// then still reaches the report.
type scanRecorder struct {
	trail *trail.Trail
	// With scan --expiring: the window, and the scan's start it counts from.
	expiring time.Duration
	now      time.Time
}

func (r *scanRecorder) RecordDecision(ctx context.Context, log *slog.Logger, sig appwarden.Signal, app *appwarden.App, d *appwarden.Decision, o *appwarden.Outcome) error {
	p := pendingOf(ctx)
	if p == nil {
		return errors.New("scan: a decision recorded outside scan")
	}
	p.recorded = true
	if d == nil {
		// Unresolvable or deleted: reported, not judged.
		p.res = sigEntry(sig)
		if app.Unresolvable != "" {
			p.res.Error = app.Unresolvable
		} else {
			p.res.Deleted = app.Deleted
		}
		return nil
	}
	p.res = appResult(app, *d)
	if r.expiring > 0 {
		p.res.Expiring = expiringRows(app, r.now, r.expiring)
	}
	if r.trail == nil {
		p.res.Actions = p.planned
		return nil
	}
	p.res.Actions = outcomeActions(*d, *o)
	sig.Time = app.ResolvedAt
	sig.Activity = "appwarden scan --enforce"
	sig.DedupeKey = "scan:" + sig.ObjectID + ":" + app.ResolvedAt.Format(time.RFC3339Nano)
	if err := r.trail.RecordDecision(ctx, log, sig, app, d, o); err != nil {
		p.res.Error = "recording the decision: " + err.Error()
	}
	return nil
}

// expiringRows are the app's credentials that expire within window of now,
// or have expired, as the report lists them (expiry.Within judges).
func expiringRows(app *appwarden.App, now time.Time, window time.Duration) []report.ExpiringCredential {
	due := expiry.Within(app, now, window)
	if len(due) == 0 {
		return nil
	}
	out := make([]report.ExpiringCredential, 0, len(due))
	for _, e := range due {
		out = append(out, report.ExpiringCredential{AppID: e.AppID, DisplayName: e.DisplayName, Name: e.Credential.DisplayName,
			KeyID: e.Credential.KeyID, Type: e.Kind, On: e.On, ObjectID: e.ObjectID, End: e.Credential.EndDateTime.UTC(),
			DaysLeft: expiry.DaysLeft(e.Credential.EndDateTime, now), Expired: e.Expired})
	}
	return out
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
