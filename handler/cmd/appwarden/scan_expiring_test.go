package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/appwarden/appwarden/handler/demo"
	"github.com/appwarden/appwarden/handler/report"
)

// TestScanExpiringUsageErrors: a bad window, and csv on stdout (where the
// findings' CSV leaves no room for the expiring list), are usage errors.
func TestScanExpiringUsageErrors(t *testing.T) {
	cliEnv(t)
	snap := demoSnapshot(t)
	for _, args := range [][]string{
		{"scan", "--tenant", snap, "--expiring", "30"},
		{"scan", "--tenant", snap, "--expiring", "0d"},
		{"scan", "--tenant", snap, "--expiring", "-5d"},
		{"scan", "--tenant", snap, "--expiring", "soon"},
		{"scan", "--tenant", snap, "--expiring", "99999999999d"},
		{"scan", "--tenant", snap, "--expiring="},
		{"scan", "--tenant", snap, "--expiring", "30d", "--format", "csv"},
	} {
		code, out, errOut := runCLI(args...)
		if code != 2 || out != "" || !strings.Contains(errOut, "--expiring") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and a message about --expiring", args[3:], code, out, errOut)
		}
	}
	// --out naming the CSV's companion file is a clash, found before
	// anything is left written.
	dir := t.TempDir()
	code, _, errOut := runCLI("scan", "--tenant", snap, "--expiring", "30d", "--out", filepath.Join(dir, "a.csv"), "--out", filepath.Join(dir, "a.expiring.csv"))
	if left, _ := os.ReadDir(dir); code != 2 || !strings.Contains(errOut, "holds the expiring credentials of") || len(left) != 0 {
		t.Errorf("a clash: exit %d, %q, files left %v", code, errOut, left)
	}
}

// TestScanExpiringDemo scans the demo tenant with a window that holds its
// two dated credentials (Backup Agent's secret, 90 days; Team Wiki's
// certificate, a year) and one that holds only the first; the exit code is
// the findings' alone.
func TestScanExpiringDemo(t *testing.T) {
	cliEnv(t)
	t.Setenv("AZURE_CLIENT_ID", demo.SelfAppID)
	snap := demoSnapshot(t)
	var doc struct {
		Summary  report.Summary              `json:"summary"`
		Expiring []report.ExpiringCredential `json:"expiring"`
	}
	code, out, errOut := runCLI("scan", "--tenant", snap, "--quiet", "--format", "json", "--expiring", "400d", "--fail-on", "none")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	e := doc.Summary.Expiry
	if e == nil || e.Credentials != 2 || e.Expired != 0 || e.WindowText != "400 days" || len(doc.Expiring) != 2 {
		t.Fatalf("expiry = %+v, %d listed", e, len(doc.Expiring))
	}
	if b := doc.Expiring[0]; b.DisplayName != "Backup Agent" || b.Name != "backup-key" || b.Type != "password" || b.On != "application" || b.DaysLeft < 89 || b.DaysLeft > 90 || b.Expired {
		t.Errorf("first = %+v", b)
	}
	if w := doc.Expiring[1]; w.DisplayName != "Team Wiki" || w.Type != "certificate" || w.DaysLeft < 364 || w.DaysLeft > 365 {
		t.Errorf("second = %+v", w)
	}
	code, out, _ = runCLI("scan", "--tenant", snap, "--quiet", "--expiring", "100d")
	if code != 1 || !strings.Contains(out, "Credentials expiring within 100 days, or expired\n1 credential expire") || !strings.Contains(out, "backup-key") || strings.Contains(out, "CN=wiki") {
		t.Errorf("100 days: exit %d\n%s", code, out)
	}
	// Without --expiring the reports say nothing about it.
	if _, out, _ := runCLI("scan", "--tenant", snap, "--quiet", "--format", "json"); strings.Contains(out, `"expiry"`) || strings.Contains(out, `"expiring"`) {
		t.Error("a scan without --expiring lists expiry")
	}
}
