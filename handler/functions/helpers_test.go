package functions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/appwarden/appwardentest"
	"github.com/appwarden/appwarden/handler/eventgrid"
	"github.com/appwarden/appwarden/handler/eventhub"
	"github.com/appwarden/appwarden/handler/functions"
	"github.com/appwarden/appwarden/handler/timer"
)

const testdata = "../../tests/testdata"

// The function set, wired as handler/functionset.go wires it (the end-to-end
// suite checks the real binary's set against function-app/).
const (
	fnEventGrid = "OnEventGridEvent"
	fnEventHub  = "OnAuditLogBatch"
	fnTimer     = "SweepTimer"
	timerMax    = 64 << 10
)

func functionSet() []functions.Function {
	return []functions.Function{
		{Name: fnEventGrid, Binding: "event", Trigger: "eventGridTrigger", MaxBody: 4 << 20,
			Decode: func(v any, path string, _ time.Time) appwarden.Batch { return eventgrid.Decode(v, path) }},
		{Name: fnEventHub, Binding: "records", Trigger: "eventHubTrigger", MaxBody: 16 << 20,
			Decode: func(v any, path string, _ time.Time) appwarden.Batch { return eventhub.Decode(v, path) }},
		{Name: fnTimer, Binding: "timer", Trigger: "timerTrigger", MaxBody: timerMax, Decode: timer.Decode},
	}
}

// now is the server's clock in tests.
var now = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// processor is a fake Processor: it keeps the signals, logs one line per
// signal through the logger it is given, and fails or panics when told to.
type processor struct {
	mu      sync.Mutex
	signals []appwarden.Signal
	err     error
	panic   any
}

func (p *processor) Process(_ context.Context, log *slog.Logger, sig appwarden.Signal) error {
	p.mu.Lock()
	p.signals = append(p.signals, sig)
	p.mu.Unlock()
	if p.panic != nil {
		panic(p.panic)
	}
	log.Info("processed", "objectId", sig.ObjectID)
	return p.err
}

func (p *processor) got() []appwarden.Signal {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]appwarden.Signal{}, p.signals...)
}

// poisonRecorder is a fake PoisonRecorder.
type poisonRecorder struct {
	mu       sync.Mutex
	recorded []appwarden.Poison
	err      error
}

func (r *poisonRecorder) RecordPoison(_ context.Context, p appwarden.Poison) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.recorded = append(r.recorded, p)
	return nil
}

func (r *poisonRecorder) got() []appwarden.Poison {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]appwarden.Poison{}, r.recorded...)
}

type harness struct {
	srv     *functions.Server
	handler http.Handler
	proc    *processor
	poison  *poisonRecorder
	log     *appwardentest.LogBuffer
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	h := &harness{proc: &processor{}, poison: &poisonRecorder{}, log: &appwardentest.LogBuffer{}}
	h.srv = &functions.Server{
		Functions: functionSet(),
		Processor: h.proc,
		Poison:    h.poison,
		Log:       slog.New(slog.NewJSONHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:       func() time.Time { return now },
	}
	h.handler = h.srv.Handler()
	return h
}

// invoke POSTs body to /<fn> as the host does.
func (h *harness) invoke(t testing.TB, fn string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/"+fn, bytes.NewReader(body))
	req.Header.Set("X-Azure-Functions-InvocationId", "inv-"+fn)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, req)
	return rec
}

func fixture(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, rel))
	if err != nil {
		t.Fatalf("reading fixture: %v", err)
	}
	return b
}

// replyLogs checks that the body is exactly the custom handler reply
// {"Outputs":{},"Logs":[...],"ReturnValue":null}, served as JSON, and
// returns its Logs.
func replyLogs(t testing.TB, rec *httptest.ResponseRecorder) []string {
	t.Helper()
	logs, err := parseReply(rec.Header().Get("Content-Type"), rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return logs
}

func parseReply(contentType string, body []byte) ([]string, error) {
	if contentType != "application/json" {
		return nil, errors.New("Content-Type " + contentType + ", want application/json")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, errors.New("reply is not a JSON object: " + err.Error() + ": " + string(body))
	}
	if len(top) != 3 {
		return nil, errors.New("reply has other keys than Outputs, Logs, ReturnValue: " + string(body))
	}
	if string(top["Outputs"]) != "{}" {
		return nil, errors.New("Outputs is not {}: " + string(body))
	}
	if string(top["ReturnValue"]) != "null" {
		return nil, errors.New("ReturnValue is not null: " + string(body))
	}
	var logs []string
	if err := json.Unmarshal(top["Logs"], &logs); err != nil || logs == nil {
		return nil, errors.New("Logs is not an array of strings: " + string(body))
	}
	return logs, nil
}

// logsContain reports whether some line contains every part.
func logsContain(logs []string, parts ...string) bool {
	for _, l := range logs {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			return true
		}
	}
	return false
}
