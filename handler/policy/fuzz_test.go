package policy

import (
	"cmp"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// FuzzEvaluate checks that evaluation never panics and keeps its promises
// (protected apps are never acted on, actions are ordered and unique,
// findings are sorted, the same input gives the same decision, no built-in
// rule fails) for any App.
// The input is an App's JSON; bytes that are not valid JSON for an App are
// used as a stream of choices to build one, so the fuzzer also reaches
// values JSON seldom produces. Seeds are in testdata/fuzz/FuzzEvaluate.
func FuzzEvaluate(f *testing.F) {
	for _, a := range []*appwarden.App{kitchenSink(), cleanApp(), payrollWithRoleManagement()} {
		b, err := json.Marshal(a)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0, 1, 2, 3, 250, 7, 9, 200, 13, 4, 99, 42})
	builtin, hostile, mixed := mustDefault(f), hostilePolicy(f), mustParse(f, mixedModes)
	runs := []struct {
		p    *Policy
		mode appwarden.Mode
	}{{builtin, appwarden.ModeEnforce}, {builtin, ""}, {hostile, appwarden.ModeEnforce}, {mixed, appwarden.ModeAudit}}
	f.Fuzz(func(t *testing.T, data []byte) {
		app, now := appFromBytes(data)
		for i, r := range runs {
			env := Env{Now: now, Mode: r.mode, Guard: testGuard()}
			d := r.p.Evaluate(app, env)
			checkDecision(t, app, env, d)
			// The built-in rules are written to work on any app.
			if f := findingFor(d, RuleError); r.p == builtin && f != nil {
				t.Fatalf("built-in rule failed: %+v", f.Evidence)
			}
			if i == 0 {
				if again := r.p.Evaluate(app, env); !reflect.DeepEqual(d, again) {
					t.Fatalf("two evaluations differ:\n%+v\n%+v", d, again)
				}
			}
		}
	})
}

func checkDecision(t *testing.T, app *appwarden.App, env Env, d appwarden.Decision) {
	t.Helper()
	if d.Explanation == "" {
		t.Fatal("no explanation")
	}
	if env.Mode != appwarden.ModeEnforce && d.Mode != appwarden.ModeAudit {
		t.Fatalf("mode %s under global mode %q", d.Mode, env.Mode)
	}
	if d.Protected != "" && (d.Mode != appwarden.ModeAudit || slices.ContainsFunc(d.Actions, appwarden.ActionKind.Changes)) {
		t.Fatalf("protected app (%s) is actionable: mode %s actions %v", d.Protected, d.Mode, d.Actions)
	}
	if env.Guard.Protected(app) != "" && d.Protected == "" {
		t.Fatalf("guard protects the app, decision does not")
	}
	last := -1
	for _, a := range d.Actions {
		i := slices.Index(appwarden.ActionKinds, a)
		if i <= last {
			t.Fatalf("actions %v out of order, repeated or unknown", d.Actions)
		}
		last = i
	}
	if !slices.IsSortedFunc(d.Findings, func(a, b appwarden.Finding) int {
		return cmp.Or(cmp.Compare(b.Severity, a.Severity), strings.Compare(a.RuleID, b.RuleID))
	}) {
		t.Fatalf("findings out of order: %v", ruleIDs(d))
	}
	for _, f := range d.Findings {
		if !slices.IsSortedFunc(f.Evidence, compareEvidence) {
			t.Fatalf("%s evidence out of order", f.RuleID)
		}
	}
	if _, err := json.Marshal(d); err != nil {
		t.Fatalf("decision does not encode: %v", err)
	}
}

// appFromBytes reads an App from JSON, or builds one from the bytes.
func appFromBytes(data []byte) (*appwarden.App, time.Time) {
	var app *appwarden.App
	if err := json.Unmarshal(data, &app); err == nil {
		return app, testNow
	}
	g := &choices{b: data}
	return g.app(), g.time()
}

// choices turns fuzz bytes into field values, favouring ones that matter to
// the rules.
type choices struct{ b []byte }

func (g *choices) next() int {
	if len(g.b) == 0 {
		return 0
	}
	c := g.b[0]
	g.b = g.b[1:]
	return int(c)
}

var interesting = []string{
	"", "*", "application", "delegated", "Role", "Scope", "AzureADMyOrg", "AzureADMultipleOrgs",
	"ManagedIdentity", appwarden.MicrosoftTenantID, appwarden.MicrosoftServicesTenantID, payrollAppID,
	selfAppID, breakGlassAppID, allowlistedAppID, "RoleManagement.ReadWrite.Directory", "Mail.Read",
	"http://", "https://[::1", "http://0x7f.1/", "https://a.ngrok.io:99999/x", "https://*", "://", "[", "]:",
	"urn:x", "user", "servicePrincipal", "\x00", "é\u202e", strings.Repeat("a", 300),
}

func (g *choices) str() string {
	n := g.next()
	if n < len(interesting)*4 {
		return interesting[n%len(interesting)]
	}
	k := min(n%24, len(g.b))
	s := string(g.b[:k])
	g.b = g.b[k:]
	return s
}

func (g *choices) time() time.Time {
	switch g.next() % 5 {
	case 0:
		return time.Time{}
	case 1:
		return time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	case 2:
		return time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)
	}
	return testNow.Add(time.Duration(g.next()-128) * 24 * time.Hour * time.Duration(g.next()+1))
}

func (g *choices) count() int { return g.next() % 4 }

func (g *choices) creds() []appwarden.Credential {
	var out []appwarden.Credential
	for i := g.count(); i > 0; i-- {
		out = append(out, appwarden.Credential{KeyID: g.str(), DisplayName: g.str(), StartDateTime: g.time(), EndDateTime: g.time()})
	}
	return out
}

func (g *choices) app() *appwarden.App {
	a := &appwarden.App{AppID: g.str(), DisplayName: g.str(), ResolvedAt: g.time(), Deleted: g.next()%16 == 0}
	if g.next()%4 != 0 {
		a.Application = &appwarden.Application{
			AppID: a.AppID, SignInAudience: g.str(), PublisherDomain: g.str(),
			PasswordCredentials: g.creds(), KeyCredentials: g.creds(),
		}
		if g.next()%2 == 0 {
			a.Application.VerifiedPublisher = &appwarden.VerifiedPublisher{VerifiedPublisherID: g.str()}
		}
		for i := g.count(); i > 0; i-- {
			a.Application.RedirectURIs = append(a.Application.RedirectURIs, appwarden.RedirectURI{Kind: g.str(), URI: g.str()})
		}
	}
	for i := g.count(); i > 0; i-- {
		a.ServicePrincipals = append(a.ServicePrincipals, appwarden.ServicePrincipal{
			AppID: a.AppID, AppOwnerOrganizationID: g.str(), ServicePrincipalType: g.str(),
		})
	}
	for i := g.count(); i > 0; i-- {
		a.Owners = append(a.Owners, appwarden.Principal{ID: g.str(), UPN: g.str(), Type: g.str()})
	}
	for i := g.count() * 2; i > 0; i-- {
		a.Permissions = append(a.Permissions, appwarden.Permission{
			ID: g.str(), Name: g.str(), Type: g.str(), Privilege: g.next() - 128,
			Requested: g.next()%2 == 0, Granted: g.next()%2 == 0, AdminConsent: g.next()%2 == 0,
		})
	}
	return a
}
