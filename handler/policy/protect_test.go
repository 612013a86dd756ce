package policy

import (
	"slices"
	"strings"
	"testing"

	"github.com/appwarden/appwarden/handler/appwarden"
)

const (
	breakGlassAppID  = "bbbbbbbb-0000-4000-8000-00000000b001"
	allowlistedAppID = "aaaaaaaa-0000-4000-8000-00000000a001"
	selfAppID        = "eeeeeeee-0000-4000-8000-00000000e001"
)

// hostilePolicy targets every app with every action, in enforce mode.
func hostilePolicy(t testing.TB) *Policy {
	t.Helper()
	return mustParse(t, `apiVersion: appwarden.io/v1
allowlist:
  - appId: `+allowlistedAppID+`
    reason: HR connector, reviewed
rules:
  - id: take-everything
    title: Acts on every app
    severity: critical
    condition: "true"
    actions: [markQuarantined, removeCredentials, removeAppRoleGrants, disableServicePrincipal, deactivateApplication, removePasswords, removeCriticalAppRoleAssignments, revokeOAuth2Grants, notify]
    mode: enforce
`)
}

func testGuard() appwarden.Guard {
	return appwarden.Guard{SelfAppID: selfAppID, BreakGlass: []string{"  " + breakGlassAppID + " "}}
}

func protectedApps() map[string]*appwarden.App {
	withSP := func(f func(*appwarden.ServicePrincipal)) *appwarden.App {
		a := payrollWithRoleManagement()
		f(&a.ServicePrincipals[0])
		return a
	}
	withID := func(id string) *appwarden.App {
		a := payrollWithRoleManagement()
		a.AppID = id
		return a
	}
	return map[string]*appwarden.App{
		"Microsoft Services tenant": withSP(func(sp *appwarden.ServicePrincipal) {
			sp.AppOwnerOrganizationID = appwarden.MicrosoftServicesTenantID
		}),
		"Microsoft tenant":        withSP(func(sp *appwarden.ServicePrincipal) { sp.AppOwnerOrganizationID = appwarden.MicrosoftTenantID }),
		"managed identity":        withSP(func(sp *appwarden.ServicePrincipal) { sp.ServicePrincipalType = "ManagedIdentity" }),
		"AppWarden itself":        withID(selfAppID),
		"break-glass":             withID(breakGlassAppID),
		"allowlisted":             withID(allowlistedAppID),
		"allowlisted, other case": withID("AAAAAAAA-0000-4000-8000-00000000A001"),
	}
}

func TestProtectedAppsAreNeverActionable(t *testing.T) {
	policies := map[string]*Policy{"hostile": hostilePolicy(t), "built-in": mustDefault(t)}
	for pname, p := range policies {
		for name, app := range protectedApps() {
			if pname == "built-in" && strings.HasPrefix(name, "allowlisted") {
				continue // the built-in policy has an empty allowlist
			}
			t.Run(pname+"/"+name, func(t *testing.T) {
				env := enforceEnv()
				env.Guard = testGuard()
				d := p.Evaluate(app, env)
				if d.Protected == "" {
					t.Fatal("decision not marked protected")
				}
				if d.Mode != appwarden.ModeAudit {
					t.Errorf("mode %s, want audit", d.Mode)
				}
				if !slices.Equal(d.Actions, []appwarden.ActionKind{appwarden.ActionNotify}) {
					t.Errorf("actions %v, want only notify", d.Actions)
				}
				if len(d.Findings) == 0 {
					t.Error("protected apps are still judged: want findings")
				}
			})
		}
	}
}

// The hostile policy does act on an ordinary app, so the test above would
// catch a protection that failed.
func TestHostilePolicyActsOnOrdinaryApps(t *testing.T) {
	env := enforceEnv()
	env.Guard = testGuard()
	d := hostilePolicy(t).Evaluate(payrollWithRoleManagement(), env)
	if d.Protected != "" || d.Mode != appwarden.ModeEnforce || !slices.Equal(d.Actions, appwarden.ActionKinds) {
		t.Fatalf("protected %q mode %s actions %v, want enforce with every action", d.Protected, d.Mode, d.Actions)
	}
}

func TestProtectedReasonIsExplained(t *testing.T) {
	env := enforceEnv()
	env.Guard = testGuard()
	d := hostilePolicy(t).Evaluate(protectedApps()["allowlisted"], env)
	if d.Protected != "on the policy allowlist: HR connector, reviewed" {
		t.Fatalf("protected %q", d.Protected)
	}
	want := "AppWarden never changes it (on the policy allowlist: HR connector, reviewed); it notifies."
	if !strings.HasSuffix(d.Explanation, want) {
		t.Fatalf("explanation %q, want it to end %q", d.Explanation, want)
	}
}

// Remediation re-checks protection with the same answer as the decision.
func TestPolicyProtectedMatchesDecision(t *testing.T) {
	p := hostilePolicy(t)
	for name, app := range protectedApps() {
		if got, want := p.Protected(app, testGuard()), p.Evaluate(app, Env{Now: testNow, Guard: testGuard()}).Protected; got == "" || got != want {
			t.Errorf("%s: Protected %q, decision %q", name, got, want)
		}
	}
	if got := p.Protected(nil, appwarden.Guard{}); got == "" {
		t.Error("a nil app is not protected")
	}
	if got := p.Protected(cleanApp(), testGuard()); got != "" {
		t.Errorf("ordinary app protected: %q", got)
	}
}
