package setup_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/appwarden/appwarden/handler/setup"
)

// TestReadPolicyNamesThePathGiven: a policy file's errors name the path as
// the operator gave it, with the line (the policy package reads no files).
func TestReadPolicyNamesThePathGiven(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, []byte("apiVersion: appwarden.io/v1\nrules:\n  - id: x\n    title: \"unclosed\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := setup.ReadPolicy(path)
	if err == nil || !strings.Contains(err.Error(), path+":4: bad YAML") {
		t.Fatalf("ReadPolicy error %v, want it to name %s:4", err, path)
	}
	if _, err := setup.ReadPolicy(filepath.Join(dir, "missing.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadPolicy of a missing file: %v, want fs.ErrNotExist", err)
	}
}
