package remediate_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/remediate"
)

// resolveAll resolves the app and adds the service principal's
// credentials and the registration's federated credentials from the
// tenant where the Graph client does not read them yet.
func (w *world) resolveAll(appID string) *appwarden.App {
	w.t.Helper()
	app := w.resolve(appID)
	if sp := app.ServicePrincipal(); sp != nil && sp.PasswordCredentials == nil && sp.KeyCredentials == nil {
		m, ok := w.tenant.ServicePrincipal(sp.ID)
		if !ok {
			w.t.Fatalf("no service principal %s", sp.ID)
		}
		for _, p := range m.GetPasswordCredentials() {
			sp.PasswordCredentials = append(sp.PasswordCredentials, appwarden.Credential{KeyID: p.GetKeyId().String(), DisplayName: deref(p.GetDisplayName())})
		}
		for _, k := range m.GetKeyCredentials() {
			sp.KeyCredentials = append(sp.KeyCredentials, appwarden.Credential{KeyID: k.GetKeyId().String(), DisplayName: deref(k.GetDisplayName())})
		}
	}
	if app.Application != nil && !slices.Contains(app.Read, "federatedIdentityCredentials") {
		app.FederatedIdentityCredentials = nil
		for _, f := range w.tenant.FederatedCredentials(app.Application.ID) {
			app.FederatedIdentityCredentials = append(app.FederatedIdentityCredentials, appwarden.FederatedCredential{
				ID: deref(f.GetId()), Name: deref(f.GetName()), Issuer: deref(f.GetIssuer()), Subject: deref(f.GetSubject()),
				Audiences: f.GetAudiences(), Description: deref(f.GetDescription())})
		}
	}
	return app
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// spPasswords are the keyIds of the service principal's secrets in the tenant.
func (w *world) spPasswords(spID string) []string {
	m, _ := w.tenant.ServicePrincipal(spID)
	var out []string
	for _, p := range m.GetPasswordCredentials() {
		out = append(out, p.GetKeyId().String())
	}
	return out
}

type fic struct{ Name, Issuer, Subject string }

func (w *world) fics(appKey string) []fic {
	var out []fic
	for _, f := range w.tenant.FederatedCredentials(appKey) {
		out = append(out, fic{deref(f.GetName()), deref(f.GetIssuer()), deref(f.GetSubject())})
	}
	return out
}

const githubIssuer = "https://token.actions.githubusercontent.com"

// escalation is a privileged app that an attacker changed: a secret on its
// service principal, a certificate and a federated credential on its
// registration, and Mail.Send granted straight to its service
// principal. The registration's own certificate was there before.
type escalation struct {
	ids                              fakegraph.IDs
	legitCert, spSecret, cert, ficID string
	assignment, mailSendID           string
	decision                         appwarden.Decision
}

func (w *world) escalate() escalation {
	w.t.Helper()
	var e escalation
	e.ids = w.tenant.AddApp(simpleRiskyApp("Backup Sync"))
	e.legitCert = w.tenant.AddApplicationCertificate(e.ids.AppID, "CN=backup")
	e.spSecret = w.tenant.AddServicePrincipalPassword(e.ids.AppID, "sp secret")
	e.cert = w.tenant.AddApplicationCertificate(e.ids.AppID, "CN=evil")
	e.ficID = w.tenant.AddFederatedCredential(e.ids.AppID, "gh-main", githubIssuer, "repo:evil/x:ref:refs/heads/main")
	e.assignment = w.tenant.GrantAppRole(e.ids.AppID, fakegraph.GraphAppID, "Mail.Send")
	e.mailSendID = fakegraph.GraphAppRoles["Mail.Send"]
	e.decision = appwarden.Decision{
		AppID: e.ids.AppID, Mode: appwarden.ModeEnforce, Explanation: "escalation",
		Actions: []appwarden.ActionKind{appwarden.ActionRemoveCredentials, appwarden.ActionRemoveAppRoleGrants, appwarden.ActionNotify},
		Findings: []appwarden.Finding{
			{RuleID: "credential-on-privileged-app", Title: "credential added", Severity: appwarden.SeverityCritical,
				Actions: []appwarden.ActionKind{appwarden.ActionRemoveCredentials, appwarden.ActionNotify},
				Evidence: []appwarden.Evidence{
					{Kind: appwarden.FactCredential, ID: e.spSecret, Added: true},
					{Kind: appwarden.FactCredential, ID: e.cert, Added: true},
					{Kind: appwarden.FactFederatedCredential, ID: e.ficID, Added: true},
				}},
			{RuleID: "hidden-critical-grant", Title: "hidden grant", Severity: appwarden.SeverityCritical,
				Actions:  []appwarden.ActionKind{appwarden.ActionRemoveAppRoleGrants},
				Evidence: []appwarden.Evidence{{Kind: appwarden.FactPermission, ID: e.mailSendID, Name: "Mail.Send", Added: true}}},
		},
	}
	return e
}

// TestSurgicalContainmentAndRelease: a decision naming an added service
// principal secret, an added certificate, an added federated credential and
// a hidden app role assignment removes exactly those from the tenant, and
// leaves what the app held before; the same decision again writes nothing;
// release re-creates the federated credential and the assignment, writes
// the certificate back (keeping a certificate the owner added since), and
// says that the secret cannot come back, naming its keyId.
func TestSurgicalContainmentAndRelease(t *testing.T) {
	for _, sk := range stores(t) {
		t.Run(sk.name, func(t *testing.T) {
			w := newWorld(t, sk.open(t))
			e := w.escalate()
			orig := w.state(e.ids.AppID)
			if !hasRole(orig.Assignments, e.mailSendID) || len(w.fics(e.ids.AppID)) != 1 || !slices.Contains(w.spPasswords(e.ids.ServicePrincipalID), e.spSecret) {
				t.Fatalf("the escalation is not in the tenant: %+v", orig)
			}

			app := w.resolveAll(e.ids.AppID)
			steps := remediate.Plan(app, e.decision, time.Now())
			if len(steps) != 4 {
				t.Fatalf("planned %q, want the secret, the certificate, the federated credential and the assignment", stepKeys(steps))
			}
			mark := w.srv.Mark()
			out := w.mustAct(app, e.decision)
			if out.Mode != appwarden.ModeEnforce || len(out.Actions) != 4 {
				t.Errorf("outcome %s %q with %d actions, want enforce with 4", out.Mode, out.Skipped, len(out.Actions))
			}
			if got, want := callKeys(w.allWrites(mark)), stepKeys(steps); !slices.Equal(got, want) {
				t.Errorf("writes %q\nwant one per step %q", got, want)
			}

			// Contained: exactly what the escalation added is gone.
			now := w.state(e.ids.AppID)
			if slices.Contains(w.spPasswords(e.ids.ServicePrincipalID), e.spSecret) {
				t.Error("the service principal's added secret is still there")
			}
			if !slices.Equal(now.KeyCredentialIDs, []string{e.legitCert}) {
				t.Errorf("certificates %q, want only the app's own %s", now.KeyCredentialIDs, e.legitCert)
			}
			if f := w.fics(e.ids.AppID); len(f) != 0 {
				t.Errorf("federated credentials left: %+v", f)
			}
			if hasRole(now.Assignments, e.mailSendID) || !hasRole(now.Assignments, roleManagementID) {
				t.Errorf("assignments %+v: want Mail.Send gone and the requested RoleManagement kept", now.Assignments)
			}
			if !now.AccountEnabled || now.IsDisabled {
				t.Errorf("the app was disabled, though the decision only asked for surgical actions: %+v", now)
			}

			// The certificate's before-state is the whole list, key material
			// included, so that release can write it back.
			for _, r := range w.actions(e.ids.AppID) {
				if r.Status != remediate.StatusDone {
					t.Errorf("%s on %s: status %s", r.Kind, r.Target, r.Status)
				}
				if !strings.Contains(r.Target, e.cert) {
					continue
				}
				var before struct {
					KeyCredentials []struct {
						KeyID string `json:"keyId"`
						Key   string `json:"key"`
					} `json:"keyCredentials"`
				}
				if err := json.Unmarshal(r.Before, &before); err != nil || len(before.KeyCredentials) != 2 {
					t.Fatalf("certificate before-state %s: %v", r.Before, err)
				}
				for _, k := range before.KeyCredentials {
					if k.Key == "" {
						t.Errorf("certificate %s recorded without its key", k.KeyID)
					}
				}
			}

			// The same decision again, on the same and on a fresh resolution:
			// nothing is written.
			mark = w.srv.Mark()
			w.mustAct(app, e.decision)
			w.mustAct(w.resolveAll(e.ids.AppID), e.decision)
			if ws := w.allWrites(mark); len(ws) != 0 {
				t.Errorf("a second Act wrote %q", callKeys(ws))
			}

			// The owner rotates: a new certificate before the release.
			rotated := w.tenant.AddApplicationCertificate(e.ids.AppID, "CN=backup-2026")

			rel, err := w.rem.Release(bg, e.ids.AppID, "the credentials were a sanctioned migration (CHG-77)", "alice@contoso.example")
			if err != nil {
				t.Fatalf("Release: %v (%+v)", err, rel)
			}
			if len(rel.Restored) != 3 || len(rel.Failed) != 0 {
				t.Errorf("restored %q failed %q, want the certificate, the federated credential and the assignment", rel.Restored, rel.Failed)
			}
			if len(rel.Lost) != 1 || !strings.Contains(rel.Lost[0], e.spSecret) || !strings.Contains(rel.Lost[0], "cannot come back") ||
				!strings.Contains(rel.Lost[0], "create a new one") || !strings.Contains(rel.Lost[0], "service principal") {
				t.Errorf("lost %q: want the one secret, by keyId, saying it cannot come back and what the owner must do", rel.Lost)
			}

			// Restored, as the tenant shows it.
			now = w.state(e.ids.AppID)
			if f := w.fics(e.ids.AppID); !slices.Equal(f, []fic{{"gh-main", githubIssuer, "repo:evil/x:ref:refs/heads/main"}}) {
				t.Errorf("federated credentials after the release %+v", f)
			}
			if !slices.ContainsFunc(now.Assignments, func(a fakegraph.AssignmentState) bool {
				return strings.EqualFold(a.AppRoleID, e.mailSendID) && strings.EqualFold(a.ResourceID, assignmentResource(orig, e.assignment))
			}) {
				t.Errorf("Mail.Send not re-created: %+v", now.Assignments)
			}
			got := slices.Sorted(slices.Values(now.KeyCredentialIDs))
			if want := slices.Sorted(slices.Values([]string{e.legitCert, e.cert, rotated})); !slices.Equal(got, want) {
				t.Errorf("certificates after the release %q, want %q (the removed one back, the rotated one kept)", got, want)
			}
			if slices.Contains(w.spPasswords(e.ids.ServicePrincipalID), e.spSecret) {
				t.Error("the removed secret came back")
			}
			for _, r := range w.actions(e.ids.AppID) {
				if r.Status != remediate.StatusReleased {
					t.Errorf("%s on %s: status %s after the release", r.Kind, r.Target, r.Status)
				}
			}
		})
	}
}

func assignmentResource(st fakegraph.AppState, id string) string {
	for _, a := range st.Assignments {
		if a.ID == id {
			return a.ResourceID
		}
	}
	return ""
}

// TestCertificateRemovalNeedsKeys: without a way to read the key material,
// a certificate is never written (the app's other certificates would be
// lost with it): Act fails, so the event is redelivered, and the other
// removals go ahead.
func TestCertificateRemovalNeedsKeys(t *testing.T) {
	for _, sk := range stores(t) {
		t.Run(sk.name, func(t *testing.T) {
			w := newWorld(t, sk.open(t))
			e := w.escalate()
			app := w.resolveAll(e.ids.AppID)
			mark := w.srv.Mark()
			// A writer that cannot read keys (the Graph client can).
			graphClient := w.rem.Graph
			w.rem.Graph = writerOnly{graphClient}
			_, err := w.rem.Act(bg, w.log, app, e.decision)
			if err == nil || !strings.Contains(err.Error(), "KeyReader") {
				t.Fatalf("Act = %v, want an error naming the missing KeyReader", err)
			}
			for _, c := range w.allWrites(mark) {
				if c.Method == "PATCH" {
					t.Errorf("keyCredentials written without their keys: %s %s", c.Method, c.Path)
				}
			}
			if got := w.state(e.ids.AppID).KeyCredentialIDs; len(got) != 2 {
				t.Errorf("certificates %q, want both kept", got)
			}
			if len(w.fics(e.ids.AppID)) != 0 || slices.Contains(w.spPasswords(e.ids.ServicePrincipalID), e.spSecret) {
				t.Error("the other removals did not go ahead")
			}

			// Once keys can be read, the redelivery removes the certificate only.
			w.rem.Graph = graphClient
			mark = w.srv.Mark()
			app = w.resolveAll(e.ids.AppID)
			w.mustAct(app, e.decision)
			if ws := callKeys(w.allWrites(mark)); !slices.Equal(ws, []string{"PATCH /applications/" + e.ids.ApplicationID}) {
				t.Errorf("the redelivery wrote %q, want only the certificate removal", ws)
			}
			if got := w.state(e.ids.AppID).KeyCredentialIDs; !slices.Equal(got, []string{e.legitCert}) {
				t.Errorf("certificates %q, want only %s", got, e.legitCert)
			}
		})
	}
}

// writerOnly hides every method of a writer but Apply.
type writerOnly struct{ appwarden.Writer }
