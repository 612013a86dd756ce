package fakegraph

import (
	"maps"
	"net/http"
	"strings"
	"sync"
)

// Call is one recorded Graph request: a top-level HTTP request or a request
// inside a $batch.
type Call struct {
	Seq      int64 // 1, 2, ... in completion order; Mark/CallsSince use it
	Method   string
	Path     string // the request URI as sent: "/v1.0/applications/...?..." or, inside a batch, its url
	Route    string // e.g. RouteApplicationByAppID; "" when no route matched
	Inner    bool   // inside a $batch
	BatchID  int64  // the $batch this call is or belongs to; 0 outside batches
	Status   int    // 0 when no answer was sent (reset, client gave up)
	Fault    string // FaultThrottle, FaultRateLimit, FaultError, FaultNotFound, FaultReset, FaultCanceled; "" for a real answer
	Rejected bool   // an unexpected call: unknown route or method, malformed request, missing token
	Gzip     bool   // the body arrived gzip-encoded
	Body     []byte // the (inflated) request body of writes
}

// IsWrite reports whether the call is a write (any method but GET, not the
// $batch request itself).
func (c Call) IsWrite() bool {
	return c.Method != http.MethodGet && c.Route != RouteBatch
}

// Stats are the counters since the last Reset.
type Stats struct {
	Requests      int            // Graph HTTP round trips (a $batch counts once)
	InnerRequests int            // requests inside $batch requests
	TokenRequests int            // managed identity token requests
	Rejected      int            // calls recorded as rejected
	Faults        int            // calls answered by an injected fault
	Writes        int            // write calls (top-level or inner)
	Routes        map[string]int // per route (top-level and inner), e.g. Routes[RouteApplicationByAppID]
}

type recorder struct {
	seq      int64
	batchSeq int64
	calls    []Call
	stats    Stats
	mails    []Mail
}

func (r *recorder) init() {
	*r = recorder{seq: r.seq, batchSeq: r.batchSeq, stats: Stats{Routes: map[string]int{}}}
}

func (r *recorder) countToken(mu *sync.Mutex) {
	mu.Lock()
	defer mu.Unlock()
	r.stats.TokenRequests++
}

func (s *Server) nextBatchID() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rec.batchSeq++
	return s.rec.batchSeq
}

func (s *Server) record(o *op, resp response, body []byte) {
	c := Call{
		Method:   o.method,
		Path:     o.rawURL,
		Route:    o.route(),
		Inner:    o.inner,
		BatchID:  o.batchID,
		Status:   resp.status,
		Fault:    resp.fault,
		Rejected: resp.rejected,
		Gzip:     strings.EqualFold(strings.TrimSpace(o.encoding), "gzip"),
	}
	if o.match.err != nil {
		c.Route = ""
	}
	if c.IsWrite() && len(body) > 0 {
		c.Body = append([]byte(nil), body...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &s.rec
	r.seq++
	c.Seq = r.seq
	r.calls = append(r.calls, c)
	if c.Inner {
		r.stats.InnerRequests++
	} else {
		r.stats.Requests++
	}
	if c.Rejected {
		r.stats.Rejected++
	}
	if c.Fault != "" {
		r.stats.Faults++
	}
	if c.IsWrite() {
		r.stats.Writes++
	}
	if c.Route != "" {
		r.stats.Routes[c.Route]++
	}
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.rec.stats
	st.Routes = maps.Clone(st.Routes)
	return st
}

// Reset clears the counters, the recorded calls and the sent mails (not the
// faults, nor the tenant). Marks taken before stay usable.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rec.init()
}

// Calls returns every recorded call in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.rec.calls...)
}

// Mark returns a position in the call record for CallsSince.
func (s *Server) Mark() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rec.seq
}

// CallsSince returns the calls recorded after mark, in order.
func (s *Server) CallsSince(mark int64) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for i := len(s.rec.calls) - 1; i >= 0 && s.rec.calls[i].Seq > mark; i-- {
		out = append(out, s.rec.calls[i])
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// Writes returns the recorded write calls in order.
func (s *Server) Writes() []Call { return s.filter(Call.IsWrite) }

// Rejected returns the calls recorded as rejected, in order.
func (s *Server) Rejected() []Call { return s.filter(func(c Call) bool { return c.Rejected }) }

func (s *Server) filter(keep func(Call) bool) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.rec.calls {
		if keep(c) {
			out = append(out, c)
		}
	}
	return out
}

// Mails returns the messages sent through sendMail, in order.
func (s *Server) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.rec.mails...)
}
