// Package azurite starts the Azurite Table Storage emulator (npm `azurite`,
// installed into tests/node_modules by tests/run) for tests that need real
// Table Storage semantics: conditional writes, ETags, restarts.
package azurite

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/appwarden/appwarden/tests/ci"
)

// Azurite's published development account (public, documented by Microsoft;
// not a secret).
const (
	account = "devstoreaccount1"
	key     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Server is a running Azurite table service.
type Server struct {
	Port int
	dir  string
	bin  string
	cmd  *exec.Cmd
	t    testing.TB
}

// ConnectionString is what AzureWebJobsStorage would hold.
func (s *Server) ConnectionString() string {
	return fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;TableEndpoint=http://127.0.0.1:%d/%s;", account, key, s.Port, account)
}

// bin finds azurite-table in tests/node_modules.
func bin() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "tests", "node_modules", ".bin", "azurite-table")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return "", fmt.Errorf("azurite-table not found under %s/tests/node_modules", dir)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("azurite-table not found: no go.mod above the test")
		}
		dir = parent
	}
}

// Start starts Azurite with its data in a temporary folder and stops it when
// the test ends. Without Azurite installed it skips, except under CI
// (CI=true), where a missing emulator is a failure.
func Start(t testing.TB) *Server {
	t.Helper()
	b, err := bin()
	if err != nil {
		ci.Missing(t, "azurite (Table Storage emulator)", err)
		return nil
	}
	s := &Server{dir: t.TempDir(), bin: b, t: t, Port: freePort(t)}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Shared is one Azurite for several subtests of a test, started by the first
// subtest that asks for it, so that the subtests that do not need it (the
// in-memory variants) run wherever Azurite is missing.
type Shared struct {
	parent testing.TB
	dir    string
	once   sync.Once
	s      *Server
	err    error
}

// Share prepares an Azurite for t's subtests; it starts nothing. Call it on
// t's own goroutine.
func Share(t testing.TB) *Shared {
	t.Helper()
	return &Shared{parent: t, dir: t.TempDir()}
}

// Start returns the shared Azurite, starting it the first time; it stops
// when the parent test ends. t is the subtest asking: without Azurite
// installed it skips, except under CI (CI=true), where it fails.
func (sh *Shared) Start(t testing.TB) *Server {
	t.Helper()
	b, err := bin()
	if err != nil {
		ci.Missing(t, "azurite (Table Storage emulator)", err)
		return nil
	}
	sh.once.Do(func() {
		port, err := pickPort()
		if err != nil {
			sh.err = err
			return
		}
		s := &Server{dir: sh.dir, bin: b, t: sh.parent, Port: port}
		if sh.err = s.start(); sh.err == nil {
			sh.s = s
			sh.parent.Cleanup(s.Stop)
		}
	})
	if sh.err != nil {
		t.Fatal(sh.err)
	}
	return sh.s
}

func freePort(t testing.TB) int {
	t.Helper()
	p, err := pickPort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func pickPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("azurite: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) start() error {
	cmd := exec.Command(s.bin, "--tableHost", "127.0.0.1", "--tablePort", fmt.Sprint(s.Port),
		"--location", s.dir, "--skipApiVersionCheck", "--disableTelemetry", "--loose")
	cmd.Stdout, cmd.Stderr = nil, nil
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("azurite: starting %s: %w", s.bin, err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/%s/Tables", s.Port, account))
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Stop()
	return fmt.Errorf("azurite: not answering on port %d after 30s", s.Port)
}

// Stop stops Azurite (its data stays on disk for Restart).
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart starts Azurite again on the same port with the same data.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
}
