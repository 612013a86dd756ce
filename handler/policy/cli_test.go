package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/appwarden/appwarden/handler/appwarden"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = RunCommand(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCLICheck(t *testing.T) {
	code, out, _ := run(t, "check", DefaultArg)
	if code != 0 || out != "@default: ok, 7 rules\n" {
		t.Fatalf("check @default: %d %q", code, out)
	}
	good := writeFile(t, "policy.yaml", threeRules)
	if code, out, _ := run(t, "check", good); code != 0 || out != good+": ok, 3 rules\n" {
		t.Fatalf("check good: %d %q", code, out)
	}
	bad := writeFile(t, "policy.yaml", withLine14("    condition: size(ap.owners) == 0\n")+"extra: 1\n")
	code, out, errOut := run(t, "check", bad)
	want := bad + ":14 rules[2].condition: undeclared reference to 'ap'\n" +
		bad + ":15 extra: unknown field (want one of allowlist, apiVersion, description, durations, exceptions, kind, lists, notifyMinSeverity, rules)\n"
	if code != 2 || out != "" || errOut != want {
		t.Fatalf("check bad: %d stdout %q stderr\n%s\nwant\n%s", code, out, errOut, want)
	}
	if code, _, errOut := run(t, "check"); code != 2 || !strings.Contains(errOut, "exactly one FILE") {
		t.Fatalf("check without FILE: %d %q", code, errOut)
	}
}

func TestCLIDefaults(t *testing.T) {
	code, out, _ := run(t, "defaults")
	if code != 0 || out != string(DefaultYAML()) {
		t.Fatalf("defaults: %d, output differs from the built-in policy", code)
	}
	// What it prints is a policy that checks, so users can start from it.
	path := writeFile(t, "policy.yaml", out)
	if code, out, _ := run(t, "check", path); code != 0 || !strings.HasSuffix(out, ": ok, 7 rules\n") {
		t.Fatalf("check of printed defaults: %d %q", code, out)
	}
}

func TestCLITest(t *testing.T) {
	b, err := json.Marshal(payrollWithRoleManagement())
	if err != nil {
		t.Fatal(err)
	}
	appFile := writeFile(t, "app.json", string(b))

	decode := func(out string) appwarden.Decision {
		t.Helper()
		var d appwarden.Decision
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatalf("output is not a decision: %v\n%s", err, out)
		}
		return d
	}
	// Flags may come before or after FILE.
	code, out, errOut := run(t, "test", "--mode", "enforce", DefaultArg, "--app", appFile, "--now", "2026-06-01T12:00:00Z")
	if code != 0 {
		t.Fatalf("test: %d %s", code, errOut)
	}
	d := decode(out)
	if d.Mode != appwarden.ModeEnforce || findingFor(d, "critical-app-permission") == nil ||
		!slices.Equal(d.Actions, []appwarden.ActionKind{appwarden.ActionDisableServicePrincipal, appwarden.ActionNotify}) {
		t.Fatalf("decision %+v", d)
	}
	if !strings.Contains(out, "\n  \"findings\": [") {
		t.Fatalf("output is not indented JSON:\n%s", out)
	}
	// Default mode is audit; --self-app-id protects.
	code, out, _ = run(t, "test", DefaultArg, "--app", appFile, "--self-app-id", payrollAppID)
	if d := decode(out); code != 0 || d.Mode != appwarden.ModeAudit || d.Protected != "AppWarden's own app" {
		t.Fatalf("protected: %d %+v", code, d)
	}
	code, out, _ = run(t, "test", DefaultArg, "--app", appFile, "--break-glass", "x, "+payrollAppID)
	if d := decode(out); code != 0 || d.Protected != "on the break-glass list" {
		t.Fatalf("break-glass: %d %+v", code, d)
	}
	// --fail-on turns findings into exit status 1.
	if code, _, _ := run(t, "test", DefaultArg, "--app", appFile, "--fail-on", "critical"); code != 1 {
		t.Fatalf("--fail-on critical: exit %d, want 1", code)
	}
	clean, _ := json.Marshal(cleanApp())
	if code, _, _ := run(t, "test", DefaultArg, "--app", writeFile(t, "clean.json", string(clean)), "--fail-on", "info"); code != 0 {
		t.Fatalf("--fail-on on a clean app: exit %d, want 0", code)
	}

	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no --app", []string{"test", DefaultArg}, "test needs --app APP.json"},
		{"bad mode", []string{"test", DefaultArg, "--app", appFile, "--mode", "on"}, `--mode: unknown mode "on"`},
		{"bad now", []string{"test", DefaultArg, "--app", appFile, "--now", "tomorrow"}, "--now: want an RFC 3339 time"},
		{"unknown flag", []string{"test", DefaultArg, "--ap", appFile}, "flag provided but not defined: -ap"},
		{"misspelt app field", []string{"test", DefaultArg, "--app", writeFile(t, "bad.json", `{"appIdd": "x"}`)}, `unknown field "appIdd"`},
		{"missing policy", []string{"test", filepath.Join(t.TempDir(), "nope.yaml"), "--app", appFile}, "no such file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := run(t, c.args...)
			if code != 2 || out != "" || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d stdout %q stderr %q, want 2 and %q", code, out, errOut, c.want)
			}
		})
	}
}

func TestCLIUsage(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"test", "--help"}, {"check", "-h"}} {
		code, out, _ := run(t, args...)
		if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "handler policy test @default --app") {
			t.Fatalf("%v: exit %d, usage %q", args, code, out)
		}
	}
	if code, _, errOut := run(t); code != 2 || !strings.Contains(errOut, "Usage:") {
		t.Fatalf("no args: %d %q", code, errOut)
	}
	if code, _, errOut := run(t, "lint"); code != 2 || !strings.Contains(errOut, `unknown command "lint"`) {
		t.Fatalf("unknown command: %d %q", code, errOut)
	}
}
