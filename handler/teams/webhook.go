package teams

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/appwarden/appwarden/handler/notice"
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
var limiters sync.Map // sha256(url) -> *rate.Limiter

func limiterFor(u string) *rate.Limiter {
	sum := sha256.Sum256([]byte(u))
	l, _ := limiters.LoadOrStore(hex.EncodeToString(sum[:]), newLimiter())
	return l.(*rate.Limiter)
}

// DeliveryError is a failed delivery, already scrubbed of secrets. It does
// not wrap the underlying error, so nothing can unwrap the URL back out.
type DeliveryError struct {
	Status     int
	RetryAfter time.Duration
	Permanent  bool
	msg        string
}

func (e *DeliveryError) Error() string { return e.msg }

// Webhook posts to one secret Workflows webhook URL.
type Webhook struct {
	channel string
	url     string
	client  *http.Client
	lim     *rate.Limiter
	scrub   *Redactor
}

// NewWebhook posts to url, paced with every other poster to the same URL
// in the process. channel names it in errors; scrub removes the URL (and
// any other secret URL) from them.
func NewWebhook(channel, url string, client *http.Client, scrub *Redactor) *Webhook {
	return &Webhook{channel: channel, url: url, client: client, lim: limiterFor(url), scrub: scrub}
}

// Post sends the message, retrying throttling and server errors while the
// context allows. Errors never contain the URL.
func (w *Webhook) Post(ctx context.Context, body []byte) error {
	var last *DeliveryError
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
			wait = retry.Backoff(attempt, 500*time.Millisecond, 8*time.Second)
		}
		if wait > maxInlineWait {
			return last
		}
		if err := retry.Sleep(ctx, wait); err != nil {
			return last
		}
	}
}

func (w *Webhook) once(ctx context.Context, body []byte) *DeliveryError {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return w.fail(0, 0, true, "building the request: %s", w.scrub.Clean(plainError(err)))
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
		text = strings.Join(strings.Fields(w.scrub.Clean(string(snippet))), " ")
	}
	if text != "" {
		text = ": " + notice.Clip(text, 200)
	}
	ra, _ := retry.After(resp.Header.Get("Retry-After"), time.Now()) // 0 when absent: post's own backoff
	return w.fail(resp.StatusCode, ra, !retryable, "HTTP %d%s", resp.StatusCode, text)
}

func (w *Webhook) fail(status int, ra time.Duration, permanent bool, format string, args ...any) *DeliveryError {
	msg := fmt.Sprintf("posting to the %s webhook [webhook]: ", w.channel) + fmt.Sprintf(format, args...)
	return &DeliveryError{Status: status, RetryAfter: ra, Permanent: permanent, msg: w.scrub.Clean(msg)}
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

// Redactor replaces every form of the secret URLs in a text by "[webhook]":
// the URL as given, as parsed, escaped, without its query, and each long
// query value (the sig= signature) on its own.
type Redactor struct{ secrets []string }

func NewRedactor(urls ...string) *Redactor {
	r := &Redactor{}
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

func (r *Redactor) Clean(s string) string {
	if r == nil {
		return s
	}
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, "[webhook]")
	}
	return s
}
