package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
)

// Host timings (shared/docs/FACTS.md §2, host.json).
const (
	// ReadyTimeout is the host's start-up limit.
	ReadyTimeout = 30 * time.Second
	// ReadyPoll is how often the host polls GET /.
	ReadyPoll = 25 * time.Millisecond
	// FunctionTimeout is host.json's functionTimeout: the host gives up on
	// an invocation after it.
	FunctionTimeout = time.Minute
	// StopTimeout bounds a graceful stop before the process is killed.
	StopTimeout = 30 * time.Second
)

// Options say how to start a handler process.
type Options struct {
	// Bin is the executable; HandlerBin() when empty.
	Bin  string
	Args []string
	// Env is the process environment besides the Inherit variables (nothing
	// else is inherited, so a developer's own settings cannot leak in). An
	// empty value leaves the variable unset. Launch sets
	// FUNCTIONS_CUSTOMHANDLER_PORT from Port; Run leaves it to Env.
	Env map[string]string
	// Inherit names the variables copied from this process's environment
	// (nil: DefaultInherit). A suite that wants nothing of the developer's
	// own, not even HOME with its Azure CLI login, passes just PATH.
	Inherit []string
	// Port to listen on; a free one when 0. Restart keeps it.
	Port int
	// Dir is the working directory (default: the current one).
	Dir string
	// ReadyTimeout bounds the wait for GET / (default ReadyTimeout).
	ReadyTimeout time.Duration
	// Poll is the readiness poll interval (default ReadyPoll, as the host).
	Poll time.Duration
	// DiscardLogs keeps no stdout lines (they are still read and counted),
	// for long benchmark runs.
	DiscardLogs bool
	// Echo, when set, receives a copy of stdout and stderr.
	Echo io.Writer
	// MaxConns bounds the idle connections kept to the handler (default 256).
	MaxConns int
}

// DefaultInherit is what a handler inherits when Options.Inherit is nil.
var DefaultInherit = []string{"PATH", "HOME"}

// environ is the process environment opts describe: the inherited
// variables, then Env without its empty values and without the variable
// named skip (which the caller sets itself).
func (opts Options) environ(skip string) []string {
	inherit := opts.Inherit
	if inherit == nil {
		inherit = DefaultInherit
	}
	env := make([]string, 0, len(inherit)+len(opts.Env)+1)
	for _, k := range inherit {
		env = append(env, k+"="+os.Getenv(k))
	}
	for k, v := range opts.Env {
		if v != "" && k != skip {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// bin is Options.Bin, or HandlerBin() when it is empty.
func (opts Options) bin() (string, error) {
	if opts.Bin != "" {
		return opts.Bin, nil
	}
	return HandlerBin()
}

// Proc is a running handler process.
type Proc struct {
	Port int
	URL  string // http://127.0.0.1:<port>
	// Started is when the process was started; ReadyIn is how long after
	// that GET / first answered (0 until WaitReady succeeds).
	Started time.Time
	ReadyIn time.Duration

	opts   Options
	cmd    *exec.Cmd
	done   chan struct{}
	state  *os.ProcessState
	stdout *lineLog
	stderr *lockedBuffer
	client *http.Client
}

// FreePort finds a TCP port free on 127.0.0.1.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start starts the handler as the Functions host does and waits until GET /
// answers.
func Start(ctx context.Context, opts Options) (*Proc, error) {
	p, err := Launch(opts)
	if err != nil {
		return nil, err
	}
	if err := p.WaitReady(ctx); err != nil {
		p.Kill()
		return nil, err
	}
	return p, nil
}

// MustStart is Start for tests: it fails the test on error and stops the
// process when the test ends.
func MustStart(t TB, opts Options) *Proc {
	t.Helper()
	p, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("starting the handler: %v", err)
	}
	t.Cleanup(func() { p.Stop() })
	return p
}

// Launch starts the process without waiting for it to be ready.
func Launch(opts Options) (*Proc, error) {
	bin, err := opts.bin()
	if err != nil {
		return nil, err
	}
	opts.Bin = bin
	if opts.Port == 0 {
		port, err := FreePort()
		if err != nil {
			return nil, fmt.Errorf("harness: free port: %w", err)
		}
		opts.Port = port
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = ReadyTimeout
	}
	if opts.Poll == 0 {
		opts.Poll = ReadyPoll
	}
	if opts.MaxConns == 0 {
		opts.MaxConns = 256
	}
	env := append(opts.environ(portVar), portVar+"="+strconv.Itoa(opts.Port))

	p := &Proc{
		Port:   opts.Port,
		URL:    "http://127.0.0.1:" + strconv.Itoa(opts.Port),
		opts:   opts,
		done:   make(chan struct{}),
		stdout: &lineLog{keep: !opts.DiscardLogs},
		stderr: &lockedBuffer{},
		client: &http.Client{Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        opts.MaxConns,
			MaxIdleConnsPerHost: opts.MaxConns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		}},
	}
	p.cmd = exec.Command(opts.Bin, opts.Args...)
	p.cmd.Dir = opts.Dir
	p.cmd.Env = env
	var out, errOut io.Writer = p.stdout, p.stderr
	if opts.Echo != nil {
		out, errOut = io.MultiWriter(p.stdout, opts.Echo), io.MultiWriter(p.stderr, opts.Echo)
	}
	p.cmd.Stdout, p.cmd.Stderr = out, errOut
	p.Started = time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("harness: starting %s: %w", opts.Bin, err)
	}
	go func() {
		_ = p.cmd.Wait()
		p.state = p.cmd.ProcessState
		close(p.done)
	}()
	return p, nil
}

// portVar is the variable the host passes the port in.
const portVar = "FUNCTIONS_CUSTOMHANDLER_PORT"

// Result is how a process that Run ran to completion ended.
type Result struct {
	ExitCode       int
	Stdout, Stderr string
}

// Run runs the handler to completion, for its subcommands (`handler
// functions`, the operator CLI) and for start-ups it must refuse. Unlike
// Launch it adds no FUNCTIONS_CUSTOMHANDLER_PORT, so the environment is
// exactly Env (and Inherit): a test can leave the port out or make it
// anything. Only Bin, Args, Env, Inherit and Dir are used. A non-zero exit
// is a Result, not an error; failing to run, or ctx ending first (the
// process is then killed), is an error, returned with the output so far.
func Run(ctx context.Context, opts Options) (Result, error) {
	bin, err := opts.bin()
	if err != nil {
		return Result{ExitCode: -1}, err
	}
	cmd := exec.CommandContext(ctx, bin, opts.Args...)
	cmd.Dir = opts.Dir
	cmd.Env = opts.environ("")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	r := Result{ExitCode: cmd.ProcessState.ExitCode(), Stdout: out.String(), Stderr: errOut.String()}
	var exit *exec.ExitError
	if err == nil || errors.As(err, &exit) && ctx.Err() == nil {
		return r, nil
	}
	return r, fmt.Errorf("harness: running %s %q: %w", bin, opts.Args, err)
}

// WaitReady polls GET / every Options.Poll until any HTTP answer, as the
// host does, and sets ReadyIn.
func (p *Proc) WaitReady(ctx context.Context) error {
	deadline := p.Started.Add(p.opts.ReadyTimeout)
	poll := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/", nil)
		resp, err := poll.Do(req)
		if err == nil {
			p.ReadyIn = time.Since(p.Started)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("harness: the handler exited (%v) before it was ready\nstderr:\n%s", p.state, p.Stderr())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(p.opts.Poll):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("harness: the handler did not answer GET / within %s: %v\nstderr:\n%s", p.opts.ReadyTimeout, err, p.Stderr())
		}
	}
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Options returns the options the process was started with (Port filled in).
func (p *Proc) Options() Options { return p.opts }

// Alive reports whether the process is still running.
func (p *Proc) Alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// ExitCode is the exit code, or -1 while running or when killed by a signal.
func (p *Proc) ExitCode() int {
	if p.Alive() || p.state == nil {
		return -1
	}
	return p.state.ExitCode()
}

// State is the exited process's state (with its rusage), nil while running.
func (p *Proc) State() *os.ProcessState {
	if p.Alive() {
		return nil
	}
	return p.state
}

// Stop sends SIGTERM, as the host does on shutdown, and waits for the exit
// (killing the process after StopTimeout). It returns the exit code and may
// be called more than once.
func (p *Proc) Stop() int {
	code, _ := p.Shutdown()
	return code
}

// ErrStopTimeout is Shutdown's error for a process that had to be killed.
var ErrStopTimeout = fmt.Errorf("harness: the handler did not stop within %s of SIGTERM, and was killed", StopTimeout)

// Shutdown is Stop that also tells whether the stop was clean: it returns
// ErrStopTimeout when the process ignored SIGTERM for StopTimeout and had to
// be killed (the host would lose its in-flight work), so a test can fail on
// it. Only the call that killed the process returns the error.
func (p *Proc) Shutdown() (int, error) {
	var err error
	if p.Alive() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(StopTimeout):
			_ = p.cmd.Process.Kill()
			<-p.done
			err = ErrStopTimeout
		}
	}
	p.client.CloseIdleConnections()
	return p.ExitCode(), err
}

// Kill sends SIGKILL (no chance to finish anything) and waits for the exit.
func (p *Proc) Kill() {
	if p.Alive() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
	p.client.CloseIdleConnections()
}

// Restart stops the process if it still runs and starts a new one with the
// same options (same port), waiting until it is ready.
func (p *Proc) Restart(ctx context.Context) (*Proc, error) {
	p.Stop()
	return Start(ctx, p.opts)
}

// Stdout is what the process has written to stdout so far (empty with
// DiscardLogs).
func (p *Proc) Stdout() string { return p.stdout.String() }

// Stderr is what the process has written to stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// Lines returns the stdout lines so far.
func (p *Proc) Lines() []string { return p.stdout.Lines() }

// LineCount is the number of stdout lines so far (counted with DiscardLogs too).
func (p *Proc) LineCount() int { return p.stdout.Count() }

// Events returns the JSON log lines whose "event" field is event (every
// JSON line when event is ""), decoded.
func (p *Proc) Events(event string) []map[string]any {
	var out []map[string]any
	for _, l := range p.stdout.Lines() {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil {
			continue
		}
		if event == "" || m["event"] == event {
			out = append(out, m)
		}
	}
	return out
}

// Reply is one answer from the handler.
type Reply struct {
	Status int
	// ContentType is the Content-Type header, for checking that a reply
	// is served as JSON, as the host expects.
	ContentType string
	Logs        []string // the custom handler reply's Logs
	Body        []byte
	Elapsed     time.Duration
}

// OK reports a 2xx answer: the host counts the invocation as succeeded.
func (r Reply) OK() bool { return r.Status >= 200 && r.Status < 300 }

// Invoke POSTs a host envelope to /<function> with the host's headers and a
// new invocation id.
func (p *Proc) Invoke(ctx context.Context, function string, body []byte) (Reply, error) {
	return p.Do(ctx, http.MethodPost, "/"+function, body, uuid.NewString())
}

// Do sends one request with the host's headers.
func (p *Proc) Do(ctx context.Context, method, path string, body []byte, invocationID string) (Reply, error) {
	req, err := http.NewRequestWithContext(ctx, method, p.URL+path, bytes.NewReader(body))
	if err != nil {
		return Reply{}, err
	}
	if invocationID != "" {
		req.Header.Set("X-Azure-Functions-InvocationId", invocationID)
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := p.client.Do(req)
	if err != nil {
		return Reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	r := Reply{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: b, Elapsed: time.Since(start)}
	if err != nil {
		return r, err
	}
	var env struct{ Logs []string }
	if json.Unmarshal(b, &env) == nil {
		r.Logs = env.Logs
	}
	return r, nil
}

// Invoker is something the host can deliver to: a Proc, or several.
type Invoker interface {
	Invoke(ctx context.Context, function string, body []byte) (Reply, error)
}

// InvokerFunc adapts a function to Invoker (e.g. "whichever process is
// current", across restarts).
type InvokerFunc func(ctx context.Context, function string, body []byte) (Reply, error)

// Invoke implements Invoker.
func (f InvokerFunc) Invoke(ctx context.Context, function string, body []byte) (Reply, error) {
	return f(ctx, function, body)
}

// RoundRobin delivers each invocation to the next process in turn, as the
// host spreads invocations over instances.
func RoundRobin(procs ...*Proc) Invoker {
	var mu sync.Mutex
	i := 0
	return InvokerFunc(func(ctx context.Context, function string, body []byte) (Reply, error) {
		mu.Lock()
		p := procs[i%len(procs)]
		i++
		mu.Unlock()
		return p.Invoke(ctx, function, body)
	})
}

// lockedBuffer collects output while the process runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *lockedBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *lockedBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lineLog splits stdout into lines, keeping them unless told not to.
type lineLog struct {
	mu      sync.Mutex
	keep    bool
	partial []byte
	lines   []string
	count   int
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if l.keep {
				l.partial = append(l.partial, p...)
			}
			break
		}
		l.count++
		if l.keep {
			line := append(l.partial, p[:i]...)
			l.lines = append(l.lines, string(line))
			l.partial = l.partial[:0]
		}
		p = p[i+1:]
	}
	return n, nil
}

func (l *lineLog) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

func (l *lineLog) Count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b bytes.Buffer
	for _, s := range l.lines {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	b.Write(l.partial)
	return b.String()
}
