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

// Inbox keeps every signal from before work on it starts until it is
// decided, because Event Hubs does not redeliver a failed invocation
// (FACTS.md §2): the timer finishes what an invocation could not.
type Inbox interface {
	// Keeps reports whether the signal belongs in the inbox.
	Keeps(sig appwarden.Signal) bool
	// Hold saves the signal as pending; idempotent.
	Hold(ctx context.Context, sig appwarden.Signal) error
	// Done removes a decided signal.
	Done(ctx context.Context, sig appwarden.Signal) error
	// Failed notes a transient failure; the signal stays pending.
	Failed(ctx context.Context, sig appwarden.Signal, cause error) error
	// HandOff leaves a pending signal to the timer alone, at once.
	HandOff(ctx context.Context, sig appwarden.Signal) error
}

// Server is the custom handler's HTTP side.
type Server struct {
	Functions []Function
	Processor Processor
	Poison    PoisonRecorder
	// Inbox may be nil (then a signal that fails is only redelivered by
	// those who redeliver).
	Inbox Inbox
	Log   *slog.Logger
	Now   func() time.Time
	// Budget bounds the work of one invocation (DefaultBudget when zero),
	// so that every invocation answers in time; what is left stays pending
	// in the inbox.
	Budget time.Duration
}

// DefaultBudget leaves room under the 25 s every invocation must answer in
// (Event Grid waits 30 s, FACTS.md §2) for the inbox bookkeeping and the
// reply after the work is cut off.
const DefaultBudget = 20 * time.Second

// bookkeeping bounds each inbox write made after the budget has run out.
const bookkeeping = 2 * time.Second

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
		safe := true // every input is decided, recorded as poison, or pending in the inbox
		for _, reason := range batch.Ignored {
			log.Info("ignored: " + reason)
		}
		if len(batch.Poison) > 0 {
			partial := readErr != nil // body holds only what was read (at most MaxBody bytes)
			if err := s.recordPoison(ctx, log, f, invocation, body, partial, batch.Poison); err != nil {
				log.Error("could not record poison; failing so the input is redelivered", "error", err)
				status, safe = http.StatusInternalServerError, false
			}
		}
		for i := range batch.Signals {
			if env != nil && batch.Signals[i].Time.IsZero() {
				batch.Signals[i].Time, _ = env.utcNow()
			}
		}
		left, allHeld := s.work(ctx, log, batch.Signals)
		if len(left) > 0 {
			status, safe = http.StatusInternalServerError, safe && allHeld
		}
		if status != http.StatusOK && safe && len(left) > 0 && env != nil {
			if rc, ok := env.retryContext(); ok && rc.Last() {
				// After the policy's last retry nothing redelivers this
				// batch; every signal is pending, so acknowledge it and
				// leave the signals to the timer.
				s.handOff(ctx, log, left)
				log.Warn(fmt.Sprintf("last retry (%d of %d): %d signal(s) stay pending in the inbox; the timer will finish them", rc.RetryCount, rc.MaxRetryCount, len(left)))
				status = http.StatusOK
			}
		}
		if len(batch.Signals) == 0 && len(batch.Ignored) == 0 && len(batch.Poison) == 0 {
			log.Info("ignored: the input held no events")
		}
		reply(w, status, out.all())
	}
}

// work holds every signal in the inbox, then takes each through the
// pipeline within the invocation's budget. It returns the signals left
// undecided (a transient failure, or no time left) and whether all of those
// are safely held.
func (s *Server) work(ctx context.Context, log *slog.Logger, sigs []appwarden.Signal) (left []appwarden.Signal, held bool) {
	saved := s.hold(ctx, log, sigs)
	held = true
	work, cancel := context.WithTimeout(ctx, s.budget())
	defer cancel()
	for i, sig := range sigs {
		sigLog := log.With("signal", string(sig.Kind), "appId", sig.AppID, "dedupeKey", sig.DedupeKey)
		if work.Err() != nil {
			sigLog.Warn("invocation budget spent before this signal; it stays pending", "budget", s.budget().String())
			left, held = append(left, sig), held && saved[i]
			continue
		}
		err := s.Processor.Process(work, sigLog, sig)
		if err != nil {
			sigLog.Error("transient failure; failing the invocation so it is retried", "error", err)
			left, held = append(left, sig), held && saved[i]
		}
		s.settle(ctx, sigLog, sig, saved[i], err)
	}
	return left, held
}

func (s *Server) budget() time.Duration {
	if s.Budget > 0 {
		return s.Budget
	}
	return DefaultBudget
}

// hold saves every signal of the batch in the inbox before work on any of
// them starts, and reports which are safely held. A signal the inbox does
// not keep counts as held: its input is redelivered or replaced anyway.
func (s *Server) hold(ctx context.Context, log *slog.Logger, sigs []appwarden.Signal) []bool {
	held := make([]bool, len(sigs))
	for i, sig := range sigs {
		if s.Inbox == nil || !s.Inbox.Keeps(sig) {
			held[i] = true
			continue
		}
		if err := s.Inbox.Hold(ctx, sig); err != nil {
			log.Error("could not save the signal in the inbox; failing so the input is redelivered", "dedupeKey", sig.DedupeKey, "error", err)
			continue
		}
		held[i] = true
	}
	return held
}

// handOff leaves pending signals to the timer. A signal not marked is
// still taken, once it has waited the inbox's minimum age.
func (s *Server) handOff(ctx context.Context, log *slog.Logger, sigs []appwarden.Signal) {
	for _, sig := range sigs {
		if !s.Inbox.Keeps(sig) {
			continue
		}
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeeping)
		if err := s.Inbox.HandOff(bctx, sig); err != nil {
			log.Warn("could not hand the signal to the timer; it is taken once old enough", "dedupeKey", sig.DedupeKey, "error", err)
		}
		cancel()
	}
}

// settle tells the inbox how a held signal ended. It runs on its own short
// deadline, so that it still happens after the invocation's budget is spent.
func (s *Server) settle(ctx context.Context, log *slog.Logger, sig appwarden.Signal, held bool, cause error) {
	if s.Inbox == nil || !held || !s.Inbox.Keeps(sig) {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeeping)
	defer cancel()
	var err error
	if cause == nil {
		err = s.Inbox.Done(ctx, sig)
	} else {
		err = s.Inbox.Failed(ctx, sig, cause)
	}
	if err != nil {
		// Harmless: a decided signal left pending is decided again,
		// idempotently, by the timer; a failure not counted is retried.
		log.Warn("inbox bookkeeping failed", "error", err)
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
