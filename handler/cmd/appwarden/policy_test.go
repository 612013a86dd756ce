package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/policy"
)

const payrollAppID = "5bee10b5-db93-4475-ae1a-3d87e059d287"

// cleanApp is an app the built-in policy has nothing to say about (the
// policy package's fixture of the same name).
func cleanApp() *appwarden.App {
	const graphAppID = "00000003-0000-0000-c000-000000000000"
	return &appwarden.App{
		AppID:       payrollAppID,
		DisplayName: "Payroll Sync",
		Application: &appwarden.Application{
			ID: "a0847fad-c428-4478-bd58-d4ad0d9f48be", AppID: payrollAppID, DisplayName: "Payroll Sync", SignInAudience: "AzureADMyOrg",
			RedirectURIs: []appwarden.RedirectURI{{Kind: appwarden.RedirectWeb, URI: "https://payroll.contoso.example/signin-oidc"}},
		},
		ServicePrincipals: []appwarden.ServicePrincipal{{
			ID: "8c907101-5831-45a1-b703-8a59f190e639", AppID: payrollAppID, DisplayName: "Payroll Sync",
			AccountEnabled: true, AppOwnerOrganizationID: "0b3c7d2e-6a4f-4c1d-9e8b-2f5a6c7d8e9f", ServicePrincipalType: "Application",
		}},
		Owners:  []appwarden.Principal{{ID: "3f2e1d0c-0000-4000-8000-000000000001", UPN: "dev.one@contoso.example", Type: "user"}},
		Creator: appwarden.Initiator{UPN: "dev.one@contoso.example"},
		Permissions: []appwarden.Permission{{ResourceAppID: graphAppID, ResourceName: "Microsoft Graph", ID: "e1fe6dd8-ba31-4d61-89e7-88639da4683d",
			Name: "User.Read", Type: appwarden.PermissionDelegated, Privilege: 2, Requested: true, Granted: true}},
		ResolvedAt: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC),
	}
}

// payrollSync is cleanApp with a critical application permission.
func payrollSync() *appwarden.App {
	a := cleanApp()
	a.Permissions = append(a.Permissions, appwarden.Permission{ResourceAppID: "00000003-0000-0000-c000-000000000000", ResourceName: "Microsoft Graph",
		ID: "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8", Name: "RoleManagement.ReadWrite.Directory", Type: appwarden.PermissionApplication,
		Privilege: 4, Requested: true, Granted: true})
	return a
}

// writeJSON writes v as JSON to a new file in dir.
func writeJSON(t *testing.T, dir, name string, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPolicyCheckAndDefaults(t *testing.T) {
	if code, out, _ := runCLI("policy", "check", defaultArg); code != 0 || out != "@default: ok, 14 rules\n" {
		t.Fatalf("check @default: %d %q", code, out)
	}
	code, out, _ := runCLI("policy", "defaults")
	if code != 0 || out != string(policy.DefaultYAML()) {
		t.Fatalf("defaults: %d, output differs from the built-in policy", code)
	}
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runCLI("policy", "check", path); code != 0 || out != path+": ok, 14 rules\n" {
		t.Fatalf("check of printed defaults: %d %q", code, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte(strings.Replace(out, "kind: Policy", "kind: Policy\nextra: 1", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI("policy", "check", bad); code != 2 || out != "" || !strings.Contains(errOut, bad+":") || !strings.Contains(errOut, "extra: unknown field") {
		t.Fatalf("check bad: %d stdout %q stderr %q", code, out, errOut)
	}
}

func TestPolicyTest(t *testing.T) {
	dir := t.TempDir()
	appFile := writeJSON(t, dir, "app.json", payrollSync())
	decode := func(out string) appwarden.Decision {
		t.Helper()
		var d appwarden.Decision
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatalf("output is not a decision: %v\n%s", err, out)
		}
		return d
	}
	// Flags may come before or after FILE.
	code, out, errOut := runCLI("policy", "test", "--mode", "enforce", defaultArg, "--app", appFile, "--now", "2026-06-01T12:00:00Z")
	if code != 0 {
		t.Fatalf("test: %d %s", code, errOut)
	}
	if d := decode(out); d.Mode != appwarden.ModeEnforce || len(d.Findings) == 0 ||
		!slices.Equal(d.Actions, []appwarden.ActionKind{appwarden.ActionDisableServicePrincipal, appwarden.ActionNotify}) {
		t.Fatalf("decision %+v", d)
	}
	// Default mode is audit; --self-app-id and --break-glass protect.
	code, out, _ = runCLI("policy", "test", defaultArg, "--app", appFile, "--self-app-id", payrollAppID)
	if d := decode(out); code != 0 || d.Mode != appwarden.ModeAudit || d.Protected != "AppWarden's own app" {
		t.Fatalf("protected: %d %+v", code, d)
	}
	code, out, _ = runCLI("policy", "test", defaultArg, "--app", appFile, "--break-glass", "x, "+payrollAppID)
	if d := decode(out); code != 0 || d.Protected != "on the break-glass list" {
		t.Fatalf("break-glass: %d %+v", code, d)
	}
	// --fail-on (default none) turns findings into exit status 1.
	if code, _, _ := runCLI("policy", "test", defaultArg, "--app", appFile, "--fail-on", "critical"); code != 1 {
		t.Fatalf("--fail-on critical: exit %d, want 1", code)
	}
	if code, _, _ := runCLI("policy", "test", defaultArg, "--app", writeJSON(t, dir, "clean.json", cleanApp()), "--fail-on", "info"); code != 0 {
		t.Fatalf("--fail-on on a clean app: exit %d, want 0", code)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"appIdd": "x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no --app", []string{"test", defaultArg}, `required flag(s) "app" not set`},
		{"empty --app", []string{"test", defaultArg, "--app", ""}, "test needs --app APP.json"},
		{"bad mode", []string{"test", defaultArg, "--app", appFile, "--mode", "on"}, `--mode: unknown mode "on"`},
		{"bad now", []string{"test", defaultArg, "--app", appFile, "--now", "tomorrow"}, "--now: want an RFC 3339 time"},
		{"bad fail-on", []string{"test", defaultArg, "--app", appFile, "--fail-on", "severe"}, `invalid argument "severe" for "--fail-on"`},
		{"unknown flag", []string{"test", defaultArg, "--ap", appFile}, "unknown flag: --ap"},
		{"misspelt app field", []string{"test", defaultArg, "--app", bad}, `unknown field "appIdd"`},
		{"missing policy", []string{"test", filepath.Join(dir, "nope.yaml"), "--app", appFile}, "no such file"},
		{"no FILE", []string{"check"}, "want exactly one FILE"},
		{"unknown command", []string{"lint"}, `unknown command "lint"`},
		{"no command", nil, "missing command"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runCLI(append([]string{"policy"}, c.args...)...)
			if code != 2 || out != "" || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d stdout %q stderr %q, want 2 and %q", code, out, errOut, c.want)
			}
		})
	}
}
