package e2e

// Remediation end to end: the real handler binary, the Graph stand-in in
// this process, and Table Storage (Azurite) through AzureWebJobsStorage,
// shared by several handler processes and the operator CLI.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/tests/azurite"
	"github.com/appwarden/appwarden/tests/harness"
)

// storageEnv adds the shared state store to env.
func storageEnv(az *azurite.Server, env map[string]string) map[string]string {
	out := map[string]string{"AzureWebJobsStorage": az.ConnectionString()}
	for k, v := range env {
		out[k] = v
	}
	return out
}

// cli runs an operator command with the handler's settings (Graph stand-in
// g, plus env), as an operator with the app settings would.
func cli(t *testing.T, g *fakegraph.Server, env map[string]string, args ...string) (stdout string) {
	t.Helper()
	full := defaultEnv(t, g)
	delete(full, "FUNCTIONS_CUSTOMHANDLER_PORT")
	for k, v := range env {
		full[k] = v
	}
	code, stdout, stderr := runCLI(t, full, args...)
	if code != 0 {
		t.Fatalf("appwarden %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout
}

// historyEntry is one line of `appwarden history --json`.
type historyEntry struct {
	Time time.Time       `json:"time"`
	Kind string          `json:"kind"`
	Data json.RawMessage `json:"data"`
}

func historyJSON(t *testing.T, g *fakegraph.Server, env map[string]string, appID string) []historyEntry {
	t.Helper()
	out := cli(t, g, env, "history", "--app", appID, "--json")
	var entries []historyEntry
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var e historyEntry
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("history --json line: %v\n%s", err, out)
		}
		entries = append(entries, e)
	}
	return entries
}

func kinds(es []historyEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Kind
	}
	return out
}

// actionData is an action record's data as history prints it.
type actionData struct {
	Kind   string          `json:"kind"`
	Target string          `json:"target"`
	Before json.RawMessage `json:"before"`
	DryRun bool            `json:"dryRun"`
	Status string          `json:"status"`
}

func actionsIn(t *testing.T, es []historyEntry) []actionData {
	t.Helper()
	var out []actionData
	for _, e := range es {
		if e.Kind != "action" {
			continue
		}
		var a actionData
		if err := json.Unmarshal(e.Data, &a); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

// writePath is a write call's path below /v1.0.
func writePath(c fakegraph.Call) string {
	return c.Method + " " + strings.TrimPrefix(c.Path, "/v1.0")
}

func writePaths(cs []fakegraph.Call) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = writePath(c)
	}
	return out
}

func mustLogs(t *testing.T, r harness.Reply, what string) []string {
	t.Helper()
	logs := hostLogs(t, r)
	if r.Status != http.StatusOK {
		t.Errorf("%s: status %d, want 200; Logs %q", what, r.Status, logs)
	}
	return logs
}

// TestTwoProcessesActOnce starts two handler processes on the same state
// store and Graph, in enforce mode, and posts the same Event Hub envelope
// ("Payroll Sync", holding RoleManagement.ReadWrite.Directory) to both at
// once, several times: the service principal is disabled with exactly one
// PATCH, and every invocation succeeds. Each invocation decides to
// enforce, or, once another has contained the app and recorded its facts,
// finds the creation covered by that decision (or, racing that record, that the
// redelivered change added nothing).
func TestTwoProcessesActOnce(t *testing.T) {
	az := azurite.Start(t)
	g := startGraph(t, fixtureTenant())
	env := storageEnv(az, map[string]string{"APPWARDEN_MODE": "enforce"})
	procs := []*Proc{startHandlerWith(t, g, env), startHandlerWith(t, g, env)}
	body := testdata(t, "functions-host/invocation-eventhub-many.json")

	const rounds = 3
	enforced := 0
	for round := range rounds {
		var wg sync.WaitGroup
		resps := make([]harness.Reply, len(procs))
		errs := make([]error, len(procs))
		start := make(chan struct{})
		for i, p := range procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				resps[i], errs[i] = p.send(http.MethodPost, "/OnAuditLogBatch", body, fmt.Sprintf("e2e-twice-%d-%d", round, i))
			}()
		}
		close(start)
		wg.Wait()
		for i, r := range resps {
			if errs[i] != nil {
				t.Fatalf("round %d, process %d: %v\nstderr:\n%s", round, i, errs[i], procs[i].Stderr())
			}
			logs := mustLogs(t, r, fmt.Sprintf("round %d, process %d", round, i))
			switch {
			case logged(logs, "INFO decision recorded", "appId="+payrollAppID, "mode=enforce"):
				enforced++
			case logged(logs, "INFO decision recorded", "appId="+payrollAppID, "added nothing a rule judges", "actions= "),
				logged(logs, "a decision after this change already covers it; not resolved again", "appId="+payrollAppID):
			default:
				t.Errorf("round %d, process %d: neither an enforce decision nor one that found nothing added, in Logs %q", round, i, logs)
			}
		}
	}
	if enforced == 0 {
		t.Error("no invocation decided to enforce")
	}

	writes := g.Writes()
	if got, want := writePaths(writes), []string{"PATCH /servicePrincipals/" + payrollSPID}; !slices.Equal(got, want) {
		t.Errorf("writes %q, want exactly %q", got, want)
	} else if !bytes.Contains(writes[0].Body, []byte(`"accountEnabled":false`)) {
		t.Errorf("the PATCH body is %s, want accountEnabled false", writes[0].Body)
	}
	if st, _ := g.Tenant().AppState(payrollAppID); st.AccountEnabled {
		t.Error("the service principal is still enabled")
	}
	acts := actionsIn(t, historyJSON(t, g, env, payrollAppID))
	if len(acts) != 1 || acts[0].Status != "done" || acts[0].Target != payrollSPID || acts[0].DryRun {
		t.Errorf("action records %+v, want one done disableServicePrincipal on %s", acts, payrollSPID)
	}
}

// webhookSink is a Teams Workflows webhook stand-in that keeps what it gets.
type webhookSink struct {
	URL    string
	mu     sync.Mutex
	bodies []string
}

func startWebhook(t *testing.T) *webhookSink {
	t.Helper()
	s := &webhookSink{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(b))
		s.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL + "/workflows/security"
	return s
}

// count is how many posts contain every part.
func (s *webhookSink) count(parts ...string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, b := range s.bodies {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(b, p)
		}
		if all {
			n++
		}
	}
	return n
}

// TestBlastRadiusLimitInTheHandler sets APPWARDEN_MAX_ACTIONS_PER_HOUR=2
// and announces five risky apps: two are contained, three are recorded as
// audit-only with an ERROR line, the security channel gets one alert, and
// after `appwarden limit reset` enforcement resumes.
func TestBlastRadiusLimitInTheHandler(t *testing.T) {
	az := azurite.Start(t)
	tenant := fixtureTenant()
	var apps []fakegraph.IDs
	for i := range 5 {
		apps = append(apps, tenant.AddApp(fakegraph.AppSpec{
			DisplayName: fmt.Sprintf("Risky %d", i+1), Owners: []fakegraph.Owner{devOne},
			Requested: []fakegraph.Permission{fakegraph.GraphRole("RoleManagement.ReadWrite.Directory")},
			Granted:   []fakegraph.Permission{fakegraph.GraphRole("RoleManagement.ReadWrite.Directory")},
		}))
	}
	g := startGraph(t, tenant)
	hook := startWebhook(t)
	env := storageEnv(az, map[string]string{
		"APPWARDEN_MODE": "enforce", "APPWARDEN_MAX_ACTIONS_PER_HOUR": "2", "APPWARDEN_SECURITY_WEBHOOK_URL": hook.URL,
	})
	p := startHandlerWith(t, g, env)
	announce := func(i int, id string) []string {
		a := apps[i]
		body := eventHubEnvelope(t, addApplication(id, a.ApplicationID, a.AppID, fmt.Sprintf("Risky %d", i+1)))
		return mustLogs(t, p.mustInvoke(t, "OnAuditLogBatch", body, "e2e-"+id), fmt.Sprintf("app %d", i+1))
	}
	for i := range apps {
		logs := announce(i, fmt.Sprintf("Directory_limit_%d", i))
		switch {
		case i < 2:
			if !logged(logs, "WARN acted", "action=disableServicePrincipal") {
				t.Errorf("app %d: not acted on: %q", i+1, logs)
			}
		case i == 2:
			if !logged(logs, "ERROR", "blast-radius limit reached") || !logged(logs, "decision recorded", "appliedMode=audit", "blast-radius limit") {
				t.Errorf("app %d: Logs do not report the limit: %q", i+1, logs)
			}
		default:
			if !logged(logs, "ERROR", "blast-radius limit is tripped") || !logged(logs, "decision recorded", "appliedMode=audit") {
				t.Errorf("app %d: Logs do not report audit-only: %q", i+1, logs)
			}
		}
	}
	var want []string
	for i, a := range apps {
		st, _ := tenant.AppState(a.AppID)
		if contained := !st.AccountEnabled; contained != (i < 2) {
			t.Errorf("app %d: contained %v, want %v", i+1, contained, i < 2)
		}
		if i < 2 {
			want = append(want, "PATCH /servicePrincipals/"+a.ServicePrincipalID)
		}
	}
	if got := writePaths(g.Writes()); !slices.Equal(got, want) {
		t.Errorf("writes %q, want %q", got, want)
	}
	if n := hook.count("AppWarden alert", "blast-radius limit reached", "appwarden limit reset"); n != 1 {
		t.Errorf("%d alerts in the security channel, want 1", n)
	}
	for i := 2; i < 5; i++ {
		for _, a := range actionsIn(t, historyJSON(t, g, env, apps[i].AppID)) {
			if a.Status != "would-do" || !a.DryRun {
				t.Errorf("app %d: action %+v, want recorded as would-do", i+1, a)
			}
		}
	}

	out := cli(t, g, env, "limit", "reset", "--by", "x")
	if !strings.Contains(out, "blast-radius limit reset by x") {
		t.Errorf("limit reset printed %q", out)
	}
	logs := announce(2, "Directory_limit_again_2")
	if !logged(logs, "WARN acted", "action=disableServicePrincipal") {
		t.Errorf("after the reset the app was not acted on: %q", logs)
	}
	if st, _ := tenant.AppState(apps[2].AppID); st.AccountEnabled {
		t.Error("after the reset the app is still enabled")
	}
	if got := writePaths(g.Writes()); len(got) != 3 || got[2] != "PATCH /servicePrincipals/"+apps[2].ServicePrincipalID {
		t.Errorf("writes after the reset %q", got)
	}
	if out := cli(t, g, env, "limit", "reset", "--by", "x"); !strings.Contains(out, "was not tripped") {
		t.Errorf("a second reset printed %q", out)
	}
}

// hostilePolicy matches every app and asks for every action, enforced.
const hostilePolicy = `apiVersion: appwarden.io/v1
kind: Policy
description: Hostile - acts on everything
rules:
  - id: everything
    title: Everything is risky
    severity: critical
    condition: true
    actions: [markQuarantined, disableServicePrincipal, deactivateApplication, removePasswords, removeCriticalAppRoleAssignments, revokeOAuth2Grants, notify]
    mode: enforce
`

// TestHostilePolicyTouchesNoProtectedApp runs the handler in enforce mode
// with a policy that acts on every app, and announces AppWarden's own app,
// a Microsoft first-party app, a managed identity and a break-glass app:
// nothing is written to any of them. An ordinary app announced last is acted
// on, so the policy was in force.
func TestHostilePolicyTouchesNoProtectedApp(t *testing.T) {
	tenant := fixtureTenant()
	critical := []fakegraph.Permission{fakegraph.GraphRole("RoleManagement.ReadWrite.Directory")}
	breakGlass := tenant.AddApp(fakegraph.AppSpec{DisplayName: "Break glass", Owners: []fakegraph.Owner{devOne},
		Requested: critical, Granted: append(critical, fakegraph.GraphScope("User.Read")), Secrets: []fakegraph.Credential{{DisplayName: "vault"}}})
	firstParty := tenant.AddServicePrincipal(fakegraph.SPSpec{DisplayName: "Microsoft Intune",
		AppOwnerOrganizationID: fakegraph.MicrosoftServicesTenantID, Granted: critical})
	g := startGraph(t, tenant)
	file := filepath.Join(t.TempDir(), "hostile.yaml")
	if err := os.WriteFile(file, []byte(hostilePolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startHandlerWith(t, g, map[string]string{
		"APPWARDEN_MODE": "enforce", "APPWARDEN_POLICY_FILE": file,
		"APPWARDEN_BREAK_GLASS_APP_IDS": strings.ToUpper(breakGlass.AppID),
	})
	for _, tc := range []struct {
		name string
		rec  auditRecord
		why  string
	}{
		{"AppWarden's own app", addApplication("Directory_hostile_self", selfObjectID, selfAppID, "AppWarden"), "AppWarden's own app"},
		{"a Microsoft first-party app", addServicePrincipal("Directory_hostile_ms", firstParty.ServicePrincipalID, firstParty.AppID, "Microsoft Intune"), "Microsoft first-party app"},
		{"a managed identity", addServicePrincipal("Directory_hostile_mi", miSPID, miAppID, "func-payroll-prod"), "managed identity"},
		{"a break-glass app", addApplication("Directory_hostile_bg", breakGlass.ApplicationID, breakGlass.AppID, "Break glass"), "break-glass"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := mustLogs(t, p.mustInvoke(t, "OnAuditLogBatch", eventHubEnvelope(t, tc.rec), "e2e-"+tc.rec.ID), tc.name)
			if !logged(logs, "decision recorded", "appId="+tc.rec.AppID, "severity=critical", "protected=", tc.why, "appliedMode=audit") {
				t.Errorf("no protected decision in Logs %q", logs)
			}
			if ws := g.Writes(); len(ws) != 0 {
				t.Errorf("writes to a protected app: %q", writePaths(ws))
			}
		})
	}
	if ws := g.Writes(); len(ws) != 0 {
		t.Fatalf("writes to protected apps: %q", writePaths(ws))
	}

	logs := mustLogs(t, p.mustInvoke(t, "OnAuditLogBatch",
		eventHubEnvelope(t, addApplication("Directory_hostile_payroll", payrollObjectID, payrollAppID, "Payroll Sync")), "e2e-hostile-payroll"), "Payroll Sync")
	want := []string{
		"PATCH /applications/" + payrollObjectID, "PATCH /applications/" + payrollObjectID,
		"PATCH /servicePrincipals/" + payrollSPID,
	}
	got := writePaths(g.Writes())
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("the hostile policy on an ordinary app wrote %q, want %q; Logs %q", got, want, logs)
	}
}

// TestAuditModeMakesNoWrites: with APPWARDEN_MODE=audit the handler writes
// nothing to Graph, and records what it would have done.
func TestAuditModeMakesNoWrites(t *testing.T) {
	az := azurite.Start(t)
	g := startGraph(t, fixtureTenant())
	env := storageEnv(az, map[string]string{"APPWARDEN_MODE": "audit"})
	p := startHandlerWith(t, g, env)
	body := testdata(t, "functions-host/invocation-eventhub-many.json")
	logs := mustLogs(t, p.mustInvoke(t, "OnAuditLogBatch", body, "e2e-audit"), "audit mode")
	if !logged(logs, "would act (audit mode)", "action=disableServicePrincipal", "target="+payrollSPID, "dryRun=true") {
		t.Errorf("Logs do not say what would be done: %q", logs)
	}
	if ws := g.Writes(); len(ws) != 0 {
		t.Errorf("audit mode wrote to Graph: %q", writePaths(ws))
	}
	if st, _ := g.Tenant().AppState(payrollAppID); !st.AccountEnabled {
		t.Error("audit mode disabled the service principal")
	}
	acts := actionsIn(t, historyJSON(t, g, env, payrollAppID))
	if len(acts) != 1 {
		t.Fatalf("action records %+v, want one would-do", acts)
	}
	if a := acts[0]; a.Kind != "disableServicePrincipal" || a.Status != "would-do" || !a.DryRun || string(a.Before) != `{"accountEnabled":true}` {
		t.Errorf("action record %+v (before %s), want a would-do disableServicePrincipal with its before-state", a, a.Before)
	}
}

// TestHistoryTellsTheStory contains an app, releases it with the CLI, and
// reads `appwarden history` (text and --json): the signal, the action with
// its before-state, the decision and the release, in time order. The same
// findings announced again do not quarantine the released app.
func TestHistoryTellsTheStory(t *testing.T) {
	az := azurite.Start(t)
	g := startGraph(t, fixtureTenant())
	env := storageEnv(az, map[string]string{"APPWARDEN_MODE": "enforce"})
	p := startHandlerWith(t, g, env)
	body := eventHubEnvelope(t, addApplication("Directory_story_1", payrollObjectID, payrollAppID, "Payroll Sync"))
	mustLogs(t, p.mustInvoke(t, "OnAuditLogBatch", body, "e2e-story"), "the signal")
	if st, _ := g.Tenant().AppState(payrollAppID); st.AccountEnabled {
		t.Fatal("the app was not contained")
	}

	out := cli(t, g, env, "release", "--app", payrollAppID, "--reason", "approved by CAB-1234", "--by", "alice@contoso.example")
	for _, want := range []string{
		"restored: disableServicePrincipal on " + payrollSPID,
		"released " + payrollAppID + " by alice@contoso.example: approved by CAB-1234",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("release printed %q, want a line %q", out, want)
		}
	}
	if st, _ := g.Tenant().AppState(payrollAppID); !st.AccountEnabled {
		t.Error("the release did not re-enable the service principal")
	}

	entries := historyJSON(t, g, env, payrollAppID)
	if k := kinds(entries); len(k) != 4 || k[0] != "signal" || k[3] != "release" ||
		!slices.Contains(k, "decision") || !slices.Contains(k, "action") {
		t.Fatalf("history kinds %q, want the signal, the action and the decision, then the release", k)
	}
	for i := 1; i < len(entries); i++ {
		if entries[i].Time.Before(entries[i-1].Time) {
			t.Errorf("history is not in time order: %s before %s", entries[i-1].Time, entries[i].Time)
		}
	}
	var sig struct{ Kind, DedupeKey string }
	_ = json.Unmarshal(entries[0].Data, &sig)
	if sig.Kind != "AppCreated" || sig.DedupeKey != "audit:Directory_story_1" {
		t.Errorf("the signal is %s", entries[0].Data)
	}
	acts := actionsIn(t, entries)
	if a := acts[0]; a.Kind != "disableServicePrincipal" || a.Target != payrollSPID || string(a.Before) != `{"accountEnabled":true}` || a.Status != "released" {
		t.Errorf("action %+v (before %s), want the released disableServicePrincipal with before-state accountEnabled true", a, a.Before)
	}
	for _, e := range entries {
		if e.Kind == "decision" && (!bytes.Contains(e.Data, []byte(`"mode":"enforce"`)) || !bytes.Contains(e.Data, []byte(`"kind":"disableServicePrincipal"`))) {
			t.Errorf("the decision does not record the enforced action: %s", e.Data)
		}
	}
	var rel struct {
		By, Reason string
		Restored   []string
	}
	_ = json.Unmarshal(entries[3].Data, &rel)
	if rel.By != "alice@contoso.example" || rel.Reason != "approved by CAB-1234" || len(rel.Restored) != 1 {
		t.Errorf("the release record is %s", entries[3].Data)
	}

	text := strings.Split(strings.TrimRight(cli(t, g, env, "history", "--app", payrollAppID), "\n"), "\n")
	if len(text) != 4 {
		t.Fatalf("history printed %d lines, want 4:\n%s", len(text), strings.Join(text, "\n"))
	}
	checks := map[string][]string{
		"signal":   {"kind=AppCreated", "source=eventhub", "dedupeKey=audit:Directory_story_1"},
		"action":   {"kind=disableServicePrincipal", "target=" + payrollSPID, "status=released", `before={"accountEnabled":true}`},
		"decision": {"mode=enforce"},
		"release":  {"by=alice@contoso.example", "reason=approved by CAB-1234"},
	}
	for i, line := range text {
		f := strings.Fields(line)
		if len(f) < 2 || f[1] != entries[i].Kind {
			t.Errorf("line %d %q is not the %s", i+1, line, entries[i].Kind)
			continue
		}
		for _, part := range checks[f[1]] {
			if !strings.Contains(line, part) {
				t.Errorf("the %s line %q lacks %q", f[1], line, part)
			}
		}
	}

	// The same findings again: the released app is left alone.
	mark := g.Mark()
	logs := mustLogs(t, p.mustInvoke(t, "OnAuditLogBatch",
		eventHubEnvelope(t, addApplication("Directory_story_2", payrollObjectID, payrollAppID, "Payroll Sync")), "e2e-story-2"), "the second signal")
	if !logged(logs, "decision recorded", "appliedMode=audit", "released by alice@contoso.example") {
		t.Errorf("Logs do not say the app was released: %q", logs)
	}
	for _, c := range g.CallsSince(mark) {
		if c.IsWrite() {
			t.Errorf("the released app was written to again: %s", writePath(c))
		}
	}
}
