package infra

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
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

// TestFunctionsAgree: function.json folders, the handler's routes (`appwarden
// functions` prints the function set the handler serves, from package
// setup) and the functions Bicep points Event Grid at all agree.
func TestFunctionsAgree(t *testing.T) {
	root := repoRoot(t)

	type fn struct{ trigger, binding string }
	fromJSON := map[string]fn{}
	for _, f := range functionJSONs(t, root) {
		typ, name := f.trigger(t)
		fromJSON[f.name] = fn{typ, name}
	}

	bin := cliBinary(t)
	out, err := run(t, root, nil, bin, "functions")
	if err != nil {
		t.Fatalf("appwarden functions: %v\n%s", err, out)
	}
	var listed []handlerFunction
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatalf("appwarden functions printed %q: %v", out, err)
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

// retryPolicy is function.json's "retry" block.
type retryPolicy struct {
	Strategy        string `json:"strategy"`
	MaxRetryCount   *int   `json:"maxRetryCount"`
	MinimumInterval string `json:"minimumInterval"`
	MaximumInterval string `json:"maximumInterval"`
	DelayInterval   string `json:"delayInterval"`
}

var timeSpanRE = regexp.MustCompile(`^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$`)

// parseTimeSpan reads a .NET TimeSpan as function.json writes it:
// [d.]hh:mm:ss.
func parseTimeSpan(s string) (time.Duration, error) {
	m := timeSpanRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a [d.]hh:mm:ss time span", s)
	}
	n := func(i int) time.Duration {
		if m[i] == "" {
			return 0
		}
		v, _ := strconv.Atoi(m[i])
		return time.Duration(v)
	}
	if n(3) > 59 || n(4) > 59 {
		return 0, fmt.Errorf("%q has minutes or seconds above 59", s)
	}
	return n(1)*24*time.Hour + n(2)*time.Hour + n(3)*time.Minute + n(4)*time.Second, nil
}

// TestRetryPolicies: Event Hubs never redelivers a failed invocation (the
// checkpoint advances either way), so OnAuditLogBatch needs a retry policy,
// and a bounded one: the host holds the partition's checkpoint until the
// policy ends, and maxRetryCount -1 would stall the partition for good.
// Event Grid redelivers by itself (an in-process retry would only outlast its
// 30 s wait and cause a second delivery), and the sweep timer's next tick
// comes 30 s later, so neither has a retry policy.
func TestRetryPolicies(t *testing.T) {
	root := repoRoot(t)
	seen := map[string]bool{}
	for _, f := range functionJSONs(t, root) {
		typ, _ := f.trigger(t)
		seen[typ] = true
		var doc struct {
			Retry *retryPolicy `json:"retry"`
		}
		if err := json.Unmarshal(f.raw, &doc); err != nil {
			t.Fatalf("function-app/%s/function.json: %v", f.name, err)
		}
		where := "function-app/" + f.name + "/function.json"
		switch typ {
		case "eventHubTrigger":
			checkEventHubRetry(t, where, doc.Retry)
			for _, b := range f.bindings {
				if b["type"] == typ && (b["cardinality"] != "many" || b["dataType"] != "string") {
					t.Errorf("%s: want cardinality many and dataType string (one invocation per batch, one string per message), got %v and %v", where, b["cardinality"], b["dataType"])
				}
			}
		case "eventGridTrigger", "timerTrigger":
			if doc.Retry != nil {
				t.Errorf("%s: a %s function must not have a retry policy (Event Grid redelivers; the timer ticks again)", where, typ)
			}
		default:
			t.Errorf("%s: trigger %s has no retry rule in this test; decide one", where, typ)
		}
	}
	for _, typ := range []string{"eventHubTrigger", "eventGridTrigger", "timerTrigger"} {
		if !seen[typ] {
			t.Errorf("no function with a %s", typ)
		}
	}
}

func checkEventHubRetry(t *testing.T, where string, r *retryPolicy) {
	t.Helper()
	if r == nil {
		t.Errorf("%s: no retry policy: a failed batch would be checkpointed past and lost", where)
		return
	}
	if r.Strategy != "exponentialBackoff" {
		t.Errorf("%s: retry strategy %q, want exponentialBackoff", where, r.Strategy)
	}
	if r.MaxRetryCount == nil || *r.MaxRetryCount < 1 || *r.MaxRetryCount > 10 {
		t.Errorf("%s: maxRetryCount must be set, from 1 to 10 (-1 retries forever and stalls the partition)", where)
		return
	}
	lo, err := parseTimeSpan(r.MinimumInterval)
	if err != nil {
		t.Errorf("%s: minimumInterval: %v", where, err)
		return
	}
	hi, err := parseTimeSpan(r.MaximumInterval)
	if err != nil {
		t.Errorf("%s: maximumInterval: %v", where, err)
		return
	}
	if lo <= 0 || lo > hi {
		t.Errorf("%s: want 0 < minimumInterval (%v) <= maximumInterval (%v)", where, lo, hi)
	}
	// Worst case: every wait doubles from the minimum up to the maximum.
	var total time.Duration
	for i, d := 0, lo; i < *r.MaxRetryCount; i++ {
		total += min(d, hi)
		d *= 2
	}
	if total > 10*time.Minute {
		t.Errorf("%s: retries can hold the partition for %v; keep it under 10 minutes", where, total)
	}
}

func TestParseTimeSpan(t *testing.T) {
	for in, want := range map[string]time.Duration{"00:00:05": 5 * time.Second, "00:01:00": time.Minute, "1.02:03:04": 26*time.Hour + 3*time.Minute + 4*time.Second} {
		if got, err := parseTimeSpan(in); err != nil || got != want {
			t.Errorf("parseTimeSpan(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "5s", "00:60:00", "00:00:5", "-00:00:05"} {
		if _, err := parseTimeSpan(in); err == nil {
			t.Errorf("parseTimeSpan(%q) accepted", in)
		}
	}
}
