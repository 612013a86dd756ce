package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/trail"
)

// history shows, on each decision, what the change it judged added and who
// made it; a new app's decision (everything counts as added) does not list
// everything again.
func TestHistoryShowsWhatEachChangeAdded(t *testing.T) {
	decision := func(ch *appwarden.Change) trail.Entry {
		data, err := json.Marshal(map[string]any{
			"app":      appwarden.App{AppID: "5bee10b5-db93-4475-ae1a-3d87e059d287", Change: ch},
			"decision": appwarden.Decision{Mode: appwarden.ModeEnforce, Explanation: "Payroll Sync: critical, a credential on a privileged app."},
		})
		if err != nil {
			t.Fatal(err)
		}
		return trail.Entry{Time: time.Now(), Kind: appwarden.KindDecision, Data: data}
	}
	got := summarize(decision(&appwarden.Change{Kind: appwarden.CredentialAdded, Initiator: appwarden.Initiator{UPN: "eve@contoso.example"},
		Added: []appwarden.Fact{{Kind: appwarden.FactCredential, ID: "7e7e7e7e-0000-4000-8000-000000000007", Name: "backup", State: appwarden.CredentialPassword}}}))
	for _, want := range []string{"mode=enforce", "added: credential 7e7e7e7e-0000-4000-8000-000000000007 (backup) password", "by eve@contoso.example"} {
		if !strings.Contains(got, want) {
			t.Errorf("history line %q lacks %q", got, want)
		}
	}
	if got := summarize(decision(&appwarden.Change{Kind: appwarden.AppUpdated})); !strings.Contains(got, "the change added nothing") {
		t.Errorf("a rename's line %q does not say the change added nothing", got)
	}
	if got := summarize(decision(&appwarden.Change{Kind: appwarden.AppCreated, New: true, Added: []appwarden.Fact{{Kind: appwarden.FactOwner, ID: "x"}}})); strings.Contains(got, "added:") {
		t.Errorf("a new app's line %q lists what it added", got)
	}
}
