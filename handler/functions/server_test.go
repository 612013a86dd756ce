package functions_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/functions/hostemu"
)

const (
	payrollAppID = "5bee10b5-db93-4475-ae1a-3d87e059d287"
	armEventID   = "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e"
)

func TestReadiness(t *testing.T) {
	h := newHarness(t)
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET / = %d, want 200", rec.Code)
	}
	if rec.Body.Len() == 0 {
		t.Error("GET / has an empty body")
	}
}

func TestHostFixtures(t *testing.T) {
	tests := []struct {
		file, fn string
		want     []appwarden.SignalKind
	}{
		{"invocation-eventgrid.json", fnEventGrid, []appwarden.SignalKind{appwarden.ProviderRegistered}},
		{"plain-eventgrid-object.json", fnEventGrid, []appwarden.SignalKind{appwarden.ProviderRegistered}},
		{"plain-eventgrid-string.json", fnEventGrid, []appwarden.SignalKind{appwarden.ProviderRegistered}},
		{"invocation-eventhub-many.json", fnEventHub, []appwarden.SignalKind{appwarden.AppCreated, appwarden.ServicePrincipalCreated}},
		{"plain-eventhub-array.json", fnEventHub, []appwarden.SignalKind{appwarden.AppCreated, appwarden.ServicePrincipalCreated}},
		{"invocation-timer.json", fnTimer, []appwarden.SignalKind{appwarden.SweepRequested}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			h := newHarness(t)
			rec := h.invoke(t, tc.fn, fixture(t, "functions-host/"+tc.file))
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d, want 200: %s", rec.Code, rec.Body)
			}
			logs := replyLogs(t, rec)
			got := h.proc.got()
			if len(got) != len(tc.want) {
				t.Fatalf("processed %d signals, want %d (logs %q)", len(got), len(tc.want), logs)
			}
			for i, k := range tc.want {
				if got[i].Kind != k {
					t.Errorf("signal %d kind = %s, want %s", i, got[i].Kind, k)
				}
				if !logsContain(logs, "INFO processed", "signal="+string(k)) {
					t.Errorf("no Logs line names signal %s: %q", k, logs)
				}
			}
			if p := h.poison.got(); len(p) != 0 {
				t.Errorf("poison recorded: %+v", p)
			}
		})
	}
}

// TestLogsNameTheSignal checks that a Logs line written for a signal carries
// the signal's kind, appId and dedupe key, but not the invocation-wide
// attributes the host already knows; the process log (stdout) has them all.
func TestLogsNameTheSignal(t *testing.T) {
	h := newHarness(t)
	logs := replyLogs(t, h.invoke(t, fnEventHub, fixture(t, "functions-host/invocation-eventhub-many.json")))
	if !logsContain(logs, "INFO processed", "signal=AppCreated", "appId="+payrollAppID, "dedupeKey=audit:", "objectId=a0847fad-") {
		t.Errorf("no Logs line names the AppCreated signal: %q", logs)
	}
	if logsContain(logs, "invocationId=") || logsContain(logs, "function=") {
		t.Errorf("Logs lines repeat the invocation-wide attributes: %q", logs)
	}
	var line struct {
		Msg          string `json:"msg"`
		InvocationID string `json:"invocationId"`
		Function     string `json:"function"`
		Signal       string `json:"signal"`
		AppID        string `json:"appId"`
	}
	found := false
	for _, l := range strings.Split(strings.TrimSpace(h.log.String()), "\n") {
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("process log line is not JSON: %q", l)
		}
		if line.Msg == "processed" && line.Signal == "AppCreated" {
			found = true
			if line.InvocationID != "inv-"+fnEventHub || line.Function != fnEventHub || line.AppID != payrollAppID {
				t.Errorf("process log line %+v lacks the invocation or signal attributes", line)
			}
		}
	}
	if !found {
		t.Errorf("no process log line for the AppCreated signal:\n%s", h.log)
	}
}

func TestSignalWithoutTimeGetsTheHostsTime(t *testing.T) {
	event := fixture(t, "eventgrid/aad-register-action.eventgrid.json")
	var ev map[string]any
	if err := json.Unmarshal(event, &ev); err != nil {
		t.Fatal(err)
	}
	delete(ev, "eventTime")
	event, _ = json.Marshal(ev)
	want := time.Date(2026, 11, 24, 9, 14, 5, 0, time.UTC) // Metadata.sys.UtcNow
	h := newHarness(t)
	if rec := h.invoke(t, fnEventGrid, hostemu.EventGrid(event, want)); rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	got := h.proc.got()
	if len(got) != 1 || !got[0].Time.Equal(want) {
		t.Fatalf("signals %+v, want one at %s", got, want)
	}
}

// A timer that was never scheduled reports DateTime.MinValue as its next
// occurrence: the tick is keyed on the host's time instead.
func TestTimerWithoutScheduleUsesTheHostsTime(t *testing.T) {
	h := newHarness(t)
	body := hostemu.MustEncode(hostemu.SweepTimer(), hostemu.Invocation{
		Timer: &hostemu.Timer{}, Now: time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC),
	})
	if rec := h.invoke(t, fnTimer, body); rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	got := h.proc.got()
	if len(got) != 1 || got[0].DedupeKey != "timer:2026-11-24T09:30:00Z" {
		t.Fatalf("signals %+v, want one keyed on the host's time", got)
	}
}

func TestBindingNameIsCaseInsensitive(t *testing.T) {
	body := bytes.Replace(fixture(t, "functions-host/plain-eventgrid-object.json"), []byte(`"event"`), []byte(`"Event"`), 1)
	h := newHarness(t)
	if rec := h.invoke(t, fnEventGrid, body); rec.Code != http.StatusOK || len(h.proc.got()) != 1 {
		t.Fatalf("status %d, signals %d; want 200 and one signal", rec.Code, len(h.proc.got()))
	}
}

func TestIgnoredInputIsLogged(t *testing.T) {
	h := newHarness(t)
	body := hostemu.EventGrid([]byte(`{"id":"1","eventType":"Microsoft.Storage.BlobCreated","data":{}}`), now)
	rec := h.invoke(t, fnEventGrid, body)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	logs := replyLogs(t, rec)
	if !logsContain(logs, `INFO ignored: Data.event: event type "Microsoft.Storage.BlobCreated"`) {
		t.Errorf("Logs %q do not give the reason", logs)
	}
	if len(h.proc.got())+len(h.poison.got()) != 0 {
		t.Error("an ignored event reached the processor or the poison list")
	}
}

func TestEmptyBatchIsLogged(t *testing.T) {
	h := newHarness(t)
	// Deliberately not host-encoded: the host never sends an empty batch.
	rec := h.invoke(t, fnEventHub, []byte(`{"Data":{"records":[]},"Metadata":{}}`))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	if logs := replyLogs(t, rec); !logsContain(logs, "ignored: the input held no events") {
		t.Errorf("Logs %q", logs)
	}
}

func TestTransientFailureIs500(t *testing.T) {
	h := newHarness(t)
	h.proc.err = errors.New("graph: 503 Service Unavailable")
	rec := h.invoke(t, fnEventGrid, fixture(t, "functions-host/plain-eventgrid-object.json"))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	logs := replyLogs(t, rec)
	if !logsContain(logs, "ERROR transient failure", "graph: 503 Service Unavailable", "signal=ProviderRegistered") {
		t.Errorf("Logs %q do not report the failure", logs)
	}
}

func TestPoisonIsRecordedAnd200(t *testing.T) {
	h := newHarness(t)
	body := hostemu.EventGrid([]byte(`{"id":"e1","eventType":"Microsoft.Resources.ResourceActionSuccess","data":{"operationName":7}}`), now)
	rec := h.invoke(t, fnEventGrid, body)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", rec.Code)
	}
	want := "Data.event.data.operationName: expected string, got number"
	got := h.poison.got()
	if len(got) != 1 {
		t.Fatalf("recorded %d poison, want 1", len(got))
	}
	p := got[0]
	if p.Function != fnEventGrid || p.InvocationID != "inv-"+fnEventGrid || !p.At.Equal(now) ||
		len(p.Errors) != 1 || p.Errors[0] != want || p.Body != string(body) || p.Truncated {
		t.Errorf("poison = %+v", p)
	}
	if logs := replyLogs(t, rec); !logsContain(logs, "ERROR malformed input recorded as poison: "+want) {
		t.Errorf("Logs %q do not name the problem", logs)
	}
	if len(h.proc.got()) != 0 {
		t.Error("poison reached the processor")
	}
}

// Bodies the host would never send; deliberately not host-encoded.
func TestEnvelopeProblemsArePoison(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"not JSON", `hello`, `request body: not a host envelope {"Data":{...},"Metadata":{...}}: invalid character 'h' looking for beginning of value`},
		{"empty body", ``, `request body: not a host envelope {"Data":{...},"Metadata":{...}}: unexpected end of JSON input`},
		{"Data is an array", `{"Data":[]}`, `request body: not a host envelope {"Data":{...},"Metadata":{...}}: json: cannot unmarshal array into Go struct field Envelope.Data of type map[string]json.RawMessage`},
		{"missing binding", `{"Data":{}}`, "Data.event: binding is missing"},
		{"no Data", `{}`, "Data.event: binding is missing"},
		{"binding of the wrong type", `{"Data":{"event":5}}`, "Data.event: expected an event object, got number"},
		{"binding is null", `{"Data":{"event":null}}`, "Data.event: expected an event object, got null"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			rec := h.invoke(t, fnEventGrid, []byte(tc.body))
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d, want 200", rec.Code)
			}
			replyLogs(t, rec)
			got := h.poison.got()
			if len(got) != 1 || len(got[0].Errors) != 1 || got[0].Errors[0] != tc.want {
				t.Errorf("poison %+v\nwant error %q", got, tc.want)
			}
		})
	}
}

func TestPoisonRecorderFailureIs500(t *testing.T) {
	h := newHarness(t)
	h.poison.err = errors.New("table storage unavailable")
	rec := h.invoke(t, fnEventGrid, hostemu.EventGrid([]byte(`{"id":"e1","eventType":"Microsoft.Resources.ResourceActionSuccess","data":{"operationName":7}}`), now))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	if logs := replyLogs(t, rec); !logsContain(logs, "ERROR could not record poison", "table storage unavailable") {
		t.Errorf("Logs %q", logs)
	}
}

func TestBodyOverMaxBodyIsPoison(t *testing.T) {
	h := newHarness(t)
	// Deliberately not host-encoded: a timer value this large is not one.
	body := append([]byte(`{"Data":{"timer":{"pad":"`), bytes.Repeat([]byte("x"), timerMax)...)
	body = append(body, `"}}}`...)
	rec := h.invoke(t, fnTimer, body)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", rec.Code)
	}
	replyLogs(t, rec)
	got := h.poison.got()
	if len(got) != 1 {
		t.Fatalf("recorded %d poison, want 1", len(got))
	}
	want := "request body: larger than the 65536-byte limit for SweepTimer"
	if len(got[0].Errors) != 1 || got[0].Errors[0] != want {
		t.Errorf("errors %q, want [%q]", got[0].Errors, want)
	}
	if !got[0].Truncated || len(got[0].Body) > timerMax || !strings.HasPrefix(string(body), got[0].Body) {
		t.Errorf("kept %d bytes, truncated=%v; want a truncated prefix of the body", len(got[0].Body), got[0].Truncated)
	}
	if len(h.proc.got()) != 0 {
		t.Error("an over-long body reached the processor")
	}
}

func TestLongPoisonBodyIsTruncated(t *testing.T) {
	h := newHarness(t)
	event := `{"id":"e1","eventType":"Microsoft.Resources.ResourceActionSuccess","data":{"operationName":7,"pad":"` + strings.Repeat("x", 100<<10) + `"}}`
	body := hostemu.EventGrid([]byte(event), now)
	if rec := h.invoke(t, fnEventGrid, body); rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	got := h.poison.got()
	if len(got) != 1 || !got[0].Truncated || len(got[0].Body) != 64<<10 {
		t.Fatalf("poison kept %d bytes, truncated=%v; want the first 64 KiB", len(got[0].Body), got[0].Truncated)
	}
}

func TestPanicIs500AndTheServerKeepsServing(t *testing.T) {
	h := newHarness(t)
	h.proc.panic = "boom"
	rec := h.invoke(t, fnEventGrid, fixture(t, "functions-host/plain-eventgrid-object.json"))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	if logs := replyLogs(t, rec); !logsContain(logs, "ERROR internal error: boom") {
		t.Errorf("Logs %q", logs)
	}
	var line struct {
		Level, Msg, Panic, InvocationID string
	}
	found := false
	for _, l := range strings.Split(strings.TrimSpace(h.log.String()), "\n") {
		if json.Unmarshal([]byte(l), &line) == nil && line.Level == "ERROR" && line.Panic == "boom" {
			found = true
			if line.InvocationID != "inv-"+fnEventGrid {
				t.Errorf("panic log line has invocationId %q", line.InvocationID)
			}
		}
	}
	if !found {
		t.Errorf("no ERROR log line for the panic:\n%s", h.log)
	}

	h.proc.panic = nil
	if rec := h.invoke(t, fnTimer, fixture(t, "functions-host/invocation-timer.json")); rec.Code != http.StatusOK {
		t.Errorf("after a panic, status %d, want 200", rec.Code)
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	tests := []struct {
		method, path string
		want         int
	}{
		{http.MethodPost, "/NoSuchFunction", http.StatusNotFound},
		{http.MethodGet, "/NoSuchFunction", http.StatusNotFound},
		{http.MethodPost, "/onEventGridEvent/extra", http.StatusNotFound},
		{http.MethodGet, "/" + fnEventGrid, http.StatusMethodNotAllowed},
		{http.MethodPut, "/" + fnTimer, http.StatusMethodNotAllowed},
		{http.MethodPost, "/", http.StatusMethodNotAllowed},
	}
	h := newHarness(t)
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.handler.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, strings.NewReader("{}")))
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d", rec.Code, tc.want)
			}
			if logs := replyLogs(t, rec); !logsContain(logs, "ERROR", tc.path) {
				t.Errorf("Logs %q do not name the path", logs)
			}
		})
	}
}
