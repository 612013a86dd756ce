package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/report"
	"github.com/appwarden/appwarden/handler/setup"
)

// TestReplayRecognisesEveryFixture decodes each fixture as replay does: the
// function that would receive it and the signals its decoder makes.
func TestReplayRecognisesEveryFixture(t *testing.T) {
	want := map[string]struct {
		fn      string
		signals []appwarden.SignalKind
	}{
		"eventgrid/aad-register-action.cloudevent.json":                            {setup.FnEventGrid, []appwarden.SignalKind{appwarden.ProviderRegistered}},
		"eventgrid/aad-register-action.eventgrid.json":                             {setup.FnEventGrid, []appwarden.SignalKind{appwarden.ProviderRegistered}},
		"eventgrid/audit-add-application.cloudevent.json":                          {setup.FnEventGrid, []appwarden.SignalKind{appwarden.AppCreated}},
		"eventhub/auditlogs-batch.json":                                            {setup.FnEventHub, []appwarden.SignalKind{appwarden.AppCreated, appwarden.ServicePrincipalCreated, appwarden.ServicePrincipalCreated, appwarden.CredentialAdded, appwarden.ConsentGranted}},
		"eventhub/directoryaudit-add-application.json":                             {setup.FnEventHub, []appwarden.SignalKind{appwarden.AppCreated}},
		"eventhub/directoryaudit-add-service-principal-managed-identity.json":      {setup.FnEventHub, []appwarden.SignalKind{appwarden.ServicePrincipalCreated}},
		"eventhub/directoryaudit-add-service-principal.json":                       {setup.FnEventHub, []appwarden.SignalKind{appwarden.ServicePrincipalCreated}},
		"eventhub/directoryaudit-consent-to-application.json":                      {setup.FnEventHub, []appwarden.SignalKind{appwarden.ConsentGranted}},
		"eventhub/directoryaudit-update-application-certificates-and-secrets.json": {setup.FnEventHub, []appwarden.SignalKind{appwarden.CredentialAdded}},
		"functions-host/plain-eventgrid-object.json":                               {setup.FnEventGrid, []appwarden.SignalKind{appwarden.ProviderRegistered}},
		"functions-host/plain-eventgrid-string.json":                               {setup.FnEventGrid, []appwarden.SignalKind{appwarden.ProviderRegistered}},
		"functions-host/invocation-eventhub-many.json":                             {setup.FnEventHub, []appwarden.SignalKind{appwarden.AppCreated, appwarden.ServicePrincipalCreated}},
		"functions-host/invocation-eventgrid.json":                                 {setup.FnEventGrid, []appwarden.SignalKind{appwarden.ProviderRegistered}},
		"functions-host/plain-eventhub-array.json":                                 {setup.FnEventHub, []appwarden.SignalKind{appwarden.AppCreated, appwarden.ServicePrincipalCreated}},
		"real-records/otrf-01-update-application-certs-and-secrets.la.json":        {setup.FnEventHub, []appwarden.SignalKind{appwarden.CredentialAdded}},
		"real-records/otrf-02-update-application.la.json":                          {setup.FnEventHub, []appwarden.SignalKind{appwarden.AppUpdated}},
		"real-records/otrf-03-add-delegated-permission-grant.la.json":              {setup.FnEventHub, []appwarden.SignalKind{appwarden.ConsentGranted}},
		"functions-host/invocation-timer.json":                                     {setup.FnTimer, []appwarden.SignalKind{appwarden.SweepRequested}},
	}
	files, _ := filepath.Glob("../../../tests/testdata/*/*.json")
	if len(files) != len(want) {
		t.Errorf("%d fixtures; the test knows %d", len(files), len(want))
	}
	for _, f := range files {
		name := strings.TrimPrefix(filepath.ToSlash(f), "../../../tests/testdata/")
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		in, err := decodeReplay(data, time.Now())
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		var kinds []appwarden.SignalKind
		for _, s := range in.Batch.Signals {
			kinds = append(kinds, s.Kind)
			if s.Time.IsZero() {
				t.Errorf("%s: a signal without a time", name)
			}
		}
		w := want[name]
		if in.Function != w.fn || len(in.Batch.Poison) != 0 || strings.Join(kindNames(kinds), ",") != strings.Join(kindNames(w.signals), ",") {
			t.Errorf("%s: %s %v poison %v; want %s %v", name, in.Function, kinds, in.Batch.Poison, w.fn, w.signals)
		}
	}
	for _, bad := range []string{`{"hello": 1}`, `[]`, `not json`, `{"Data": {"other": 1}}`} {
		if _, err := decodeReplay([]byte(bad), time.Now()); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
	if in, err := decodeReplay([]byte(`{"Data": {"event": {"id": 1}}}`), time.Now()); err != nil || len(in.Batch.Poison) != 1 {
		t.Errorf("a malformed event in an envelope: %v %+v; want poison", err, in)
	}
}

func kindNames(ks []appwarden.SignalKind) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = string(k)
	}
	return out
}

func TestReplayDryRunAgainstASnapshot(t *testing.T) {
	cliEnv(t)
	snap := demoSnapshot(t)
	code, out, errOut := runCLI("replay", "../../../tests/testdata/eventhub/auditlogs-batch.json", "--tenant", snap, "--format", "json")
	if code != 1 {
		t.Fatalf("exit %d; want 1 (a critical finding)\n%s", code, errOut)
	}
	var doc replayOutput
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.GraphWrites != 0 || len(doc.Signals) != 5 || doc.Function != setup.FnEventHub || doc.Run != "dry run" {
		t.Fatalf("replay = %+v", doc)
	}
	for _, s := range doc.Signals {
		if s.Error != "" || len(s.Results) != 1 {
			t.Fatalf("signal %s: %+v", s.Signal.Kind, s)
		}
		r := s.Results[0]
		switch r.App.AppID {
		case "5bee10b5-db93-4475-ae1a-3d87e059d287":
			if r.Decision.Mode != appwarden.ModeEnforce || r.Decision.Findings[0].RuleID != "critical-app-permission" ||
				r.Actions[0].Kind != "disableServicePrincipal" || r.Actions[0].Status != report.WouldDo || r.Outcome.Actions[0].DryRun != true {
				t.Errorf("Payroll Sync: %+v %+v", r.Decision, r.Actions)
			}
		case "0d7e3f6b-8a9c-4b1d-9e2f-3a4b5c6d7e8f":
			if r.Decision.Protected != "managed identity" || r.Decision.Mode != appwarden.ModeAudit || len(r.Outcome.Actions) != 0 {
				t.Errorf("func-payroll-prod: %+v %+v", r.Decision, r.Outcome)
			}
		default:
			t.Errorf("unexpected app %s", r.App.AppID)
		}
	}

	// The same in text, from stdin.
	f, err := os.Open("../../../tests/testdata/eventhub/directoryaudit-add-application.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	defer func(r func()) { r() }(func() { stdin = os.Stdin })
	stdin = f
	code, out, _ = runCLI("replay", "-", "--tenant", snap, "--fail-on", "none")
	for _, want := range []string{
		"input      directoryAudit record, as OnAuditLogBatch receives it",
		`1. AppCreated "Payroll Sync" appId 5bee10b5-db93-4475-ae1a-3d87e059d287`,
		"decision   enforce: Payroll Sync (5bee10b5-db93-4475-ae1a-3d87e059d287): critical",
		"finding    critical  critical-app-permission        RoleManagement.ReadWrite.Directory (9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8)",
		"action     disableServicePrincipal on 8c907101-5831-45a1-b703-8a59f190e639: would do (dry run: --enforce applies it)",
		"writes sent to Graph: 0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text replay lacks %q", want)
		}
	}
	if code != 0 {
		t.Errorf("--fail-on none: exit %d", code)
	}
}

func TestReplayPoisonExits2(t *testing.T) {
	cliEnv(t)
	path := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(path, []byte(`{"Data": {"event": {"id": "x", "eventType": "Microsoft.Resources.ResourceActionSuccess", "data": {"operationName": 42}}}}`), 0o644)
	code, out, _ := runCLI("replay", path)
	if code != 2 || !strings.Contains(out, "POISON: Data.event.data.operationName") {
		t.Errorf("exit %d\n%s", code, out)
	}
}
