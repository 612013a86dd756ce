package e2e

// Escalations on apps that already exist (issue #15), end to end: the real
// handler binary, the Graph stand-in (whose helpers change the tenant and
// append the audit record Entra writes for each change), the records
// delivered as the Functions host delivers them (Event Hub, an Event Grid
// custom-topic CloudEvent) or pulled by the handler itself from
// /auditLogs/directoryAudits on the timer, and the Teams webhooks.
//
// Every tenant here is older than the installation: its apps were created
// long ago, the first timer tick baselines them (and writes nothing), and
// only the changes made after it are escalations.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/functions/hostemu"
	"github.com/appwarden/appwarden/tests/azurite"
	"github.com/appwarden/appwarden/tests/harness"
)

// longAgo is when the apps of these tenants were created: far before the
// installation and its look-back window.
var longAgo = time.Now().Add(-400 * 24 * time.Hour).UTC().Truncate(time.Second)

// mallory makes the escalations; the cards must name her.
var mallory = fakegraph.Actor{
	UserID: "b7d1c3a9-4e2f-4a6b-8c0d-9e8f7a6b5c4d", UPN: "mallory@contoso.example",
	DisplayName: "Mallory Intruder", IPAddress: "198.51.100.66",
}

// oldTenant is a tenant with Microsoft Graph's service principal and
// AppWarden's own app, both there long before the installation.
func oldTenant() *fakegraph.Tenant {
	t := fakegraph.NewTenant(fixtureTenantID)
	t.AddMicrosoftGraph()
	t.AddApp(fakegraph.AppSpec{
		AppID: selfAppID, ApplicationID: selfObjectID, DisplayName: "AppWarden", PublisherDomain: "contoso.example",
		CreatedDateTime: longAgo, Owners: []fakegraph.Owner{devOne},
		Requested: []fakegraph.Permission{fakegraph.GraphRole("Application.ReadWrite.All")},
		Granted:   []fakegraph.Permission{fakegraph.GraphRole("Application.ReadWrite.All")},
	})
	return t
}

// privilegedApp adds an old app that requests and holds the application
// permission perm (critical in the built-in policy), with one owner and a
// client secret of its own.
func privilegedApp(t *fakegraph.Tenant, name, perm string) fakegraph.IDs {
	role := fakegraph.GraphRole(perm)
	return t.AddApp(fakegraph.AppSpec{
		DisplayName: name, CreatedDateTime: longAgo, Owners: []fakegraph.Owner{devOne},
		Requested: []fakegraph.Permission{role}, Granted: []fakegraph.Permission{role},
		Secrets:      []fakegraph.Credential{{DisplayName: "in use since " + longAgo.Format("2006")}},
		RedirectURIs: []string{"https://" + strings.ToLower(strings.ReplaceAll(name, " ", "-")) + ".contoso.example/auth"},
	})
}

// plainApp adds an old app that requests delegated User.Read only.
func plainApp(t *fakegraph.Tenant, name string, requested ...fakegraph.Permission) fakegraph.IDs {
	return t.AddApp(fakegraph.AppSpec{
		DisplayName: name, CreatedDateTime: longAgo, Owners: []fakegraph.Owner{devOne},
		Requested: append([]fakegraph.Permission{fakegraph.GraphScope("User.Read")}, requested...),
	})
}

// escalationHooks is one webhook stand-in serving both channels: the
// owners' Teams channel (path /owners) and the security channel (/security).
func escalationHooks(t *testing.T) (*harness.Webhook, map[string]string) {
	t.Helper()
	hook := harness.MustStartWebhook(t)
	return hook, map[string]string{
		"APPWARDEN_TEAMS_WEBHOOK_URL":    hook.URL + "/owners",
		"APPWARDEN_SECURITY_WEBHOOK_URL": hook.URL + "/security",
	}
}

// merge is the maps' union, later ones winning.
func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// ticker plays the host's timer for one handler: each tick has a new
// ScheduleStatus.Next, as the host's ticks do.
type ticker struct {
	p    *Proc
	n    int
	last time.Time // when the last tick was answered
}

func (tk *ticker) tick(t *testing.T) []string {
	t.Helper()
	tk.n++
	now := time.Now()
	r := tk.p.mustInvoke(t, "SweepTimer", hostemu.Tick(now.Add(30*time.Second), now), fmt.Sprintf("e2e-esc-tick-%d", tk.n))
	tk.last = time.Now()
	return mustLogs(t, r, fmt.Sprintf("tick %d", tk.n))
}

// baseline starts the handler on a tenant built before the installation:
// the records of building it are not in the audit log (they are older than
// anything a first pull reads), and the first tick baselines every app. It
// fails the test if that tick writes anything or sends a card.
func baseline(t *testing.T, tenant *fakegraph.Tenant, hook *harness.Webhook, env map[string]string) (*fakegraph.Server, *Proc, *ticker) {
	t.Helper()
	tenant.ClearAuditLog()
	g := startGraph(t, tenant)
	p := startHandlerWith(t, g, env)
	tk := &ticker{p: p}
	logs := tk.tick(t)
	if !logged(logs, "audit pull finished") && env["APPWARDEN_AUDIT_PULL"] != "false" {
		t.Logf("the first tick did not report an audit pull: %q", logs)
	}
	if ws := g.Writes(); len(ws) != 0 {
		t.Fatalf("the baseline tick wrote to the tenant: %q", writePaths(ws))
	}
	if hook != nil {
		if posts := hook.Posts(); len(posts) != 0 {
			t.Fatalf("the baseline tick sent %d cards; an app that already held power is posture, not news: %s", len(posts), posts[0].Body)
		}
	}
	return g, p, tk
}

// auditMark is how many records the tenant's audit log holds.
func auditMark(tenant *fakegraph.Tenant) int { return len(tenant.AuditLog()) }

// auditSince is the records appended after mark.
func auditSince(t *testing.T, tenant *fakegraph.Tenant, mark int) []json.RawMessage {
	t.Helper()
	log := tenant.AuditLog()
	if len(log) <= mark {
		t.Fatalf("the change wrote no audit record")
	}
	return log[mark:]
}

// auditID is a directoryAudit record's id.
func auditID(t *testing.T, rec json.RawMessage) string {
	t.Helper()
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(rec, &v); err != nil || v.ID == "" {
		t.Fatalf("audit record without id (%v): %s", err, rec)
	}
	return v.ID
}

// streamed is the Event Hub message the Entra diagnostic setting writes for
// the records: {"records":[...]}, each the directoryAudit under
// "properties" with the Azure Monitor common fields.
func streamed(t *testing.T, recs ...json.RawMessage) []byte {
	t.Helper()
	var out []any
	for _, raw := range recs {
		var rec map[string]any
		if err := json.Unmarshal(raw, &rec); err != nil {
			t.Fatal(err)
		}
		out = append(out, map[string]any{
			"time": rec["activityDateTime"], "resourceId": "/tenants/" + fixtureTenantID + "/providers/Microsoft.aadiam",
			"operationName": rec["activityDisplayName"], "operationVersion": "1.0", "category": "AuditLogs",
			"tenantId": fixtureTenantID, "resultSignature": "None", "durationMs": 0, "callerIpAddress": "198.51.100.66",
			"Level": 4, "properties": rec,
		})
	}
	b, err := json.Marshal(map[string]any{"records": out})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// deliveries: how an audit record reaches the handler.
const (
	viaEventHub    = "eventhub"
	viaCustomTopic = "customtopic"
	viaPull        = "pull"
)

// push delivers records on Event Hub (one message, as the diagnostic
// setting batches them) or, one event each, as CloudEvents on an Event Grid
// custom topic whose data is the directoryAudit record; every invocation
// must answer 200. It returns the Logs.
func push(t *testing.T, p *Proc, via string, recs ...json.RawMessage) []string {
	t.Helper()
	switch via {
	case viaEventHub:
		id := "e2e-hub-" + auditID(t, recs[0])
		return mustLogs(t, p.mustInvoke(t, "OnAuditLogBatch", hostemu.EventHub(time.Now(), streamed(t, recs...)), id), "Event Hub batch "+id)
	case viaCustomTopic:
		var logs []string
		for _, raw := range recs {
			id := auditID(t, raw)
			var rec map[string]any
			if err := json.Unmarshal(raw, &rec); err != nil {
				t.Fatal(err)
			}
			ev, err := json.Marshal(map[string]any{
				"specversion": "1.0", "type": "Contoso.Entra.DirectoryAudit", "id": "ce-" + id,
				"source":  "/tenants/" + fixtureTenantID + "/providers/Microsoft.aadiam",
				"subject": "ApplicationManagement/" + fmt.Sprint(rec["activityDisplayName"]),
				"time":    rec["activityDateTime"], "datacontenttype": "application/json", "data": rec,
			})
			if err != nil {
				t.Fatal(err)
			}
			logs = append(logs, mustLogs(t, p.mustInvoke(t, "OnEventGridEvent", hostemu.EventGrid(ev, time.Now()), "e2e-ce-"+id), "CloudEvent "+id)...)
		}
		return logs
	}
	t.Fatalf("push: unknown delivery %q", via)
	return nil
}

// waitDue sleeps until the next audit pull is due: interval after the last
// tick (the pull claims a tick a tenth of the interval early at most).
func (tk *ticker) waitDue(interval time.Duration) {
	time.Sleep(time.Until(tk.last.Add(interval)))
}

// writesTo is the writes whose path names one of the ids.
func writesTo(ws []fakegraph.Call, ids ...string) []string {
	var out []string
	for _, c := range ws {
		for _, id := range ids {
			if id != "" && strings.Contains(strings.ToLower(c.Path), strings.ToLower(id)) {
				out = append(out, writePath(c))
				break
			}
		}
	}
	return out
}

// changingActions are the action kinds that write to the tenant.
func changesTenant(actions string) bool {
	for a := range strings.SplitSeq(actions, ",") {
		if a != "" && a != "notify" {
			return true
		}
	}
	return false
}

// decisionsOn returns the decision log events about appID.
func decisionsOn(p *Proc, appID string) []map[string]any {
	var out []map[string]any
	for _, e := range p.Events("decision") {
		if id, _ := e["appId"].(string); strings.EqualFold(id, appID) {
			out = append(out, e)
		}
	}
	return out
}

// actingDecisions counts the decisions about appID that chose a write and
// were applied in enforce mode.
func actingDecisions(p *Proc, appID string) int {
	n := 0
	for _, e := range decisionsOn(p, appID) {
		actions, _ := e["actions"].(string)
		if changesTenant(actions) && e["appliedMode"] == "enforce" {
			n++
		}
	}
	return n
}

// eventually polls cond for a few seconds (log lines and webhook posts may
// trail the invocation's answer by moments).
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// cards is the posts delivered on a channel that contain every part.
func cards(hook *harness.Webhook, channel string, parts ...string) []string {
	var out []string
	for _, p := range hook.Posts() {
		if p.Channel != channel || p.Status >= 300 {
			continue
		}
		all := true
		for _, part := range parts {
			all = all && strings.Contains(p.Body, part)
		}
		if all {
			out = append(out, p.Body)
		}
	}
	return out
}

func enforceEnv(hookEnv map[string]string, more ...map[string]string) map[string]string {
	return merge(append([]map[string]string{{"APPWARDEN_MODE": "enforce"}, hookEnv}, more...)...)
}

// ---- 1. a baseline privileged app: a rename is not an incident, a new secret is ----

// TestBaselineAppRenamedIsLeftAloneNewSecretIsContained: "Backup Sync" held
// Files.ReadWrite.All and a client secret long before AppWarden was
// installed; the first tick baselines it. In enforce mode, a rename and a
// new redirect URI (the "Update application" record, on Event Hub) write
// nothing and send no card. A new client secret (the "Certificates and
// secrets management" record) is contained: exactly that secret is removed
// from the tenant, nothing else is written, and the cards name the secret
// and who added it.
func TestBaselineAppRenamedIsLeftAloneNewSecretIsContained(t *testing.T) {
	tenant := oldTenant()
	app := privilegedApp(tenant, "Backup Sync", "Files.ReadWrite.All")
	before, _ := tenant.AppState(app.AppID)
	if len(before.PasswordKeyIDs) != 1 {
		t.Fatalf("fixture: the app holds secrets %q, want one", before.PasswordKeyIDs)
	}
	oldSecret := before.PasswordKeyIDs[0]
	hook, hookEnv := escalationHooks(t)
	g, p, _ := baseline(t, tenant, hook, enforceEnv(hookEnv))
	tenant.SetActor(mallory)

	// A rename and a new redirect URI: the app gains no power.
	mark := auditMark(tenant)
	if err := tenant.UpdateApplication(app.AppID, func(a models.Applicationable) {
		a.SetDisplayName(ptrTo("Backup Sync (EU)"))
		a.GetWeb().SetRedirectUris(append(a.GetWeb().GetRedirectUris(), "https://backup-eu.contoso.example/auth"))
	}); err != nil {
		t.Fatal(err)
	}
	renamed := auditSince(t, tenant, mark)
	push(t, p, viaEventHub, renamed...)
	if !eventually(func() bool { return len(decisionsOn(p, app.AppID)) > 0 }) {
		t.Fatalf("no decision on the renamed app; the record was not handled\nstdout:\n%s", p.Stdout())
	}
	if ws := g.Writes(); len(ws) != 0 {
		t.Errorf("a rename and a new redirect URI on a baseline app were written to, in enforce mode: %q", writePaths(ws))
	}
	if n := actingDecisions(p, app.AppID); n != 0 {
		t.Errorf("%d decisions chose to act on the rename: %v", n, decisionsOn(p, app.AppID))
	}
	st, _ := tenant.AppState(app.AppID)
	if !st.AccountEnabled || st.IsDisabled || !slices.Equal(st.PasswordKeyIDs, []string{oldSecret}) {
		t.Errorf("the renamed app is not as it was: %+v", st)
	}
	time.Sleep(200 * time.Millisecond)
	if posts := hook.Posts(); len(posts) != 0 {
		t.Errorf("a rename sent %d cards (posture is not news): %s", len(posts), posts[0].Body)
	}

	// A new client secret on the same app: contained.
	mark = auditMark(tenant)
	newSecret := tenant.AddApplicationPassword(app.AppID, "mallory-backdoor")
	push(t, p, viaEventHub, auditSince(t, tenant, mark)...)
	want := []string{"POST /applications/" + app.ApplicationID + "/removePassword"}
	ws := g.Writes()
	if got := writePaths(ws); !slices.Equal(got, want) {
		t.Errorf("writes %q, want exactly %q", got, want)
	} else if !strings.Contains(string(ws[0].Body), newSecret) {
		t.Errorf("removePassword body %s does not name the new secret %s", ws[0].Body, newSecret)
	}
	st, _ = tenant.AppState(app.AppID)
	if !slices.Equal(st.PasswordKeyIDs, []string{oldSecret}) {
		t.Errorf("secrets after containment %q, want only the old one %s (the new one %s removed)", st.PasswordKeyIDs, oldSecret, newSecret)
	}
	if !st.AccountEnabled || st.IsDisabled {
		t.Errorf("containment disabled the app (accountEnabled %v, isDisabled %v); only the new secret was to go", st.AccountEnabled, st.IsDisabled)
	}
	if n := actingDecisions(p, app.AppID); n != 1 {
		t.Errorf("%d decisions acted on the app, want 1", n)
	}
	for _, ch := range []string{"owners", "security"} {
		if !eventually(func() bool { return len(cards(hook, ch, newSecret, mallory.UPN)) > 0 }) {
			t.Errorf("no card in the %s channel names the new secret (keyId %s) and who added it (%s); cards: %+v", ch, newSecret, mallory.UPN, hook.Posts())
		}
	}
	if c := cards(hook, "security", newSecret); len(c) > 0 && !strings.Contains(c[0], "mallory-backdoor") {
		t.Errorf("the card does not give the secret's display name \"mallory-backdoor\": %s", c[0])
	}
}

func ptrTo[T any](v T) *T { return &v }

// ---- 2. each escalation, delivered three ways ----

// pullInterval is the shortest audit pull interval the handler accepts.
const pullInterval = 10 * time.Second

// escalation is one change that gives an existing app more power.
type escalation struct {
	name string
	// app adds the app, long before the installation.
	app func(*fakegraph.Tenant) fakegraph.IDs
	// do makes the change (as mallory) and returns what the security card
	// must name besides who did it.
	do func(*fakegraph.Tenant, fakegraph.IDs) (id string)
	// writes are the writes AppWarden must make, exactly (none: report only).
	writes func(ids fakegraph.IDs, id string) []string
	// contained checks the tenant afterwards.
	contained func(t *testing.T, st fakegraph.AppState, id string)
}

var escalations = []escalation{
	{
		name: "a secret added to a privileged app",
		app: func(t *fakegraph.Tenant) fakegraph.IDs {
			return privilegedApp(t, "Files Backup", "Files.ReadWrite.All")
		},
		do: func(t *fakegraph.Tenant, ids fakegraph.IDs) string {
			return t.AddApplicationPassword(ids.AppID, "mallory-secret")
		},
		writes: func(ids fakegraph.IDs, _ string) []string {
			return []string{"POST /applications/" + ids.ApplicationID + "/removePassword"}
		},
		contained: func(t *testing.T, st fakegraph.AppState, id string) {
			if slices.Contains(st.PasswordKeyIDs, id) || len(st.PasswordKeyIDs) != 1 {
				t.Errorf("secrets %q: want the added one (%s) gone and the old one kept", st.PasswordKeyIDs, id)
			}
			if !st.AccountEnabled {
				t.Error("the service principal was disabled; only the secret was to go")
			}
		},
	},
	{
		name: "a federated credential added to a privileged app",
		app: func(t *fakegraph.Tenant) fakegraph.IDs {
			return privilegedApp(t, "Deploy Pipeline", "Directory.ReadWrite.All")
		},
		do: func(t *fakegraph.Tenant, ids fakegraph.IDs) string {
			return t.AddFederatedCredential(ids.AppID, "mallory-oidc", "https://token.actions.githubusercontent.com", "repo:mallory/exfil:ref:refs/heads/main")
		},
		writes: func(ids fakegraph.IDs, id string) []string {
			return []string{"DELETE /applications/" + ids.ApplicationID + "/federatedIdentityCredentials/" + id}
		},
		contained: func(t *testing.T, st fakegraph.AppState, id string) {
			if len(st.FederatedCredentialIDs) != 0 {
				t.Errorf("federated credentials %q remain; the added one (%s) was to be deleted", st.FederatedCredentialIDs, id)
			}
			if !st.AccountEnabled || len(st.PasswordKeyIDs) != 1 {
				t.Errorf("more than the federated credential was changed: accountEnabled %v, secrets %q", st.AccountEnabled, st.PasswordKeyIDs)
			}
		},
	},
	{
		name: "a privileged directory role given to a service principal",
		app:  func(t *fakegraph.Tenant) fakegraph.IDs { return plainApp(t, "Ops Automation") },
		do: func(t *fakegraph.Tenant, ids fakegraph.IDs) string {
			t.AssignDirectoryRole(ids.AppID, fakegraph.RolePrivilegedRoleAdministrator)
			return "Privileged Role Administrator"
		},
		writes: func(ids fakegraph.IDs, _ string) []string {
			return []string{"PATCH /servicePrincipals/" + ids.ServicePrincipalID}
		},
		contained: func(t *testing.T, st fakegraph.AppState, _ string) {
			if st.AccountEnabled {
				t.Error("the service principal holding Privileged Role Administrator is still enabled")
			}
		},
	},
	{
		name: "a hidden critical app role granted",
		app:  func(t *fakegraph.Tenant) fakegraph.IDs { return plainApp(t, "Reporting Connector") },
		do: func(t *fakegraph.Tenant, ids fakegraph.IDs) string {
			return t.GrantAppRole(ids.AppID, fakegraph.GraphAppID, "RoleManagement.ReadWrite.Directory")
		},
		writes: func(ids fakegraph.IDs, id string) []string {
			return []string{"DELETE /servicePrincipals/" + ids.ServicePrincipalID + "/appRoleAssignments/" + id}
		},
		contained: func(t *testing.T, st fakegraph.AppState, id string) {
			if len(st.Assignments) != 0 {
				t.Errorf("app role assignments %+v remain; the hidden grant %s was to be removed", st.Assignments, id)
			}
			if !st.AccountEnabled {
				t.Error("the service principal was disabled; only the hidden grant was to go")
			}
		},
	},
	{
		name: "an owner added to a privileged app",
		app: func(t *fakegraph.Tenant) fakegraph.IDs {
			return privilegedApp(t, "Mail Archiver", "AppRoleAssignment.ReadWrite.All")
		},
		do: func(t *fakegraph.Tenant, ids fakegraph.IDs) string {
			t.AddOwner(ids.AppID, fakegraph.Owner{DisplayName: "Eve Newowner", UPN: "eve.newowner@contoso.example", Mail: "eve.newowner@contoso.example"})
			return "eve.newowner@contoso.example"
		},
		writes: func(fakegraph.IDs, string) []string { return nil },
		contained: func(t *testing.T, st fakegraph.AppState, _ string) {
			if len(st.Owners) != 2 || !st.AccountEnabled || len(st.PasswordKeyIDs) != 1 {
				t.Errorf("an owner change is reported, never written; the app is now %+v", st)
			}
		},
	},
}

// TestEscalationsDeliveredThreeWays makes each escalation on an old,
// baselined app and delivers its audit records one way: on Event Hub as the
// diagnostic setting streams them, as CloudEvents on an Event Grid custom
// topic, or not at all (the handler's own pull of the audit log, on the
// first tick it is due). Each way, in enforce mode with the built-in policy:
// the decision comes from that record (its dedupeKey), the tenant is
// contained exactly as the rule says and nothing else is written, and the
// security channel gets a card naming what was added and who added it.
func TestEscalationsDeliveredThreeWays(t *testing.T) {
	for _, via := range []string{viaEventHub, viaCustomTopic, viaPull} {
		t.Run(via, func(t *testing.T) {
			t.Parallel()
			tenant := oldTenant()
			apps := make([]fakegraph.IDs, len(escalations))
			for i, e := range escalations {
				apps[i] = e.app(tenant)
			}
			hook, hookEnv := escalationHooks(t)
			g, p, tk := baseline(t, tenant, hook, enforceEnv(hookEnv, map[string]string{"APPWARDEN_AUDIT_PULL_INTERVAL": pullInterval.String()}))
			tenant.SetActor(mallory)

			ids := make([]string, len(escalations))
			recs := make([][]json.RawMessage, len(escalations))
			for i, e := range escalations {
				mark := auditMark(tenant)
				ids[i] = e.do(tenant, apps[i])
				recs[i] = auditSince(t, tenant, mark)
			}
			if via == viaPull {
				tk.waitDue(pullInterval)
				logs := tk.tick(t)
				if !logged(logs, "audit pull finished") {
					t.Errorf("the due tick did not pull the audit log: %q", logs)
				}
			} else {
				for i := range escalations {
					push(t, p, via, recs[i]...)
				}
			}

			var want []string
			for i, e := range escalations {
				t.Run(e.name, func(t *testing.T) {
					a := apps[i]
					keys := map[string]bool{}
					for _, r := range recs[i] {
						keys["audit:"+auditID(t, r)] = true
					}
					var fromRecord []map[string]any
					if !eventually(func() bool {
						fromRecord = nil
						for _, d := range decisionsOn(p, a.AppID) {
							if k, _ := d["dedupeKey"].(string); keys[k] {
								fromRecord = append(fromRecord, d)
							}
						}
						return len(fromRecord) > 0
					}) {
						t.Fatalf("no decision on the app came from its audit record(s) %v; decisions %v", keys, decisionsOn(p, a.AppID))
					}
					w := e.writes(a, ids[i])
					want = append(want, w...)
					got := writesTo(g.Writes(), a.AppID, a.ApplicationID, a.ServicePrincipalID)
					if !slices.Equal(got, w) {
						t.Errorf("writes %q, want exactly %q", got, w)
					}
					acting := actingDecisions(p, a.AppID)
					if len(w) > 0 && acting != 1 || len(w) == 0 && acting != 0 {
						t.Errorf("%d decisions acted, want %d; decisions %v", acting, min(len(w), 1), fromRecord)
					}
					st, ok := tenant.AppState(a.AppID)
					if !ok {
						t.Fatal("the app is gone")
					}
					e.contained(t, st, ids[i])
					if !eventually(func() bool { return len(cards(hook, "security", a.AppID, ids[i], mallory.UPN)) > 0 }) {
						t.Errorf("no card in the security channel names the app, %q, and who did it (%s); posts %+v", ids[i], mallory.UPN, hook.Posts())
					}
				})
			}
			slices.Sort(want)
			got := writePaths(g.Writes())
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("all writes %q, want exactly %q", got, want)
			}
			if rej := g.Rejected(); len(rej) != 0 {
				t.Errorf("the stand-in refused calls: %+v", rej)
			}
		})
	}
}

// TestPushedAndPulledRecordIsHandledOnce: a record that arrives both pushed
// and pulled is handled once, whichever way came first. A secret added to
// "Payroll Export" is pushed on Event Hub, then pulled by the next due tick;
// one added to "HR Connector" is pulled by that tick, then pushed as a
// custom-topic CloudEvent. Each app gets one write (its secret removed),
// one card per channel, and one decision from the record, which acts.
func TestPushedAndPulledRecordIsHandledOnce(t *testing.T) {
	t.Parallel()
	tenant := oldTenant()
	pushedFirst := privilegedApp(tenant, "Payroll Export", "Files.ReadWrite.All")
	pulledFirst := privilegedApp(tenant, "HR Connector", "Directory.ReadWrite.All")
	hook, hookEnv := escalationHooks(t)
	g, p, tk := baseline(t, tenant, hook, enforceEnv(hookEnv, map[string]string{"APPWARDEN_AUDIT_PULL_INTERVAL": pullInterval.String()}))
	tenant.SetActor(mallory)

	mark := auditMark(tenant)
	keyA := tenant.AddApplicationPassword(pushedFirst.AppID, "pushed-then-pulled")
	recA := auditSince(t, tenant, mark)
	mark = auditMark(tenant)
	keyB := tenant.AddApplicationPassword(pulledFirst.AppID, "pulled-then-pushed")
	recB := auditSince(t, tenant, mark)

	push(t, p, viaEventHub, recA...)
	if got := writesTo(g.Writes(), pushedFirst.ApplicationID); len(got) != 1 {
		t.Fatalf("the pushed record was not acted on: writes %q", got)
	}
	tk.waitDue(pullInterval)
	logs := tk.tick(t)
	if !logged(logs, "audit pull finished") {
		t.Fatalf("the due tick did not pull: %q", logs)
	}
	push(t, p, viaCustomTopic, recB...)
	dups := 0.0
	for _, e := range p.Events("auditpull") {
		if n, ok := e["duplicates"].(float64); ok && e["msg"] == "audit pull finished" {
			dups += n
		}
	}
	if dups < 1 {
		t.Errorf("the pull counted no duplicate; the record pushed before it was pulled (%v)", p.Events("auditpull"))
	}

	for _, c := range []struct {
		name string
		app  fakegraph.IDs
		key  string
		recs []json.RawMessage
	}{
		{"pushed, then pulled", pushedFirst, keyA, recA},
		{"pulled, then pushed", pulledFirst, keyB, recB},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := []string{"POST /applications/" + c.app.ApplicationID + "/removePassword"}
			if got := writesTo(g.Writes(), c.app.AppID, c.app.ApplicationID, c.app.ServicePrincipalID); !slices.Equal(got, want) {
				t.Errorf("writes %q, want exactly %q", got, want)
			}
			if st, _ := tenant.AppState(c.app.AppID); slices.Contains(st.PasswordKeyIDs, c.key) || len(st.PasswordKeyIDs) != 1 {
				t.Errorf("secrets %q: want the added one (%s) removed and the old one kept", st.PasswordKeyIDs, c.key)
			}
			key := "audit:" + auditID(t, c.recs[0])
			var fromRecord []map[string]any
			for _, d := range decisionsOn(p, c.app.AppID) {
				if d["dedupeKey"] == key {
					fromRecord = append(fromRecord, d)
				}
			}
			if len(fromRecord) != 1 {
				t.Errorf("%d decisions from record %s, want 1: %v", len(fromRecord), key, fromRecord)
			}
			if n := actingDecisions(p, c.app.AppID); n != 1 {
				t.Errorf("%d decisions acted, want 1: %v", n, decisionsOn(p, c.app.AppID))
			}
			time.Sleep(100 * time.Millisecond) // a second card would trail its invocation
			for _, ch := range []string{"owners", "security"} {
				if n := len(cards(hook, ch, c.key)); n != 1 {
					t.Errorf("%d cards in the %s channel name the secret %s, want 1", n, ch, c.key)
				}
			}
			if c.key != keyB {
				return
			}
			dup := false
			for _, l := range p.Lines() {
				if strings.Contains(l, "already taken through another entry point") && strings.Contains(l, key) {
					dup = true
				}
			}
			if !dup {
				t.Errorf("no log line says the pushed record %s had been pulled already", key)
			}
		})
	}
}

// ---- 3. pull-only mode: grants on existing apps ----

// TestPullOnlyContainsGrantsWithinOneInterval runs with no Event Hub and no
// custom topic: only timer ticks, the audit pull every 10 s and no audit
// lag. After the baseline tick, an admin consents to the application
// permission RoleManagement.ReadWrite.Directory that "Payroll Export" has
// requested for a year (the app role assignment that consent creates), and
// someone grants Application.ReadWrite.All straight to "Teams Bot", which
// never requested it. The first tick that is due contains both, from their
// audit records: Payroll Export's service principal is disabled, the hidden
// grant is removed, and nothing else is written.
func TestPullOnlyContainsGrantsWithinOneInterval(t *testing.T) {
	t.Parallel()
	tenant := oldTenant()
	consented := plainApp(tenant, "Payroll Export", fakegraph.GraphRole("RoleManagement.ReadWrite.Directory"))
	hidden := plainApp(tenant, "Teams Bot")
	hook, hookEnv := escalationHooks(t)
	g, p, tk := baseline(t, tenant, hook, enforceEnv(hookEnv, map[string]string{
		"APPWARDEN_AUDIT_PULL": "true", "APPWARDEN_AUDIT_PULL_INTERVAL": pullInterval.String(),
	}))
	tenant.SetAuditLag(0)
	tenant.SetActor(mallory)

	changed := time.Now()
	mark := auditMark(tenant)
	consentID := tenant.GrantAppRole(consented.AppID, fakegraph.GraphAppID, "RoleManagement.ReadWrite.Directory")
	consentRecs := auditSince(t, tenant, mark)
	mark = auditMark(tenant)
	hiddenID := tenant.GrantAppRole(hidden.AppID, fakegraph.GraphAppID, "Application.ReadWrite.All")
	hiddenRecs := auditSince(t, tenant, mark)

	tk.waitDue(pullInterval)
	logs := tk.tick(t)
	took := time.Since(changed)
	if !logged(logs, "audit pull finished") {
		t.Errorf("the due tick did not pull: %q", logs)
	}
	if took > pullInterval+5*time.Second {
		t.Errorf("contained %s after the change; the pull interval is %s", took.Round(time.Millisecond), pullInterval)
	}

	want := []string{
		"DELETE /servicePrincipals/" + hidden.ServicePrincipalID + "/appRoleAssignments/" + hiddenID,
		"PATCH /servicePrincipals/" + consented.ServicePrincipalID,
	}
	got := writePaths(g.Writes())
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("writes %q, want exactly %q", got, want)
	}
	if st, _ := tenant.AppState(consented.AppID); st.AccountEnabled {
		t.Errorf("Payroll Export, now holding RoleManagement.ReadWrite.Directory (assignment %s), is still enabled", consentID)
	}
	if st, _ := tenant.AppState(hidden.AppID); len(st.Assignments) != 0 || !st.AccountEnabled {
		t.Errorf("Teams Bot: assignments %+v, accountEnabled %v; want the hidden grant %s removed and the app left running", st.Assignments, st.AccountEnabled, hiddenID)
	}
	for _, c := range []struct {
		app  fakegraph.IDs
		recs []json.RawMessage
	}{{consented, consentRecs}, {hidden, hiddenRecs}} {
		keys := map[string]bool{}
		for _, r := range c.recs {
			keys["audit:"+auditID(t, r)] = true
		}
		acted := false
		for _, d := range decisionsOn(p, c.app.AppID) {
			if k, _ := d["dedupeKey"].(string); keys[k] && changesTenant(fmt.Sprint(d["actions"])) && d["appliedMode"] == "enforce" {
				acted = true
			}
		}
		if !acted {
			t.Errorf("no enforced decision on %s came from its pulled audit record(s) %v: %v", c.app.AppID, keys, decisionsOn(p, c.app.AppID))
		}
	}
	t.Logf("contained %s after the change", took.Round(time.Millisecond))
}

// ---- 4. release ----

// TestReleaseRestoresWhatGraphAllows: three escalations on "Vault Sync" (it
// holds Files.ReadWrite.All and a secret since long before the
// installation) are contained in enforce mode: the added secret removed,
// the added federated credential deleted, the hidden critical grant
// removed. `appwarden release`, run by an operator against the same state
// store (Azurite) and Graph, re-creates the federated credential (same
// name, issuer, subject, audience) and the app role assignment (same role,
// resource and principal), and says that the secret cannot be restored,
// naming its keyId. The secret stays gone.
func TestReleaseRestoresWhatGraphAllows(t *testing.T) {
	az := azurite.Start(t)
	tenant := oldTenant()
	app := privilegedApp(tenant, "Vault Sync", "Files.ReadWrite.All")
	env := storageEnv(az, map[string]string{"APPWARDEN_MODE": "enforce"})
	g, p, _ := baseline(t, tenant, nil, env)
	tenant.SetActor(mallory)

	const (
		ficName   = "mallory-oidc"
		ficIssuer = "https://token.actions.githubusercontent.com"
		ficSub    = "repo:mallory/exfil:environment:prod"
		hiddenVal = "RoleManagement.ReadWrite.Directory"
	)
	mark := auditMark(tenant)
	secret := tenant.AddApplicationPassword(app.AppID, "mallory-secret")
	push(t, p, viaEventHub, auditSince(t, tenant, mark)...)
	mark = auditMark(tenant)
	ficID := tenant.AddFederatedCredential(app.AppID, ficName, ficIssuer, ficSub)
	push(t, p, viaEventHub, auditSince(t, tenant, mark)...)
	mark = auditMark(tenant)
	grantID := tenant.GrantAppRole(app.AppID, fakegraph.GraphAppID, hiddenVal)
	push(t, p, viaEventHub, auditSince(t, tenant, mark)...)

	st, _ := tenant.AppState(app.AppID)
	if slices.Contains(st.PasswordKeyIDs, secret) || len(st.FederatedCredentialIDs) != 0 || slices.ContainsFunc(st.Assignments, func(a fakegraph.AssignmentState) bool { return a.ID == grantID }) {
		t.Fatalf("not contained before the release: secrets %q, federated credentials %q (added %s), assignments %+v (added %s); writes %q",
			st.PasswordKeyIDs, st.FederatedCredentialIDs, ficID, st.Assignments, grantID, writePaths(g.Writes()))
	}
	// (The hidden grant also disables the service principal today; see
	// TestHiddenGrantOnAppWithASecretIsRemovedAlone. Release undoes that too.)
	heldBefore := len(st.Assignments) // the granted Files.ReadWrite.All

	out := cli(t, g, env, "release", "--app", app.AppID, "--reason", "reviewed: INC-4711", "--by", "alice@contoso.example")
	t.Logf("release printed:\n%s", out)

	fics := tenant.FederatedCredentials(app.AppID)
	restoredFIC := slices.ContainsFunc(fics, func(f models.FederatedIdentityCredentialable) bool {
		return deref(f.GetName()) == ficName && deref(f.GetIssuer()) == ficIssuer && deref(f.GetSubject()) == ficSub &&
			slices.Equal(f.GetAudiences(), []string{fakegraph.FederatedIdentityAudience})
	})
	if !restoredFIC || len(fics) != 1 {
		t.Errorf("after the release the app has %d federated credentials; want the deleted one (%s %s %s) re-created", len(fics), ficName, ficIssuer, ficSub)
	}
	st, _ = tenant.AppState(app.AppID)
	graphSP := tenant.AddMicrosoftGraph().ServicePrincipalID
	hiddenRole := fakegraph.GraphAppRoles[hiddenVal]
	if !slices.ContainsFunc(st.Assignments, func(a fakegraph.AssignmentState) bool {
		return strings.EqualFold(a.AppRoleID, hiddenRole) && strings.EqualFold(a.ResourceID, graphSP)
	}) || len(st.Assignments) != heldBefore+1 {
		t.Errorf("after the release the assignments are %+v; want the removed %s (%s on Microsoft Graph %s) re-created beside the %d held before", st.Assignments, hiddenVal, hiddenRole, graphSP, heldBefore)
	}
	if !st.AccountEnabled || st.IsDisabled {
		t.Errorf("after the release the app is not running: accountEnabled %v, isDisabled %v", st.AccountEnabled, st.IsDisabled)
	}
	if slices.Contains(st.PasswordKeyIDs, secret) {
		t.Errorf("the removed secret %s is back: Graph cannot restore a secret's value", secret)
	}
	var lost []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "cannot be restored:") {
			lost = append(lost, l)
		}
	}
	if len(lost) != 1 || !strings.Contains(lost[0], secret) {
		t.Errorf("release says it cannot restore %q; want one line naming the removed secret's keyId %s", lost, secret)
	}
	if n := strings.Count(out, "restored: "); n < 2 {
		t.Errorf("release reports %d restored items, want the federated credential and the assignment", n)
	}
	if strings.Contains(out, "FAILED") {
		t.Errorf("release reports a failure:\n%s", out)
	}
}

// TestHiddenGrantOnAppWithASecretIsRemovedAlone: Application.ReadWrite.All
// granted straight to "Build Agent", an old app that never requested it and
// has a client secret. hidden-critical-app-role removes just that grant
// ("leaves the app as its owners know it"); the app's running secret must
// not turn the hidden grant into a reason to disable the whole app
// (critical-app-permission leaves hidden grants to that rule for the same
// reason). Exactly one write: the DELETE of the assignment.
func TestHiddenGrantOnAppWithASecretIsRemovedAlone(t *testing.T) {
	tenant := oldTenant()
	app := tenant.AddApp(fakegraph.AppSpec{
		DisplayName: "Build Agent", CreatedDateTime: longAgo, Owners: []fakegraph.Owner{devOne},
		Requested: []fakegraph.Permission{fakegraph.GraphScope("User.Read")},
		Secrets:   []fakegraph.Credential{{DisplayName: "agent secret"}},
	})
	hook, hookEnv := escalationHooks(t)
	g, p, _ := baseline(t, tenant, hook, enforceEnv(hookEnv))
	tenant.SetActor(mallory)
	mark := auditMark(tenant)
	grant := tenant.GrantAppRole(app.AppID, fakegraph.GraphAppID, "Application.ReadWrite.All")
	push(t, p, viaEventHub, auditSince(t, tenant, mark)...)

	want := []string{"DELETE /servicePrincipals/" + app.ServicePrincipalID + "/appRoleAssignments/" + grant}
	if got := writePaths(g.Writes()); !slices.Equal(got, want) {
		var why []string
		for _, d := range decisionsOn(p, app.AppID) {
			why = append(why, fmt.Sprint(d["explanation"]))
		}
		t.Errorf("writes %q, want exactly %q; decisions: %q", got, want, why)
	}
	st, _ := tenant.AppState(app.AppID)
	if !st.AccountEnabled || len(st.Assignments) != 0 || len(st.PasswordKeyIDs) != 1 {
		t.Errorf("Build Agent after containment: accountEnabled %v, assignments %+v, secrets %q; want it running, with its secret, without the hidden grant",
			st.AccountEnabled, st.Assignments, st.PasswordKeyIDs)
	}
}

// ---- 5. Microsoft first-party apps and managed identities ----

// removeAddedCredentials asks for every credential a change adds to be
// removed, in enforce mode, whatever the app.
const removeAddedCredentials = `apiVersion: appwarden.io/v1
kind: Policy
description: Removes every credential a change adds
rules:
  - id: remove-added-credentials
    title: A credential was added
    severity: critical
    condition: signal.added.filter(f, f.kind in ['credential', 'federatedCredential'])
    actions: [removeCredentials, notify]
    mode: enforce
`

// TestFirstPartyAndManagedIdentityCredentials adds a password to the
// service principal of a Microsoft first-party app that holds Mail.Read in
// the tenant ("I SPy") and to a managed identity's. With a policy that
// removes every added credential in enforce mode (and with the built-in
// policy), nothing is written to either: each is reported to the security
// channel, the card naming the credential's keyId and who added it, and
// the decision records why the app is protected (the built-in policy has
// no rule about a password on a managed identity that holds nothing, so
// there only the first-party app is checked). With
// APPWARDEN_ACT_ON_MICROSOFT_APPS and APPWARDEN_ACT_ON_MANAGED_IDENTITIES
// set to true, the same policy removes exactly those passwords.
func TestFirstPartyAndManagedIdentityCredentials(t *testing.T) {
	policyFile := filepath.Join(t.TempDir(), "remove-added-credentials.yaml")
	if err := os.WriteFile(policyFile, []byte(removeAddedCredentials), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		act  bool
	}{
		{"a policy that removes credentials", map[string]string{"APPWARDEN_POLICY_FILE": policyFile}, false},
		{"the built-in policy", nil, false},
		{"the operator opted in", map[string]string{"APPWARDEN_POLICY_FILE": policyFile,
			"APPWARDEN_ACT_ON_MICROSOFT_APPS": "true", "APPWARDEN_ACT_ON_MANAGED_IDENTITIES": "true"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tenant := oldTenant()
			firstParty := tenant.AddServicePrincipal(fakegraph.SPSpec{
				DisplayName: "Office 365 Exchange Online", AppOwnerOrganizationID: fakegraph.MicrosoftServicesTenantID,
				Granted: []fakegraph.Permission{fakegraph.GraphRole("Mail.Read")},
			})
			managed := tenant.AddServicePrincipal(fakegraph.SPSpec{DisplayName: "func-payroll-prod", ServicePrincipalType: "ManagedIdentity"})
			hook, hookEnv := escalationHooks(t)
			g, p, _ := baseline(t, tenant, hook, enforceEnv(hookEnv, tc.env))
			tenant.SetActor(mallory)

			for _, c := range []struct {
				kind string
				sp   fakegraph.IDs
				why  string
			}{
				{"a Microsoft first-party app", firstParty, "Microsoft"},
				{"a managed identity", managed, "managed identit"},
			} {
				if tc.env == nil && c.sp.AppID == managed.AppID {
					// The built-in policy has no rule about a managed
					// identity that holds nothing; the policy file above has.
					continue
				}
				t.Run(c.kind, func(t *testing.T) {
					mark := auditMark(tenant)
					key := tenant.AddServicePrincipalPassword(c.sp.AppID, "mallory-sp-secret")
					push(t, p, viaEventHub, auditSince(t, tenant, mark)...)
					if !eventually(func() bool { return len(decisionsOn(p, c.sp.AppID)) > 0 }) {
						t.Fatalf("no decision on %s", c.sp.AppID)
					}
					got := writesTo(g.Writes(), c.sp.AppID, c.sp.ServicePrincipalID)
					st, _ := tenant.AppState(c.sp.AppID)
					if tc.act {
						want := []string{"POST /servicePrincipals/" + c.sp.ServicePrincipalID + "/removePassword"}
						if !slices.Equal(got, want) {
							t.Errorf("with the opt-in: writes %q, want exactly %q", got, want)
						}
						if slices.Contains(st.SPPasswordKeyIDs, key) {
							t.Errorf("with the opt-in the password %s is still there", key)
						}
						return
					}
					if len(got) != 0 {
						t.Errorf("wrote to %s: %q", c.kind, got)
					}
					if !slices.Contains(st.SPPasswordKeyIDs, key) || !st.AccountEnabled {
						t.Errorf("%s was changed: passwords %q (added %s), accountEnabled %v", c.kind, st.SPPasswordKeyIDs, key, st.AccountEnabled)
					}
					protected := false
					for _, d := range decisionsOn(p, c.sp.AppID) {
						if why, _ := d["protected"].(string); strings.Contains(why, c.why) && d["appliedMode"] == "audit" && d["severity"] == "critical" {
							protected = true
						}
					}
					if !protected {
						t.Errorf("no critical decision records %s as protected and audit-only: %v", c.kind, decisionsOn(p, c.sp.AppID))
					}
					if !eventually(func() bool { return len(cards(hook, "security", key, mallory.UPN)) > 0 }) {
						t.Errorf("no card in the security channel names the password %s and who added it (%s); posts %+v", key, mallory.UPN, hook.Posts())
					}
				})
			}
			if !tc.act {
				if ws := g.Writes(); len(ws) != 0 {
					t.Errorf("writes without the opt-in: %q", writePaths(ws))
				}
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
