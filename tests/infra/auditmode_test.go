package infra

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestAuditLogModes follows main.bicep's auditLogMode through the modules:
// pull deploys no Event Hub (so nothing downstream may reference it), passes
// no namespace to the app, disables OnAuditLogBatch and outputs nothing for
// the diagnostics phase; streamAndPull (the default) deploys the hub, keeps
// the function enabled and outputs what the diagnostic setting needs. Both
// pull, and the Graph permissions grant AuditLog.Read.All by default.
func TestAuditLogModes(t *testing.T) {
	root := repoRoot(t)
	app := readFile(t, filepath.Join(root, "infra", "modules", "functionapp.bicep"))
	disabledExpr := regexp.MustCompile(`(?m)^\s*'AzureWebJobs\.OnAuditLogBatch\.Disabled':\s*(.+)$`).FindStringSubmatch(app)
	if disabledExpr == nil {
		t.Fatal("functionapp.bicep does not set 'AzureWebJobs.OnAuditLogBatch.Disabled'")
	}
	if m := regexp.MustCompile(`(?m)^\s*APPWARDEN_AUDIT_PULL:\s*'true'\s*$`).FindString(app); m == "" {
		t.Error("functionapp.bicep does not set APPWARDEN_AUDIT_PULL to 'true' (both modes pull)")
	}
	mainSrc := readFile(t, filepath.Join(root, "infra", "main.bicep"))
	if !regexp.MustCompile(`(?m)^      auditStream: auditStream$`).MatchString(mainSrc) {
		t.Error("main.bicep does not pass auditStream to the function app's handler settings")
	}

	cases := []struct {
		name       string
		params     map[string]any
		wantStream bool
	}{
		{"default", map[string]any{}, true},
		{"streamAndPull", map[string]any{"auditLogMode": "streamAndPull"}, true},
		{"pull", map[string]any{"auditLogMode": "pull"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			params := map[string]func() (any, error){}
			for k, v := range c.params {
				params[k] = constant(v)
			}
			main := loadBicep(t, root, "infra/main.bicep", "rg", params)
			main.cache["names.eventHubNamespace"] = "evhns-appwarden-token"
			on, err := main.deployed(main.decls["eventHub"])
			if err != nil {
				t.Fatal(err)
			}
			if on != c.wantStream {
				t.Fatalf("the eventHub module is deployed: %v, want %v", on, c.wantStream)
			}
			mode, err := main.output("auditLogMode")
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]string{true: "streamAndPull", false: "pull"}[c.wantStream]; mode != want {
				t.Errorf("output auditLogMode = %v, want %s", mode, want)
			}
			hub, err := main.output("auditEventHubName")
			if err != nil {
				t.Fatal(err) // in pull mode: the output referenced the missing hub
			}
			if (hub != "") != c.wantStream {
				t.Errorf("output auditEventHubName = %q with the stream %v", hub, c.wantStream)
			}
			if !c.wantStream {
				for _, out := range []string{"eventHubNamespaceName", "diagnosticsAuthorizationRuleId"} {
					if v, err := main.output(out); err != nil || v != "" {
						t.Errorf("output %s = %v, %v; want empty in pull mode", out, v, err)
					}
				}
			}

			fa, err := main.module(main.decls["functionApp"])
			if err != nil {
				t.Fatal(err)
			}
			if !c.wantStream {
				ns, err := fa.lookup("eventHubFullyQualifiedNamespace")
				if err != nil || ns != "" {
					t.Errorf("pull mode passes the app eventHubFullyQualifiedNamespace %v, %v; want empty", ns, err)
				}
			}
			name, err := fa.lookup("eventHubName")
			if err != nil || name != "entra-auditlogs" {
				t.Errorf("the app's APPWARDEN_AUDIT_EVENTHUB_NAME is %v, %v; want entra-auditlogs in both modes (the host resolves it when indexing)", name, err)
			}
			stream, err := main.lookup("auditStream")
			if err != nil {
				t.Fatal(err)
			}
			fa.cache["handler.auditStream"] = stream
			disabled, err := fa.eval(disabledExpr[1])
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]string{true: "false", false: "true"}[c.wantStream]; disabled != want {
				t.Errorf("AzureWebJobs.OnAuditLogBatch.Disabled = %v, want %s", disabled, want)
			}
		})
	}

	graph := loadBicep(t, root, "infra/graph-permissions.bicep", "rg", map[string]func() (any, error){})
	if v, err := graph.lookup("readAuditLog"); err != nil || v != true {
		t.Errorf("graph-permissions.bicep readAuditLog defaults to %v, %v; want true", v, err)
	}
	src := readFile(t, filepath.Join(root, "infra", "graph-permissions.bicep"))
	for _, want := range []string{"auditLogReadAll: 'b0afded3-3588-46d8-8b3d-9842eff778da' // AuditLog.Read.All", "readAuditLog ? [appRoles.auditLogReadAll] : []"} {
		if !strings.Contains(src, want) {
			t.Errorf("graph-permissions.bicep lacks %q", want)
		}
	}
}
