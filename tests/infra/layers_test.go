package infra

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/appwarden/appwarden/handler"

// imports lists, for every package under handler/, the project packages it
// imports (test files left out), relative to handler/ ("" is the domain's
// parent, the custom handler's main).
func imports(t *testing.T) map[string][]string {
	t.Helper()
	out, err := run(t, repoRoot(t), nil, "go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./handler/...")
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	rel := func(p string) string { return strings.TrimPrefix(strings.TrimPrefix(p, mod), "/") }
	got := map[string][]string{}
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		var own []string
		for _, imp := range f[1:] {
			if imp == mod || strings.HasPrefix(imp, mod+"/") {
				own = append(own, rel(imp))
			}
		}
		got[rel(f[0])] = own
	}
	return got
}

// TestLayers holds the direction of the pipeline in the imports (#14): the
// decoders know nothing of Graph or storage, policy is a pure function, the
// stages talk to the world only through the domain's ports and never to
// each other, and only the mains (and setup, which both share) wire the
// adapters to the stages.
func TestLayers(t *testing.T) {
	got := imports(t)
	must := func(pkg string) []string {
		imps, ok := got[pkg]
		if !ok {
			t.Fatalf("package handler/%s is gone: update this test", pkg)
		}
		return imps
	}
	decoders := []string{"eventgrid", "eventhub", "auditlog", "timer"}
	for _, d := range decoders {
		for _, imp := range must(d) {
			if !slices.Contains([]string{"appwarden", "shape", "auditlog"}, imp) {
				t.Errorf("decoder %s imports %s: decoders see only the domain, shape and auditlog", d, imp)
			}
		}
	}
	for _, imp := range must("policy") {
		if imp != "appwarden" {
			t.Errorf("policy imports %s", imp)
		}
	}
	out, err := run(t, repoRoot(t), nil, "go", "list", "-f", `{{join .Imports " "}}`, "./handler/policy")
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, std := range []string{"os", "flag"} {
		if slices.Contains(strings.Fields(out), std) {
			t.Errorf("policy imports %s: it judges what it is given, and reads nothing", std)
		}
	}
	// The stages, and the plumbing they may use besides the domain.
	stages := []string{"sweep", "remediate", "notify", "trail", "baseline", "expiry", "auditpull", "inbox", "pipeline"}
	plumbing := []string{"appwarden", "retry", "transport", "notice", "teams", "mail"}
	for _, s := range stages {
		for _, imp := range must(s) {
			if !slices.Contains(plumbing, imp) {
				t.Errorf("stage %s imports %s: a stage uses the domain's ports, not adapters or other stages", s, imp)
			}
		}
	}
	// Only the mains and setup wire adapters to stages.
	wirers := []string{"", "cmd/appwarden", "setup"}
	for pkg, imps := range got {
		if slices.Contains(wirers, pkg) || strings.HasPrefix(pkg, "graph") || strings.HasPrefix(pkg, "store") || strings.HasPrefix(pkg, "fakegraph") {
			continue
		}
		for _, imp := range imps {
			if imp == "store" || imp == "graph" {
				t.Errorf("%s imports the adapter %s: only the mains and setup wire adapters", pkg, imp)
			}
		}
	}
}

// TestHandlerLinksNoBrowserLauncher: github.com/pkg/browser is in the
// custom handler's dependency graph (go list -deps) only because
// azidentity imports MSAL's public-client package, which imports it; its
// package initialisation (two io.Writer variables) is all that may be
// linked. The handler takes no credential that could sign in through a
// browser (graph.ManagedIdentity, graph.AzureCLI; not
// DefaultAzureCredential, whose username/password path keeps MSAL's
// interactive login alive), so the functions that start a browser are not
// in the binary. This checks the binary's symbols, not the import graph.
func TestHandlerLinksNoBrowserLauncher(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "handler")
	root := repoRoot(t)
	// No -s -w, so that the symbol table is there to read.
	if out, err := run(t, root, []string{"CGO_ENABLED=0"}, "go", "build", "-trimpath", "-o", bin, "./handler"); err != nil {
		t.Fatalf("go build ./handler: %v\n%s", err, out)
	}
	out, err := run(t, root, nil, "go", "tool", "nm", bin)
	if err != nil {
		t.Fatalf("go tool nm: %v\n%s", err, out)
	}
	if !strings.Contains(out, "azidentity.(*ManagedIdentityCredential).GetToken") {
		t.Fatal("no managed identity credential in the handler: is this the right binary?")
	}
	launchers := []string{"github.com/pkg/browser.Open", "github.com/pkg/browser.openBrowser", "AcquireTokenInteractive", "browserLogin",
		"/handler/demo.", "/handler/fakegraph.", "github.com/spf13/cobra."}
	for line := range strings.SplitSeq(out, "\n") {
		for _, l := range launchers {
			if strings.Contains(line, l) {
				t.Errorf("the handler links %s", strings.TrimSpace(line))
				break
			}
		}
	}
}
