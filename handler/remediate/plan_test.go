package remediate_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/remediate"
)

// escalatedApp is a privileged app after an escalation: the change added a
// secret and a certificate to the registration, a secret to the service
// principal, a federated credential, and a hidden grant of role-hidden
// (assignment as-hidden); everything else it held before.
func escalatedApp() *appwarden.App {
	start := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	return &appwarden.App{
		AppID: "11111111-1111-1111-1111-111111111111", DisplayName: "Backup",
		Application: &appwarden.Application{ID: "app-obj",
			PasswordCredentials: []appwarden.Credential{
				{KeyID: "PW-NEW", DisplayName: "added", Hint: "abc", StartDateTime: start},
				{KeyID: "pw-old", DisplayName: "deploy"},
			},
			KeyCredentials: []appwarden.Credential{
				{KeyID: "cert-old", DisplayName: "CN=backup", Type: "AsymmetricX509Cert", Usage: "Verify"},
				{KeyID: "cert-new", DisplayName: "CN=evil", Type: "AsymmetricX509Cert", Usage: "Verify", StartDateTime: start},
			},
		},
		ServicePrincipals: []appwarden.ServicePrincipal{{ID: "sp-obj", AccountEnabled: true,
			PasswordCredentials: []appwarden.Credential{{KeyID: "sp-pw-new", DisplayName: "sp secret"}},
			KeyCredentials:      []appwarden.Credential{{KeyID: "sp-cert-old", Type: "AsymmetricX509Cert", Usage: "Verify"}},
			AppRoleAssignments: []appwarden.AppRoleAssignment{
				{ID: "as-hidden", AppRoleID: "role-hidden", PrincipalID: "sp-obj", ResourceID: "graph-sp"},
				{ID: "as-requested", AppRoleID: "role-requested", PrincipalID: "sp-obj", ResourceID: "graph-sp"},
			},
		}},
		Permissions: []appwarden.Permission{
			{ID: "ROLE-HIDDEN", Name: "RoleManagement.ReadWrite.Directory", Type: appwarden.PermissionApplication, Granted: true, Hidden: true, GrantIDs: []string{"as-hidden"}},
			{ID: "role-requested", Name: "User.Read.All", Type: appwarden.PermissionApplication, Requested: true, Granted: true, GrantIDs: []string{"as-requested"}},
		},
		FederatedIdentityCredentials: []appwarden.FederatedCredential{
			{ID: "fic-new", Name: "gh", Issuer: "https://token.actions.githubusercontent.com", Subject: "repo:evil/x:ref:refs/heads/main",
				Audiences: []string{"api://AzureADTokenExchange"}, Description: "added"},
			{ID: "fic-old", Name: "deploy", Issuer: "https://token.actions.githubusercontent.com", Subject: "repo:contoso/app:environment:prod"},
		},
	}
}

// escalationDecision asks for both surgical actions. The credential finding
// names the added credentials and an unrelated permission; the grant
// finding names the hidden grant and an old secret; a baseline finding
// names the old certificate and asks for removal too.
func escalationDecision() appwarden.Decision {
	cred := func(id string) appwarden.Evidence {
		return appwarden.Evidence{Kind: appwarden.FactCredential, ID: id, Added: true}
	}
	return appwarden.Decision{
		AppID: "11111111-1111-1111-1111-111111111111", Mode: appwarden.ModeEnforce,
		Actions: []appwarden.ActionKind{appwarden.ActionRemoveCredentials, appwarden.ActionRemoveAppRoleGrants, appwarden.ActionNotify},
		Findings: []appwarden.Finding{
			{RuleID: "credential-added", Severity: appwarden.SeverityCritical,
				Actions: []appwarden.ActionKind{appwarden.ActionRemoveCredentials, appwarden.ActionNotify},
				Evidence: []appwarden.Evidence{cred("pw-new"), cred("CERT-NEW"), cred("sp-pw-new"),
					{Kind: appwarden.FactFederatedCredential, ID: "fic-new", Added: true},
					{Kind: appwarden.FactPermission, ID: "role-requested"}}},
			{RuleID: "hidden-grant", Severity: appwarden.SeverityCritical,
				Actions:  []appwarden.ActionKind{appwarden.ActionRemoveAppRoleGrants},
				Evidence: []appwarden.Evidence{{Kind: appwarden.FactPermission, ID: "role-hidden", Added: true}, cred("pw-old")}},
			{RuleID: "posture", Severity: appwarden.SeverityHigh, Baseline: true,
				Actions:  []appwarden.ActionKind{appwarden.ActionRemoveCredentials},
				Evidence: []appwarden.Evidence{cred("cert-old"), cred("sp-cert-old")}},
		},
	}
}

func stepByWrite(t *testing.T, steps []remediate.Step, method, path string) remediate.Step {
	t.Helper()
	for _, s := range steps {
		if s.Write.Method == method && s.Write.Path == path {
			return s
		}
	}
	t.Fatalf("no step %s %s in %q", method, path, stepKeys(steps))
	return remediate.Step{}
}

// asJSON is v as JSON decodes it, for comparing bodies.
func asJSON(t *testing.T, v any) any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func keyIDs(t *testing.T, body any) []string {
	t.Helper()
	var b struct {
		KeyCredentials []struct {
			KeyID string `json:"keyId"`
		} `json:"keyCredentials"`
	}
	raw, _ := json.Marshal(body)
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, k := range b.KeyCredentials {
		ids = append(ids, k.KeyID)
	}
	return ids
}

// TestPlanSurgicalActions: removeCredentials removes exactly the credentials
// named by the findings that ask for it, wherever they are, each the way
// Graph allows; removeAppRoleGrants removes exactly the assignments behind
// the permissions named by the findings that ask for it. Baseline findings
// and other findings' evidence are left alone.
func TestPlanSurgicalActions(t *testing.T) {
	app, d := escalatedApp(), escalationDecision()
	steps := remediate.Plan(app, d, time.Now())
	want := []string{
		"DELETE /applications/app-obj/federatedIdentityCredentials/fic-new",
		"DELETE /servicePrincipals/sp-obj/appRoleAssignments/as-hidden",
		"PATCH /applications/app-obj",
		"POST /applications/app-obj/removePassword",
		"POST /servicePrincipals/sp-obj/removePassword",
	}
	if got := stepKeys(steps); !slices.Equal(got, want) {
		t.Fatalf("planned %q\nwant %q", got, want)
	}
	keys := map[string]bool{}
	for _, s := range steps {
		if keys[s.Key()] {
			t.Errorf("two steps share the key %s", s.Key())
		}
		keys[s.Key()] = true
		if s.Write.Path != "/servicePrincipals/sp-obj/appRoleAssignments/as-hidden" && s.Kind != appwarden.ActionRemoveCredentials {
			t.Errorf("%s %s planned as %s", s.Write.Method, s.Write.Path, s.Kind)
		}
	}

	// Secrets: removePassword by keyId, on the object that holds them; no
	// undo, and the note names the secret and what the owner must do.
	for path, keyID := range map[string]string{"/applications/app-obj/removePassword": "PW-NEW", "/servicePrincipals/sp-obj/removePassword": "sp-pw-new"} {
		s := stepByWrite(t, steps, "POST", path)
		if b := asJSON(t, s.Write.Body); !jsonEqualValues(b, map[string]any{"keyId": keyID}) {
			t.Errorf("%s body %v, want keyId %s", path, b, keyID)
		}
		if s.Undo != nil {
			t.Errorf("%s has an undo %+v; a removed secret cannot come back", path, s.Undo)
		}
		if !strings.Contains(s.Note, keyID) || !strings.Contains(s.Note, "cannot come back") || !strings.Contains(s.Note, "create a new one") {
			t.Errorf("%s note %q does not name the keyId, say it cannot come back and what to do", path, s.Note)
		}
	}

	// The certificate: keyCredentials rewritten without it; the before-state
	// and the undo are the whole list.
	c := stepByWrite(t, steps, "PATCH", "/applications/app-obj")
	if got := keyIDs(t, c.Write.Body); !slices.Equal(got, []string{"cert-old"}) {
		t.Errorf("certificate removal writes keyCredentials %q, want only cert-old", got)
	}
	if got := keyIDs(t, c.Before); !slices.Equal(got, []string{"cert-old", "cert-new"}) {
		t.Errorf("certificate removal before-state %q, want the whole list", got)
	}
	if c.Undo == nil || c.Undo.Method != "PATCH" || c.Undo.Path != "/applications/app-obj" || !slices.Equal(keyIDs(t, c.Undo.Body), []string{"cert-old", "cert-new"}) {
		t.Errorf("certificate removal undo %+v, want PATCH of the whole list", c.Undo)
	}
	if c.Keys == nil || c.Keys.Object != "/applications/app-obj" || !slices.Equal(c.Keys.Remove, []string{"cert-new"}) {
		t.Errorf("certificate removal Keys %+v: the key material must be read before it is written", c.Keys)
	}

	// The federated credential: deleted, recorded whole, created again on undo.
	f := stepByWrite(t, steps, "DELETE", "/applications/app-obj/federatedIdentityCredentials/fic-new")
	if !jsonEqualValues(asJSON(t, f.Before), asJSON(t, app.FederatedIdentityCredentials[0])) {
		t.Errorf("federated credential before-state %+v, want the whole credential", f.Before)
	}
	wantUndo := map[string]any{"name": "gh", "issuer": "https://token.actions.githubusercontent.com",
		"subject": "repo:evil/x:ref:refs/heads/main", "audiences": []any{"api://AzureADTokenExchange"}, "description": "added"}
	if f.Undo == nil || f.Undo.Method != "POST" || f.Undo.Path != "/applications/app-obj/federatedIdentityCredentials" || !jsonEqualValues(asJSON(t, f.Undo.Body), wantUndo) {
		t.Errorf("federated credential undo %+v, want POST %v", f.Undo, wantUndo)
	}

	// The hidden grant: its assignment only, re-created on undo.
	g := stepByWrite(t, steps, "DELETE", "/servicePrincipals/sp-obj/appRoleAssignments/as-hidden")
	if g.Kind != appwarden.ActionRemoveAppRoleGrants {
		t.Errorf("the hidden grant is removed by %s", g.Kind)
	}
	if g.Undo == nil || g.Undo.Method != "POST" || g.Undo.Path != "/servicePrincipals/sp-obj/appRoleAssignments" ||
		!jsonEqualValues(asJSON(t, g.Undo.Body), map[string]any{"principalId": "sp-obj", "resourceId": "graph-sp", "appRoleId": "role-hidden"}) {
		t.Errorf("hidden grant undo %+v", g.Undo)
	}
}

func jsonEqualValues(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return jsonEqual(x, y)
}

// TestPlanSurgicalIdempotent: what is already gone is not planned again.
func TestPlanSurgicalIdempotent(t *testing.T) {
	app, d := escalatedApp(), escalationDecision()
	app.Application.PasswordCredentials = app.Application.PasswordCredentials[1:]
	app.Application.KeyCredentials = app.Application.KeyCredentials[:1]
	app.ServicePrincipals[0].PasswordCredentials = nil
	app.ServicePrincipals[0].AppRoleAssignments = app.ServicePrincipals[0].AppRoleAssignments[1:]
	app.Permissions = app.Permissions[1:]
	app.FederatedIdentityCredentials = app.FederatedIdentityCredentials[1:]
	if steps := remediate.Plan(app, d, time.Now()); len(steps) != 0 {
		t.Errorf("planned %q for credentials and grants that are gone", stepKeys(steps))
	}
}

// TestPlanCertificatesOnePatchPerObject: two certificates removed from one
// object are one write (two PATCHes of keyCredentials in one batch would
// undo each other), and one on the service principal is its own.
func TestPlanCertificatesOnePatchPerObject(t *testing.T) {
	app := escalatedApp()
	app.Application.KeyCredentials = append(app.Application.KeyCredentials, appwarden.Credential{KeyID: "cert-third"})
	d := appwarden.Decision{Actions: []appwarden.ActionKind{appwarden.ActionRemoveCredentials}, Findings: []appwarden.Finding{{
		RuleID: "r", Actions: []appwarden.ActionKind{appwarden.ActionRemoveCredentials},
		Evidence: []appwarden.Evidence{{Kind: "credential", ID: "cert-third"}, {Kind: "credential", ID: "cert-new"}, {Kind: "credential", ID: "sp-cert-old"}},
	}}}
	steps := remediate.Plan(app, d, time.Now())
	if got, want := stepKeys(steps), []string{"PATCH /applications/app-obj", "PATCH /servicePrincipals/sp-obj"}; !slices.Equal(got, want) {
		t.Fatalf("planned %q, want %q", got, want)
	}
	a := stepByWrite(t, steps, "PATCH", "/applications/app-obj")
	if got := keyIDs(t, a.Write.Body); !slices.Equal(got, []string{"cert-old"}) {
		t.Errorf("the application keeps %q, want cert-old only", got)
	}
	if !slices.Equal(a.Keys.Remove, []string{"cert-new", "cert-third"}) || a.Target != "app-obj/cert-new,cert-third" {
		t.Errorf("removal %+v target %q", a.Keys, a.Target)
	}
	sp := stepByWrite(t, steps, "PATCH", "/servicePrincipals/sp-obj")
	if got := keyIDs(t, sp.Write.Body); len(got) != 0 {
		t.Errorf("the service principal keeps %q, want none", got)
	}
	if !strings.Contains(sp.Note, "service principal") || !strings.Contains(sp.Note, "sp-cert-old") {
		t.Errorf("note %q", sp.Note)
	}
}

// TestPlanSameWriteOnce: when two actions name the same write, it is
// planned once, by the action applied first.
func TestPlanSameWriteOnce(t *testing.T) {
	app, d := escalatedApp(), escalationDecision()
	d.Actions = []appwarden.ActionKind{appwarden.ActionRemoveCredentials, appwarden.ActionRemoveAppRoleGrants,
		appwarden.ActionRemovePasswords, appwarden.ActionRemoveCriticalAppRoles}
	steps := remediate.Plan(app, d, time.Now())
	count := map[string]int{}
	for _, s := range steps {
		count[s.Write.Method+" "+s.Write.Path+" "+string(must(json.Marshal(s.Write.Body)))]++
	}
	for w, n := range count {
		if n > 1 {
			t.Errorf("%s planned %d times", w, n)
		}
	}
	// removePasswords still removes the old secret the escalation did not add.
	old := 0
	for _, s := range steps {
		if s.Kind == appwarden.ActionRemovePasswords && strings.HasSuffix(s.Target, "/pw-old") {
			old++
		}
		if s.Kind == appwarden.ActionRemovePasswords && strings.HasSuffix(s.Target, "/PW-NEW") {
			t.Errorf("the added secret is removed twice: %+v", s)
		}
		if s.Kind == appwarden.ActionRemoveCriticalAppRoles && strings.HasSuffix(s.Target, "/as-hidden") {
			t.Errorf("the hidden assignment is removed twice: %+v", s)
		}
	}
	if old != 1 {
		t.Errorf("removePasswords planned %d removals of pw-old, want 1: %q", old, stepKeys(steps))
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
