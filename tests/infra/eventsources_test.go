package infra

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// ---------------------------------------------------------------- a small Bicep evaluator
//
// Enough of Bicep's expression language to follow a value through main.bicep,
// its modules and their outputs offline: 'strings', true/false, parameters,
// variables, resource and module symbols (sym.name, sym.outputs.x), empty(),
// resourceGroup() and resourceGroup(name), !, &&, ||, ==, !=, ?: and
// parentheses. Anything else is an error, so a rewrite the evaluator cannot
// follow fails the test instead of passing it silently.

// bicepFile is one .bicep file bound to parameter values.
type bicepFile struct {
	t      *testing.T
	root   string
	rel    string
	decls  map[string]decl                // by name, except outputs
	outs   map[string]decl                // outputs (may share a parameter's name)
	params map[string]func() (any, error) // values given by the caller or a parent module
	rgName string                         // resourceGroup().name of the deployment
	cache  map[string]any
}

func loadBicep(t *testing.T, root, rel, rgName string, params map[string]func() (any, error)) *bicepFile {
	t.Helper()
	f := &bicepFile{t: t, root: root, rel: rel, decls: map[string]decl{}, outs: map[string]decl{}, params: params, rgName: rgName, cache: map[string]any{}}
	for _, d := range declarationsOf(t, root, rel) {
		if d.kind == "output" {
			f.outs[d.name] = d
		} else {
			f.decls[d.name] = d
		}
	}
	return f
}

func constant(v any) func() (any, error) { return func() (any, error) { return v, nil } }

// afterEquals is a declaration's value: the text after its first " = ".
func afterEquals(d decl) string {
	i := strings.Index(d.text, " = ")
	if i < 0 {
		return ""
	}
	return strings.TrimSpace(d.text[i+3:])
}

var (
	conditionRE = regexp.MustCompile(`^\s*if\s*\((.*)\)\s*\{`)
	paramsOpen  = regexp.MustCompile(`(?m)^  params: \{\n`)
)

// property reads a top-level property (two-space indent) of a resource or
// module body.
func property(d decl, name string) (string, bool) {
	m := regexp.MustCompile(`(?m)^  ` + name + `: (.+)$`).FindStringSubmatch(d.text)
	if m == nil {
		return "", false
	}
	return strings.TrimSpace(m[1]), true
}

// moduleParams reads a module's one-line params (four-space indent).
func moduleParams(d decl) map[string]string {
	out := map[string]string{}
	loc := paramsOpen.FindStringIndex(d.text)
	if loc == nil {
		return out
	}
	for _, line := range strings.Split(d.text[loc[1]:], "\n") {
		if strings.HasPrefix(line, "  }") {
			break
		}
		if m := regexp.MustCompile(`^    (\w+): (.+)$`).FindStringSubmatch(line); m != nil && m[2] != "{" && m[2] != "[" {
			out[m[1]] = strings.TrimSpace(m[2])
		}
	}
	return out
}

// condition is the `if (...)` of a conditional resource or module, or "".
func condition(d decl) string {
	v := afterEquals(d)
	if m := conditionRE.FindStringSubmatch(v); m != nil {
		return m[1]
	}
	return ""
}

// deployed evaluates a declaration's condition (true when it has none).
func (f *bicepFile) deployed(d decl) (bool, error) {
	c := condition(d)
	if c == "" {
		return true, nil
	}
	v, err := f.eval(c)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("condition %q is not a bool", c)
	}
	return b, nil
}

// module loads the file a module declaration deploys, with its parameters
// evaluated lazily in f.
func (f *bicepFile) module(d decl) (*bicepFile, error) {
	m := moduleRefRE.FindStringSubmatch(d.header)
	if m == nil {
		return nil, fmt.Errorf("module %s: no file", d.name)
	}
	rg := f.rgName
	if s, ok := property(d, "scope"); ok {
		v, err := f.eval(s)
		if err != nil {
			return nil, fmt.Errorf("module %s scope: %w", d.name, err)
		}
		name, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("module %s scope %q is not resourceGroup(name)", d.name, s)
		}
		rg = name
	}
	params := map[string]func() (any, error){}
	for k, expr := range moduleParams(d) {
		params[k] = func() (any, error) { return f.eval(expr) }
	}
	rel := filepath.ToSlash(filepath.Join(filepath.Dir(f.rel), m[1]))
	return loadBicep(f.t, f.root, rel, rg, params), nil
}

// output evaluates one of the file's outputs.
func (f *bicepFile) output(name string) (any, error) {
	d, ok := f.outs[name]
	if !ok {
		return nil, fmt.Errorf("%s has no output %s", f.rel, name)
	}
	v, err := f.eval(afterEquals(d))
	if err != nil {
		return nil, fmt.Errorf("%s: output %s: %w", f.rel, name, err)
	}
	return v, nil
}

// lookup resolves a dotted reference.
func (f *bicepFile) lookup(path string) (any, error) {
	if v, ok := f.cache[path]; ok {
		return v, nil
	}
	v, err := f.resolve(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", f.rel, path, err)
	}
	f.cache[path] = v
	return v, nil
}

func (f *bicepFile) resolve(path string) (any, error) {
	if path == "resourceGroup().name" {
		return f.rgName, nil
	}
	parts := strings.Split(path, ".")
	d, ok := f.decls[parts[0]]
	if !ok {
		return nil, fmt.Errorf("no declaration %s", parts[0])
	}
	switch d.kind {
	case "param":
		if len(parts) != 1 {
			return nil, fmt.Errorf("member access on a parameter is not supported")
		}
		if get, ok := f.params[d.name]; ok {
			return get()
		}
		if def := afterEquals(d); def != "" {
			return f.eval(def)
		}
		return nil, fmt.Errorf("parameter %s has no value and no default", d.name)
	case "var":
		if len(parts) != 1 {
			return nil, fmt.Errorf("member access on a %s is not supported", d.kind)
		}
		return f.eval(afterEquals(d))
	case "resource":
		if len(parts) != 2 {
			return nil, fmt.Errorf("only <resource>.name and .scope are supported")
		}
		if on, err := f.deployed(d); err != nil {
			return nil, err
		} else if !on {
			return nil, fmt.Errorf("resource %s is referenced but its condition is false", d.name)
		}
		switch parts[1] {
		case "name":
			expr, ok := property(d, "name")
			if !ok {
				return nil, fmt.Errorf("resource %s has no name", d.name)
			}
			return f.eval(expr)
		case "scope": // the resource group it lives in
			expr, ok := property(d, "scope")
			if !ok {
				return f.rgName, nil
			}
			return f.eval(expr)
		}
		return nil, fmt.Errorf("resource property %s is not supported", parts[1])
	case "module":
		if len(parts) != 3 || parts[1] != "outputs" {
			return nil, fmt.Errorf("only <module>.outputs.<name> is supported")
		}
		if on, err := f.deployed(d); err != nil {
			return nil, err
		} else if !on {
			return nil, fmt.Errorf("module %s is referenced but its condition is false", d.name)
		}
		mod, err := f.module(d)
		if err != nil {
			return nil, err
		}
		return mod.output(parts[2])
	}
	return nil, fmt.Errorf("%s %s cannot be evaluated", d.kind, d.name)
}

var identRE = regexp.MustCompile(`^[A-Za-z_]\w*$`)

var tokenRE = regexp.MustCompile(`\s*('(?:[^'\\]|\\.)*'|&&|\|\||==|!=|[A-Za-z_][A-Za-z0-9_]*|[().,!?:])`)

func (f *bicepFile) eval(expr string) (any, error) {
	expr = strings.TrimSpace(expr)
	var toks []string
	for rest := expr; strings.TrimSpace(rest) != ""; {
		m := tokenRE.FindStringSubmatchIndex(rest)
		if m == nil || m[0] != 0 {
			return nil, fmt.Errorf("cannot read %q in %q", strings.TrimSpace(rest), expr)
		}
		toks = append(toks, rest[m[2]:m[3]])
		rest = rest[m[1]:]
	}
	p := &exprParser{f: f, toks: toks}
	v, err := p.ternary()
	if err == nil && p.i != len(toks) {
		err = fmt.Errorf("unexpected %q", toks[p.i])
	}
	if err != nil {
		return nil, fmt.Errorf("%q: %w", expr, err)
	}
	return v, nil
}

type exprParser struct {
	f    *bicepFile
	toks []string
	i    int
}

func (p *exprParser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *exprParser) expect(tok string) error {
	if p.peek() != tok {
		return fmt.Errorf("want %q, got %q", tok, p.peek())
	}
	p.i++
	return nil
}

func asBool(v any) (bool, error) {
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("%v is not a bool", v)
	}
	return b, nil
}

// ternary evaluates both branches' syntax but only the chosen branch's
// references (as ARM does), by evaluating the other one in skip mode.
func (p *exprParser) ternary() (any, error) {
	c, err := p.or()
	if err != nil || p.peek() != "?" {
		return c, err
	}
	p.i++
	cond, err := asBool(c)
	if err != nil {
		return nil, err
	}
	yes, err := p.branch(cond)
	if err != nil {
		return nil, err
	}
	if err := p.expect(":"); err != nil {
		return nil, err
	}
	no, err := p.branch(!cond)
	if err != nil {
		return nil, err
	}
	if cond {
		return yes, nil
	}
	return no, nil
}

// branch parses one ternary branch; when not taken, it only skips tokens.
func (p *exprParser) branch(taken bool) (any, error) {
	if taken {
		return p.ternary()
	}
	depth := 0
	for ; p.i < len(p.toks); p.i++ {
		switch p.toks[p.i] {
		case "(", "?":
			depth++
		case ")":
			if depth == 0 {
				return nil, nil
			}
			depth--
		case ":":
			if depth == 0 {
				return nil, nil
			}
			depth--
		}
	}
	return nil, nil
}

func (p *exprParser) or() (any, error) {
	v, err := p.and()
	for err == nil && p.peek() == "||" {
		p.i++
		var w any
		if w, err = p.and(); err == nil {
			v, err = boolOp(v, w, func(a, b bool) bool { return a || b })
		}
	}
	return v, err
}

func (p *exprParser) and() (any, error) {
	v, err := p.eq()
	for err == nil && p.peek() == "&&" {
		p.i++
		var w any
		if w, err = p.eq(); err == nil {
			v, err = boolOp(v, w, func(a, b bool) bool { return a && b })
		}
	}
	return v, err
}

func boolOp(a, b any, op func(a, b bool) bool) (any, error) {
	x, err := asBool(a)
	if err != nil {
		return nil, err
	}
	y, err := asBool(b)
	if err != nil {
		return nil, err
	}
	return op(x, y), nil
}

func (p *exprParser) eq() (any, error) {
	v, err := p.unary()
	if err != nil || (p.peek() != "==" && p.peek() != "!=") {
		return v, err
	}
	op := p.toks[p.i]
	p.i++
	w, err := p.unary()
	if err != nil {
		return nil, err
	}
	return (v == w) == (op == "=="), nil
}

func (p *exprParser) unary() (any, error) {
	if p.peek() == "!" {
		p.i++
		v, err := p.unary()
		if err != nil {
			return nil, err
		}
		b, err := asBool(v)
		return !b, err
	}
	return p.primary()
}

func (p *exprParser) primary() (any, error) {
	tok := p.peek()
	p.i++
	switch {
	case tok == "(":
		v, err := p.ternary()
		if err != nil {
			return nil, err
		}
		return v, p.expect(")")
	case strings.HasPrefix(tok, "'"):
		return strings.ReplaceAll(tok[1:len(tok)-1], `\'`, `'`), nil
	case tok == "true" || tok == "false":
		return tok == "true", nil
	case tok == "empty" || tok == "resourceGroup":
		if err := p.expect("("); err != nil {
			return nil, err
		}
		if tok == "resourceGroup" && p.peek() == ")" { // this deployment's group
			p.i++
			if p.peek() == "." {
				p.i++
				if err := p.expect("name"); err != nil {
					return nil, err
				}
			}
			return p.f.lookup("resourceGroup().name")
		}
		v, err := p.ternary()
		if err != nil {
			return nil, err
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		if tok == "resourceGroup" {
			return v, nil // resourceGroup(name) stands for the group's name
		}
		return v == "" || v == nil, nil
	case identRE.MatchString(tok):
		path := tok
		for p.peek() == "." {
			p.i++
			path += "." + p.peek()
			p.i++
		}
		return p.f.lookup(path)
	}
	return nil, fmt.Errorf("unexpected %q", tok)
}

// ---------------------------------------------------------------- tests

// TestExistingSystemTopic follows the system topic's name and resource group
// from main.bicep's parameters through modules/eventgrid.bicep and phase 1's
// outputs into eventsubscriptions.bicep and modules/eventsubscription.bicep:
// an Azure subscription has at most one Microsoft.Resources.Subscriptions
// system topic, so with createSystemTopic=false the event subscription must
// go on the existing one, in its own resource group.
func TestExistingSystemTopic(t *testing.T) {
	root := repoRoot(t)
	const rg = "rg-appwarden"
	cases := []struct {
		name               string
		params             map[string]any
		wantTopic, wantRG  string
		wantTopicIsCreated bool
	}{
		{name: "create (default)", params: map[string]any{}, wantTopic: "egst-appwarden-token", wantRG: rg, wantTopicIsCreated: true},
		{name: "existing in another group", params: map[string]any{"createSystemTopic": false, "existingSystemTopicName": "egst-shared", "existingSystemTopicResourceGroup": "rg-shared"},
			wantTopic: "egst-shared", wantRG: "rg-shared"},
		{name: "existing in this group", params: map[string]any{"createSystemTopic": false, "existingSystemTopicName": "egst-shared"},
			wantTopic: "egst-shared", wantRG: rg},
		{name: "none", params: map[string]any{"createSystemTopic": false}, wantTopic: "", wantRG: rg},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			params := map[string]func() (any, error){}
			for k, v := range c.params {
				params[k] = constant(v)
			}
			main := loadBicep(t, root, "infra/main.bicep", rg, params)
			// names.systemTopic is built with uniqueString(), which this evaluator does not know.
			main.cache["names.systemTopic"] = "egst-appwarden-token"

			topic, err := main.output("systemTopicName")
			if err != nil {
				t.Fatal(err)
			}
			topicRG, err := main.output("systemTopicResourceGroup")
			if err != nil {
				t.Fatal(err)
			}
			if topic != c.wantTopic || topicRG != c.wantRG {
				t.Fatalf("main.bicep outputs systemTopicName %q in %q, want %q in %q", topic, topicRG, c.wantTopic, c.wantRG)
			}

			// The created topic is a resource of eventgrid.bicep; the existing
			// one is referenced (not deployed) in its own resource group.
			eg, err := main.module(main.decls["eventGrid"])
			if err != nil {
				t.Fatal(err)
			}
			var created, existing []decl
			for _, d := range eg.decls {
				if d.kind == "resource" && strings.Contains(d.header, "'Microsoft.EventGrid/systemTopics@") {
					if on, err := eg.deployed(d); err != nil {
						t.Fatal(err)
					} else if on && strings.Contains(d.header, " existing ") {
						existing = append(existing, d)
					} else if on {
						created = append(created, d)
					}
				}
			}
			if c.wantTopicIsCreated != (len(created) == 1) || len(created) > 1 {
				t.Errorf("eventgrid.bicep deploys %d system topics, want created=%v", len(created), c.wantTopicIsCreated)
			}
			if c.wantTopic != "" && !c.wantTopicIsCreated {
				if len(existing) != 1 {
					t.Fatalf("eventgrid.bicep references %d existing system topics, want 1", len(existing))
				}
				name, err := eg.lookup(existing[0].name + ".name")
				if err != nil {
					t.Fatal(err)
				}
				scope, err := eg.lookup(existing[0].name + ".scope")
				if err != nil {
					t.Fatal(err)
				}
				if name != c.wantTopic || scope != c.wantRG {
					t.Errorf("existing system topic reference: %q in %q, want %q in %q", name, scope, c.wantTopic, c.wantRG)
				}
			} else if len(existing) != 0 {
				t.Errorf("eventgrid.bicep references an existing system topic when it should not")
			}

			// Phase 3, with phase 1's outputs (deploy.sh passes them; TestDeployScript checks that).
			events := loadBicep(t, root, "infra/eventsubscriptions.bicep", rg, map[string]func() (any, error){
				"systemTopicName":          constant(topic),
				"systemTopicResourceGroup": constant(topicRG),
				"customTopicName":          constant(""),
			})
			d := events.decls["systemTopicSubscription"]
			on, err := events.deployed(d)
			if err != nil {
				t.Fatal(err)
			}
			if on != (c.wantTopic != "") {
				t.Fatalf("eventsubscriptions.bicep deploys the system-topic subscription: %v, want %v", on, c.wantTopic != "")
			}
			if !on {
				return
			}
			sub, err := events.module(d)
			if err != nil {
				t.Fatal(err)
			}
			if sub.rgName != c.wantRG {
				t.Errorf("the subscription module is deployed in %q, want the topic's group %q", sub.rgName, c.wantRG)
			}
			parent := sub.decls["systemTopic"]
			if !strings.Contains(parent.header, " existing ") {
				t.Fatalf("modules/eventsubscription.bicep: systemTopic is not an existing reference: %s", parent.header)
			}
			name, err := sub.lookup("systemTopic.name")
			if err != nil {
				t.Fatal(err)
			}
			scope, err := sub.lookup("systemTopic.scope")
			if err != nil {
				t.Fatal(err)
			}
			if name != c.wantTopic || scope != c.wantRG {
				t.Errorf("the event subscription's parent is %q in %q, want %q in %q", name, scope, c.wantTopic, c.wantRG)
			}
			if p, _ := property(sub.decls["onSystemTopic"], "parent"); p != "systemTopic" {
				t.Errorf("onSystemTopic's parent is %q, want systemTopic", p)
			}
		})
	}
}

// TestBicepEvaluatorSelfCheck guards the evaluator the test above relies on.
func TestBicepEvaluatorSelfCheck(t *testing.T) {
	f := &bicepFile{t: t, rel: "self-check", rgName: "rg", cache: map[string]any{}, decls: map[string]decl{}, params: map[string]func() (any, error){
		"on": constant(false), "n": constant("x"),
	}}
	for _, d := range declarations("param on bool\nparam n string\nparam d string = resourceGroup().name\nvar v = !on && !empty(n)\n") {
		f.decls[d.name] = d
	}
	for expr, want := range map[string]any{
		"on ? missing.name : (v ? n : '')": "x",
		"!v || on":                         false,
		"resourceGroup(d)":                 "rg",
		"resourceGroup()":                  "rg",
		"n == 'x' ? 'it\\'s' : 'no'":       "it's",
		"empty('')":                        true,
	} {
		if got, err := f.eval(expr); err != nil || got != want {
			t.Errorf("eval(%q) = %v, %v; want %v", expr, got, err, want)
		}
	}
	for _, expr := range []string{"missing", "uniqueString(n)", "on ? 'a'", "n.name"} {
		if got, err := f.eval(expr); err == nil {
			t.Errorf("eval(%q) = %v, want an error", expr, got)
		}
	}
}

// TestAuditStreamAuth: the Event Hubs namespace keeps local (SAS) auth on by
// default, because the Entra diagnostic setting writes through a SAS
// authorization rule (no source shows it delivering with local auth off,
// MicrosoftDocs/azure-docs#119932); the switch stays. AppWarden's own
// consumer connects with its managed identity: no Event Hubs connection
// string reaches an app setting.
func TestAuditStreamAuth(t *testing.T) {
	root := repoRoot(t)
	main := loadBicep(t, root, "infra/main.bicep", "rg", map[string]func() (any, error){})
	v, err := main.lookup("eventHubDisableLocalAuth")
	if err != nil {
		t.Fatal(err)
	}
	if v != false {
		t.Errorf("eventHubDisableLocalAuth defaults to %v, want false (the diagnostic setting needs SAS)", v)
	}
	if got := moduleParams(main.decls["eventHub"])["disableLocalAuth"]; got != "eventHubDisableLocalAuth" {
		t.Errorf("the eventHub module's disableLocalAuth is %q, want the eventHubDisableLocalAuth parameter", got)
	}

	app := readFile(t, filepath.Join(root, "infra", "modules", "functionapp.bicep"))
	if regexp.MustCompile(`(?m)^\s*'?APPWARDEN_AUDIT_EVENTHUB'?\s*:`).MatchString(app) {
		t.Error("functionapp.bicep sets APPWARDEN_AUDIT_EVENTHUB itself (a connection string); use the __fullyQualifiedNamespace/__credential settings")
	}
	for _, rel := range bicepFiles(t, root) {
		src := readFile(t, filepath.Join(root, rel))
		for _, bad := range []string{"Endpoint=sb://", "SharedAccessKey="} {
			if strings.Contains(strings.ToLower(src), strings.ToLower(bad)) {
				t.Errorf("%s contains %q: AppWarden reads the hub with its identity, never a key", rel, bad)
			}
		}
	}

	readme := readFile(t, filepath.Join(root, "infra", "README.md"))
	for _, want := range []string{"eventHubDisableLocalAuth=false", "MicrosoftDocs/azure-docs#119932"} {
		if !strings.Contains(readme, want) {
			t.Errorf("infra/README.md does not mention %s", want)
		}
	}
}
