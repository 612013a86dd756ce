package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/appwarden/appwarden/tests/harness"
)

// pprofFile is added to the handler's main package, through `go build
// -overlay`, for profiling sessions only: it serves net/http/pprof on
// $APPWARDEN_BENCH_PPROF, with mutex and block profiling on. The handler's
// sources are not changed, and the measured binary of a normal run has no
// such file.
const pprofFile = `package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
)

func init() {
	if addr := os.Getenv("APPWARDEN_BENCH_PPROF"); addr != "" {
		runtime.SetMutexProfileFraction(5)
		runtime.SetBlockProfileRate(100000)
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
}
`

// buildProfiledHandler builds the handler as a release, plus pprofFile.
func buildProfiledHandler() (bin, dir string, err error) {
	root, err := harness.RepoRoot()
	if err != nil {
		return "", "", err
	}
	dir, err = os.MkdirTemp("", "appwarden-bench-pprof-")
	if err != nil {
		return "", "", err
	}
	src := filepath.Join(dir, "zz_bench_pprof.go")
	if err := os.WriteFile(src, []byte(pprofFile), 0o644); err != nil {
		return "", dir, err
	}
	overlay, _ := json.Marshal(map[string]any{"Replace": map[string]string{filepath.Join(root, "handler", "zz_bench_pprof.go"): src}})
	ov := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(ov, overlay, 0o644); err != nil {
		return "", dir, err
	}
	bin = filepath.Join(dir, "handler")
	cmd := exec.Command("go", "build", "-overlay", ov, "-trimpath", "-ldflags=-s -w", "-o", bin, "./handler")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", dir, fmt.Errorf("go build -overlay ./handler: %v\n%s", err, out)
	}
	return bin, dir, nil
}
