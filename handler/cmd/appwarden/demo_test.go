package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/demo"
)

// TestDemo runs `appwarden demo` end to end (the README's first command) and
// checks what it tells the reader.
func TestDemo(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"demo", "--out", out, "--png=false"}, nil, &stdout, &stderr)
	text := stdout.String()
	if code != 0 {
		t.Fatalf("appwarden demo exited %d\nstdout:\n%s\nstderr:\n%s", code, text, stderr.String())
	}
	for _, want := range []string{
		"POST /OnAuditLogBatch   200",
		"POST /OnEventGridEvent  200",
		"POST /SweepTimer        200",
		"critical-app-permission       critical RoleManagement.ReadWrite.Directory (9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8)",
		"action     disableServicePrincipal on 8c907101-5831-45a1-b703-8a59f190e639: done",
		"risky-redirect-uri",
		"ownerless-app",
		"multi-tenant-unverified",
		"high-privilege-delegated",
		"password-credential",
		"credential-on-privileged-app",
		"not acted  protected: AppWarden's own app",
		"not acted  protected: managed identity",
		"not acted  protected: Microsoft first-party app",
		"Summary: 12 apps (2 contained, 5 notified, 2 untouched, 3 protected); 2 Graph writes",
		"1 poison input recorded",
		"All checks passed.",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if strings.Contains(text, "CHECK      FAILED") {
		t.Errorf("a demo check failed:\n%s", text)
	}
	// One audit batch announces every app: the owners' channel gets a
	// digest (more than 5 notifications in one invocation) that names each
	// app the owners must hear about (Orphan Script has none: it goes to
	// the security channel).
	cards, _ := filepath.Glob(filepath.Join(out, "card-*-owners.json"))
	var owners strings.Builder
	for _, c := range cards {
		b, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		owners.Write(b)
	}
	_, apps := demo.Build(time.Now())
	for _, a := range apps {
		if (a.Expect == demo.Contained || a.Expect == demo.Notified) && a.Rule != "ownerless-app" && !strings.Contains(owners.String(), a.AppID) {
			t.Errorf("no owner card names %s (%s)", a.Name, a.AppID)
		}
	}
	if fi, err := os.Stat(filepath.Join(out, "handler.log")); err != nil || fi.Size() == 0 {
		t.Errorf("handler.log missing or empty: %v", err)
	}
	if t.Failed() {
		t.Logf("demo output:\n%s", text)
	}
}

// TestDemoAuditChangesNothing runs the demo in audit mode: nothing written.
func TestDemoAuditChangesNothing(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"demo", "--mode", "audit", "--out", t.TempDir(), "--png=false"}, nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("appwarden demo --mode audit exited %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	for _, want := range []string{"0 Graph writes", "would do (audit)", "would be contained (audit: nothing changed)"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("audit demo output lacks %q", want)
		}
	}
}
