// Package ci decides what a test does when a tool it needs (Azurite,
// Chromium, node) is missing. Under CI (CI=true, as .ci/run sets it) the
// check must run, so a missing tool fails the test; elsewhere the test
// skips, saying what is missing and how to get it.
package ci

import (
	"os"
	"strings"
	"testing"
)

// On reports whether the tests run under CI: the CI environment variable is
// set to anything but "", "0" or "false" (CI services set CI=true).
func On() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv("CI")))
	return v != "" && v != "0" && v != "false"
}

// Missing fails the test under CI and skips it elsewhere, because the tool
// named what is unavailable for the reason err. It does nothing when err is
// nil.
func Missing(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if On() {
		t.Fatalf("%s is missing under CI=%s, where this test must run: %v (tests/run installs it)", what, os.Getenv("CI"), err)
		return
	}
	t.Skipf("%s is missing, so this test is skipped (it fails under CI=true): %v (tests/run installs it)", what, err)
}
