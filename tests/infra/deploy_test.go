package infra

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeAz is a stand-in for the Azure CLI: it logs each call (arguments
// separated by |) and answers the few queries deploy.sh makes. Parameter
// files passed as @file are copied so the test can see what they held.
const fakeAz = `#!/usr/bin/env bash
set -u
[ -f "$AZ_LOG" ] || : > "$AZ_LOG"
n=$(( $(wc -l < "$AZ_LOG") + 1 ))
line=""
for a in "$@"; do
  line="$line|$a"
  case "$a" in @*) [ -f "${a#@}" ] && cp "${a#@}" "$AZ_DIR/params-$n.json" ;; esac
done
echo "${line#|}" >> "$AZ_LOG"
args=" $* "
case "$args" in
  *" deployment group show "*)
    case "$args" in
      *outputs.functionAppName.value*) echo func-test ;;
      *outputs.functionIdentityPrincipalId.value*) echo 11111111-2222-3333-4444-555555555555 ;;
      *outputs.systemTopicName.value*) echo egst-test ;;
      *outputs.systemTopicResourceGroup.value*) echo rg-shared ;;
      *outputs.customTopicName.value*) echo ;;
      *outputs.storageAccountName.value*) echo sttest ;;
      *outputs.deadLetterContainerName.value*) echo eventgrid-deadletter ;;
      *outputs.eventGridIdentityId.value*) echo /subscriptions/s/resourceGroups/rg-test/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-eg ;;
      *outputs.keyVaultName.value*) echo kv-test ;;
      *outputs.diagnosticsAuthorizationRuleId.value*) echo /subscriptions/s/resourceGroups/rg-test/providers/Microsoft.EventHub/namespaces/ns/authorizationRules/entra ;;
      *outputs.auditEventHubName.value*) echo entra-auditlogs ;;
      *outputs.auditLogMode.value*) echo "${FAKE_AUDIT_LOG_MODE:-streamAndPull}" ;;
      *) echo "fake az: unknown output query: $*" >&2; exit 1 ;;
    esac ;;
  *" group exists "*) echo false ;;
  *" group show "*) echo westeurope ;;
  *" resource show "*) exit 3 ;;
  *eventsubscriptions.bicep*)
    if [ ! -f "$AZ_DIR/events-failed-once" ]; then touch "$AZ_DIR/events-failed-once"; echo "fake az: endpoint validation failed" >&2; exit 1; fi ;;
esac
exit 0
`

// TestDeployScript runs infra/deploy.sh against a fake az and checks the
// phases run in order with the right files and outputs, and that the
// webhook URL travels only in a private parameters file.
func TestDeployScript(t *testing.T) {
	root := repoRoot(t)
	if _, err := exec.LookPath("bash"); err != nil {
		needTool(t, "bash is not installed")
	}
	script := filepath.Join(root, "infra", "deploy.sh")
	if st, err := os.Stat(script); err != nil {
		t.Fatal(err)
	} else if st.Mode().Perm()&0o111 == 0 {
		t.Errorf("infra/deploy.sh is not executable (mode %v)", st.Mode().Perm())
	}
	if out, err := run(t, root, nil, "bash", "-n", script); err != nil {
		t.Fatalf("bash -n infra/deploy.sh: %v\n%s", err, out)
	}

	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "az"), []byte(fakeAz), 0o755); err != nil {
		t.Fatal(err)
	}
	zipPath := filepath.Join(dir, "appwarden.zip")
	if err := os.WriteFile(zipPath, []byte("PK\x05\x06"+strings.Repeat("\x00", 18)), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "az.log")
	// A fake webhook URL, assembled here so no such URL sits in the repository.
	fakeURL := "https://prod-00.westeurope.logic.azure.com/workflows/test/triggers/manual/paths/invoke?" + "sig=" + "not-a-real-signature-0123456789"
	env := []string{
		"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"AZ_LOG=" + logPath,
		"AZ_DIR=" + dir,
		"APPWARDEN_TEAMS_WEBHOOK_URL=" + fakeURL,
		"APPWARDEN_SECURITY_WEBHOOK_URL=",
		"APPWARDEN_RETRY_SECONDS=0",
		"APPWARDEN_RESOURCE_GROUP=",
		"APPWARDEN_PHASES=",
	}

	t.Run("usage errors", func(t *testing.T) {
		for _, args := range [][]string{{}, {"-g", "rg", "--phases", "infra,nope"}, {"-g", "rg", "--bogus"}, {"-g", "rg", "--existing-system-topic-group", "rg-shared"},
			{"-g", "rg", "--audit-log-mode", "stream"}, {"-g", "rg", "--audit-log-mode", "pull", "--phases", "infra,diagnostics"}} {
			out, err := run(t, root, env, script, args...)
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
				t.Errorf("deploy.sh %v: want exit 2, got %v\n%s", args, err, out)
			}
		}
		out, err := run(t, root, env, script, "--help")
		if err != nil || !strings.Contains(out, "--phases") || !strings.Contains(out, "APPWARDEN_TEAMS_WEBHOOK_URL") {
			t.Errorf("deploy.sh --help: %v\n%s", err, out)
		}
	})

	out, err := run(t, root, env, script,
		"-g", "rg-test", "-l", "westeurope", "--package", zipPath, "--skip-build",
		"--phases", "infra,code,events,graph,diagnostics", "--all-register-actions", "--enable-mail",
		"--existing-system-topic", "egst-shared", "--existing-system-topic-group", "rg-shared", "--audit-log-mode", "streamAndPull")
	if err != nil {
		t.Fatalf("deploy.sh: %v\n%s", err, out)
	}
	t.Logf("deploy.sh output:\n%s", out)
	for _, p := range []string{"phase 1/3", "phase 2/3", "phase 3/3", "Graph app roles", "Entra diagnostic setting"} {
		if !strings.Contains(out, p) {
			t.Errorf("deploy.sh did not print %q", p)
		}
	}

	logText := readFile(t, logPath)
	if strings.Contains(logText, "sig=") || strings.Contains(out, "sig=") {
		t.Error("the webhook URL appeared on an az command line or in the output")
	}
	var calls []string
	for _, l := range strings.Split(strings.TrimSpace(logText), "\n") {
		if !strings.HasPrefix(l, "deployment|group|show") {
			calls = append(calls, l)
		}
	}
	// Each step, in order, with what it must carry.
	steps := []struct {
		prefix string
		needs  []string
	}{
		{"group|exists", []string{"rg-test"}},
		{"group|create", []string{"rg-test", "westeurope"}},
		{"deployment|group|create", []string{"infra/main.bicep", "appwarden-infra", "createSystemTopic=false", "existingSystemTopicName=egst-shared", "existingSystemTopicResourceGroup=rg-shared", "auditLogMode=streamAndPull"}},
		{"functionapp|deployment|source|config-zip", []string{"func-test", "--src|" + zipPath}},
		{"deployment|group|create", []string{"infra/eventsubscriptions.bicep", "functionAppName=func-test", "systemTopicName=egst-test", "systemTopicResourceGroup=rg-shared", "storageAccountName=sttest", "matchAllRegisterActions=true", "eventGridIdentityId=/subscriptions/"}},
		{"deployment|group|create", []string{"infra/eventsubscriptions.bicep"}}, // the retry after the injected failure
		{"deployment|group|create", []string{"infra/graph-permissions.bicep", "principalId=11111111-2222-3333-4444-555555555555", "enableMail=true", "graphAccess=readWrite"}},
		{"deployment|tenant|create", []string{"infra/tenant/diagnostic-setting.bicep", "eventHubAuthorizationRuleId=/subscriptions/", "eventHubName=entra-auditlogs"}},
	}
	i := 0
	for _, c := range calls {
		if strings.HasPrefix(c, "resource|show") {
			continue // the probe for existing webhook secrets
		}
		if i >= len(steps) {
			t.Errorf("unexpected az call after the last step: %s", c)
			continue
		}
		s := steps[i]
		if !strings.HasPrefix(c, s.prefix) {
			t.Fatalf("az call %d = %s, want %s...\nall calls:\n%s", i+1, c, s.prefix, strings.Join(calls, "\n"))
		}
		for _, n := range s.needs {
			if !strings.Contains(c, n) {
				t.Errorf("az call %s lacks %q", c, n)
			}
		}
		i++
	}
	if i != len(steps) {
		t.Fatalf("only %d of %d steps ran:\n%s", i, len(steps), strings.Join(calls, "\n"))
	}

	// The secret reached az only through a parameters file, now deleted.
	params, _ := filepath.Glob(filepath.Join(dir, "params-*.json"))
	sawSecret := false
	for _, p := range params {
		if strings.Contains(readFile(t, p), fakeURL) {
			sawSecret = true
		}
	}
	if !sawSecret {
		t.Error("the webhook URL did not reach the infra deployment's parameters file")
	}
	for _, c := range calls {
		for _, a := range strings.Split(c, "|") {
			if strings.HasPrefix(a, "@") && strings.Contains(a, "secrets.parameters.json") {
				if _, err := os.Stat(strings.TrimPrefix(a, "@")); err == nil {
					t.Errorf("the secrets parameters file %s was left behind", a)
				}
			}
		}
	}
}

// TestDeployScriptPullMode: in pull mode the infra phase passes
// auditLogMode=pull, the script never runs the diagnostics phase (there is
// no hub to stream to) and does not list it as left to do, even for an
// installation deployed in pull mode earlier.
func TestDeployScriptPullMode(t *testing.T) {
	root := repoRoot(t)
	if _, err := exec.LookPath("bash"); err != nil {
		needTool(t, "bash is not installed")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "az"), []byte(fakeAz), 0o755); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "az.log")
	env := []string{
		"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"AZ_LOG=" + logPath, "AZ_DIR=" + dir, "FAKE_AUDIT_LOG_MODE=pull",
		"APPWARDEN_TEAMS_WEBHOOK_URL=", "APPWARDEN_SECURITY_WEBHOOK_URL=", "APPWARDEN_RETRY_SECONDS=0",
		"APPWARDEN_RESOURCE_GROUP=", "APPWARDEN_PHASES=", "APPWARDEN_AUDIT_LOG_MODE=",
	}
	script := filepath.Join(root, "infra", "deploy.sh")
	out, err := run(t, root, env, script, "-g", "rg-test", "-l", "westeurope", "--phases", "infra", "--audit-log-mode", "pull")
	if err != nil {
		t.Fatalf("deploy.sh: %v\n%s", err, out)
	}
	logText := readFile(t, logPath)
	if !strings.Contains(logText, "infra/main.bicep") || !strings.Contains(logText, "auditLogMode=pull") {
		t.Errorf("the infra phase did not pass auditLogMode=pull:\n%s", logText)
	}
	if strings.Contains(out, "--phases diagnostics") {
		t.Errorf("pull mode lists the diagnostics phase as left to do:\n%s", out)
	}
	if !strings.Contains(out, "AuditLog.Read.All") {
		t.Errorf("the graph phase left to do does not say it grants AuditLog.Read.All:\n%s", out)
	}
	// An installation deployed in pull mode earlier: the diagnostics phase refuses.
	out, err = run(t, root, env, script, "-g", "rg-test", "--phases", "diagnostics")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(out, "pull mode") {
		t.Errorf("diagnostics on a pull-mode installation: %v\n%s", err, out)
	}
	if strings.Contains(readFile(t, logPath), "tenant|create") {
		t.Error("the diagnostic setting was deployed in pull mode")
	}
}
