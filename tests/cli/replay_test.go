package cli

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/appwarden/appwarden/handler/fakegraph"
)

// fixtureSignals are the signals each fixture decodes to, and the app each
// signal's results are about (a sweep judges the apps created within the
// lookback: Payroll Sync; service principals are baselined on a first
// sweep).
var fixtureSignals = map[string][][2]string{
	"eventgrid/aad-register-action.cloudevent.json":                            {{"ProviderRegistered", payrollAppID}},
	"eventgrid/aad-register-action.eventgrid.json":                             {{"ProviderRegistered", payrollAppID}},
	"eventgrid/audit-add-application.cloudevent.json":                          {{"AppCreated", payrollAppID}},
	"eventhub/auditlogs-batch.json":                                            {{"AppCreated", payrollAppID}, {"ServicePrincipalCreated", payrollAppID}, {"ServicePrincipalCreated", miAppID}, {"CredentialAdded", payrollAppID}, {"ConsentGranted", payrollAppID}},
	"eventhub/directoryaudit-add-application.json":                             {{"AppCreated", payrollAppID}},
	"eventhub/directoryaudit-add-service-principal-managed-identity.json":      {{"ServicePrincipalCreated", miAppID}},
	"eventhub/directoryaudit-add-service-principal.json":                       {{"ServicePrincipalCreated", payrollAppID}},
	"eventhub/directoryaudit-consent-to-application.json":                      {{"ConsentGranted", payrollAppID}},
	"eventhub/directoryaudit-update-application-certificates-and-secrets.json": {{"CredentialAdded", payrollAppID}},
	"functions-host/plain-eventgrid-object.json":                               {{"ProviderRegistered", payrollAppID}},
	"functions-host/plain-eventgrid-string.json":                               {{"ProviderRegistered", payrollAppID}},
	"functions-host/invocation-eventhub-many.json":                             {{"AppCreated", payrollAppID}, {"ServicePrincipalCreated", payrollAppID}},
	"functions-host/invocation-eventgrid.json":                                 {{"ProviderRegistered", payrollAppID}},
	"functions-host/plain-eventhub-array.json":                                 {{"AppCreated", payrollAppID}, {"ServicePrincipalCreated", payrollAppID}},
	"functions-host/invocation-timer.json":                                     {{"SweepRequested", payrollAppID}},
}

// replayDoc is replay's JSON output.
type replayDoc struct {
	Function    string `json:"function"`
	Run         string `json:"run"`
	GraphWrites int    `json:"graphWrites"`
	Poison      []string
	Signals     []struct {
		Signal struct {
			Kind  string `json:"kind"`
			AppID string `json:"appId"`
		} `json:"signal"`
		Error   string `json:"error"`
		Results []struct {
			App struct {
				AppID string `json:"appId"`
			} `json:"app"`
			Decision struct {
				Mode      string `json:"mode"`
				Protected string `json:"protected"`
				Findings  []struct {
					RuleID   string `json:"ruleId"`
					Severity string `json:"severity"`
				} `json:"findings"`
			} `json:"decision"`
			Actions []struct {
				Kind   string `json:"kind"`
				Target string `json:"target"`
				Status string `json:"status"`
			} `json:"actions"`
		} `json:"results"`
	} `json:"signals"`
}

// TestReplayFixtures replays every fixture in tests/testdata (the Functions
// host envelopes, the Event Hub audit records and the Event Grid events):
//
//   - against a snapshot holding the fixtures' apps (--tenant): the text
//     names each signal, the decision and the actions it would take;
//   - against a Graph stand-in, as the live tenant, through the managed
//     identity (JSON output): the same decisions, and the stand-in records
//     zero writes.
//
// Then --enforce on one of them makes exactly the one write the decision
// asks for, which shows the zero above is not for want of trying.
func TestReplayFixtures(t *testing.T) {
	snap := writeFile(t, "fixtures.json", fixtureTenant().Save)
	live := fixtureTenant()
	srv, err := fakegraph.Start(live)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	// The fixtures about the fixture tenant's apps (real-records/ are about
	// another tenant's, and are replayed by the handler's own tests).
	var files []string
	for _, dir := range []string{"eventgrid", "eventhub", "functions-host"} {
		fs, _ := filepath.Glob(filepath.Join(repoRoot, "tests/testdata", dir, "*.json"))
		files = append(files, fs...)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimPrefix(filepath.ToSlash(f), filepath.ToSlash(repoRoot)+"/tests/testdata/"))
	}
	slices.Sort(names)
	for name := range fixtureSignals {
		if !slices.Contains(names, name) {
			t.Errorf("fixture %s is gone", name)
		}
	}
	for _, name := range names {
		want, ok := fixtureSignals[name]
		if !ok {
			t.Errorf("fixture %s: the test does not know what it holds", name)
			continue
		}
		path := filepath.Join(repoRoot, "tests/testdata", name)
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			// Against the snapshot, in text.
			r := run(t, nil, "", "replay", path, "--tenant", snap)
			if r.code != 1 {
				t.Errorf("exit %d; want 1 (a critical finding)\n%s%s", r.code, r.stdout, r.stderr)
			}
			checkReplayText(t, r.stdout, want)

			// Against the "live" stand-in, in JSON.
			before := len(srv.Calls())
			r = run(t, graphEnv(srv), "", "replay", path, "--format", "json")
			if r.code != 1 {
				t.Errorf("live: exit %d\n%s", r.code, r.stderr)
			}
			var doc replayDoc
			if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
				t.Fatalf("%v\n%s", err, r.stdout)
			}
			checkReplayJSON(t, doc, want)
			if w := srv.Writes(); len(w) != 0 || doc.GraphWrites != 0 {
				t.Errorf("a dry run wrote to Graph: %+v", w)
			}
			if rej := srv.Rejected(); len(rej) != 0 {
				t.Errorf("rejected calls: %+v", rej)
			}
			if len(srv.Calls()) == before {
				t.Error("the live replay never called Graph")
			}
		})
	}

	t.Run("enforce", func(t *testing.T) {
		path := filepath.Join(repoRoot, "tests/testdata/eventhub/directoryaudit-add-application.json")
		r := run(t, graphEnv(srv), "", "replay", path, "--enforce")
		if r.code != 2 || !strings.Contains(r.stderr, "Type yes to continue") || len(srv.Writes()) != 0 {
			t.Fatalf("--enforce without yes: exit %d, %d writes\n%s", r.code, len(srv.Writes()), r.stderr)
		}
		r = run(t, graphEnv(srv), "yes\n", "replay", path, "--enforce", "--format", "json")
		var doc replayDoc
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
			t.Fatalf("exit %d: %v\n%s", r.code, err, r.stderr)
		}
		w := srv.Writes()
		if r.code != 1 || doc.GraphWrites != 1 || len(w) != 1 || w[0].Method != "PATCH" || !strings.HasSuffix(w[0].Path, "/servicePrincipals/"+payrollSPID) {
			t.Errorf("exit %d, %d writes reported, %+v", r.code, doc.GraphWrites, w)
		}
		if st, _ := live.AppState(payrollAppID); st.AccountEnabled {
			t.Error("Payroll Sync's service principal is still enabled")
		}
		if a := doc.Signals[0].Results[0].Actions[0]; a.Kind != "disableServicePrincipal" || a.Status != "done" {
			t.Errorf("action = %+v", a)
		}
	})
}

func checkReplayText(t *testing.T, out string, want [][2]string) {
	t.Helper()
	for i, s := range want {
		if !strings.Contains(out, "\nSignal "+strconv.Itoa(i+1)+": "+s[0]) {
			t.Errorf("no line for signal %d, %s", i+1, s[0])
		}
	}
	var lines []string
	apps := map[string]bool{}
	for _, s := range want {
		apps[s[1]] = true
	}
	if apps[payrollAppID] {
		lines = append(lines,
			"  app        Payroll Sync ("+payrollAppID+")",
			"  decision   enforce: Payroll Sync ("+payrollAppID+"): critical, requests or holds a critical application permission (RoleManagement.ReadWrite.Directory). AppWarden disables its service principal and notifies.",
			"  finding    critical  critical-app-permission        RoleManagement.ReadWrite.Directory (9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8)",
			"  action     disableServicePrincipal on "+payrollSPID+": would do (dry run: --enforce applies it)",
		)
	}
	if apps[miAppID] {
		lines = append(lines,
			"  app        func-payroll-prod ("+miAppID+")",
			"  protected  managed identity: never acted on",
			"  finding    critical  critical-app-permission        Directory.ReadWrite.All (19dbc75e-c2e2-444c-a770-ec69d8559fc7)",
			"  action     none: not acted (protected: managed identity)",
		)
	}
	lines = append(lines, "  run        dry run: nothing is written (--enforce applies the actions)", "writes sent to Graph: 0")
	for _, l := range lines {
		if !strings.Contains(out, l+"\n") {
			t.Errorf("the output lacks the line %q\n%s", l, out)
		}
	}
}

func checkReplayJSON(t *testing.T, doc replayDoc, want [][2]string) {
	t.Helper()
	if doc.Run != "dry run" || len(doc.Poison) != 0 || len(doc.Signals) != len(want) {
		t.Fatalf("replay = %+v; want %d signals", doc, len(want))
	}
	for i, s := range doc.Signals {
		if s.Signal.Kind != want[i][0] || s.Error != "" || len(s.Results) != 1 || s.Results[0].App.AppID != want[i][1] {
			t.Errorf("signal %d: %+v; want %s about %s", i+1, s, want[i][0], want[i][1])
			continue
		}
		r := s.Results[0]
		if len(r.Decision.Findings) == 0 || r.Decision.Findings[0].RuleID != "critical-app-permission" || r.Decision.Findings[0].Severity != "critical" {
			t.Errorf("signal %d: findings %+v", i+1, r.Decision.Findings)
		}
		switch want[i][1] {
		case payrollAppID:
			if r.Decision.Mode != "enforce" || len(r.Actions) != 2 || r.Actions[0].Kind != "disableServicePrincipal" ||
				r.Actions[0].Target != payrollSPID || r.Actions[0].Status != "would do" || r.Actions[1].Kind != "notify" {
				t.Errorf("signal %d: Payroll Sync %+v %+v", i+1, r.Decision, r.Actions)
			}
		case miAppID:
			if r.Decision.Mode != "audit" || r.Decision.Protected != "managed identity" || len(r.Actions) != 2 || r.Actions[0].Status != "not acted" {
				t.Errorf("signal %d: func-payroll-prod %+v %+v", i+1, r.Decision, r.Actions)
			}
		}
	}
}
