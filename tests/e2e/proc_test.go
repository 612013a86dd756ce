package e2e

// Process helpers: build the real handler once, start it as the Functions
// host does, talk to it over HTTP, and stop it. Later suites reuse
// startHandler and runHandler.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/fakegraph"
)

// Set by TestMain.
var (
	repoRoot   string // the folder holding go.mod
	handlerBin string // the handler built from ./handler
)

const (
	// readyTimeout is the host's start-up limit (FACTS.md §2).
	readyTimeout = 30 * time.Second
	// readyPoll is how often the host polls GET /.
	readyPoll = 25 * time.Millisecond
	// stopTimeout bounds a graceful stop before the process is killed.
	stopTimeout = 30 * time.Second
	// requestTimeout bounds one HTTP exchange, so a hung handler fails a
	// test instead of hanging the suite.
	requestTimeout = 60 * time.Second
)

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == os.DevNull {
		fmt.Fprintf(os.Stderr, "e2e: cannot find go.mod (go env GOMOD: %q, %v)\n", out, err)
		return 1
	}
	repoRoot = filepath.Dir(strings.TrimSpace(string(out)))
	dir, err := os.MkdirTemp("", "appwarden-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	handlerBin = filepath.Join(dir, "handler")
	build := exec.Command("go", "build", "-o", handlerBin, "./handler")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./handler: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// syncBuffer collects a process's output while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Proc is a running handler.
type Proc struct {
	Port int
	URL  string // http://127.0.0.1:<port>
	// Graph is the Graph stand-in the process talks to (unused when env
	// names another endpoint).
	Graph *fakegraph.Server

	t      testing.TB
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	done   chan struct{} // closed when the process has exited
	code   int           // exit code, once done is closed
	client *http.Client
}

// freePort finds a TCP port free on 127.0.0.1.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// processEnv is a clean environment (nothing inherited but PATH, so a
// developer's own settings cannot leak in) with env applied; an empty value
// leaves the variable unset.
func processEnv(env map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		if v != "" {
			out = append(out, k+"="+v)
		}
	}
	return out
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
	p := &Proc{
		Graph:  g,
		Port:   port,
		URL:    "http://127.0.0.1:" + strconv.Itoa(port),
		t:      t,
		done:   make(chan struct{}),
		client: &http.Client{Timeout: requestTimeout},
	}
	p.cmd = exec.Command(handlerBin)
	p.cmd.Dir = t.TempDir()
	p.cmd.Env = processEnv(full)
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting the handler: %v", err)
	}
	go func() {
		_ = p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() { p.Stop() })
	p.waitReady()
	return p
}

// waitReady polls GET / every 25 ms until any HTTP answer, as the host does.
func (p *Proc) waitReady() {
	p.t.Helper()
	deadline := time.Now().Add(readyTimeout)
	poll := &http.Client{Timeout: time.Second}
	for {
		resp, err := poll.Get(p.URL + "/")
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-p.done:
			p.t.Fatalf("the handler exited with code %d before it was ready\nstderr:\n%s\nstdout:\n%s", p.code, p.Stderr(), p.Stdout())
		case <-time.After(readyPoll):
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the handler did not answer GET / within %s: %v\nstderr:\n%s", readyTimeout, err, p.Stderr())
		}
	}
}

// Alive reports whether the process is still running.
func (p *Proc) Alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Stop sends SIGTERM, as the host does on shutdown, waits for the process to
// exit (killing it after stopTimeout), and returns its exit code. It may be
// called more than once.
func (p *Proc) Stop() int {
	if p.Alive() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(stopTimeout):
			_ = p.cmd.Process.Kill()
			<-p.done
			p.t.Errorf("the handler did not stop within %s of SIGTERM", stopTimeout)
		}
	}
	return p.code
}

// Stdout is what the process has written to stdout so far.
func (p *Proc) Stdout() string { return p.stdout.String() }

// Stderr is what the process has written to stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// Response is one HTTP answer from the handler.
type Response struct {
	Status      int
	ContentType string
	Body        []byte
}

// Do sends one request with the host's headers.
func (p *Proc) Do(t testing.TB, method, path string, body []byte, invocationID string) Response {
	t.Helper()
	r, err := p.send(method, path, body, invocationID)
	if err != nil {
		t.Fatalf("%s %s: %v (alive: %v)\nstderr:\n%s", method, path, err, p.Alive(), p.Stderr())
	}
	return r
}

// send is Do for any goroutine: it reports a failed exchange as an error.
func (p *Proc) send(method, path string, body []byte, invocationID string) (Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, p.URL+path, bytes.NewReader(body))
	if err != nil {
		return Response{}, err
	}
	req.Header.Set("X-Azure-Functions-InvocationId", invocationID)
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		return Response{}, fmt.Errorf("reading the answer: %w", err)
	}
	return Response{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: b.Bytes()}, nil
}

// Invoke POSTs an invocation body to /<function>.
func (p *Proc) Invoke(t testing.TB, function string, body []byte, invocationID string) Response {
	t.Helper()
	return p.Do(t, http.MethodPost, "/"+function, body, invocationID)
}

// Logs checks that the answer is exactly {"Outputs":{},"Logs":[...],
// "ReturnValue":null} served as JSON, and returns its Logs.
func (r Response) Logs(t testing.TB) []string {
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
		t.Fatalf("the handler exited with code %d\nstderr:\n%s", p.code, p.Stderr())
	}
	if r := p.Do(t, http.MethodGet, "/", nil, ""); r.Status != http.StatusOK {
		t.Fatalf("GET / = %d, want 200", r.Status)
	}
}

// runHandler runs the handler to completion with exactly env (plus PATH)
// and args, and returns its exit code and output.
func runHandler(t testing.TB, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, handlerBin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = processEnv(env)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && ctx.Err() == nil:
	default:
		t.Fatalf("running handler %q: %v\nstderr:\n%s", args, err, errOut.String())
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
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
