package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/demo"
	"github.com/appwarden/appwarden/handler/report"
)

// demoSnapshot saves the demo tenant as a snapshot file.
func demoSnapshot(t *testing.T) string {
	t.Helper()
	tenant, _ := demo.Build(time.Now().UTC())
	path := filepath.Join(t.TempDir(), "demo.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := tenant.Save(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// cliEnv clears the settings a developer's shell may hold, so the commands
// see only what a test sets.
func cliEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "AZURE_CLIENT_ID", "APPWARDEN_GRAPH_ENDPOINT", "APPWARDEN_POLICY_FILE",
		"APPWARDEN_BREAK_GLASS_APP_IDS", "AzureWebJobsStorage", "AzureWebJobsStorage__accountName", "APPWARDEN_SWEEP_JUDGE_ALL", "APPWARDEN_SWEEP_LOOKBACK",
		"APPWARDEN_ACT_ON_MICROSOFT_APPS", "APPWARDEN_ACT_ON_MANAGED_IDENTITIES"} {
		t.Setenv(k, "")
	}
}

// stdin is what runCLI gives the command as its standard input.
var stdin io.Reader = os.Stdin

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(context.Background(), args, stdin, &o, &e)
	return code, o.String(), e.String()
}

// TestCLIHelp checks every new command's --help: on stdout, exit 0, with
// the exit codes, the permissions and examples.
func TestCLIHelp(t *testing.T) {
	for _, args := range [][]string{{"scan", "--help"}, {"replay", "-h"}, {"snapshot", "export", "--help"}, {"help", "snapshot", "export"}} {
		code, out, errOut := runCLI(args...)
		if code != 0 || errOut != "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
		for _, want := range []string{"Exit codes: 0", "2 usage or runtime error", "Examples:\n  appwarden ", "Application.Read.All", "Directory.Read.All"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: help lacks %q", args, want)
			}
		}
	}
	if _, out, _ := runCLI("--help"); !strings.Contains(out, "\n  scan ") || !strings.Contains(out, "\n  snapshot ") {
		t.Errorf("appwarden --help does not list the commands:\n%s", out)
	}
}

func TestCLIUsageErrors(t *testing.T) {
	cliEnv(t)
	for _, args := range [][]string{
		{"scan", "--format", "xml"},
		{"scan", "--yes"},
		{"scan", "extra"},
		{"scan", "--fail-on", "severe"},
		{"scan", "--no-such-flag"},
		{"scan", "--out", "report", "--tenant", "x.json"},
		{"scan", "--format", "json", "--out", "a.json", "--out", "b.csv"},
		{"scan", "--tenant", filepath.Join(t.TempDir(), "missing.json")},
		{"replay"},
		{"replay", "a.json", "b.json"},
		{"replay", "--format", "csv", "a.json"},
		{"snapshot"},
		{"snapshot", "import"},
		{"snapshot", "export", "extra"},
	} {
		if code, _, errOut := runCLI(args...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q; want 2 and a message", args, code, errOut)
		}
	}
}

// scanDoc is the JSON report.
type scanDoc struct {
	Summary report.Summary `json:"summary"`
	Apps    []report.App   `json:"apps"`
}

func TestScanSnapshotDryRun(t *testing.T) {
	cliEnv(t)
	t.Setenv("AZURE_CLIENT_ID", demo.SelfAppID)
	snap := demoSnapshot(t)
	code, out, errOut := runCLI("scan", "--tenant", snap, "--format", "json")
	if code != 1 {
		t.Fatalf("exit %d (want 1: critical findings)\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "scanned 13 apps (23 objects read)") {
		t.Errorf("no plain progress on a non-terminal stderr: %q", errOut)
	}
	var doc scanDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	s := doc.Summary
	if s.Apps != 13 || s.Applications != 10 || s.ServicePrincipals != 3 || s.Protected != 4 || s.Errors != 0 || s.Run != "dry run" {
		t.Errorf("summary = %+v", s)
	}
	byID := map[string]report.App{}
	for _, a := range doc.Apps {
		byID[a.AppID] = a
	}
	payroll := byID["5bee10b5-db93-4475-ae1a-3d87e059d287"]
	if payroll.Severity != "critical" || payroll.Mode != "enforce" || len(payroll.Actions) != 2 ||
		payroll.Actions[0] != (report.Action{Kind: "disableServicePrincipal", Target: "8c907101-5831-45a1-b703-8a59f190e639", Status: report.WouldDo, Note: "service principal disabled in this tenant: no new tokens"}) {
		t.Errorf("Payroll Sync = %+v", payroll)
	}
	self := byID[demo.SelfAppID]
	if self.Protected != "AppWarden's own app" || len(self.Actions) != 1 || self.Actions[0].Kind != "notify" {
		t.Errorf("AppWarden's own app = %+v", self)
	}
	if mail := byID["c1c1c1c1-1111-4111-8111-00000000c1c1"]; mail.Mode != "audit" || mail.Findings[0].RuleID != "high-privilege-delegated" {
		t.Errorf("Mail Digest = %+v", mail)
	}
	// --fail-on critical still fails; none never does.
	if code, _, _ := runCLI("scan", "--tenant", snap, "--quiet", "--fail-on", "none"); code != 0 {
		t.Errorf("--fail-on none: exit %d", code)
	}
}

func TestScanEnforceAsksFirst(t *testing.T) {
	cliEnv(t)
	snap := demoSnapshot(t)
	defer func(r func()) { r() }(func() { stdin = os.Stdin })

	stdin = strings.NewReader("no\n")
	code, out, errOut := runCLI("scan", "--tenant", snap, "--enforce", "--quiet")
	if code != 2 || out != "" || !strings.Contains(errOut, "Type yes to continue") || !strings.Contains(errOut, "nothing was changed") {
		t.Errorf("not confirmed: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}

	stdin = strings.NewReader("yes\n")
	code, out, errOut = runCLI("scan", "--tenant", snap, "--enforce", "--quiet", "--format", "json")
	if code != 1 || !strings.Contains(errOut, "3 writes sent to Graph") {
		t.Fatalf("confirmed: exit %d\n%s", code, errOut)
	}
	var doc scanDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	done := 0
	for _, a := range doc.Apps {
		for _, act := range a.Actions {
			if act.Status == report.Done {
				done++
			}
		}
	}
	// Payroll Sync, Backup Agent and (no AZURE_CLIENT_ID here) AppWarden's
	// own app have their service principals disabled: one write each.
	if doc.Summary.Run != "enforce" || done != 3 {
		t.Errorf("run %q, %d actions done; want enforce and 3", doc.Summary.Run, done)
	}
}
