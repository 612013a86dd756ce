// Package infra checks the deployment side of AppWarden offline: the Bicep
// files parse and follow the house rules, the package has the layout the
// Functions host needs, function names agree between function.json, the
// handler and Bicep, every setting is set and documented, no secret is
// committed, and the deploy script runs its phases in order.
//
// Standard library only. The Bicep syntax check needs node and tests/
// node_modules (tests/run does npm ci); with CI=true a missing one fails
// the test instead of skipping it.
package infra

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// repoRoot is the directory holding go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// inCI reports whether missing tools must fail rather than skip.
func inCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v != "" && v != "0" && v != "false"
}

// needTool fails in CI and skips elsewhere when a tool is unavailable.
func needTool(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if inCI() {
		t.Fatalf("%s (CI=true: this check must run)", msg)
	}
	t.Skipf("%s; skipped outside CI", msg)
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// run runs a command in dir and returns its combined output.
func run(t testing.TB, dir string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

// bicepFiles lists every .bicep file under infra/, sorted, relative to root.
func bicepFiles(t testing.TB, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(filepath.Join(root, "infra"), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".bicep") {
			rel, _ := filepath.Rel(root, path)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no .bicep files under infra/")
	}
	sort.Strings(files)
	return files
}

// The package is built once per test run (a cold build of the handler takes
// minutes) into a temporary directory, with the Makefile itself.
var (
	pkgOnce sync.Once
	pkgDir  string
	pkgErr  error
	pkgLog  string
)

// builtPackage runs `make package DIST=<tmp>` once and returns the DIST
// directory (appwarden.zip and the package/ staging tree).
func builtPackage(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	pkgOnce.Do(func() {
		if _, err := exec.LookPath("make"); err != nil {
			pkgErr = fmt.Errorf("make is not installed: %w", err)
			return
		}
		dir, err := os.MkdirTemp("", "appwarden-package-")
		if err != nil {
			pkgErr = err
			return
		}
		pkgDir = dir
		pkgLog, pkgErr = run(t, root, nil, "make", "--no-print-directory", "package", "DIST="+dir)
	})
	if pkgErr != nil {
		t.Fatalf("make package: %v\n%s", pkgErr, pkgLog)
	}
	return pkgDir
}

// cliBinary returns the operator CLI (appwarden), built once for this
// machine.
var (
	nativeOnce sync.Once
	nativeBin  string
	nativeErr  error
	nativeLog  string
)

func cliBinary(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	nativeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "appwarden-cli-")
		if err != nil {
			nativeErr = err
			return
		}
		nativeBin = filepath.Join(dir, "appwarden")
		nativeLog, nativeErr = run(t, root, []string{"GOFLAGS=-buildvcs=false"}, "go", "build", "-o", nativeBin, "./handler/cmd/appwarden")
	})
	if nativeErr != nil {
		t.Fatalf("go build ./handler/cmd/appwarden: %v\n%s", nativeErr, nativeLog)
	}
	return nativeBin
}

// TestMain removes the temporary build directories after the run.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, dir := range []string{pkgDir, filepath.Dir(nativeBin)} {
		if dir != "" && dir != "." && strings.Contains(filepath.Base(dir), "appwarden-") {
			os.RemoveAll(dir)
		}
	}
	os.Exit(code)
}
