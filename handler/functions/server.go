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
	"golang.org/x/sync/errgroup"
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

// GroupProcessor is a Processor that can take several signals about the
// same app at once, in order, resolving the app once (see
// pipeline.ProcessGroup). It returns each signal's error; logs[i] is
// sigs[i]'s logger.
type GroupProcessor interface {
	ProcessGroup(ctx context.Context, logs []*slog.Logger, sigs []appwarden.Signal) []error
}

// Notices holds an invocation's notifications back until every signal of
// it is handled: under the context Begin returns they are only queued (in
// the outbox, no network), and Deliver sends them, within what is left of
// the budget; what does not go out waits in the outbox. So no containment
// waits for Teams or mail.
type Notices interface {
	Begin(ctx context.Context) context.Context
	Deliver(ctx context.Context, log *slog.Logger)
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
	// Budget bounds one invocation from its arrival (DefaultBudget when
	// zero): saving its signals in the inbox and the work on them, so that
	// every invocation answers in time; what is left stays pending in the
	// inbox.
	Budget time.Duration
	// Notices, when set, delivers the invocation's notifications after
	// all of its signals are handled.
	Notices Notices
	// Parallel bounds how many apps of one invocation are handled at once
	// (DefaultParallel when zero). The signals about one app are handled
	// one after another, by the same worker.
	Parallel int
}

// DefaultParallel is how many apps of one invocation are handled at once.
const DefaultParallel = 16

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
		// The budget counts from the arrival, so that reading the body,
		// recording poison and saving the signals are inside it too.
		deadline := time.Now().Add(s.budget())

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
		left, allHeld := s.work(ctx, log, batch.Signals, deadline)
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

// work holds every signal in the inbox, then takes them through the
// pipeline, both before deadline (the end of the invocation's budget): the
// apps at once (at most Parallel), the signals about one app in order, by
// one worker. Once every signal is handled, the invocation's notifications
// are delivered, in what is left of the budget. It returns the signals left undecided (a
// transient failure, or no time left) and whether all of those are safely
// held.
func (s *Server) work(ctx context.Context, log *slog.Logger, sigs []appwarden.Signal, deadline time.Time) (left []appwarden.Signal, held bool) {
	work, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	// A state store too slow to save a signal within the budget leaves it
	// unsaved: the invocation fails, and does not answer late.
	saved := s.hold(work, log, sigs)
	held = true
	if s.Notices != nil {
		work = s.Notices.Begin(work)
	}
	errs := make([]error, len(sigs))
	var g errgroup.Group
	g.SetLimit(s.parallel())
	for _, group := range groups(sigs) {
		g.Go(func() error {
			s.runGroup(ctx, work, log, sigs, group, saved, errs)
			return nil
		})
	}
	_ = g.Wait()
	if s.Notices != nil {
		s.deliver(work, log)
	}
	for i, err := range errs {
		if err != nil {
			left, held = append(left, sigs[i]), held && saved[i]
		}
	}
	return left, held
}

// errBudget marks a signal the budget ran out before.
var errBudget = errors.New("invocation budget spent before the signal was handled")

// runGroup takes the signals of one app (their indexes in sigs) through
// the pipeline, writes each one's error in errs, and settles each in the
// inbox. A panic fails the group's signals that are not decided yet; it
// never escapes the worker.
func (s *Server) runGroup(ctx, work context.Context, log *slog.Logger, sigs []appwarden.Signal, group []int, saved []bool, errs []error) {
	logs := make([]*slog.Logger, len(group))
	batch := make([]appwarden.Signal, len(group))
	for j, i := range group {
		logs[j] = log.With("signal", string(sigs[i].Kind), "appId", sigs[i].AppID, "dedupeKey", sigs[i].DedupeKey)
		batch[j] = sigs[i]
	}
	done := make([]bool, len(group))
	finish := func(j int, err error) {
		i := group[j]
		done[j], errs[i] = true, err
		switch {
		case errors.Is(err, errBudget):
			logs[j].Warn("invocation budget spent before this signal; it stays pending", "budget", s.budget().String())
			return
		case errors.Is(err, appwarden.ErrNotYetVisible) && saved[i] && s.Inbox != nil && s.Inbox.Keeps(sigs[i]):
			// Not a failure to redeliver (only throttling, 5xx, timeouts
			// and the state store fail an invocation): the signal is safe
			// in the inbox, and the timer reads the object again.
			errs[i] = nil
			logs[j].Warn("Graph does not show the object yet (replication lag); it stays pending and the timer reads it again", "error", err)
			s.settle(ctx, logs[j], sigs[i], true, err)
			s.handOff(ctx, logs[j], []appwarden.Signal{sigs[i]})
			return
		case err != nil:
			logs[j].Error("transient failure; failing the invocation so it is retried", "error", err)
		}
		s.settle(ctx, logs[j], sigs[i], saved[i], err)
	}
	defer func() {
		if p := recover(); p != nil {
			log.Error(fmt.Sprintf("internal error: %v", p), "event", "panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			for j := range group {
				if !done[j] {
					finish(j, fmt.Errorf("internal error: %v", p))
				}
			}
		}
	}()
	if work.Err() != nil {
		for j := range group {
			finish(j, errBudget)
		}
		return
	}
	if gp, ok := s.Processor.(GroupProcessor); ok && len(group) > 1 {
		res := gp.ProcessGroup(work, logs, batch)
		for j := range group {
			finish(j, res[j])
		}
		return
	}
	for j := range group {
		if work.Err() != nil {
			finish(j, errBudget)
			continue
		}
		finish(j, s.Processor.Process(work, logs[j], batch[j]))
	}
}

// deliver sends the invocation's notifications; a panic there is logged,
// never fatal: every signal is settled by then.
func (s *Server) deliver(ctx context.Context, log *slog.Logger) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("panic while delivering notifications; they wait in the outbox", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	s.Notices.Deliver(ctx, log)
}

func (s *Server) parallel() int {
	if s.Parallel > 0 {
		return s.Parallel
	}
	return DefaultParallel
}

// groups puts the signals naming the same app (by application id or by
// object id, transitively) together, in order; a sweep request, or a
// signal naming neither, is a group of its own. Groups come in the order
// of their first signal.
func groups(sigs []appwarden.Signal) [][]int {
	parent := make([]int, len(sigs))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	owner := map[string]int{}
	for i, sig := range sigs {
		if sig.Kind.Sweeps() {
			continue
		}
		for _, k := range []string{"app:" + strings.ToLower(sig.AppID), "obj:" + strings.ToLower(sig.ObjectID)} {
			if k == "app:" || k == "obj:" {
				continue
			}
			if j, ok := owner[k]; ok {
				a, b := find(i), find(j)
				if a != b {
					parent[max(a, b)] = min(a, b)
				}
				continue
			}
			owner[k] = i
		}
	}
	index := map[int]int{}
	var out [][]int
	for i := range sigs {
		r := find(i)
		n, ok := index[r]
		if !ok {
			n = len(out)
			index[r] = n
			out = append(out, nil)
		}
		out[n] = append(out[n], i)
	}
	return out
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
	var g errgroup.Group
	g.SetLimit(s.parallel())
	for i, sig := range sigs {
		if s.Inbox == nil || !s.Inbox.Keeps(sig) {
			held[i] = true
			continue
		}
		g.Go(func() error {
			defer func() {
				if p := recover(); p != nil {
					log.Error("panic while saving the signal in the inbox; failing so the input is redelivered", "dedupeKey", sig.DedupeKey, "panic", fmt.Sprint(p))
				}
			}()
			if err := s.Inbox.Hold(ctx, sig); err != nil {
				log.Error("could not save the signal in the inbox; failing so the input is redelivered", "dedupeKey", sig.DedupeKey, "error", err)
				return nil
			}
			held[i] = true
			return nil
		})
	}
	_ = g.Wait()
	return held
}

// handOff leaves pending signals to the timer, several at once (a last
// retry can leave a whole batch, and each hand-off is a read and a write),
// all within one bookkeeping deadline. A signal not marked is still taken,
// once it has waited the inbox's minimum age.
func (s *Server) handOff(ctx context.Context, log *slog.Logger, sigs []appwarden.Signal) {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeeping)
	defer cancel()
	var g errgroup.Group
	g.SetLimit(s.parallel())
	for _, sig := range sigs {
		if !s.Inbox.Keeps(sig) {
			continue
		}
		g.Go(func() error {
			defer func() {
				if p := recover(); p != nil {
					log.Error("panic while handing the signal to the timer; it is taken once old enough", "dedupeKey", sig.DedupeKey, "panic", fmt.Sprint(p))
				}
			}()
			if err := s.Inbox.HandOff(bctx, sig); err != nil {
				log.Warn("could not hand the signal to the timer; it is taken once old enough", "dedupeKey", sig.DedupeKey, "error", err)
			}
			return nil
		})
	}
	_ = g.Wait()
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
