package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/config"
	"github.com/appwarden/appwarden/handler/functions/hostemu"
)

// TestUnresolvedKeyVaultReferenceTurnsOnlyItsChannelOff: when the platform
// cannot read a webhook secret it leaves the "@Microsoft.KeyVault(...)"
// reference in the setting. That notification channel goes off with a loud
// error naming the setting (and not the vault), and the handler still starts
// and sweeps: one unreadable secret must not stop the containment.
func TestUnresolvedKeyVaultReferenceTurnsOnlyItsChannelOff(t *testing.T) {
	const ref = "@Microsoft.KeyVault(SecretUri=https://kv-e2e-vault.vault.azure.net/secrets/teams-webhook/)"
	p := startHandler(t, map[string]string{config.TeamsWebhookURL: ref})

	var problem map[string]any
	for deadline := time.Now().Add(5 * time.Second); problem == nil && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, l := range p.Events("") {
			if l["msg"] == "configuration problem" {
				problem = l
			}
		}
	}
	if problem == nil {
		t.Fatalf("no error logged about the unresolved reference; stdout:\n%s", p.Stdout())
	}
	if problem["level"] != "ERROR" || problem["setting"] != config.TeamsWebhookURL || !strings.Contains(problem["problem"].(string), "OFF") {
		t.Errorf("the logged problem %v does not say, at ERROR, that %s's channel is off", problem, config.TeamsWebhookURL)
	}
	if out := p.Stdout() + p.Stderr(); strings.Contains(out, "kv-e2e-vault") {
		t.Errorf("the output repeats the Key Vault reference:\n%s", out)
	}

	now := time.Now().UTC()
	r := p.mustInvoke(t, "SweepTimer", hostemu.Tick(now.Add(30*time.Second), now), "e2e-kv-tick")
	if logs := hostLogs(t, r); r.Status != http.StatusOK {
		t.Fatalf("the sweep tick answered %d with the Teams channel off; Logs %q", r.Status, logs)
	}
	if !waitDecision(p, payrollAppID) {
		t.Errorf("the sweep decided nothing with the Teams channel off; stdout:\n%s", p.Stdout())
	}
}
