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
	"syscall"
	"testing"
	"time"
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
			return "", fmt.Errorf("azurite-table not found under %s/tests/node_modules (run tests/run, which installs it)", dir)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("azurite-table not found: no go.mod above the test")
		}
		dir = parent
	}
}

// Start starts Azurite with its data in a temporary folder and stops it when
// the test ends. Without Azurite installed it skips, except under CI, where a
// missing emulator is a failure.
func Start(t testing.TB) *Server {
	t.Helper()
	b, err := bin()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("azurite: %v", err)
		}
		t.Skipf("azurite: %v", err)
	}
	s := &Server{dir: t.TempDir(), bin: b, t: t, Port: freePort(t)}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("azurite: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *Server) start() {
	s.t.Helper()
	cmd := exec.Command(s.bin, "--tableHost", "127.0.0.1", "--tablePort", fmt.Sprint(s.Port),
		"--location", s.dir, "--skipApiVersionCheck", "--disableTelemetry", "--loose")
	cmd.Stdout, cmd.Stderr = nil, nil
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("azurite: starting %s: %v", s.bin, err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/%s/Tables", s.Port, account))
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Stop()
	s.t.Fatalf("azurite: not answering on port %d after 30s", s.Port)
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
	s.Stop()
	s.start()
}
