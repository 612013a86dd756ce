package infra

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// requireNodeModules returns the node binary, failing in CI and skipping
// elsewhere when node or tests/node_modules is missing.
func requireNodeModules(t *testing.T, root string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		needTool(t, "node is not installed")
	}
	for _, pkg := range []string{"web-tree-sitter", "tree-sitter-bicep"} {
		if _, err := os.Stat(filepath.Join(root, "tests", "node_modules", pkg, "package.json")); err != nil {
			needTool(t, "tests/node_modules/%s is missing (run npm ci in tests/)", pkg)
		}
	}
	return node
}

// TestBicepParses runs the tree-sitter-bicep syntax check over every .bicep
// file in infra/.
func TestBicepParses(t *testing.T) {
	root := repoRoot(t)
	node := requireNodeModules(t, root)
	out, err := run(t, root, nil, node, "tests/bicep/parse.mjs", "infra")
	if err != nil {
		t.Fatalf("Bicep syntax errors (%v):\n%s", err, out)
	}
	want := len(bicepFiles(t, root))
	if !strings.Contains(out, " "+itoa(want)+" file(s) parse cleanly") {
		t.Fatalf("expected %d files checked, got:\n%s", want, out)
	}
}

// TestBicepParserCatchesErrors proves the syntax check is not vacuous: a
// broken file gives a non-zero exit and file:line:col.
func TestBicepParserCatchesErrors(t *testing.T) {
	root := repoRoot(t)
	node := requireNodeModules(t, root)
	dir := t.TempDir()
	bad := filepath.Join(dir, "broken.bicep")
	src := "param ok string = 'x'\n\nresource r 'Microsoft.Web/sites@2024-04-01' = {\n  name: ok\n  properties: {\n}\n"
	if err := os.WriteFile(bad, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.bicep")
	if err := os.WriteFile(good, []byte("extension microsoftGraphV1\n\nparam ok string = 'x'\noutput o string = ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, root, nil, node, "tests/bicep/parse.mjs", bad, good)
	if err == nil {
		t.Fatalf("broken Bicep passed the syntax check:\n%s", out)
	}
	if !regexp.MustCompile(`broken\.bicep:\d+:\d+: (ERROR|MISSING)`).MatchString(out) {
		t.Fatalf("no file:line:col for the broken file:\n%s", out)
	}
	if strings.Contains(out, "good.bicep") {
		t.Fatalf("a valid file (with an extension statement) was reported:\n%s", out)
	}
}

func itoa(n int) string {
	const digits = "0123456789"
	if n < 10 {
		return digits[n : n+1]
	}
	return itoa(n/10) + digits[n%10:n%10+1]
}

// ---------------------------------------------------------------- a small Bicep reader

// mask returns src with comments and string contents replaced by spaces
// (newlines kept), so brackets can be counted and keywords found safely.
func mask(src string) string {
	b := []byte(src)
	out := make([]byte, len(b))
	copy(out, b)
	blank := func(i int) {
		if out[i] != '\n' {
			out[i] = ' '
		}
	}
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '/' && i+1 < len(b) && b[i+1] == '/':
			for ; i < len(b) && b[i] != '\n'; i++ {
				blank(i)
			}
		case b[i] == '/' && i+1 < len(b) && b[i+1] == '*':
			for ; i < len(b) && !(b[i] == '*' && i+1 < len(b) && b[i+1] == '/'); i++ {
				blank(i)
			}
			if i < len(b) {
				blank(i)
				blank(i + 1)
				i++
			}
		case strings.HasPrefix(src[i:], "'''"):
			end := strings.Index(src[i+3:], "'''")
			stop := len(b)
			if end >= 0 {
				stop = i + 3 + end + 3
			}
			for j := i + 3; j < stop-3 && j < len(b); j++ {
				blank(j)
			}
			i = stop - 1
		case b[i] == '\'':
			for i++; i < len(b) && b[i] != '\''; i++ {
				if b[i] == '\\' && i+1 < len(b) {
					blank(i)
					i++
				}
				blank(i)
			}
		}
	}
	return string(out)
}

// decl is one top-level declaration with its decorators.
type decl struct {
	kind       string // param, var, resource, module, output, ...
	name       string
	line       int    // 1-based line of the keyword
	header     string // the declaration's first line
	decorators string // text of the decorators above it
	text       string // the whole declaration (to the end of its value)
}

var declRE = regexp.MustCompile(`^(param|var|resource|module|output|type|func|metadata)\s+([A-Za-z_][A-Za-z0-9_]*)`)

// declarations splits a Bicep file into its top-level declarations. A
// declaration runs from its keyword to the line where the brackets close
// again, plus lines that continue a multi-line ternary (starting ? or :).
func declarations(src string) []decl {
	masked := mask(src)
	lines := strings.SplitAfter(src, "\n")
	mlines := strings.SplitAfter(masked, "\n")
	var out []decl
	depth := 0
	cur := -1  // index of the declaration being read, -1 between declarations
	last := -1 // the latest declaration (for ? and : continuation lines)
	var decorators strings.Builder
	inDecorator := false
	for i, ml := range mlines {
		line := lines[i]
		trimmed := strings.TrimSpace(ml)
		if depth == 0 {
			switch {
			case cur < 0 && last >= 0 && (strings.HasPrefix(trimmed, "?") || strings.HasPrefix(trimmed, ":")):
				cur = last
			case strings.HasPrefix(trimmed, "@"):
				if !inDecorator {
					decorators.Reset()
				}
				inDecorator = true
				decorators.WriteString(line)
			case declRE.MatchString(trimmed):
				m := declRE.FindStringSubmatch(trimmed)
				out = append(out, decl{kind: m[1], name: m[2], line: i + 1, header: strings.TrimSpace(line), decorators: decorators.String()})
				cur, last = len(out)-1, len(out)-1
				decorators.Reset()
				inDecorator = false
			case trimmed == "" && inDecorator:
				// a blank line inside a decorator group is tolerated
			default:
				decorators.Reset()
				inDecorator = false
			}
		} else if inDecorator {
			decorators.WriteString(line) // a multi-line decorator such as @allowed([...])
		}
		if cur >= 0 {
			out[cur].text += line
		}
		for _, c := range ml {
			switch c {
			case '{', '[', '(':
				depth++
			case '}', ']', ')':
				depth--
			}
		}
		if depth == 0 && cur >= 0 {
			end := strings.TrimSpace(ml)
			if !strings.HasSuffix(end, "=") && !strings.HasSuffix(end, "?") && !strings.HasSuffix(end, ":") {
				cur = -1
			}
		}
	}
	return out
}

// declarationsOf reads and splits one infra file.
func declarationsOf(t *testing.T, root, rel string) []decl {
	t.Helper()
	return declarations(readFile(t, filepath.Join(root, rel)))
}

var (
	resourceTypeRE = regexp.MustCompile(`^resource\s+\w+\s+'([^'@]+)@([^']+)'`)
	moduleRefRE    = regexp.MustCompile(`^module\s+\w+\s+'([^']+)'`)
	apiVersionRE   = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2}|v1\.0)$`)
	secretNameRE   = regexp.MustCompile(`(?i)(webhookurl|password|connectionstring|accountkey|sharedaccesskey|clientsecret|token)$`)
	secretOutRE    = regexp.MustCompile(`(?i)(secret|password|connectionstring|accountkey|sharedaccesskey|webhookurl|token|keys?$)`)
)

// TestBicepHouseRules checks what the syntax check cannot: described and
// typed parameters, secure secrets, pinned non-preview API versions,
// deterministic role assignment names, tags everywhere, and no secret in an
// output.
func TestBicepHouseRules(t *testing.T) {
	root := repoRoot(t)
	for _, rel := range bicepFiles(t, root) {
		src := readFile(t, filepath.Join(root, rel))
		if strings.Contains(src, "listKeys(") || strings.Contains(src, "listConnectionStrings(") {
			t.Errorf("%s reads keys (listKeys/listConnectionStrings): AppWarden is identity-only", rel)
		}
		decls := declarations(src)
		secure := map[string]bool{}
		for _, d := range decls {
			if d.kind != "param" {
				continue
			}
			where := rel + ":" + itoa(d.line) + ": param " + d.name
			if !strings.Contains(d.decorators, "@description(") {
				t.Errorf("%s has no @description", where)
			}
			if len(strings.Fields(d.header)) < 3 {
				t.Errorf("%s has no type", where)
			}
			isSecure := strings.Contains(d.decorators, "@secure()")
			if isSecure {
				secure[d.name] = true
			}
			if secretNameRE.MatchString(d.name) && !isSecure {
				t.Errorf("%s looks like a secret but is not @secure()", where)
			}
			if isSecure && strings.Contains(d.header, "=") {
				if v := strings.TrimSpace(d.header[strings.Index(d.header, "=")+1:]); v != "''" {
					t.Errorf("%s: a @secure() parameter's default must be empty, not %s", where, v)
				}
			}
		}
		for _, d := range decls {
			where := rel + ":" + itoa(d.line) + ": " + d.kind + " " + d.name
			switch d.kind {
			case "resource":
				m := resourceTypeRE.FindStringSubmatch(d.header)
				if m == nil {
					t.Errorf("%s: no 'Type@apiVersion'", where)
					continue
				}
				typ, version := m[1], m[2]
				if !apiVersionRE.MatchString(version) {
					t.Errorf("%s: API version %q is not a pinned GA version (no -preview)", where, version)
				}
				if strings.EqualFold(typ, "Microsoft.Authorization/roleAssignments") && !regexp.MustCompile(`(?m)^\s*name:\s*guid\(`).MatchString(d.text) {
					t.Errorf("%s: role assignment names must be deterministic guid(...)", where)
				}
				existing := strings.Contains(d.header, " existing ")
				if !existing && regexp.MustCompile(`(?m)^\s*location:`).MatchString(d.text) && !regexp.MustCompile(`(?m)^\s*tags:`).MatchString(d.text) {
					t.Errorf("%s has a location but no tags", where)
				}
			case "output":
				if secretOutRE.MatchString(d.name) {
					t.Errorf("%s: output name suggests a secret", where)
				}
				value := d.text[strings.Index(d.text, "=")+1:]
				for name := range secure {
					if regexp.MustCompile(`\b` + name + `\b`).MatchString(value) {
						t.Errorf("%s outputs the @secure() parameter %s", where, name)
					}
				}
				for _, bad := range []string{"ConnectionString", "InstrumentationKey", "primaryKey", "secondaryKey", ".value"} {
					if strings.Contains(value, bad) && !strings.Contains(value, ".outputs.") && !strings.Contains(value, "outputs") {
						t.Errorf("%s: output value contains %s", where, bad)
					}
				}
			}
		}
	}
}

// TestBicepContract pins the properties the design depends on, so an edit
// that drops one fails here rather than in a live deployment.
func TestBicepContract(t *testing.T) {
	root := repoRoot(t)
	must := map[string][]string{
		"infra/modules/functionapp.bicep": {
			"tier: 'FlexConsumption'", "name: 'FC1'",
			"name: 'custom'", "version: '1.0'",
			"type: 'UserAssignedIdentity'", "userAssignedIdentityResourceId: identityId",
			"keyVaultReferenceIdentity: identityId",
			"@Microsoft.KeyVault(SecretUri=",
			"AzureWebJobsStorage__credential: 'managedidentity'",
			"APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'",
			"APPWARDEN_AUDIT_EVENTHUB__credential: 'managedidentity'",
		},
		"infra/modules/storage.bicep": {
			"allowSharedKeyAccess: false", "allowBlobPublicAccess: false",
			"scope: deadLetterContainer",
		},
		"infra/modules/monitoring.bicep": {"DisableLocalAuth: true"},
		"infra/modules/keyvault.bicep":   {"enableRbacAuthorization: true", "@secure()"},
		"infra/modules/eventhub.bicep":   {"disableLocalAuth: disableLocalAuth", "'Manage'", "'Send'", "'Listen'", "scope: hub"},
		"infra/modules/eventgrid.bicep": {
			"topicType: 'Microsoft.Resources.Subscriptions'", "location: 'global'",
			"source: subscription().id", "type: 'UserAssigned'", "disableLocalAuth: true",
		},
		"infra/modules/eventsubscription.bicep": {
			"endpointType: 'AzureFunction'", "maxEventsPerBatch: 1",
			"deadLetterWithResourceIdentity", "endpointType: 'StorageBlob'", "retryPolicy",
		},
		"infra/eventsubscriptions.bicep": {
			"key: 'data.operationName'", "'Microsoft.AAD/register/action'",
			"operatorType: 'StringEndsWith'", "'/register/action'",
			"'Microsoft.Resources.ResourceActionSuccess'",
		},
		"infra/graph-permissions.bicep": {
			"extension microsoftGraphV1",
			"'Microsoft.Graph/servicePrincipals@v1.0' existing",
			"'Microsoft.Graph/appRoleAssignedTo@v1.0'",
			"'00000003-0000-0000-c000-000000000000'",
			"'1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9' // Application.ReadWrite.All",
			"'9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30' // Application.Read.All",
			"'97235f07-e226-4f63-ace3-39588e11d3a1' // User.ReadBasic.All",
			"'b633e1c5-b582-4048-a93e-9f11b44c7e96' // Mail.Send",
		},
		"infra/tenant/diagnostic-setting.bicep": {
			"targetScope = 'tenant'", "'microsoft.aadiam/diagnosticSettings@2017-04-01'",
			"category: 'AuditLogs'", "eventHubAuthorizationRuleId: eventHubAuthorizationRuleId",
		},
		"infra/bicepconfig.json": {`"microsoftGraphV1": "br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:`},
	}
	for rel, needles := range must {
		src := readFile(t, filepath.Join(root, rel))
		for _, n := range needles {
			if !strings.Contains(src, n) {
				t.Errorf("%s no longer contains %q", rel, n)
			}
		}
	}
	for _, rel := range bicepFiles(t, root) {
		src := readFile(t, filepath.Join(root, rel))
		if regexp.MustCompile(`\bFUNCTIONS_WORKER_RUNTIME\b`).MatchString(mask(src)) || strings.Contains(src, "'FUNCTIONS_WORKER_RUNTIME'") {
			t.Errorf("%s sets FUNCTIONS_WORKER_RUNTIME; Flex Consumption takes the runtime from functionAppConfig", rel)
		}
	}

	// The example parameters file names only real, non-secret parameters.
	var example struct {
		Parameters map[string]json.RawMessage `json:"parameters"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(root, "infra", "main.parameters.example.json"))), &example); err != nil {
		t.Fatalf("infra/main.parameters.example.json: %v", err)
	}
	mainParams := map[string]decl{}
	for _, d := range declarationsOf(t, root, "infra/main.bicep") {
		if d.kind == "param" {
			mainParams[d.name] = d
		}
	}
	for name := range example.Parameters {
		d, ok := mainParams[name]
		if !ok {
			t.Errorf("infra/main.parameters.example.json sets %s, which main.bicep does not declare", name)
		} else if strings.Contains(d.decorators, "@secure()") {
			t.Errorf("infra/main.parameters.example.json sets the secret %s; secrets come from the environment", name)
		}
	}

	// Phase 1 must not create event subscriptions: the function does not exist
	// yet (Azure/bicep#11656). Follow main.bicep's modules.
	seen := map[string]bool{}
	var walk func(rel string)
	walk = func(rel string) {
		if seen[rel] {
			return
		}
		seen[rel] = true
		src := readFile(t, filepath.Join(root, rel))
		if strings.Contains(src, "/eventSubscriptions@") {
			t.Errorf("%s (deployed by main.bicep) declares an event subscription; those belong to eventsubscriptions.bicep", rel)
		}
		for _, d := range declarations(src) {
			if m := moduleRefRE.FindStringSubmatch(d.header); m != nil {
				walk(filepath.ToSlash(filepath.Join(filepath.Dir(rel), m[1])))
			}
		}
	}
	walk("infra/main.bicep")
	if !seen["infra/modules/functionapp.bicep"] {
		t.Error("main.bicep does not deploy modules/functionapp.bicep (module references not followed?)")
	}
}

// TestBicepReaderSelfCheck guards the small reader the rules above rely on.
func TestBicepReaderSelfCheck(t *testing.T) {
	src := "// a comment with a quote: it's\n@description('x { y')\n@allowed([\n  'a'\n])\nparam p string = 'a'\n\nvar v = {\n  k: '${p}}'\n}\nresource r 'A/b@2024-01-01' = if (true) {\n  name: 'n'\n  location: 'l'\n}\noutput o string = v.k\n"
	ds := declarations(src)
	var got []string
	for _, d := range ds {
		got = append(got, d.kind+" "+d.name)
	}
	want := "param p,var v,resource r,output o"
	if strings.Join(got, ",") != want {
		t.Fatalf("declarations = %v, want %s", got, want)
	}
	if !strings.Contains(ds[0].decorators, "@allowed") || !strings.Contains(ds[0].decorators, "@description") {
		t.Errorf("decorators of p = %q", ds[0].decorators)
	}
	if !strings.Contains(ds[2].text, "location: 'l'") || strings.Contains(ds[2].text, "output") {
		t.Errorf("resource text = %q", ds[2].text)
	}
}
