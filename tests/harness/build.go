// Package harness drives the real AppWarden handler the way the Azure
// Functions host does, for any test suite or benchmark to import: it builds
// the binary once per process (and the operator CLI, appwarden, for suites
// that run operator commands), starts it on a free port with
// FUNCTIONS_CUSTOMHANDLER_PORT and polls GET / every 25 ms, posts host
// envelopes (redelivering failed Event Grid deliveries, retrying Event Hub
// batches under the function's retry policy, ticking the timer on schedule),
// stops, kills and restarts it, reads its CPU time and memory from /proc,
// and collects its JSON log lines. It also makes the envelopes of Event Hub
// batches of Entra audit records, Event Grid events and timer ticks, and
// wraps the Graph stand-in (handler/fakegraph) with a tap that timestamps
// every disabling write and can hold writes in flight.
//
// It is an ordinary package (not a _test.go file), so it must not fail a
// test by itself: functions return errors, and the few that take a TB take
// the small interface below, which *testing.T satisfies.
package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// EnvHandlerBin names a prebuilt handler binary to use instead of building
// one (e.g. the one `make package` built, or one shared by several suites).
const EnvHandlerBin = "APPWARDEN_HANDLER_BIN"

// EnvCLIBin names a prebuilt operator CLI (appwarden) to use instead of
// building one.
const EnvCLIBin = "APPWARDEN_CLI_BIN"

// The main packages, relative to the repository root: the custom handler
// the Functions host runs, and the operator CLI.
const (
	HandlerPkg = "./handler"
	CLIPkg     = "./handler/cmd/appwarden"
)

// TB is the part of testing.TB the harness uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Cleanup(func())
}

var (
	testOnce, releaseOnce sync.Once
	testBin, releaseBin   string
	testDir, releaseDir   string
	testErr, releaseErr   error

	cliOnce sync.Once
	cliBin  string
	cliDir  string
	cliErr  error

	rootOnce sync.Once
	root     string
	rootErr  error
)

// RepoRoot is the folder holding go.mod.
func RepoRoot() (string, error) {
	rootOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		mod := strings.TrimSpace(string(out))
		if err != nil || mod == "" || mod == os.DevNull {
			rootErr = fmt.Errorf("harness: cannot find go.mod (go env GOMOD: %q, %v)", mod, err)
			return
		}
		root = filepath.Dir(mod)
	})
	return root, rootErr
}

// HandlerBin returns the handler binary for tests: $APPWARDEN_HANDLER_BIN
// when set, otherwise ./handler built once per process with the same
// settings as `go test` and `go vet` (so the build reuses what they compiled),
// into a temporary folder that Cleanup removes.
func HandlerBin() (string, error) {
	testOnce.Do(func() {
		testBin, testErr = prebuiltOr(EnvHandlerBin, func() (string, error) { return buildInto(&testDir, HandlerPkg, "handler", false) })
	})
	return testBin, testErr
}

// CLIBin returns the operator CLI for tests: $APPWARDEN_CLI_BIN when set,
// otherwise ./handler/cmd/appwarden built once per process like HandlerBin.
func CLIBin() (string, error) {
	cliOnce.Do(func() {
		cliBin, cliErr = prebuiltOr(EnvCLIBin, func() (string, error) { return buildInto(&cliDir, CLIPkg, "appwarden", false) })
	})
	return cliBin, cliErr
}

// ReleaseHandlerBin is like HandlerBin, but builds the handler as `make
// package` does (CGO_ENABLED=0, -trimpath, -ldflags='-s -w'), for figures
// that depend on the binary (benchmarks).
func ReleaseHandlerBin() (string, error) {
	releaseOnce.Do(func() {
		releaseBin, releaseErr = prebuiltOr(EnvHandlerBin, func() (string, error) { return buildInto(&releaseDir, HandlerPkg, "handler", true) })
	})
	return releaseBin, releaseErr
}

func prebuiltOr(env string, build func() (string, error)) (string, error) {
	p := strings.TrimSpace(os.Getenv(env))
	if p == "" {
		return build()
	}
	st, err := os.Stat(p)
	switch {
	case err != nil:
		return "", fmt.Errorf("harness: %s=%s: %w", env, p, err)
	case st.IsDir() || st.Mode()&0o111 == 0:
		return "", fmt.Errorf("harness: %s=%s is not an executable file", env, p)
	}
	return filepath.Abs(p)
}

func buildInto(dir *string, pkg, name string, release bool) (string, error) {
	bin, d, err := Build(pkg, name, release)
	*dir = d
	return bin, err
}

// Build builds the main package pkg (relative to the repository root, e.g.
// "./handler") into a new temporary folder, and returns the binary's path
// and the folder. release builds it static and stripped, as `make package`
// does; otherwise with `go test`'s settings.
func Build(pkg, name string, release bool) (bin, dir string, err error) {
	r, err := RepoRoot()
	if err != nil {
		return "", "", err
	}
	dir, err = os.MkdirTemp("", "appwarden-harness-")
	if err != nil {
		return "", "", err
	}
	bin = filepath.Join(dir, name)
	args := []string{"build", "-o", bin}
	env := os.Environ()
	if release {
		args = append(args, "-trimpath", "-ldflags=-s -w")
		env = append(env, "CGO_ENABLED=0")
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = r
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", "", fmt.Errorf("harness: go build %s: %v\n%s", pkg, err, out)
	}
	return bin, dir, nil
}

// Cleanup removes the binaries HandlerBin, ReleaseHandlerBin and CLIBin
// built (not a prebuilt one). Call it at the end of TestMain or main.
func Cleanup() {
	for _, d := range []string{testDir, releaseDir, cliDir} {
		if d != "" {
			os.RemoveAll(d)
		}
	}
}

// MustCLIBin is CLIBin for tests: it fails the test on error.
func MustCLIBin(t TB) string {
	t.Helper()
	bin, err := CLIBin()
	if err != nil {
		t.Fatalf("%v", err)
	}
	return bin
}

// MustHandlerBin is HandlerBin for tests: it fails the test on error.
func MustHandlerBin(t TB) string {
	t.Helper()
	bin, err := HandlerBin()
	if err != nil {
		t.Fatalf("%v", err)
	}
	return bin
}
