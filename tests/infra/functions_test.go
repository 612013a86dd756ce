package infra

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// functionDef is one function-app/<Name>/function.json.
type functionDef struct {
	name     string
	raw      []byte
	bindings []map[string]any
}

func functionJSONs(t *testing.T, root string) []functionDef {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(root, "function-app", "*", "function.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no function-app/*/function.json")
	}
	sort.Strings(paths)
	var out []functionDef
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Bindings []map[string]any `json:"bindings"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out = append(out, functionDef{name: filepath.Base(filepath.Dir(p)), raw: raw, bindings: doc.Bindings})
	}
	return out
}

// trigger returns the function's one trigger binding.
func (f functionDef) trigger(t *testing.T) (typ, name string) {
	t.Helper()
	var found []map[string]any
	for _, b := range f.bindings {
		if typ, _ := b["type"].(string); strings.HasSuffix(typ, "Trigger") {
			found = append(found, b)
		}
	}
	if len(found) != 1 {
		t.Fatalf("function-app/%s/function.json: want exactly one trigger binding, got %d", f.name, len(found))
	}
	typ, _ = found[0]["type"].(string)
	name, _ = found[0]["name"].(string)
	if dir, _ := found[0]["direction"].(string); dir != "in" {
		t.Errorf("function-app/%s: trigger direction %q, want in", f.name, dir)
	}
	return typ, name
}

type handlerFunction struct {
	Name    string `json:"name"`
	Binding string `json:"binding"`
	Trigger string `json:"trigger"`
	MaxBody int64  `json:"maxBody"`
}

var functionRefRE = regexp.MustCompile(`/functions/([A-Za-z0-9_-]+)`)

// TestFunctionsAgree: function.json folders, the handler's routes (`handler
// functions`) and the functions Bicep points Event Grid at all agree.
func TestFunctionsAgree(t *testing.T) {
	root := repoRoot(t)

	type fn struct{ trigger, binding string }
	fromJSON := map[string]fn{}
	for _, f := range functionJSONs(t, root) {
		typ, name := f.trigger(t)
		fromJSON[f.name] = fn{typ, name}
	}

	bin := handlerBinary(t)
	out, err := run(t, root, nil, bin, "functions")
	if err != nil {
		t.Fatalf("handler functions: %v\n%s", err, out)
	}
	var listed []handlerFunction
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatalf("handler functions printed %q: %v", out, err)
	}
	fromHandler := map[string]fn{}
	for _, h := range listed {
		if _, dup := fromHandler[h.Name]; dup {
			t.Errorf("handler lists %s twice", h.Name)
		}
		fromHandler[h.Name] = fn{h.Trigger, h.Binding}
		if h.MaxBody <= 0 {
			t.Errorf("handler function %s has no body limit", h.Name)
		}
	}

	for name, j := range fromJSON {
		h, ok := fromHandler[name]
		if !ok {
			t.Errorf("function-app/%s has no handler route (POST /%s would 404)", name, name)
			continue
		}
		if h != j {
			t.Errorf("%s: function.json has %s binding %q, the handler expects %s binding %q", name, j.trigger, j.binding, h.trigger, h.binding)
		}
	}
	for name := range fromHandler {
		if _, ok := fromJSON[name]; !ok {
			t.Errorf("the handler serves %s but function-app/%s/function.json does not exist", name, name)
		}
	}

	refs := 0
	for _, rel := range bicepFiles(t, root) {
		for _, m := range functionRefRE.FindAllStringSubmatch(readFile(t, filepath.Join(root, rel)), -1) {
			refs++
			j, ok := fromJSON[m[1]]
			if !ok {
				t.Errorf("%s points at function %s, which function-app/ does not define", rel, m[1])
				continue
			}
			if _, ok := fromHandler[m[1]]; !ok {
				t.Errorf("%s points at function %s, which the handler does not serve", rel, m[1])
			}
			if j.trigger != "eventGridTrigger" {
				t.Errorf("%s points Event Grid at %s, a %s function", rel, m[1], j.trigger)
			}
		}
	}
	if refs == 0 {
		t.Error("no Bicep file points Event Grid at a function (<site>/functions/<name>)")
	}

	// host.json starts the executable the package ships.
	var host struct {
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
		} `json:"customHandler"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(root, "host.json"))), &host); err != nil {
		t.Fatalf("host.json: %v", err)
	}
	if got := host.CustomHandler.Description.DefaultExecutablePath; got != "handler" {
		t.Errorf("host.json defaultExecutablePath = %q, want handler (the name make package builds)", got)
	}
}
