package functions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/go-chi/chi/v5"
)

// Function is one function.json: its folder name (the route), its binding
// name, the largest request body it accepts, and its decoder.
type Function struct {
	Name    string
	Binding string
	Trigger string // eventGridTrigger, eventHubTrigger, timerTrigger
	MaxBody int64
	Decode  func(v any, path string, now time.Time) appwarden.Batch
}

// Processor takes one signal through the rest of the pipeline. An error is
// transient: the invocation fails so the event is redelivered.
type Processor interface {
	Process(ctx context.Context, log *slog.Logger, sig appwarden.Signal) error
}

// PoisonRecorder keeps poison so it is never silently dropped.
type PoisonRecorder interface {
	RecordPoison(ctx context.Context, p appwarden.Poison) error
}

// Server is the custom handler's HTTP side.
type Server struct {
	Functions []Function
	Processor Processor
	Poison    PoisonRecorder
	Log       *slog.Logger
	Now       func() time.Time
}

// maxPoisonBody bounds how much of a bad body is kept.
const maxPoisonBody = 64 << 10

// Handler returns the router: GET / for readiness, POST /<Name> per function.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(s.recoverer)
	r.Get("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "AppWarden ready\n")
	})
	for _, f := range s.Functions {
		r.Post("/"+f.Name, s.invoke(f))
	}
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusNotFound, []string{fmt.Sprintf("ERROR no function named %q (%s %s)", strings.TrimPrefix(r.URL.Path, "/"), r.Method, r.URL.Path)})
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusMethodNotAllowed, []string{fmt.Sprintf("ERROR %s is not allowed on %s", r.Method, r.URL.Path)})
	})
	return r
}

// recoverer turns a panic into a 500 with an ERROR log line, so no request
// can crash the process.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.Log.Error("panic while handling request", "path", r.URL.Path,
					"invocationId", r.Header.Get("X-Azure-Functions-InvocationId"),
					"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				reply(w, http.StatusInternalServerError, []string{fmt.Sprintf("ERROR internal error: %v", p)})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) invoke(f Function) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		invocation := r.Header.Get("X-Azure-Functions-InvocationId")
		out := &lines{}
		log := slog.New(&capture{next: s.Log.Handler(), lines: out}).With("invocationId", invocation, "function", f.Name)
		ctx := r.Context()

		body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, f.MaxBody))
		batch, env := s.decode(f, body, readErr)
		status := http.StatusOK
		for _, reason := range batch.Ignored {
			log.Info("ignored: " + reason)
		}
		if len(batch.Poison) > 0 {
			partial := readErr != nil // body holds only what was read (at most MaxBody bytes)
			if err := s.recordPoison(ctx, log, f, invocation, body, partial, batch.Poison); err != nil {
				log.Error("could not record poison; failing so the input is redelivered", "error", err)
				status = http.StatusInternalServerError
			}
		}
		for _, sig := range batch.Signals {
			if env != nil && sig.Time.IsZero() {
				sig.Time, _ = env.utcNow()
			}
			sigLog := log.With("signal", string(sig.Kind), "appId", sig.AppID, "dedupeKey", sig.DedupeKey)
			if err := s.Processor.Process(ctx, sigLog, sig); err != nil {
				sigLog.Error("transient failure; failing the invocation so it is redelivered", "error", err)
				status = http.StatusInternalServerError
			}
		}
		if len(batch.Signals) == 0 && len(batch.Ignored) == 0 && len(batch.Poison) == 0 {
			log.Info("ignored: the input held no events")
		}
		reply(w, status, out.all())
	}
}

// decode reads the envelope and runs the function's decoder. Every failure
// becomes poison in the batch.
func (s *Server) decode(f Function, body []byte, readErr error) (appwarden.Batch, *Envelope) {
	if readErr != nil {
		var tooBig *http.MaxBytesError
		if errors.As(readErr, &tooBig) {
			return poisonBatch(fmt.Errorf("request body: larger than the %d-byte limit for %s", tooBig.Limit, f.Name)), nil
		}
		return poisonBatch(fmt.Errorf("request body: %w", readErr)), nil
	}
	var env Envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return poisonBatch(fmt.Errorf("request body: not a host envelope {\"Data\":{...},\"Metadata\":{...}}: %v", err)), nil
	}
	v, err := env.binding(f.Binding)
	if err != nil {
		return poisonBatch(err), &env
	}
	now := s.now()
	if t, ok := env.utcNow(); ok {
		now = t
	}
	return f.Decode(v, "Data."+f.Binding, now), &env
}

func poisonBatch(err error) appwarden.Batch { return appwarden.Batch{Poison: []error{err}} }

func (s *Server) recordPoison(ctx context.Context, log *slog.Logger, f Function, invocation string, body []byte, partial bool, errs []error) error {
	p := appwarden.Poison{Function: f.Name, InvocationID: invocation, At: s.now().UTC(), Truncated: partial}
	for _, e := range errs {
		p.Errors = append(p.Errors, e.Error())
		log.Error("malformed input recorded as poison: " + e.Error())
	}
	if len(body) > maxPoisonBody {
		body, p.Truncated = body[:maxPoisonBody], true
	}
	p.Body = string(body)
	return s.Poison.RecordPoison(ctx, p)
}

// reply writes the custom handler response. The body is never empty.
func reply(w http.ResponseWriter, status int, logs []string) {
	if logs == nil {
		logs = []string{}
	}
	b, _ := json.Marshal(Response{Outputs: map[string]any{}, Logs: logs})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
