package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/config"
	"github.com/appwarden/appwarden/handler/demo"
	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/functions"
	"github.com/appwarden/appwarden/handler/graph"
	"github.com/appwarden/appwarden/handler/pipeline"
	"github.com/appwarden/appwarden/handler/report"
	"github.com/appwarden/appwarden/handler/setup"
)

const demoLong = `Runs AppWarden's main job locally on its embedded defaults: a Graph stand-in
holding a demo tenant (an app for every built-in rule, benign apps, and apps
AppWarden must never touch), the real custom handler on 127.0.0.1 with
in-memory state and the built-in policy, and the sample events driven through
the real HTTP path, as the Functions host would. It prints what happened to
each app, writes every Teams card it would have sent (JSON, and PNG where
Chromium and the adaptivecards renderer are present), checks the result, and
exits non-zero if anything went wrong. No Azure account, no network; no
setting is read from the environment.`

func newDemoCmd() *cobra.Command {
	var out, mode string
	var png bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the main job locally on embedded defaults (no Azure, no network)",
		Long:  demoLong,
		Example: `  appwarden demo
  appwarden demo --mode audit --out /tmp/appwarden-demo`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := appwarden.ParseMode(mode)
			if err != nil {
				return fmt.Errorf("--mode: %v", err)
			}
			if err := demoRun(cmd.Context(), out, m, png, cmd.OutOrStdout()); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "appwarden demo: %v\n", err)
				return status(exitError)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&out, "out", "", "`DIR` for the cards and the handler's log (default: a new temporary folder)")
	fs.StringVar(&mode, "mode", "enforce", "`MODE`: enforce (act) or audit (change nothing)")
	fs.BoolVar(&png, "png", true, "render cards to PNG when Chromium and the adaptivecards renderer are present")
	return cmd
}

// teamsCapture is a local stand-in for the Teams Workflows webhooks: it
// keeps every message and writes its card to a file.
type teamsCapture struct {
	dir  string
	mu   sync.Mutex
	sent []sentCard
}

type sentCard struct {
	Channel, File, Body string
	Card                any
}

func (c *teamsCapture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var msg struct {
		Attachments []struct {
			Content any `json:"content"`
		} `json:"attachments"`
	}
	if json.Unmarshal(body, &msg) != nil || len(msg.Attachments) == 0 {
		http.Error(w, "not a Teams message", http.StatusBadRequest)
		return
	}
	channel := strings.Trim(r.URL.Path, "/")
	c.mu.Lock()
	n := len(c.sent) + 1
	file := filepath.Join(c.dir, fmt.Sprintf("card-%02d-%s.json", n, channel))
	pretty, _ := json.MarshalIndent(msg.Attachments[0].Content, "", "  ")
	err := os.WriteFile(file, pretty, 0o644)
	c.sent = append(c.sent, sentCard{Channel: channel, File: file, Body: string(body), Card: msg.Attachments[0].Content})
	c.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (c *teamsCapture) cards() []sentCard {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]sentCard{}, c.sent...)
}

func listen() (net.Listener, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	return ln, "http://" + ln.Addr().String(), nil
}

func demoRun(ctx context.Context, outDir string, mode appwarden.Mode, wantPNG bool, stdout io.Writer) error {
	if outDir == "" {
		d, err := os.MkdirTemp("", "appwarden-demo-")
		if err != nil {
			return err
		}
		outDir = d
	} else if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	now := time.Now().UTC()
	tenant, apps := demo.Build(now)
	graphSrv, err := fakegraph.Start(tenant)
	if err != nil {
		return fmt.Errorf("starting the Graph stand-in: %w", err)
	}
	defer graphSrv.Close()

	teams := &teamsCapture{dir: outDir}
	teamsLn, teamsURL, err := listen()
	if err != nil {
		return err
	}
	teamsHS := &http.Server{Handler: teams, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = teamsHS.Serve(teamsLn) }()
	defer teamsHS.Close()

	// The handler authenticates to Graph with the managed identity, exactly
	// as in Azure; the stand-in serves the identity endpoint too.
	env := map[string]string{
		config.IdentityEndpoint:   graphSrv.TokenURL(),
		config.IdentityHeader:     graphSrv.IdentityHeader(),
		config.ClientID:           demo.SelfAppID,
		config.GraphEndpoint:      graphSrv.URL(),
		config.ModeSetting:        string(mode),
		config.TeamsWebhookURL:    teamsURL + "/owners",
		config.SecurityWebhookURL: teamsURL + "/security",
		config.NotifyMinSeverity:  "medium",
	}
	for k, v := range env {
		if k == config.IdentityEndpoint || k == config.IdentityHeader {
			os.Setenv(k, v) // azidentity reads these from the environment
		}
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		return fmt.Errorf("demo configuration: %w", err)
	}
	logFile, err := os.Create(filepath.Join(outDir, "handler.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	log := slog.New(slog.NewJSONHandler(logFile, nil))
	// The custom handler exactly as ./handler serves it.
	stg, err := setup.Wire(ctx, cfg, log, graph.ManagedIdentity)
	if err != nil {
		return err
	}
	srv := stg.Server(log)
	ln, handlerURL, err := listen()
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()

	fmt.Fprintf(stdout, "AppWarden demo: %s mode, built-in policy, in-memory state\n", mode)
	fmt.Fprintf(stdout, "  Graph stand-in   %s (tenant %s, %d apps)\n", graphSrv.URL(), demo.TenantID, len(apps))
	fmt.Fprintf(stdout, "  custom handler   %s (as the Functions host runs it)\n", handlerURL)
	fmt.Fprintf(stdout, "  output           %s\n\n", outDir)

	var problems []string
	fail := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }

	fmt.Fprintln(stdout, "Deliveries")
	client := &http.Client{Timeout: 60 * time.Second}
	for i, d := range demo.Deliveries(apps, now) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, handlerURL+"/"+d.Function, bytes.NewReader(d.Body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Azure-Functions-InvocationId", fmt.Sprintf("demo-%d", i+1))
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("POST /%s: %w", d.Function, err)
		}
		var reply functions.Response
		decodeErr := json.NewDecoder(resp.Body).Decode(&reply)
		resp.Body.Close()
		fmt.Fprintf(stdout, "  POST /%-17s %d  %5dms  %s (%d log lines)\n", d.Function, resp.StatusCode, time.Since(start).Milliseconds(), d.What, len(reply.Logs))
		switch {
		case resp.StatusCode != http.StatusOK:
			fail("POST /%s answered %d: %s", d.Function, resp.StatusCode, strings.Join(reply.Logs, " | "))
		case decodeErr != nil:
			fail("POST /%s answered 200 with no host response: %v", d.Function, decodeErr)
		}
	}

	cards := teams.cards()
	if wantPNG {
		if r, ok := demo.FindRenderer(mustWd()); ok {
			for i, c := range cards {
				png := strings.TrimSuffix(c.File, ".json") + ".png"
				if err := r.PNG(ctx, c.Card, png); err != nil {
					fail("rendering %s: %v", c.File, err)
					continue
				}
				cards[i].File += " + .png"
			}
		} else {
			fmt.Fprintln(stdout, "\n  (no PNGs: Chromium or tests/node_modules/adaptivecards not found; the cards are JSON)")
		}
	}

	writes := map[string]int{}
	for _, w := range graphSrv.Writes() {
		writes[w.Path]++
	}
	count := map[demo.Expect]int{}
	fmt.Fprintln(stdout, "\nApps")
	for _, a := range apps {
		count[a.Expect]++
		fmt.Fprintf(stdout, "\n  %s (%s): %s\n", a.Name, a.AppID, a.Story)
		dec, out, err := lastDecision(ctx, stg.Store, a.AppID)
		if err != nil {
			fail("%s: %v", a.Name, err)
			continue
		}
		if dec == nil {
			fail("%s: no decision recorded", a.Name)
			continue
		}
		fmt.Fprintf(stdout, "    decision   %s\n", dec.Explanation)
		for _, f := range dec.Findings {
			fmt.Fprintf(stdout, "    finding    %-29s %-8s %s\n", f.RuleID, f.Severity, report.EvidenceText(f.Evidence))
		}
		if out != nil {
			for _, act := range out.Actions {
				verb := "done"
				if act.DryRun {
					verb = "would do (audit)"
				}
				fmt.Fprintf(stdout, "    action     %s on %s: %s\n", act.Kind, act.Target, verb)
			}
			if out.Skipped != "" {
				fmt.Fprintf(stdout, "    not acted  %s\n", out.Skipped)
			}
		}
		for _, c := range cards {
			if strings.Contains(c.Body, a.AppID) {
				fmt.Fprintf(stdout, "    card       %s channel: %s\n", c.Channel, c.File)
			}
		}
		if msg := checkApp(a, dec, out, graphSrv, writes, mode); msg != "" {
			fail("%s: %s", a.Name, msg)
			fmt.Fprintf(stdout, "    CHECK      FAILED: %s\n", msg)
		} else {
			fmt.Fprintf(stdout, "    check      %s, as expected\n", expectWord(a.Expect, mode))
		}
	}

	poison, err := stg.Trail.History(ctx, "_poison")
	if err != nil || len(poison) != 1 {
		fail("want exactly 1 poison record, got %d (%v)", len(poison), err)
	}
	total := 0
	for _, n := range writes {
		total += n
	}
	fmt.Fprintf(stdout, "\nSummary: %d apps (%d contained, %d notified, %d untouched, %d protected); %d Graph writes; %d cards; %d poison input recorded\n",
		len(apps), count[demo.Contained], count[demo.Notified], count[demo.Untouched], count[demo.Protected], total, len(cards), len(poison))
	fmt.Fprintf(stdout, "Handler log: %s\n", filepath.Join(outDir, "handler.log"))
	if len(problems) > 0 {
		return fmt.Errorf("%d checks failed:\n  %s", len(problems), strings.Join(problems, "\n  "))
	}
	fmt.Fprintln(stdout, "All checks passed.")
	return nil
}

func mustWd() string {
	wd, _ := os.Getwd()
	if exe, err := os.Executable(); err == nil && wd == "" {
		return filepath.Dir(exe)
	}
	return wd
}

func expectWord(e demo.Expect, mode appwarden.Mode) string {
	if e == demo.Contained && mode != appwarden.ModeEnforce {
		return "would be contained (audit: nothing changed)"
	}
	return e.String()
}

// lastDecision reads the decision that mattered for an app: the latest
// that found something new (a later signal about the same change, such as
// the app's "Add service principal" record after its "Add application",
// finds only posture), else the latest.
func lastDecision(ctx context.Context, st appwarden.Store, appID string) (*appwarden.Decision, *appwarden.Outcome, error) {
	recs, err := st.List(ctx, strings.ToLower(appID))
	if err != nil {
		return nil, nil, err
	}
	var dec *appwarden.Decision
	var out *appwarden.Outcome
	var latest time.Time
	news := false
	for _, r := range recs {
		if r.Kind != appwarden.KindDecision || r.Time.Before(latest) {
			continue
		}
		var v struct {
			Decision *appwarden.Decision `json:"decision"`
			Outcome  *appwarden.Outcome  `json:"outcome"`
		}
		if err := json.Unmarshal(r.Data, &v); err != nil {
			return nil, nil, err
		}
		if v.Outcome != nil && v.Outcome.Skipped == pipeline.SkippedCovered {
			continue // a later announcement of a change already judged
		}
		isNews := v.Decision != nil && slices.ContainsFunc(v.Decision.Findings, func(f appwarden.Finding) bool { return !f.Baseline })
		if news && !isNews {
			continue
		}
		dec, out, latest, news = v.Decision, v.Outcome, r.Time, isNews
	}
	return dec, out, nil
}

var severityAtLeastMedium = regexp.MustCompile(`^(medium|high|critical)$`)

// checkApp compares what happened to an app with what must happen.
func checkApp(a demo.App, d *appwarden.Decision, out *appwarden.Outcome, g *fakegraph.Server, writes map[string]int, mode appwarden.Mode) string {
	state, ok := g.Tenant().AppState(a.AppID)
	if !ok {
		return "missing from the tenant"
	}
	spWrites := writes["/v1.0/servicePrincipals/"+a.SPID] + writes["/servicePrincipals/"+a.SPID]
	hasRule := func() bool {
		for _, f := range d.Findings {
			if f.RuleID == a.Rule {
				return true
			}
		}
		return false
	}
	anyWrite := 0
	for p, n := range writes {
		if strings.Contains(p, a.SPID) || (a.ObjectID != "" && strings.Contains(p, a.ObjectID)) {
			anyWrite += n
		}
	}
	switch a.Expect {
	case demo.Contained:
		if !hasRule() {
			return "no " + a.Rule + " finding"
		}
		if mode != appwarden.ModeEnforce {
			if anyWrite != 0 || !state.AccountEnabled {
				return "audit mode changed the tenant"
			}
			return ""
		}
		if state.AccountEnabled {
			return "service principal still enabled"
		}
		if spWrites != 1 {
			return fmt.Sprintf("%d writes to the service principal; want exactly 1", spWrites)
		}
	case demo.Notified:
		if !hasRule() {
			return "no " + a.Rule + " finding"
		}
		if anyWrite != 0 || !state.AccountEnabled {
			return "changed, but it should only have been reported"
		}
	case demo.Untouched:
		for _, f := range d.Findings {
			if severityAtLeastMedium.MatchString(f.Severity.String()) {
				return "a benign app got finding " + f.RuleID
			}
		}
		if anyWrite != 0 || !state.AccountEnabled {
			return "a benign app was changed"
		}
	case demo.Protected:
		if d.Protected == "" {
			return "not marked protected"
		}
		if anyWrite != 0 || (state.ServicePrincipalID != "" && !state.AccountEnabled) {
			return "a protected app was changed"
		}
		if out != nil && len(out.Actions) > 0 {
			return "actions recorded for a protected app"
		}
	}
	return ""
}
