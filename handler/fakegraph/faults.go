package fakegraph

import (
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault kinds, as in Call.Fault.
const (
	FaultThrottle  = "throttle"  // 429 from ThrottleNext
	FaultRateLimit = "ratelimit" // 429 from SetRateLimit
	FaultError     = "error"     // 5xx from FailNext or SetFailureRate
	FaultNotFound  = "notfound"  // 404 from NotFoundReads (replication lag)
	FaultReset     = "reset"     // connection dropped by ResetConnections
	FaultCanceled  = "canceled"  // the client gave up during SetLatency's delay
)

type scope int

const (
	scopeAny scope = iota
	scopeTop
	scopeInner
)

// FaultOption narrows or decorates a fault.
type FaultOption func(*faultRule)

// OnRoute limits a fault to one route, e.g. fakegraph.RouteApplicationByAppID
// or "PATCH /servicePrincipals/{id}". Only a fault limited to RouteBatch hits
// the $batch request itself; other faults hit the requests inside it.
func OnRoute(route string) FaultOption { return func(r *faultRule) { r.route = route } }

// InnerOnly limits a fault to requests inside a $batch.
func InnerOnly() FaultOption { return func(r *faultRule) { r.scope = scopeInner } }

// TopLevelOnly limits a fault to requests outside a $batch.
func TopLevelOnly() FaultOption { return func(r *faultRule) { r.scope = scopeTop } }

// WithRetryAfter adds a Retry-After header (whole seconds) to injected 5xx answers.
func WithRetryAfter(d time.Duration) FaultOption {
	return func(r *faultRule) { r.retryAfter = retryAfterValue(d) }
}

type faultRule struct {
	remaining    int
	status       int
	kind         string
	retryAfter   string // "" for no header
	route        string
	scope        scope
	includeBatch bool // a rule with no route also hits $batch requests (resets)
}

func (r *faultRule) matches(o *op) bool {
	if r.route != "" {
		if r.route != o.route() {
			return false
		}
	} else if o.match.kind == kindBatch && !o.inner && !r.includeBatch {
		return false
	}
	switch r.scope {
	case scopeTop:
		return !o.inner
	case scopeInner:
		return o.inner
	}
	return true
}

type bucket struct {
	rate, burst, tokens float64
	last                time.Time
	retryAfter          time.Duration
}

type probFault struct {
	rule faultRule
	p    float64
	rng  *rand.Rand
}

type faultState struct {
	latency  time.Duration
	rules    []*faultRule // count-based throttles and errors, in the order set
	resets   []*faultRule
	rate     *bucket
	prob     *probFault
	notFound map[string]int // lower-cased object id or appId -> reads left
}

func (f *faultState) init() { *f = faultState{notFound: map[string]int{}} }

func retryAfterValue(d time.Duration) string {
	if d < 0 {
		return ""
	}
	return strconv.FormatInt(int64(math.Ceil(d.Seconds())), 10)
}

// SetLatency delays every HTTP request (a $batch once) by d before it is
// answered; 0 turns it off. A request whose client gives up is dropped.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.latency = d
}

func (s *Server) latency() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.latency
}

// NotFoundReads makes the next n reads of an object answer 404
// Request_ResourceNotFound, as Graph does while a new object replicates. key
// is an object id or an appId (which covers both the application and its
// service principal). Every GET addressing the object counts (the object,
// its owners, assignments, grants), top-level or inside a $batch. n <= 0
// clears it.
func (s *Server) NotFoundReads(key string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := strings.ToLower(key)
	if n <= 0 {
		delete(s.faults.notFound, k)
		return
	}
	s.faults.notFound[k] = n
}

// ThrottleNext answers the next n matching requests 429 TooManyRequests with
// Retry-After (whole seconds; 0 makes msgraph-sdk-go retry at once).
func (s *Server) ThrottleNext(n int, retryAfter time.Duration, opts ...FaultOption) {
	r := &faultRule{remaining: n, status: http.StatusTooManyRequests, kind: FaultThrottle, retryAfter: retryAfterValue(max(retryAfter, 0))}
	for _, o := range opts {
		o(r)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.rules = append(s.faults.rules, r)
}

// FailNext answers the next n matching requests with status (500, 502, 503
// or 504; or 400 Request_BadRequest, 403 Authorization_RequestDenied, the
// refusals no retry changes) and a Graph error body. msgraph-sdk-go retries
// 503 and 504 (with its own backoff of seconds unless WithRetryAfter is
// given).
func (s *Server) FailNext(n, status int, opts ...FaultOption) {
	r := &faultRule{remaining: n, status: status, kind: FaultError}
	for _, o := range opts {
		o(r)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.rules = append(s.faults.rules, r)
}

// SetFailureRate answers each matching request with status at probability p,
// drawn from a generator seeded with seed (so a run is repeatable for a
// given order of requests). p <= 0 turns it off.
func (s *Server) SetFailureRate(p float64, status int, seed int64, opts ...FaultOption) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p <= 0 {
		s.faults.prob = nil
		return
	}
	pf := &probFault{p: p, rng: rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))}
	pf.rule = faultRule{status: status, kind: FaultError}
	for _, o := range opts {
		o(&pf.rule)
	}
	s.faults.prob = pf
}

// SetRateLimit throttles requests beyond perSecond (token bucket holding
// burst requests, starting full): each request (each request inside a
// $batch, but not the $batch itself) takes a token, and one that finds none
// is answered 429 with Retry-After: retryAfter, or the time until the next
// token when retryAfter < 0. perSecond <= 0 turns it off. WithClock sets the
// clock it uses.
func (s *Server) SetRateLimit(perSecond float64, burst int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if perSecond <= 0 {
		s.faults.rate = nil
		return
	}
	b := float64(max(burst, 1))
	s.faults.rate = &bucket{rate: perSecond, burst: b, tokens: b, last: s.cfg.clock(), retryAfter: retryAfter}
}

// ResetConnections drops the connection of the next n matching HTTP requests
// (including $batch requests) without answering. Note that Go's transport
// silently retries an idempotent request once when a reused keep-alive
// connection is dropped; the drop is recorded either way.
func (s *Server) ResetConnections(n int, opts ...FaultOption) {
	r := &faultRule{remaining: n, kind: FaultReset, includeBatch: true}
	for _, o := range opts {
		o(r)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.resets = append(s.faults.resets, r)
}

// ClearFaults removes every fault and the latency.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.init()
}

func (s *Server) takeReset(o *op) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.faults.resets {
		if r.remaining > 0 && r.matches(o) {
			r.remaining--
			return true
		}
	}
	return false
}

// injectFault decides whether a routed request gets an injected answer.
func (s *Server) injectFault(o *op) (response, bool) {
	var keys []string
	if o.method == http.MethodGet && o.match.set != "" && o.match.key != "" {
		if id, appID, ok := s.tenant.objectKeys(o.match.set, o.match.key, o.match.byAppID); ok {
			keys = []string{strings.ToLower(id), strings.ToLower(appID)}
		}
	}
	s.mu.Lock()
	var (
		rule *faultRule
		kind string
	)
	for _, r := range s.faults.rules {
		if r.remaining > 0 && r.matches(o) {
			r.remaining--
			rule, kind = r, r.kind
			break
		}
	}
	if rule == nil && s.faults.rate != nil && !(o.match.kind == kindBatch && !o.inner) {
		b := s.faults.rate
		now := s.cfg.clock()
		if el := now.Sub(b.last).Seconds(); el > 0 {
			b.tokens = math.Min(b.burst, b.tokens+el*b.rate)
			b.last = now
		}
		if b.tokens >= 1 {
			b.tokens--
		} else {
			ra := b.retryAfter
			if ra < 0 {
				ra = time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
			}
			rule = &faultRule{status: http.StatusTooManyRequests, retryAfter: retryAfterValue(ra)}
			kind = FaultRateLimit
		}
	}
	if rule == nil && s.faults.prob != nil && s.faults.prob.rule.matches(o) {
		if s.faults.prob.rng.Float64() < s.faults.prob.p {
			rule, kind = &s.faults.prob.rule, FaultError
		}
	}
	if rule == nil {
		for _, k := range keys {
			if n := s.faults.notFound[k]; n > 0 {
				if n == 1 {
					delete(s.faults.notFound, k)
				} else {
					s.faults.notFound[k] = n - 1
				}
				kind = FaultNotFound
				break
			}
		}
	}
	s.mu.Unlock()

	switch {
	case kind == FaultNotFound:
		r := s.errorResponse(o, notFound(o.match.key))
		r.fault = kind
		return r, true
	case rule == nil:
		return response{}, false
	}
	code, msg := "generalException", "General exception while processing."
	switch rule.status {
	case http.StatusBadRequest:
		code, msg = "Request_BadRequest", "Invalid object identifier '"+o.match.key+"'."
	case http.StatusForbidden:
		code, msg = "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
	case http.StatusTooManyRequests:
		code, msg = "TooManyRequests", "Too many requests. Please retry after the time in Retry-After."
	case http.StatusBadGateway:
		code, msg = "badGateway", "Bad gateway."
	case http.StatusServiceUnavailable:
		code, msg = "serviceNotAvailable", "The service is temporarily unavailable."
	case http.StatusGatewayTimeout:
		code, msg = "gatewayTimeout", "The gateway timed out."
	}
	r := s.errorResponse(o, &apiError{rule.status, code, msg})
	r.fault = kind
	if rule.retryAfter != "" {
		r.headers = map[string]string{"Retry-After": rule.retryAfter}
	}
	return r, true
}

// dispatch answers one routed request: a rejection, an injected fault, or
// the real answer.
func (s *Server) dispatch(o *op) response {
	if o.match.err != nil {
		r := s.errorResponse(o, o.match.err)
		r.rejected = true
		return r
	}
	if r, ok := s.injectFault(o); ok {
		return r
	}
	return s.handle(o)
}
