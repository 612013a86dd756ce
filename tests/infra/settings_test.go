package infra

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/appwarden/appwarden/handler/config"
)

// handlerSettings parses the string constants of the const block(s) in
// handler/config/config.go: the setting names the handler reads.
func handlerSettings(t *testing.T, root string) []string {
	t.Helper()
	path := filepath.Join(root, "handler", "config", "config.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST || !gd.Lparen.IsValid() {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for _, v := range vs.Values {
				lit, ok := v.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				s, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				names = append(names, s)
			}
		}
	}
	if len(names) < 10 {
		t.Fatalf("found only %d setting constants in %s: %v", len(names), path, names)
	}
	return names
}

var percentRE = regexp.MustCompile(`%([A-Za-z0-9_]+)%`)

// hostSettings lists the settings function.json makes the host read:
// %NAME% binding expressions and identity-based connections.
func hostSettings(t *testing.T, root string) (named, connections []string) {
	t.Helper()
	for _, fn := range functionJSONs(t, root) {
		for _, b := range fn.bindings {
			for _, v := range b {
				s, ok := v.(string)
				if !ok {
					continue
				}
				for _, m := range percentRE.FindAllStringSubmatch(s, -1) {
					named = append(named, m[1])
				}
			}
			if c, ok := b["connection"].(string); ok && c != "" {
				connections = append(connections, c)
			}
		}
	}
	return uniq(named), uniq(connections)
}

func uniq(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// identitySuffixes are the settings of an identity-based connection.
var identitySuffixes = []string{"__fullyQualifiedNamespace", "__credential", "__clientId"}

// notInBicep are the only settings that may be left out of Bicep: the
// platform sets the first three, and AzureWebJobsStorage (a connection
// string, which needs a key) is replaced by the identity-based settings.
var notInBicep = map[string]string{
	config.Port:             "Platform",
	config.IdentityEndpoint: "Platform",
	config.IdentityHeader:   "Platform",
	config.Storage:          "Not set",
}

var (
	tableRowRE  = regexp.MustCompile("^\\|\\s*(`[^|]+)\\|\\s*([^|]+?)\\s*\\|")
	backtickRE  = regexp.MustCompile("`([^`]+)`")
	bicepKeyRE  = regexp.MustCompile(`(?m)^\s*'?([A-Za-z_][A-Za-z0-9_.]*)'?\s*:`)
	appSettings = regexp.MustCompile(`(?s)var appSettings = \{\n(.*?)\n\}\n`)
)

// markdownTable returns the first column's backticked names (a cell may list
// several) mapped to the second column, from the table under heading.
func markdownTable(t *testing.T, doc, heading string) map[string]string {
	t.Helper()
	i := strings.Index(doc, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("heading %q not found", heading)
	}
	section := doc[i+len(heading)+2:]
	if j := strings.Index(section, "\n## "); j >= 0 {
		section = section[:j]
	}
	rows := map[string]string{}
	for _, line := range strings.Split(section, "\n") {
		m := tableRowRE.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		for _, n := range backtickRE.FindAllStringSubmatch(m[1], -1) {
			rows[n[1]] = strings.TrimSpace(m[2])
		}
	}
	if len(rows) == 0 {
		t.Fatalf("no table rows under %q", heading)
	}
	return rows
}

// bicepAppSettings returns the keys of the appSettings object in
// infra/modules/functionapp.bicep.
func bicepAppSettings(t *testing.T, root string) map[string]bool {
	t.Helper()
	src := readFile(t, filepath.Join(root, "infra", "modules", "functionapp.bicep"))
	m := appSettings.FindStringSubmatch(src)
	if m == nil {
		t.Fatal("functionapp.bicep: var appSettings = { ... } not found")
	}
	keys := map[string]bool{}
	for _, k := range bicepKeyRE.FindAllStringSubmatch(mask(m[1]), -1) {
		keys[k[1]] = true
	}
	// Quoted keys are masked away above; read them from the source.
	for _, k := range regexp.MustCompile(`(?m)^\s*'([^']+)'\s*:`).FindAllStringSubmatch(m[1], -1) {
		keys[k[1]] = true
	}
	if len(keys) < 10 {
		t.Fatalf("functionapp.bicep appSettings has only %d keys", len(keys))
	}
	return keys
}

// TestSettingsSetAndDocumented: every setting the handler reads, and every
// setting function.json makes the host read, is set by Bicep (or is one of
// the few the platform sets), is in infra/README.md's app settings table,
// in local.settings.sample.json and in README.md's settings table.
func TestSettingsSetAndDocumented(t *testing.T) {
	root := repoRoot(t)
	handler := handlerSettings(t, root)
	named, conns := hostSettings(t, root)
	required := append([]string{}, handler...)
	required = append(required, named...)
	for _, c := range conns {
		for _, s := range identitySuffixes {
			required = append(required, c+s)
		}
	}
	required = uniq(required)

	bicep := bicepAppSettings(t, root)
	infraDoc := markdownTable(t, readFile(t, filepath.Join(root, "infra", "README.md")), "## App settings")

	for _, name := range required {
		setBy, documented := infraDoc[name]
		if !documented {
			t.Errorf("infra/README.md (## App settings) does not list %s", name)
		}
		if why, ok := notInBicep[name]; ok {
			if bicep[name] {
				t.Errorf("Bicep sets %s, which the platform sets (or which would need a key)", name)
			}
			if documented && !strings.EqualFold(setBy, why) {
				t.Errorf("infra/README.md says %s is set by %q, want %q", name, setBy, why)
			}
			continue
		}
		if !bicep[name] {
			t.Errorf("infra/modules/functionapp.bicep does not set %s", name)
		}
		if documented && !strings.EqualFold(setBy, "Bicep") {
			t.Errorf("infra/README.md says %s is set by %q, want Bicep", name, setBy)
		}
	}
	// The table describes exactly what Bicep sets, nothing more or less.
	for name := range bicep {
		if setBy, ok := infraDoc[name]; !ok {
			t.Errorf("Bicep sets %s but infra/README.md (## App settings) does not list it", name)
		} else if !strings.EqualFold(setBy, "Bicep") {
			t.Errorf("infra/README.md says %s is set by %q, but Bicep sets it", name, setBy)
		}
	}
	for name, setBy := range infraDoc {
		if strings.EqualFold(setBy, "Bicep") && !bicep[name] {
			t.Errorf("infra/README.md says Bicep sets %s, but functionapp.bicep does not", name)
		}
	}

	// local.settings.sample.json: every setting, with a safe value.
	var sample struct {
		IsEncrypted *bool             `json:"IsEncrypted"`
		Values      map[string]string `json:"Values"`
	}
	raw := readFile(t, filepath.Join(root, "local.settings.sample.json"))
	if err := json.Unmarshal([]byte(raw), &sample); err != nil {
		t.Fatalf("local.settings.sample.json: %v", err)
	}
	if sample.IsEncrypted == nil || *sample.IsEncrypted {
		t.Error(`local.settings.sample.json: want "IsEncrypted": false`)
	}
	for _, name := range required {
		if _, ok := sample.Values[name]; !ok {
			t.Errorf("local.settings.sample.json does not list %s", name)
		}
	}
	for _, name := range []string{config.TeamsWebhookURL, config.SecurityWebhookURL, config.IdentityHeader} {
		if v := sample.Values[name]; v != "" {
			t.Errorf("local.settings.sample.json: %s must be empty in the sample (it is a secret)", name)
		}
	}
	// The sample must be a configuration the handler accepts.
	if _, err := config.Load(func(k string) string { return sample.Values[k] }); err != nil {
		t.Errorf("handler/config rejects local.settings.sample.json: %v", err)
	}

	// README.md's settings table (the operator's reference).
	readmeSettings := append([]string{}, handler...)
	readmeSettings = append(readmeSettings, named...)
	for _, c := range conns {
		readmeSettings = append(readmeSettings, c+"__fullyQualifiedNamespace")
	}
	readme := readFile(t, filepath.Join(root, "README.md"))
	start := strings.Index(readme, "\n## Settings\n")
	if start < 0 {
		t.Fatal("README.md has no ## Settings section")
	}
	section := readme[start+len("\n## Settings\n"):]
	if j := strings.Index(section, "\n## "); j >= 0 {
		section = section[:j]
	}
	for _, name := range uniq(readmeSettings) {
		if !strings.Contains(section, "`"+name+"`") {
			t.Errorf("README.md ## Settings does not list `%s`", name)
		}
	}
}
