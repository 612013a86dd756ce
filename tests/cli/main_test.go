// Package cli tests the operator CLI (appwarden scan, replay, snapshot
// export) as an operator runs it: the real binary, built once, in a clean
// environment, against snapshot files and a Graph stand-in.
package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Set by TestMain.
var (
	repoRoot string // the folder holding go.mod
	cliBin   string // the operator CLI built from ./handler/cmd/appwarden
	workDir  string // scratch shared by the tests (snapshots built once)
)

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == os.DevNull {
		fmt.Fprintf(os.Stderr, "cli: cannot find go.mod (go env GOMOD: %q, %v)\n", out, err)
		return 1
	}
	repoRoot = filepath.Dir(strings.TrimSpace(string(out)))
	if workDir, err = os.MkdirTemp("", "appwarden-cli-"); err != nil {
		fmt.Fprintln(os.Stderr, "cli:", err)
		return 1
	}
	defer os.RemoveAll(workDir)
	cliBin = filepath.Join(workDir, "appwarden")
	build := exec.Command("go", "build", "-o", cliBin, "./handler/cmd/appwarden")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "cli: go build ./handler/cmd/appwarden: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// cleanEnv is the test process's environment without any setting the
// handler reads, so a developer's shell cannot change what a test sees.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "APPWARDEN_"), strings.HasPrefix(k, "IDENTITY_"), strings.HasPrefix(k, "AZURE_"),
			strings.HasPrefix(k, "AzureWebJobs"), strings.HasPrefix(k, "FUNCTIONS_"), strings.HasPrefix(k, "MSI_"):
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// result is how one run of the binary went.
type result struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// run runs the appwarden binary with args, the environment env (cleanEnv()
// when nil) and stdin, and waits for it (two minutes at most).
func run(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	if env == nil {
		env = cleanEnv()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cliBin, args...)
	cmd.Dir = repoRoot
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errOut.String(), took: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		t.Fatalf("appwarden %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("appwarden %s: timed out\nstderr:\n%s", strings.Join(args, " "), r.stderr)
	}
	return r
}

// writeFile writes data to a new file in the test's temporary folder.
func writeFile(t *testing.T, name string, write func(io.Writer) error) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := write(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestHelp checks that every command's --help documents its exit codes
// and shows examples, on stdout with exit 0.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"scan", "--help"}, {"replay", "--help"}, {"snapshot", "export", "--help"}} {
		r := run(t, nil, "", args...)
		if r.code != 0 {
			t.Errorf("%v: exit %d\n%s", args, r.code, r.stderr)
		}
		for _, want := range []string{"Exit codes: 0", "1 findings at or above --fail-on", "2 usage or runtime error", "Examples:\n  appwarden " + args[0], "Application.Read.All"} {
			if args[0] == "snapshot" && strings.HasPrefix(want, "1 findings") {
				continue // export has no findings
			}
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%v: help lacks %q", args, want)
			}
		}
	}
	if r := run(t, nil, "", "scan", "--bogus"); r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, "unknown flag: --bogus") || !strings.Contains(r.stderr, "Usage:\n  appwarden scan") {
		t.Errorf("a bad flag: exit %d\n%s", r.code, r.stderr)
	}
}
