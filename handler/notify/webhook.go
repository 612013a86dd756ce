package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/appwarden/appwarden/handler/retry"
	"golang.org/x/time/rate"
)

// Webhook posting: at most PostsPerWindow posts per window to one webhook
// (Workflows throttles above 4 per second), 429 and 5xx retried with
// backoff that honours Retry-After, and every error scrubbed of the URL.
const (
	PostsPerWindow = 4
	// window is a second with a margin, so that scheduling jitter never
	// lets a fifth post into a one-second window.
	window = time.Second + 50*time.Millisecond
	// maxPostAttempts bounds the tries of one delivery.
	maxPostAttempts = 4
	// maxInlineWait is the longest wait inside one delivery; a longer
	// Retry-After is left to the outbox's next attempt.
	maxInlineWait = 10 * time.Second
)

// newLimiter paces posts to one webhook: one every window/PostsPerWindow,
// with a burst of one. Any window then holds at most PostsPerWindow posts
// (a fifth needs 4 × 262.5 ms = one window after the first), where a
// bucket of PostsPerWindow tokens would let nearly twice that into a second
// after an idle spell. The limiter queues concurrent posters in order, and
// its Wait refuses at once a slot that lies past the context's deadline.
func newLimiter() *rate.Limiter {
	return rate.NewLimiter(rate.Every(window/PostsPerWindow), 1)
}

// limiters are shared by every Notifier in the process, per webhook URL.
var limiters sync.Map // hash(url) -> *rate.Limiter

func limiterFor(u string) *rate.Limiter {
	l, _ := limiters.LoadOrStore(hash(u), newLimiter())
	return l.(*rate.Limiter)
}

// deliveryError is a failed delivery, already scrubbed of secrets. It does
// not wrap the underlying error, so nothing can unwrap the URL back out.
type deliveryError struct {
	Status     int
	RetryAfter time.Duration
	Permanent  bool
	msg        string
}

func (e *deliveryError) Error() string { return e.msg }

// webhook posts to one secret URL.
type webhook struct {
	channel string
	url     string
	client  *http.Client
	lim     *rate.Limiter
	scrub   *redactor
}

// post sends the message, retrying throttling and server errors while the
// context allows. Errors never contain the URL.
func (w *webhook) post(ctx context.Context, body []byte) error {
	var last *deliveryError
	for attempt := 1; ; attempt++ {
		if err := w.lim.Wait(ctx); err != nil {
			if last != nil {
				return last
			}
			return w.fail(0, 0, false, "waiting for a rate-limit slot: %v", err)
		}
		last = w.once(ctx, body)
		if last == nil {
			return nil
		}
		if last.Permanent || attempt >= maxPostAttempts {
			return last
		}
		wait := last.RetryAfter
		if wait <= 0 {
			wait = backoff(attempt, 500*time.Millisecond, 8*time.Second)
		}
		if wait > maxInlineWait {
			return last
		}
		if err := retry.Sleep(ctx, wait); err != nil {
			return last
		}
	}
}

func (w *webhook) once(ctx context.Context, body []byte) *deliveryError {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return w.fail(0, 0, true, "building the request: %s", w.scrub.clean(plainError(err)))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		return w.fail(0, 0, false, "%s", plainError(err))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 4097))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	retryable := resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout
	// The answer's text helps (a disabled flow, a bad payload), but it may
	// echo the URL: it is scrubbed whole before it is shortened, and left
	// out when it is too long to be read whole (a cut could split a secret
	// so that it no longer matches).
	text := ""
	if len(snippet) <= 4096 {
		text = strings.Join(strings.Fields(w.scrub.clean(string(snippet))), " ")
	}
	if text != "" {
		text = ": " + clip(text, 200)
	}
	ra, _ := retry.After(resp.Header.Get("Retry-After"), time.Now()) // 0 when absent: post's own backoff
	return w.fail(resp.StatusCode, ra, !retryable, "HTTP %d%s", resp.StatusCode, text)
}

func (w *webhook) fail(status int, ra time.Duration, permanent bool, format string, args ...any) *deliveryError {
	msg := fmt.Sprintf("posting to the %s webhook [webhook]: ", w.channel) + fmt.Sprintf(format, args...)
	return &deliveryError{Status: status, RetryAfter: ra, Permanent: permanent, msg: w.scrub.clean(msg)}
}

// plainError describes a transport error without its URL: *url.Error
// prints "Post \"<url>\": <cause>"; only the cause is kept.
func plainError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out: " + err.Error()
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	return err.Error()
}

// backoff is exponential with full jitter in its upper half.
func backoff(attempt int, first, cap time.Duration) time.Duration {
	d := first
	for i := 1; i < attempt && d < cap; i++ {
		d *= 2
	}
	d = min(d, cap)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// redactor replaces every form of the secret URLs in a text by "[webhook]":
// the URL as given, as parsed, escaped, without its query, and each long
// query value (the sig= signature) on its own.
type redactor struct{ secrets []string }

func newRedactor(urls ...string) *redactor {
	r := &redactor{}
	add := func(s string) {
		if len(s) >= 6 {
			r.secrets = append(r.secrets, s)
		}
	}
	for _, raw := range urls {
		if raw == "" {
			continue
		}
		add(raw)
		add(url.QueryEscape(raw))
		add(strconv.Quote(raw))
		if u, err := url.Parse(raw); err == nil {
			add(u.String())
			add(u.Redacted())
			add(u.RawQuery)
			for _, vs := range u.Query() {
				for _, v := range vs {
					add(v)
					add(url.QueryEscape(v))
				}
			}
			if u.Path != "" && u.Path != "/" {
				add(u.Path)
				add(u.EscapedPath())
			}
		}
	}
	// Longest first, so a URL is replaced whole rather than in pieces.
	for i := range r.secrets {
		for j := i + 1; j < len(r.secrets); j++ {
			if len(r.secrets[j]) > len(r.secrets[i]) {
				r.secrets[i], r.secrets[j] = r.secrets[j], r.secrets[i]
			}
		}
	}
	return r
}

func (r *redactor) clean(s string) string {
	if r == nil {
		return s
	}
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, "[webhook]")
	}
	return s
}
