package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// defaultWithException is the built-in policy plus one exception for
// Payroll Sync's client secret and ownerlessness.
func defaultWithException(t *testing.T, expires string) *Policy {
	t.Helper()
	src := strings.Replace(string(DefaultYAML()), "\nexceptions: []\n", `
exceptions:
  - appId: `+strings.ToUpper(payrollAppID)+`
    rules: [password-credential, ownerless-app]
    reason: Vendor product supports only client secrets
    approver: ciso@contoso.example
    expires: `+expires+"\n", 1)
	if !strings.Contains(src, "approver: ciso@contoso.example") {
		t.Fatal("default.yaml no longer has `exceptions: []` to replace")
	}
	return mustParse(t, src)
}

func appWithSecretNoOwners() *appwarden.App {
	a := cleanApp()
	a.Owners = nil
	a.Application.PasswordCredentials = []appwarden.Credential{secret(secretKeyID, date(2026, 3, 1), date(2026, 5, 30))}
	return a
}

func TestActiveExceptionSuppressesItsRules(t *testing.T) {
	p := defaultWithException(t, "2026-12-31")
	d := p.Evaluate(appWithSecretNoOwners(), enforceEnv())
	if len(d.Findings) != 0 || len(d.Actions) != 0 {
		t.Fatalf("suppressed rules still reported: %v %v", ruleIDs(d), d.Actions)
	}
	if !strings.Contains(d.Explanation, "An exception suppresses password-credential, ownerless-app.") {
		t.Fatalf("explanation %q does not say what was suppressed", d.Explanation)
	}
	// Only the named rules, only for that app.
	a := appWithSecretNoOwners()
	a.Permissions = append(a.Permissions, application("RoleManagement.ReadWrite.Directory", idRoleManagementRW, 4))
	if d := p.Evaluate(a, enforceEnv()); findingFor(d, "critical-app-permission") == nil || findingFor(d, "password-credential") != nil {
		t.Fatalf("findings %v, want critical-app-permission only among the two", ruleIDs(d))
	}
	other := appWithSecretNoOwners()
	other.AppID = "11111111-2222-4333-8444-555555555555"
	if d := p.Evaluate(other, enforceEnv()); findingFor(d, "password-credential") == nil {
		t.Fatalf("exception applied to another app: %v", ruleIDs(d))
	}
}

func TestExpiredExceptionStopsApplyingAndIsReported(t *testing.T) {
	p := defaultWithException(t, "2026-05-31")
	env := enforceEnv()

	// Through the end of the expiry day (UTC) it still applies...
	env.Now = time.Date(2026, 5, 31, 23, 59, 59, 0, time.UTC)
	if d := p.Evaluate(appWithSecretNoOwners(), env); len(d.Findings) != 0 {
		t.Fatalf("on its last day: findings %v", ruleIDs(d))
	}
	// ...and from the next day it does not, by itself.
	env.Now = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	d := p.Evaluate(appWithSecretNoOwners(), env)
	if findingFor(d, "password-credential") == nil || findingFor(d, "ownerless-app") == nil {
		t.Fatalf("expired exception still suppresses: %v", ruleIDs(d))
	}
	f := findingFor(d, RuleExceptionExpired)
	if f == nil {
		t.Fatalf("no %s finding: %v", RuleExceptionExpired, ruleIDs(d))
	}
	if f.Severity != appwarden.SeverityLow {
		t.Errorf("severity %s, want low", f.Severity)
	}
	assertEvidence(t, f.Evidence, []ev{{
		kind: "exception", id: strings.ToUpper(payrollAppID), name: "password-credential, ownerless-app",
		end: ptr(date(2026, 6, 1)), detail: "expired 2026-05-31; approved by ciso@contoso.example: Vendor product",
	}})
}

func TestExceptionExpiryAsRFC3339(t *testing.T) {
	p := defaultWithException(t, "2026-06-01T12:00:00Z")
	env := enforceEnv()
	env.Now = time.Date(2026, 6, 1, 11, 59, 0, 0, time.UTC)
	if d := p.Evaluate(appWithSecretNoOwners(), env); len(d.Findings) != 0 {
		t.Fatalf("before expiry: %v", ruleIDs(d))
	}
	env.Now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	if d := p.Evaluate(appWithSecretNoOwners(), env); findingFor(d, RuleExceptionExpired) == nil {
		t.Fatalf("at expiry: %v", ruleIDs(d))
	}
}
