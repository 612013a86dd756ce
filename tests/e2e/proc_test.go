package e2e

// Process helpers: thin testing.TB adapters over tests/harness, which builds
// the real handler once, starts it as the Functions host does, talks to it
// over HTTP, and stops it. Later suites reuse startHandler and runHandler.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/tests/harness"
)

// repoRoot is the folder holding go.mod; set by TestMain.
var repoRoot string

// requestTimeout bounds one HTTP exchange, so a hung handler fails a test
// instead of hanging the suite.
const requestTimeout = 60 * time.Second

// inherit is all a handler process gets from this one's environment, so a
// developer's own settings (even HOME, with an Azure CLI login) cannot leak
// in.
var inherit = []string{"PATH"}

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

// buildAndRun builds the handler and the operator CLI before any test
// runs, so a broken build fails once and clearly, and removes them
// afterwards.
func buildAndRun(m *testing.M) int {
	defer harness.Cleanup()
	root, err := harness.RepoRoot()
	if err == nil {
		_, err = harness.HandlerBin()
	}
	if err == nil {
		_, err = harness.CLIBin()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	repoRoot = root
	return m.Run()
}

// Proc is a running handler and the Graph stand-in it talks to (unused when
// its env names another endpoint). Stop it with stop, not Stop, so that a
// handler ignoring SIGTERM fails the test.
type Proc struct {
	*harness.Proc
	Graph *fakegraph.Server
}

// freePort finds a TCP port free on 127.0.0.1.
func freePort(t testing.TB) int {
	t.Helper()
	port, err := harness.FreePort()
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	return port
}

// identityHeader is the managed identity header value the e2e processes get;
// it is a secret, and must never appear in their output.
const identityHeader = "e2e-identity-header-d41d8cd9"

// defaultEnv is what the host and the app settings give the handler: the
// port, AppWarden's own (user-assigned managed identity) app id, and a
// managed identity endpoint and Graph endpoint served by the Graph stand-in
// g. State is in memory unless AzureWebJobsStorage is added.
func defaultEnv(t testing.TB, g *fakegraph.Server) map[string]string {
	return map[string]string{
		"FUNCTIONS_CUSTOMHANDLER_PORT": strconv.Itoa(freePort(t)),
		"IDENTITY_ENDPOINT":            g.TokenURL(),
		"IDENTITY_HEADER":              g.IdentityHeader(),
		"APPWARDEN_GRAPH_ENDPOINT":     g.URL(),
		"AZURE_CLIENT_ID":              selfAppID,
	}
}

// startHandler starts the handler against a Graph stand-in of its own that
// holds the fixture tenant; see startHandlerWith.
func startHandler(t testing.TB, env map[string]string) *Proc {
	t.Helper()
	return startHandlerWith(t, startGraph(t, fixtureTenant()), env)
}

// startHandlerWith starts the handler as the Functions host does, talking
// to the Graph stand-in g, with defaultEnv overridden by env (an empty value
// unsets a variable), and waits until GET / answers. The process is stopped
// when the test ends.
func startHandlerWith(t testing.TB, g *fakegraph.Server, env map[string]string) *Proc {
	t.Helper()
	full := defaultEnv(t, g)
	for k, v := range env {
		full[k] = v
	}
	port, err := strconv.Atoi(full["FUNCTIONS_CUSTOMHANDLER_PORT"])
	if err != nil {
		t.Fatalf("startHandler needs a numeric FUNCTIONS_CUSTOMHANDLER_PORT, got %q", full["FUNCTIONS_CUSTOMHANDLER_PORT"])
	}
	hp, err := harness.Start(context.Background(), harness.Options{Env: full, Inherit: inherit, Port: port, Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("starting the handler: %v", err)
	}
	p := &Proc{Proc: hp, Graph: g}
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop is harness's Stop (SIGTERM, as the host does on shutdown), failing
// the test when the handler had to be killed. It returns the exit code and
// may be called more than once.
func (p *Proc) stop(t testing.TB) int {
	t.Helper()
	code, err := p.Shutdown()
	if err != nil {
		t.Errorf("%v", err)
	}
	return code
}

// mustDo sends one request with the host's headers, failing the test when
// the exchange fails.
func (p *Proc) mustDo(t testing.TB, method, path string, body []byte, invocationID string) harness.Reply {
	t.Helper()
	r, err := p.send(method, path, body, invocationID)
	if err != nil {
		t.Fatalf("%s %s: %v (alive: %v)\nstderr:\n%s", method, path, err, p.Alive(), p.Stderr())
	}
	return r
}

// send is mustDo for any goroutine: it reports a failed exchange as an error.
func (p *Proc) send(method, path string, body []byte, invocationID string) (harness.Reply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	return p.Do(ctx, method, path, body, invocationID)
}

// mustInvoke POSTs an invocation body to /<function>.
func (p *Proc) mustInvoke(t testing.TB, function string, body []byte, invocationID string) harness.Reply {
	t.Helper()
	return p.mustDo(t, http.MethodPost, "/"+function, body, invocationID)
}

// hostLogs checks that the answer is exactly {"Outputs":{},"Logs":[...],
// "ReturnValue":null} served as JSON, and returns its Logs. (Reply.Logs is
// decoded leniently; this is the strict check.)
func hostLogs(t testing.TB, r harness.Reply) []string {
	t.Helper()
	if r.ContentType != "application/json" {
		t.Fatalf("Content-Type %q, want application/json; body %s", r.ContentType, r.Body)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &top); err != nil {
		t.Fatalf("the answer is not a JSON object: %v: %s", err, r.Body)
	}
	var logs []string
	if len(top) != 3 || string(top["Outputs"]) != "{}" || string(top["ReturnValue"]) != "null" ||
		json.Unmarshal(top["Logs"], &logs) != nil || logs == nil {
		t.Fatalf("the answer is not {\"Outputs\":{},\"Logs\":[...],\"ReturnValue\":null}: %s", r.Body)
	}
	return logs
}

// checkServing fails unless the process is alive and GET / answers 200.
func (p *Proc) checkServing(t testing.TB) {
	t.Helper()
	if !p.Alive() {
		t.Fatalf("the handler exited with code %d\nstderr:\n%s", p.ExitCode(), p.Stderr())
	}
	if r := p.mustDo(t, http.MethodGet, "/", nil, ""); r.Status != http.StatusOK {
		t.Fatalf("GET / = %d, want 200", r.Status)
	}
}

// runHandler runs the handler to completion with exactly env (plus PATH)
// and args, within the host's start-up limit, and returns its exit code and
// output.
func runHandler(t testing.TB, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runBin(t, "", env, args...)
}

// runCLI runs the operator CLI (appwarden) like runHandler runs the handler.
func runCLI(t testing.TB, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runBin(t, harness.MustCLIBin(t), env, args...)
}

// runBin runs bin (the handler when "") to completion.
func runBin(t testing.TB, bin string, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), harness.ReadyTimeout)
	defer cancel()
	r, err := harness.Run(ctx, harness.Options{Bin: bin, Args: args, Env: env, Inherit: inherit, Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("running %s %q: %v\nstderr:\n%s", bin, args, err, r.Stderr)
	}
	return r.ExitCode, r.Stdout, r.Stderr
}

// startGraph serves the tenant through the Graph stand-in (Graph under
// /v1.0 and the managed identity token endpoint), in this test process,
// until the test ends. Its identity header is identityHeader, which the
// handler must never print.
func startGraph(t testing.TB, tenant *fakegraph.Tenant) *fakegraph.Server {
	t.Helper()
	srv, err := fakegraph.Start(tenant, fakegraph.WithIdentityHeader(identityHeader))
	if err != nil {
		t.Fatalf("starting the Graph stand-in: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// graphCalls is how many Graph requests (top-level or inside a $batch) the
// stand-in has seen.
func graphCalls(g *fakegraph.Server) int { return len(g.Calls()) }
