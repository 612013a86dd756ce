package remediate_test

// The world these tests run in: the Graph stand-in (fakegraph) holding a
// tenant, the real Graph client reading and writing it, a state store (in
// memory, or Table Storage as Azurite serves it), and a Remediator wired as
// main wires it.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azpolicy "github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/appwarden/appwardentest"
	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/graph"
	"github.com/appwarden/appwarden/handler/policy"
	"github.com/appwarden/appwarden/handler/remediate"
	"github.com/appwarden/appwarden/handler/store"
	"github.com/appwarden/appwarden/tests/azurite"
)

var bg = context.Background()

// tenantID is the fixtures' invented tenant.
const tenantID = "6f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"

// staticToken hands the Graph client tokens the stand-in issued.
type staticToken struct{ srv *fakegraph.Server }

func (s staticToken) GetToken(context.Context, azpolicy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: s.srv.IssueToken(), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// countingAlerter counts the loud alerts.
type countingAlerter struct {
	mu       sync.Mutex
	messages []string
}

func (a *countingAlerter) Alert(_ context.Context, _ *slog.Logger, message string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.messages = append(a.messages, message)
}

func (a *countingAlerter) Messages() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.messages)
}

// storeKind opens a state store for a subtest.
type storeKind struct {
	name string
	open func(t *testing.T) appwarden.Store
}

// stores are the stores every scenario runs against: the in-memory one, and
// Table Storage as Azurite serves it (one Azurite per top-level test,
// started by the first azurite variant that opens it; the scenarios use
// distinct appIds, so they can share it). Nothing starts Azurite before the
// azurite variant asks for it, so the memory variants always run; where
// Azurite is missing only the azurite variants skip (under CI, fail).
func stores(t *testing.T) []storeKind {
	t.Helper()
	az := azurite.Share(t)
	return []storeKind{
		{"memory", func(*testing.T) appwarden.Store { return store.NewMemory() }},
		{"azurite", func(st *testing.T) appwarden.Store {
			st.Helper()
			tbl, err := store.NewTableFromConnectionString(bg, az.Start(st).ConnectionString())
			if err != nil {
				st.Fatal(err)
			}
			return tbl
		}},
	}
}

// world is one tenant behind the Graph stand-in, and a Remediator acting on it.
type world struct {
	t      *testing.T
	srv    *fakegraph.Server
	tenant *fakegraph.Tenant
	graph  *graph.Client
	store  appwarden.Store
	rem    *remediate.Remediator
	logs   *appwardentest.LogBuffer
	log    *slog.Logger
}

func newWorld(t *testing.T, st appwarden.Store) *world {
	t.Helper()
	tenant := fakegraph.NewTenant(tenantID)
	tenant.AddMicrosoftGraph()
	srv, err := fakegraph.Start(tenant)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	gc, err := graph.New(graph.Options{
		Endpoint: srv.URL(), Credential: staticToken{srv},
		Retry: graph.RetryPolicy{LagBudget: 2 * time.Second, LagFirst: 50 * time.Millisecond, LagMax: 200 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	logs := &appwardentest.LogBuffer{}
	w := &world{
		t: t, srv: srv, tenant: tenant, graph: gc, store: st, logs: logs,
		log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	w.rem = &remediate.Remediator{Graph: gc, Store: st, Owner: "test/" + t.Name()}
	return w
}

// resolve reads the app from the stand-in, as the pipeline does.
func (w *world) resolve(appID string) *appwarden.App {
	w.t.Helper()
	app, err := w.graph.Resolve(bg, graph.Subject{AppID: appID})
	if err != nil {
		w.t.Fatalf("resolving %s: %v", appID, err)
	}
	if app.Deleted {
		w.t.Fatalf("resolving %s: the stand-in says it does not exist", appID)
	}
	return app
}

func (w *world) state(appID string) fakegraph.AppState {
	w.t.Helper()
	st, ok := w.tenant.AppState(appID)
	if !ok {
		w.t.Fatalf("the stand-in has no app %s", appID)
	}
	return st
}

// okWrites are the writes since mark that Graph applied (not those answered
// by an injected fault or refused).
func (w *world) okWrites(mark int64) []fakegraph.Call {
	var out []fakegraph.Call
	for _, c := range w.srv.CallsSince(mark) {
		if c.IsWrite() && c.Fault == "" && c.Status > 0 && c.Status < 300 {
			out = append(out, c)
		}
	}
	return out
}

// allWrites are every write call since mark, failed ones included.
func (w *world) allWrites(mark int64) []fakegraph.Call {
	var out []fakegraph.Call
	for _, c := range w.srv.CallsSince(mark) {
		if c.IsWrite() {
			out = append(out, c)
		}
	}
	return out
}

// writeKey names a write by method and path below /v1.0.
func writeKey(method, path string) string {
	return method + " " + strings.TrimPrefix(path, "/v1.0")
}

func callKeys(cs []fakegraph.Call) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = writeKey(c.Method, c.Path)
	}
	slices.Sort(out)
	return out
}

func stepKeys(steps []remediate.Step) []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = writeKey(s.Write.Method, s.Write.Path)
	}
	slices.Sort(out)
	return out
}

// storedAction is an action record as the store holds it.
type storedAction struct {
	Kind        appwarden.ActionKind `json:"kind"`
	AppID       string               `json:"appId"`
	Target      string               `json:"target"`
	Before      json.RawMessage      `json:"before"`
	DryRun      bool                 `json:"dryRun"`
	Fingerprint string               `json:"fingerprint"`
	Status      string               `json:"status"`
	Note        string               `json:"note"`
	Undo        *appwarden.Write     `json:"undo"`
	Key         string               `json:"-"`
}

// actions lists the action records kept for the app.
func (w *world) actions(appID string) []storedAction {
	w.t.Helper()
	recs, err := w.store.List(bg, strings.ToLower(appID))
	if err != nil {
		w.t.Fatal(err)
	}
	var out []storedAction
	for _, r := range recs {
		if r.Kind != appwarden.KindAction {
			continue
		}
		var a storedAction
		if err := json.Unmarshal(r.Data, &a); err != nil {
			w.t.Fatalf("action record %s: %v", r.Key, err)
		}
		a.Key = r.Key
		out = append(out, a)
	}
	return out
}

// checkRecorded checks that each step has exactly one action record, with
// the given status and the step's exact before-state.
func (w *world) checkRecorded(appID string, steps []remediate.Step, status string) {
	w.t.Helper()
	recs := w.actions(appID)
	for _, s := range steps {
		var found []storedAction
		for _, r := range recs {
			if r.Kind == s.Kind && r.Target == s.Target {
				found = append(found, r)
			}
		}
		if len(found) != 1 {
			w.t.Errorf("%s on %s: %d action records, want 1: %+v", s.Kind, s.Target, len(found), found)
			continue
		}
		r := found[0]
		if r.Status != status {
			w.t.Errorf("%s on %s: status %q, want %q", s.Kind, s.Target, r.Status, status)
		}
		want, _ := json.Marshal(s.Before)
		if !jsonEqual(r.Before, want) {
			w.t.Errorf("%s on %s: before-state %s, want %s", s.Kind, s.Target, r.Before, want)
		}
		if r.DryRun != (status == remediate.StatusWouldDo) {
			w.t.Errorf("%s on %s: dryRun %v with status %s", s.Kind, s.Target, r.DryRun, status)
		}
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// criticalPolicy is a policy with one enforce-mode rule that finds the
// critical application permissions an app requests or holds and asks for
// the given actions.
func criticalPolicy(t *testing.T, actions ...appwarden.ActionKind) *policy.Policy {
	t.Helper()
	names := make([]string, len(actions))
	for i, a := range actions {
		names[i] = string(a)
	}
	src := fmt.Sprintf(`apiVersion: appwarden.io/v1
kind: Policy
lists:
  critical: [%s]
rules:
  - id: critical-app-permission
    title: Requests or holds a critical application permission
    severity: critical
    condition: app.permissions.filter(p, p.type == 'application' && p.name in critical)
    actions: [%s]
    mode: enforce
`, strings.Join(criticalRoles, ", "), strings.Join(names, ", "))
	p, err := policy.Parse("critical.yaml", []byte(src))
	if err != nil {
		t.Fatalf("test policy: %v", err)
	}
	return p
}

// decide evaluates the policy on the app as the handler does.
func (w *world) decide(p *policy.Policy, app *appwarden.App, mode appwarden.Mode) appwarden.Decision {
	return p.Evaluate(app, policy.Env{Now: app.ResolvedAt, Mode: mode, Guard: w.rem.Guard})
}

// riskyApp is "Payroll Sync" as the fixtures describe it, with every kind of
// thing remediation can change: an enabled service principal, tags and
// notes, two client secrets, a critical and an ordinary app role
// assignment, and a tenant-wide delegated grant.
func riskyApp(name string) fakegraph.AppSpec {
	return fakegraph.AppSpec{
		DisplayName: name,
		Tags:        []string{"team:payroll", "HideApp"},
		Notes:       "Owned by the payroll team (CHG-1042).",
		Secrets:     []fakegraph.Credential{{DisplayName: "deploy"}, {DisplayName: "backup"}},
		Owners:      []fakegraph.Owner{{DisplayName: "Dev One", UPN: "dev.one@contoso.example", Mail: "dev.one@contoso.example"}},
		Requested: []fakegraph.Permission{
			fakegraph.GraphRole("RoleManagement.ReadWrite.Directory"), fakegraph.GraphRole("User.Read.All"),
			fakegraph.GraphScope("User.Read"), fakegraph.GraphScope("Mail.Read"),
		},
		Granted: []fakegraph.Permission{
			fakegraph.GraphRole("RoleManagement.ReadWrite.Directory"), fakegraph.GraphRole("User.Read.All"),
			fakegraph.GraphScope("User.Read"), fakegraph.GraphScope("Mail.Read"),
		},
	}
}

// simpleRiskyApp only requests and holds RoleManagement.ReadWrite.Directory.
func simpleRiskyApp(name string) fakegraph.AppSpec {
	return fakegraph.AppSpec{
		DisplayName: name,
		Requested:   []fakegraph.Permission{fakegraph.GraphRole("RoleManagement.ReadWrite.Directory")},
		Granted:     []fakegraph.Permission{fakegraph.GraphRole("RoleManagement.ReadWrite.Directory")},
	}
}

// mustAct runs Act and fails the test on an error.
func (w *world) mustAct(app *appwarden.App, d appwarden.Decision) appwarden.Outcome {
	w.t.Helper()
	out, err := w.rem.Act(bg, w.log, app, d)
	if err != nil {
		w.t.Fatalf("Act on %s: %v\nlogs:\n%s", app.AppID, err, w.logs.String())
	}
	return out
}
