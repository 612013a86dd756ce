// Package transport builds the one HTTP transport the handler talks to
// Microsoft Graph (and anything else it calls) through.
package transport

import (
	"net/http"
	"time"
)

// MaxIdlePerHost is how many idle connections are kept to one host. It
// must cover every request the process has in flight to Graph at once, or
// each request above it opens a new TCP and TLS connection (what
// http.DefaultTransport's 2 per host did under load). In flight at once: the
// host's concurrent invocations (Event Grid deliveries, an Event Hub batch,
// the timer's sweep resolving Parallel apps), or the CLI's scan with up to
// --parallel 64. 100 covers both with room, is what the deployed handler
// has run (and been benchmarked) with, and equals MaxIdleConns, so the
// per-host limit is never the smaller one for Graph, the one busy host. An
// idle connection costs a socket and two small buffers until IdleConnTimeout
// closes it.
const MaxIdlePerHost = 100

// New returns a transport like http.DefaultTransport (proxy from the
// environment, HTTP/2, its dial and TLS timeouts) that keeps MaxIdlePerHost
// idle connections per host.
func New() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = max(t.MaxIdleConns, MaxIdlePerHost)
	t.MaxIdleConnsPerHost = MaxIdlePerHost
	t.IdleConnTimeout = 90 * time.Second
	return t
}
