package harness

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Webhook is a local stand-in for Teams Workflows webhooks: every POST is
// recorded with the status it was answered. The channel is the URL path
// ("/owners" -> "owners"). SetStatus makes it answer, e.g., 500 (Teams down)
// and later 202 again.
type Webhook struct {
	URL string // http://127.0.0.1:port

	status atomic.Int64
	srv    *http.Server
	mu     sync.Mutex
	posts  []Post
}

// Post is one message the webhook received.
type Post struct {
	Channel string
	Status  int // what it was answered
	Body    string
	At      time.Time
}

// StartWebhook listens on 127.0.0.1 and answers 202 until told otherwise.
func StartWebhook() (*Webhook, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	w := &Webhook{URL: "http://" + ln.Addr().String()}
	w.status.Store(http.StatusAccepted)
	w.srv = &http.Server{Handler: w, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = w.srv.Serve(ln) }()
	return w, nil
}

// MustStartWebhook is StartWebhook for tests; it closes when the test ends.
func MustStartWebhook(t TB) *Webhook {
	t.Helper()
	w, err := StartWebhook()
	if err != nil {
		t.Fatalf("starting the webhook stand-in: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// Close stops the server.
func (w *Webhook) Close() error { return w.srv.Close() }

// SetStatus sets the status later posts are answered with.
func (w *Webhook) SetStatus(code int) { w.status.Store(int64(code)) }

// ServeHTTP records the post.
func (w *Webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	code := int(w.status.Load())
	w.mu.Lock()
	w.posts = append(w.posts, Post{Channel: strings.Trim(r.URL.Path, "/"), Status: code, Body: string(body), At: time.Now()})
	w.mu.Unlock()
	if code >= 300 {
		http.Error(rw, "webhook stand-in: failing on purpose", code)
		return
	}
	rw.WriteHeader(code)
}

// Posts returns every post so far, in order.
func (w *Webhook) Posts() []Post {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Post(nil), w.posts...)
}

// Delivered counts the posts answered 2xx whose body contains needle, per
// channel.
func (w *Webhook) Delivered(needle string) map[string]int {
	out := map[string]int{}
	for _, p := range w.Posts() {
		if p.Status < 300 && strings.Contains(p.Body, needle) {
			out[p.Channel]++
		}
	}
	return out
}
