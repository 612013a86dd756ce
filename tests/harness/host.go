package harness

// Playing the host's delivery rules (FACTS.md §2), which differ by trigger:
//
//   - Event Grid redelivers a failed delivery, the whole of it, with a
//     backoff from 10 s, up to 30 attempts over 24 h: DeliverEventGrid.
//   - Event Hubs does not redeliver: its checkpoint advances whether the
//     invocation succeeds or fails. Only the function's retry policy
//     (function.json "retry") makes the host run the same batch again, in
//     process, with Metadata.RetryContext; after the last retry the batch is
//     gone: DeliverEventHub.
//   - A failed timer tick is not retried; the next tick comes on schedule:
//     PlayTimer.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ---- Event Grid ----

// Redelivery is how Event Grid redelivers a failed delivery: after a non-2xx
// answer, a broken connection, or no answer within Timeout.
type Redelivery struct {
	// Attempts bounds the deliveries (default 30, Event Grid's default).
	Attempts int
	// Backoff is the wait before the first redelivery; it doubles up to
	// MaxBackoff (defaults 100 ms and 2 s: compressed from Event Grid's 10 s
	// onwards, so tests stay short).
	Backoff, MaxBackoff time.Duration
	// Timeout bounds one invocation (default FunctionTimeout).
	Timeout time.Duration
	// OnFailure, when set, is told about each failed attempt.
	OnFailure func(attempt int, r Reply, err error)
}

// ErrNotDelivered is returned by DeliverEventGrid when every attempt failed.
var ErrNotDelivered = errors.New("harness: not delivered: every attempt failed")

// DeliverEventGrid plays Event Grid: it invokes the function and redelivers
// the same body until an invocation succeeds. It returns the last reply and
// the number of attempts. It is Event Grid's rule only: an Event Hub batch
// is not redelivered (DeliverEventHub), nor a timer tick (PlayTimer).
func DeliverEventGrid(ctx context.Context, to Invoker, function string, body []byte, rd Redelivery) (Reply, int, error) {
	if rd.Attempts <= 0 {
		rd.Attempts = 30
	}
	if rd.Backoff <= 0 {
		rd.Backoff = 100 * time.Millisecond
	}
	if rd.MaxBackoff <= 0 {
		rd.MaxBackoff = 2 * time.Second
	}
	if rd.Timeout <= 0 {
		rd.Timeout = FunctionTimeout
	}
	wait := rd.Backoff
	var last Reply
	var lastErr error
	for attempt := 1; attempt <= rd.Attempts; attempt++ {
		ictx, cancel := context.WithTimeout(ctx, rd.Timeout)
		r, err := to.Invoke(ictx, function, body)
		cancel()
		if err == nil && r.OK() {
			return r, attempt, nil
		}
		last, lastErr = r, err
		if rd.OnFailure != nil {
			rd.OnFailure(attempt, r, err)
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(wait*2, rd.MaxBackoff)
	}
	if lastErr != nil {
		return last, rd.Attempts, fmt.Errorf("%w (last: %v)", ErrNotDelivered, lastErr)
	}
	return last, rd.Attempts, fmt.Errorf("%w (last: HTTP %d %q)", ErrNotDelivered, last.Status, last.Logs)
}

// ---- Event Hub: the function's retry policy ----

// RetryPolicy is a function's retry policy, function.json's "retry".
type RetryPolicy struct {
	// Strategy is "exponentialBackoff" or "fixedDelay" ("" when the
	// function has no policy: no retry).
	Strategy string
	// MaxRetryCount is how many retries follow a failed first try; -1
	// retries forever.
	MaxRetryCount int
	// MinimumInterval and MaximumInterval bound exponentialBackoff's
	// waits; DelayInterval is fixedDelay's.
	MinimumInterval, MaximumInterval, DelayInterval time.Duration
}

// FunctionRetryPolicy reads the retry policy of function-app/<function>/function.json,
// so that a test follows the deployed configuration.
func FunctionRetryPolicy(function string) (RetryPolicy, error) {
	root, err := RepoRoot()
	if err != nil {
		return RetryPolicy{}, err
	}
	path := filepath.Join(root, "function-app", function, "function.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return RetryPolicy{}, fmt.Errorf("harness: %w", err)
	}
	var doc struct {
		Retry *struct {
			Strategy        string `json:"strategy"`
			MaxRetryCount   int    `json:"maxRetryCount"`
			MinimumInterval string `json:"minimumInterval"`
			MaximumInterval string `json:"maximumInterval"`
			DelayInterval   string `json:"delayInterval"`
		} `json:"retry"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return RetryPolicy{}, fmt.Errorf("harness: %s: %w", path, err)
	}
	if doc.Retry == nil {
		return RetryPolicy{}, nil
	}
	p := RetryPolicy{Strategy: doc.Retry.Strategy, MaxRetryCount: doc.Retry.MaxRetryCount}
	for _, f := range []struct {
		text string
		into *time.Duration
	}{{doc.Retry.MinimumInterval, &p.MinimumInterval}, {doc.Retry.MaximumInterval, &p.MaximumInterval}, {doc.Retry.DelayInterval, &p.DelayInterval}} {
		if f.text == "" {
			continue
		}
		if *f.into, err = parseTimeSpan(f.text); err != nil {
			return RetryPolicy{}, fmt.Errorf("harness: %s: %w", path, err)
		}
	}
	switch p.Strategy {
	case "exponentialBackoff", "fixedDelay":
	default:
		return RetryPolicy{}, fmt.Errorf("harness: %s: unknown retry strategy %q", path, p.Strategy)
	}
	return p, nil
}

// MustRetryPolicy is FunctionRetryPolicy for tests.
func MustRetryPolicy(t TB, function string) RetryPolicy {
	t.Helper()
	p, err := FunctionRetryPolicy(function)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return p
}

// parseTimeSpan reads a .NET TimeSpan as function.json writes it:
// [d.]hh:mm:ss[.fffffff].
func parseTimeSpan(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not a TimeSpan ([d.]hh:mm:ss[.fffffff])", s)
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return 0, bad
	}
	var days int
	hours := parts[0]
	if d, h, ok := strings.Cut(hours, "."); ok {
		n, err := strconv.Atoi(d)
		if err != nil {
			return 0, bad
		}
		days, hours = n, h
	}
	h, err1 := strconv.Atoi(hours)
	m, err2 := strconv.Atoi(parts[1])
	sec, err3 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil || err3 != nil || h < 0 || m < 0 || sec < 0 {
		return 0, bad
	}
	return time.Duration(days)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute +
		time.Duration(sec*float64(time.Second)), nil
}

// Compress divides the policy's intervals by factor, so that a test can
// follow the policy's shape (the same tries, the same doubling) in less
// time. The retry count is kept.
func (p RetryPolicy) Compress(factor int) RetryPolicy {
	if factor > 1 {
		f := time.Duration(factor)
		p.MinimumInterval, p.MaximumInterval, p.DelayInterval = p.MinimumInterval/f, p.MaximumInterval/f, p.DelayInterval/f
	}
	return p
}

// Delay is the wait before retry number retry (1 is the first retry):
// fixedDelay's interval, or exponentialBackoff's minimum doubling with each
// retry up to its maximum. (The host's strategy randomizes around this
// curve; the harness keeps to it, for repeatable tests.)
func (p RetryPolicy) Delay(retry int) time.Duration {
	if p.Strategy == "fixedDelay" {
		return p.DelayInterval
	}
	d := p.MinimumInterval
	for i := 1; i < retry && d < p.MaximumInterval; i++ {
		d *= 2
	}
	return min(d, p.MaximumInterval)
}

// HubRetries is how DeliverEventHub plays the host for one batch.
type HubRetries struct {
	// Policy is the function's retry policy (FunctionRetryPolicy, usually
	// compressed).
	Policy RetryPolicy
	// From is the try to start with: 0, the first try (no RetryContext);
	// 1 when the test made the first try itself (e.g. one killed in
	// flight), and so on.
	From int
	// Timeout bounds one invocation (default FunctionTimeout).
	Timeout time.Duration
	// OnFailure, when set, is told about each failed try (0 is the first).
	OnFailure func(try int, r Reply, err error)
}

// HubResult is how the tries of one batch went.
type HubResult struct {
	// Last is the last answer.
	Last Reply
	// Tries is how many invocations were made (from HubRetries.From on).
	Tries int
	// LastRetry reports that the last invocation was the policy's last
	// retry (RetryContext.RetryCount == MaxRetryCount).
	LastRetry bool
}

// ErrBatchLost is returned by DeliverEventHub when the last try allowed by
// the policy failed: Event Hubs checkpoints the batch anyway, and nothing
// will deliver it again.
var ErrBatchLost = errors.New("harness: the retry policy ran out with the invocation failing; Event Hubs checkpoints the batch anyway, so it is gone")

// DeliverEventHub plays the host for an Event Hub batch: the first try
// without RetryContext, then, while the invocation fails, the policy's
// retries (RetryContext 1..MaxRetryCount, each after the policy's wait).
// It stops at the first success or after the last retry, whatever the
// answer; an error (ErrBatchLost) says the last try failed.
func DeliverEventHub(ctx context.Context, to Invoker, b HubBatch, hr HubRetries) (HubResult, error) {
	if hr.Timeout <= 0 {
		hr.Timeout = FunctionTimeout
	}
	maxRetries := hr.Policy.MaxRetryCount
	var res HubResult
	var lastErr error
	for try := hr.From; maxRetries < 0 || try <= maxRetries; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return res, ctx.Err()
			case <-time.After(hr.Policy.Delay(try)):
			}
		}
		ictx, cancel := context.WithTimeout(ctx, hr.Timeout)
		r, err := to.Invoke(ictx, FnEventHub, b.Try(try, maxRetries))
		cancel()
		res.Last, res.Tries, res.LastRetry, lastErr = r, res.Tries+1, try > 0 && try == maxRetries, err
		if err == nil && r.OK() {
			return res, nil
		}
		if hr.OnFailure != nil {
			hr.OnFailure(try, r, err)
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
	}
	if lastErr != nil {
		return res, fmt.Errorf("%w (%d tries; last: %v)", ErrBatchLost, res.Tries, lastErr)
	}
	return res, fmt.Errorf("%w (%d tries; last: HTTP %d %q)", ErrBatchLost, res.Tries, res.Last.Status, res.Last.Logs)
}

// ---- the timer ----

// TimerPlayer plays the host's timer trigger for SweepTimer: a tick on
// every multiple of the interval, never two at once (the timer trigger is a
// singleton; a tick that overruns makes the host skip to the next
// occurrence after it), each with a ScheduleStatus.Next (the tick's
// identity) strictly after the one before. A failed tick is not retried.
type TimerPlayer struct {
	to    Invoker
	every time.Duration
	// onTick, when set, is told about each tick's answer.
	onTick func(Reply, error)

	stop, done chan struct{}
	stopOnce   sync.Once

	mu         sync.Mutex
	ticks, oks int
	ticked     chan struct{} // closed and replaced after each tick
}

// PlayTimer starts a TimerPlayer ticking every interval (the production
// schedule is every 30 s; tests compress it); Stop ends it. onTick, when
// set, is told about each tick's answer.
func PlayTimer(to Invoker, every time.Duration, onTick func(Reply, error)) *TimerPlayer {
	tp := &TimerPlayer{to: to, every: every, onTick: onTick, stop: make(chan struct{}), done: make(chan struct{}), ticked: make(chan struct{})}
	go tp.run()
	return tp
}

// MustPlayTimer is PlayTimer for tests: the player is stopped when the test
// ends (if the test has not stopped it already).
func MustPlayTimer(t TB, to Invoker, every time.Duration) *TimerPlayer {
	tp := PlayTimer(to, every, nil)
	t.Cleanup(func() { tp.Stop() })
	return tp
}

func (tp *TimerPlayer) run() {
	defer close(tp.done)
	start := time.Now()
	var occ time.Time // this tick's occurrence
	for {
		// The next occurrence after now (and after the last one).
		next := start.Add((time.Since(start)/tp.every + 1) * tp.every)
		if !next.After(occ) {
			next = occ.Add(tp.every)
		}
		occ = next
		select {
		case <-tp.stop:
			return
		case <-time.After(time.Until(occ)):
		}
		ctx, cancel := context.WithTimeout(context.Background(), FunctionTimeout)
		r, err := tp.to.Invoke(ctx, FnTimer, TimerEnvelope(occ.Add(tp.every)))
		cancel()
		tp.mu.Lock()
		tp.ticks++
		if err == nil && r.OK() {
			tp.oks++
		}
		close(tp.ticked)
		tp.ticked = make(chan struct{})
		tp.mu.Unlock()
		if tp.onTick != nil {
			tp.onTick(r, err)
		}
	}
}

// Ticks returns how many ticks have been answered, and how many of them
// succeeded.
func (tp *TimerPlayer) Ticks() (ticks, succeeded int) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.ticks, tp.oks
}

// Await waits until n more ticks have been answered.
func (tp *TimerPlayer) Await(ctx context.Context, n int) error {
	for i := 0; i < n; i++ {
		tp.mu.Lock()
		ch := tp.ticked
		tp.mu.Unlock()
		select {
		case <-ch:
		case <-tp.done:
			return errors.New("harness: the timer player was stopped")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Stop ends the schedule, after the tick in flight if there is one (so
// that nothing the timer does runs on after Stop). It may be called more
// than once.
func (tp *TimerPlayer) Stop() {
	tp.stopOnce.Do(func() { close(tp.stop) })
	<-tp.done
}
