// Package retry holds the things every retry loop of the handler needs:
// how long the server asked it to wait (Retry-After), a backoff for when it
// did not say, and a wait that gives up early rather than overrun the
// invocation. Graph throttling, Graph replication lag, webhook delivery and
// claim polling all wait through here, so that they agree on what a
// deadline means.
package retry

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// After reads a Retry-After header value (RFC 9110 §10.2.3): either
// delay-seconds (digits only) or an HTTP-date (IMF-fixdate, or the obsolete
// RFC 850 and asctime forms, which the RFC requires recipients to accept).
// A date is turned into a delay from now; a date already past means "retry
// now" and gives 0. ok is false for an empty, negative or malformed value:
// the caller then picks its own backoff. Graph sends seconds; Teams and
// Workflows webhooks may send either form.
func After(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if digits(v) {
		s, err := strconv.ParseInt(v, 10, 64)
		if err != nil || s > math.MaxInt64/int64(time.Second) {
			// Too many digits to be a duration: as long as can be said
			// (callers cap waits to what they can afford anyway).
			return math.MaxInt64, true
		}
		return time.Duration(s) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Sleep waits d, or less if ctx ends first. A wait that would end after
// ctx's deadline is not begun: the invocation could not use what follows it,
// and failing at once leaves it the time to answer (and be redelivered)
// before its host gives up on it. The error wraps context.DeadlineExceeded in
// that case, and ctx's own error when ctx ends before or during the wait.
// d <= 0 does not wait (but still reports a ctx that has ended).
func Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("not waiting %s: %w", d, err)
	}
	if d <= 0 {
		return nil
	}
	if Outlasts(ctx, d) {
		return fmt.Errorf("a wait of %s would outlast the deadline: %w", d, context.DeadlineExceeded)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("waiting %s: %w", d, ctx.Err())
	case <-t.C:
		return nil
	}
}

// Outlasts reports whether waiting d would end after ctx's deadline (never,
// for a ctx without one). Loops that would rather decide something else than
// fail (give up re-reading, answer from what they have) ask it before
// calling Sleep.
func Outlasts(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return ok && time.Until(deadline) < d
}

// Backoff is the wait before attempt+1: first doubled per attempt up to
// cap, with full jitter in its upper half.
func Backoff(attempt int, first, cap time.Duration) time.Duration {
	d := first
	for i := 1; i < attempt && d < cap; i++ {
		d *= 2
	}
	d = min(d, cap)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}
