package e2e

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/functions/hostemu"
)

const payrollAppID = "5bee10b5-db93-4475-ae1a-3d87e059d287"

func testdata(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "tests", "testdata", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// methodName is the function a host envelope fixture is for
// (Metadata.sys.MethodName).
func methodName(t testing.TB, envelope []byte) string {
	t.Helper()
	var env struct {
		Metadata struct {
			Sys struct{ MethodName string }
		}
	}
	if err := json.Unmarshal(envelope, &env); err != nil || env.Metadata.Sys.MethodName == "" {
		t.Fatalf("envelope has no Metadata.sys.MethodName: %v", err)
	}
	return env.Metadata.Sys.MethodName
}

// logged reports whether some Logs line contains every part.
func logged(logs []string, parts ...string) bool {
	return slices.ContainsFunc(logs, func(l string) bool {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				return false
			}
		}
		return true
	})
}

// TestHostEnvelopeFixtures posts each host envelope fixture to a handler
// whose Graph stand-in holds the fixture tenant. Every one holds a signal
// about "Payroll Sync" or a sweep that finds it: each invocation answers
// 200, its Logs name the signal and the decision recorded on the app, and in
// audit mode (the default) nothing is written to the tenant.
func TestHostEnvelopeFixtures(t *testing.T) {
	type want struct {
		signals   [][]string // Logs lines that must be there (each as parts)
		decisions [][]string
	}
	payroll := "appId=" + payrollAppID
	// A sweep also finds AppWarden's own app, and leaves it alone.
	self := []string{"INFO decision recorded", "appId=" + selfAppID, "displayName=AppWarden", "protected=AppWarden's own app"}
	registration := want{
		signals:   [][]string{{"signal=ProviderRegistered", "dedupeKey=eventgrid:b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e"}},
		decisions: [][]string{{"INFO decision recorded", payroll, "displayName=Payroll Sync", "severity=critical", "mode=audit"}, self},
	}
	audits := want{
		signals: [][]string{
			{"signal=AppCreated", payroll},
			{"signal=ServicePrincipalCreated", payroll},
		},
		decisions: [][]string{
			{"INFO decision recorded", "signal=AppCreated", payroll, "displayName=Payroll Sync", "severity=critical", "mode=audit"},
			{"INFO decision recorded", "signal=ServicePrincipalCreated", payroll, "displayName=Payroll Sync", "severity=critical", "mode=audit"},
		},
	}
	wants := map[string]want{
		"invocation-eventgrid.json":     registration,
		"plain-eventgrid-object.json":   registration,
		"plain-eventgrid-string.json":   registration,
		"invocation-eventhub-many.json": audits,
		"plain-eventhub-array.json":     audits,
		"invocation-timer.json": {
			signals:   [][]string{{"signal=SweepRequested"}},
			decisions: [][]string{{"INFO decision recorded", payroll, "displayName=Payroll Sync", "severity=critical", "mode=audit"}, self},
		},
	}
	files, err := filepath.Glob(filepath.Join(repoRoot, "tests", "testdata", "functions-host", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no host envelope fixtures: %v", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			w, ok := wants[name]
			if !ok {
				t.Fatalf("fixture %s has no expected result here", name)
			}
			// A handler of its own: a sweep's cursor lives in its state, and
			// a second sweep would rightly find nothing new.
			p := startHandler(t, nil)
			body := testdata(t, "functions-host/"+name)
			r := p.mustInvoke(t, methodName(t, body), body, "e2e-"+name)
			logs := hostLogs(t, r)
			if r.Status != http.StatusOK {
				t.Errorf("status %d, want 200; Logs %q\nstderr:\n%s", r.Status, logs, p.Stderr())
			}
			for _, parts := range append(w.signals, w.decisions...) {
				if !logged(logs, parts...) {
					t.Errorf("no Logs line has %q: %q", parts, logs)
				}
			}
			if logged(logs, "ERROR") {
				t.Errorf("Logs report an error: %q", logs)
			}
			if graphCalls(p.Graph) == 0 {
				t.Error("the signal never reached Graph")
			}
			if ws := p.Graph.Writes(); len(ws) != 0 {
				t.Errorf("audit mode (the default) wrote to the tenant: %+v", ws)
			}
			if rej := p.Graph.Rejected(); len(rej) != 0 {
				t.Errorf("the stand-in refused calls: %+v", rej)
			}
			p.checkServing(t)
		})
	}
}

// TestGraphFailureIsRedelivered posts each host envelope fixture while
// every Graph request fails (500, which is not retried): each invocation
// must fail (500, so the host has it redelivered) after its signal reached
// Graph, with Logs naming the signal and the transient failure, and the
// process keeps serving.
func TestGraphFailureIsRedelivered(t *testing.T) {
	registration := [][]string{{"signal=ProviderRegistered", "dedupeKey=eventgrid:b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e"}}
	audits := [][]string{
		{"signal=AppCreated", "appId=" + payrollAppID},
		{"signal=ServicePrincipalCreated", "appId=" + payrollAppID},
	}
	want := map[string][][]string{ // fixture → Logs lines that must be there (each as parts)
		"invocation-eventgrid.json":     registration,
		"plain-eventgrid-object.json":   registration,
		"plain-eventgrid-string.json":   registration,
		"invocation-eventhub-many.json": audits,
		"plain-eventhub-array.json":     audits,
		"invocation-timer.json":         {{"signal=SweepRequested"}},
	}
	files, err := filepath.Glob(filepath.Join(repoRoot, "tests", "testdata", "functions-host", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no host envelope fixtures: %v", err)
	}
	g := startGraph(t, fixtureTenant())
	g.SetFailureRate(1, http.StatusInternalServerError, 1)
	p := startHandlerWith(t, g, nil)
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			lines, ok := want[name]
			if !ok {
				t.Fatalf("fixture %s has no expected result here", name)
			}
			body := testdata(t, "functions-host/"+name)
			before := graphCalls(p.Graph)
			r := p.mustInvoke(t, methodName(t, body), body, "e2e-fail-"+name)
			logs := hostLogs(t, r)
			if r.Status != http.StatusInternalServerError {
				t.Errorf("status %d, want 500 (Graph fails, so the signal must be redelivered); Logs %q", r.Status, logs)
			}
			for _, parts := range lines {
				if !logged(logs, parts...) {
					t.Errorf("no Logs line has %q: %q", parts, logs)
				}
			}
			if !logged(logs, "ERROR transient failure") {
				t.Errorf("Logs do not report the transient failure: %q", logs)
			}
			if graphCalls(p.Graph) == before {
				t.Error("the signal never reached Graph")
			}
		})
	}
	if ws := g.Writes(); len(ws) != 0 {
		t.Errorf("writes while Graph fails: %+v", ws)
	}
	p.checkServing(t)
}

// TestIrrelevantInputIs200 posts valid inputs that hold nothing for
// AppWarden: they succeed without calling Graph.
func TestIrrelevantInputIs200(t *testing.T) {
	failedRegistration := bytes.Replace(testdata(t, "functions-host/plain-eventgrid-object.json"),
		[]byte(`"Microsoft.Resources.ResourceActionSuccess"`), []byte(`"Microsoft.Resources.ResourceActionFailure"`), 1)
	audit := testdata(t, "eventhub/directoryaudit-add-application.json")
	failedAudit := hostemu.EventHub(time.Now(), bytes.Replace(audit, []byte(`"result": "success"`), []byte(`"result": "failure"`), 1))
	tests := []struct {
		name, function string
		body           []byte
		reason         string
	}{
		{"a failed registration", "OnEventGridEvent", failedRegistration, "did not succeed"},
		{"a failed audit record", "OnAuditLogBatch", failedAudit, `has result "failure", not success`},
		// Deliberately not host-encoded: the host never sends an empty batch.
		{"an empty batch", "OnAuditLogBatch", []byte(`{"Data":{"records":[]},"Metadata":{}}`), "the input held no events"},
	}
	p := startHandler(t, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := p.mustInvoke(t, tc.function, tc.body, "e2e-irrelevant")
			logs := hostLogs(t, r)
			if r.Status != http.StatusOK || !logged(logs, "ignored", tc.reason) {
				t.Errorf("status %d, Logs %q; want 200 and an ignore reason with %q", r.Status, logs, tc.reason)
			}
		})
	}
	if n := graphCalls(p.Graph); n != 0 {
		t.Errorf("Graph was called %d times for irrelevant input", n)
	}
}

// nested is {"Data":{"event": [[[...1...]]]}} with depth levels of arrays;
// deliberately not host-encoded (the host would send a string).
func nested(depth int) []byte {
	return []byte(`{"Data":{"event":` + strings.Repeat("[", depth) + "1" + strings.Repeat("]", depth) + "}}")
}

// TestMalformedInputs sends what a broken or hostile caller could send. Each
// request gets an answer (200 with the input recorded as poison, 404/405 for
// a wrong route or method), and the process keeps serving. Bodies the host
// could deliver (a bad event, undecodable messages) are encoded by hostemu;
// the others are deliberately not host-encoded: the host would never send
// them, and that is what they test.
func TestMalformedInputs(t *testing.T) {
	garbage := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range garbage {
		garbage[i] = byte(rng.UintN(256))
	}
	badOperation := bytes.Replace(testdata(t, "functions-host/plain-eventgrid-object.json"),
		[]byte(`"operationName": "Microsoft.AAD/register/action"`), []byte(`"operationName": 42`), 1)
	// Deliberately not host-encoded: over the size limits.
	overTimer := []byte(`{"Data":{"timer":{"pad":"` + strings.Repeat("x", 70<<10) + `"}}}`)
	overEventGrid := []byte(`{"Data":{"event":{"pad":"` + strings.Repeat("x", 4<<20) + `"}}}`)
	badEvent := hostemu.EventGrid([]byte(`{"id":"e2e-bad-1","eventType":"Microsoft.Resources.ResourceActionSuccess",`+
		`"subject":"/subscriptions/x","eventTime":"2026-11-24T09:14:03Z","dataVersion":"2","data":{"operationName":42}}`), time.Now())
	undecodable := hostemu.EventHub(time.Now(), []byte("%%%"), []byte("7"), []byte("e30="))
	tests := []struct {
		name, method, path string
		body               []byte
		status             int
		log                string // part of a Logs line
	}{
		{"not JSON", "POST", "/OnEventGridEvent", []byte("hello, handler"), 200, "request body: not a host envelope"},
		{"empty body", "POST", "/SweepTimer", nil, 200, "unexpected end of JSON input"},
		{"binary garbage", "POST", "/OnAuditLogBatch", garbage, 200, "malformed input recorded as poison"},
		{"invalid UTF-8 in a string", "POST", "/OnEventGridEvent", []byte("{\"Data\":{\"event\":\"\xff\xfe\"}}"), 200, "malformed input recorded as poison: Data.event"},
		{"a JSON array", "POST", "/OnEventGridEvent", []byte(`[]`), 200, "not a host envelope"},
		{"binding of the wrong type", "POST", "/OnEventGridEvent", []byte(`{"Data":{"event":5}}`), 200, "Data.event: expected an event object, got number"},
		{"a field of the wrong type", "POST", "/OnEventGridEvent", badOperation, 200, "Data.event.data.operationName: expected string, got number"},
		{"a field of the wrong type, as the host sends it", "POST", "/OnEventGridEvent", badEvent, 200, "Data.event.data.operationName: expected string, got number"},
		{"timer of the wrong type", "POST", "/SweepTimer", []byte(`{"Data":{"timer":{"IsPastDue":"yes"}}}`), 200, "Data.timer.IsPastDue: expected boolean, got string"},
		{"missing binding", "POST", "/SweepTimer", []byte(`{"Data":{"myTimer":{}}}`), 200, "Data.timer: binding is missing"},
		{"no Data", "POST", "/OnAuditLogBatch", []byte(`{"Metadata":{}}`), 200, "Data.records: binding is missing"},
		{"undecodable messages", "POST", "/OnAuditLogBatch", []byte(`{"Data":{"records":["%%%", 7, "e30="]}}`), 200, "Data.records[0]: a message that is neither JSON text nor base64 of JSON"},
		{"undecodable messages, as the host sends them", "POST", "/OnAuditLogBatch", undecodable, 200, "Data.records[0]: a message that is neither JSON text nor base64 of JSON"},
		{"body over the timer's limit", "POST", "/SweepTimer", overTimer, 200, "request body: larger than the 65536-byte limit for SweepTimer"},
		{"body over the Event Grid limit", "POST", "/OnEventGridEvent", overEventGrid, 200, "request body: larger than the 4194304-byte limit for OnEventGridEvent"},
		{"deeply nested JSON", "POST", "/OnEventGridEvent", nested(5000), 200, "expected an event object, got number"},
		{"JSON nested past the parser's limit", "POST", "/OnEventGridEvent", nested(20000), 200, "exceeded max depth"},
		{"unknown function", "POST", "/NoSuchFunction", []byte(`{}`), 404, `no function named "NoSuchFunction"`},
		{"unknown path", "GET", "/admin/functions", nil, 404, "no function named"},
		{"GET on a function", "GET", "/OnEventGridEvent", nil, 405, "GET is not allowed on /OnEventGridEvent"},
		{"PUT on a function", "PUT", "/SweepTimer", []byte(`{}`), 405, "PUT is not allowed on /SweepTimer"},
		{"POST on the readiness path", "POST", "/", []byte(`{}`), 405, "POST is not allowed on /"},
	}
	p := startHandler(t, nil)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := p.mustDo(t, tc.method, tc.path, tc.body, "e2e-bad-"+strconv.Itoa(i))
			logs := hostLogs(t, r)
			if r.Status != tc.status {
				t.Errorf("status %d, want %d; Logs %q", r.Status, tc.status, logs)
			}
			if !logged(logs, tc.log) {
				t.Errorf("no Logs line has %q: %q", tc.log, logs)
			}
			p.checkServing(t)
		})
	}
	if n := graphCalls(p.Graph); n != 0 {
		t.Errorf("Graph was called %d times for malformed input", n)
	}
}

// TestLogsAreJSONLinesWithTheInvocationID stops the handler and reads its
// stdout: every line is a JSON object, the invocation's lines carry its id,
// the stop is clean, and the secret identity header is never printed.
func TestLogsAreJSONLinesWithTheInvocationID(t *testing.T) {
	p := startHandler(t, nil)
	r := p.mustInvoke(t, "OnEventGridEvent", hostemu.EventGrid([]byte(`{"id":"e2e-logs","eventType":"Microsoft.Resources.ResourceActionSuccess","data":{"operationName":5}}`), time.Now()), "e2e-logs-7f3a")
	if r.Status != http.StatusOK {
		t.Fatalf("status %d", r.Status)
	}
	if code := p.stop(t); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0\nstderr:\n%s", code, p.Stderr())
	}
	out := p.Stdout()
	found := false
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("stdout line is not a JSON object: %q", line)
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("log line lacks %q: %q", k, line)
			}
		}
		if rec["invocationId"] == "e2e-logs-7f3a" {
			found = true
			if rec["function"] != "OnEventGridEvent" {
				t.Errorf("invocation log line lacks its function: %q", line)
			}
		}
	}
	if !found {
		t.Errorf("no stdout line has invocationId e2e-logs-7f3a:\n%s", out)
	}
	if strings.Contains(out+p.Stderr(), identityHeader) {
		t.Error("the process printed the identity header (a secret)")
	}
}

// TestListensOnLoopbackOnly connects to the handler's port on every other
// local address: the host calls 127.0.0.1, and nothing else may reach it.
func TestListensOnLoopbackOnly(t *testing.T) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skipf("listing interface addresses: %v", err)
	}
	var others []net.IP
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.Equal(net.IPv4(127, 0, 0, 1)) && !n.IP.IsLinkLocalUnicast() {
			others = append(others, n.IP)
		}
	}
	if len(others) == 0 {
		t.Skip("this machine has no local address other than 127.0.0.1")
	}
	p := startHandler(t, nil)
	for _, ip := range others {
		addr := net.JoinHostPort(ip.String(), strconv.Itoa(p.Port))
		if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
			c.Close()
			t.Errorf("the handler answers on %s; it must listen on 127.0.0.1 only", addr)
		}
	}
	p.checkServing(t)
}

// TestBadStartExitsWith2 starts the handler with settings it must refuse:
// it exits 2 and names the setting on stderr.
func TestBadStartExitsWith2(t *testing.T) {
	port := strconv.Itoa(freePort(t))
	tests := []struct {
		name    string
		env     map[string]string
		setting string
	}{
		{"no port", map[string]string{}, "FUNCTIONS_CUSTOMHANDLER_PORT"},
		{"a port that is not a number", map[string]string{"FUNCTIONS_CUSTOMHANDLER_PORT": "http"}, "FUNCTIONS_CUSTOMHANDLER_PORT"},
		{"a bad mode", map[string]string{"FUNCTIONS_CUSTOMHANDLER_PORT": port, "APPWARDEN_MODE": "chaos"}, "APPWARDEN_MODE"},
		{"a bad log level", map[string]string{"FUNCTIONS_CUSTOMHANDLER_PORT": port, "APPWARDEN_LOG_LEVEL": "loud"}, "APPWARDEN_LOG_LEVEL"},
		{"a plain-http webhook", map[string]string{"FUNCTIONS_CUSTOMHANDLER_PORT": port, "APPWARDEN_TEAMS_WEBHOOK_URL": "http://hooks.example/secret-sig-0451"}, "APPWARDEN_TEAMS_WEBHOOK_URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runHandler(t, tc.env)
			if code != 2 {
				t.Errorf("exit code %d, want 2\nstderr:\n%s", code, stderr)
			}
			if !strings.Contains(stderr, tc.setting) {
				t.Errorf("stderr does not name %s:\n%s", tc.setting, stderr)
			}
			if strings.Contains(stdout+stderr, "secret-sig-0451") {
				t.Error("the output reveals the webhook URL (a secret)")
			}
		})
	}
}

// TestFunctionsAgree checks that `appwarden functions` (the handler's
// function set, from package setup) and function-app/ list the same
// functions, with the same binding names and trigger types, and that the
// running handler serves each one.
func TestFunctionsAgree(t *testing.T) {
	code, stdout, stderr := runCLI(t, nil, "functions")
	if code != 0 {
		t.Fatalf("appwarden functions: exit %d\n%s", code, stderr)
	}
	var served []struct {
		Name    string `json:"name"`
		Binding string `json:"binding"`
		Trigger string `json:"trigger"`
		MaxBody int64  `json:"maxBody"`
	}
	if err := json.Unmarshal([]byte(stdout), &served); err != nil || len(served) == 0 {
		t.Fatalf("appwarden functions printed no function list: %v\n%s", err, stdout)
	}
	type trigger struct{ binding, typ string }
	handlerSide := map[string]trigger{}
	for _, f := range served {
		if _, dup := handlerSide[f.Name]; dup {
			t.Errorf("the handler lists %s twice", f.Name)
		}
		if f.MaxBody <= 0 {
			t.Errorf("%s has no body limit", f.Name)
		}
		handlerSide[f.Name] = trigger{f.Binding, f.Trigger}
	}

	appSide := map[string]trigger{}
	dirs, err := filepath.Glob(filepath.Join(repoRoot, "function-app", "*", "function.json"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no function-app/*/function.json: %v", err)
	}
	for _, path := range dirs {
		name := filepath.Base(filepath.Dir(path))
		var fj struct {
			Bindings []struct{ Type, Direction, Name string }
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &fj); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var triggers []trigger
		for _, bd := range fj.Bindings {
			if bd.Direction == "in" && strings.HasSuffix(bd.Type, "Trigger") {
				triggers = append(triggers, trigger{bd.Name, bd.Type})
			}
		}
		if len(triggers) != 1 {
			t.Errorf("%s has %d trigger bindings, want 1", path, len(triggers))
			continue
		}
		appSide[name] = triggers[0]
	}

	for name, want := range appSide {
		got, ok := handlerSide[name]
		switch {
		case !ok:
			t.Errorf("function-app/%s has no route in the handler", name)
		case got != want:
			t.Errorf("%s: handler has binding %q trigger %q; function.json has binding %q trigger %q", name, got.binding, got.typ, want.binding, want.typ)
		}
	}
	for name := range handlerSide {
		if _, ok := appSide[name]; !ok {
			t.Errorf("the handler serves %s, which has no function-app/%s/function.json", name, name)
		}
	}

	p := startHandler(t, nil)
	for name := range handlerSide {
		if r := p.mustInvoke(t, name, []byte(`{}`), "e2e-route"); r.Status != http.StatusOK {
			t.Errorf("POST /%s = %d, want 200 (poison: the binding is missing)", name, r.Status)
		}
	}
}

// TestHostJSON checks the host.json settings the custom handler relies on.
func TestHostJSON(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "host.json"))
	if err != nil {
		t.Fatal(err)
	}
	var host struct {
		Version         string
		ExtensionBundle struct{ ID, Version string }
		CustomHandler   struct {
			Description struct{ DefaultExecutablePath string }
		}
	}
	if err := json.Unmarshal(b, &host); err != nil {
		t.Fatal(err)
	}
	if host.Version != "2.0" {
		t.Errorf("version %q, want 2.0", host.Version)
	}
	if got := host.CustomHandler.Description.DefaultExecutablePath; got != "handler" {
		t.Errorf("customHandler.description.defaultExecutablePath = %q, want handler", got)
	}
	if host.ExtensionBundle.ID != "Microsoft.Azure.Functions.ExtensionBundle" || host.ExtensionBundle.Version != "[4.*, 5.0.0)" {
		t.Errorf("extensionBundle = %+v, want Microsoft.Azure.Functions.ExtensionBundle [4.*, 5.0.0)", host.ExtensionBundle)
	}
}
