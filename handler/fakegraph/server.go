package fakegraph

import (
	"bytes"
	"compress/gzip"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// TokenPath is where the managed identity token endpoint is served.
const TokenPath = "/msi/token"

// maxBody is Graph's request size limit (4 MB).
const maxBody = 4 << 20

// Server is the Graph stand-in: an http.Handler serving a Tenant under
// /v1.0 and a managed identity token endpoint at TokenPath, with call
// recording and fault injection. Start listens on 127.0.0.1 with a random
// port; a Server that is not started can be mounted as a handler, in which
// case links are built from the request's Host.
type Server struct {
	tenant *Tenant
	cfg    config

	lifeMu    sync.Mutex
	closed    bool
	done      chan struct{}
	inflight  sync.WaitGroup
	active    atomic.Int64
	srv       *http.Server
	serveDone chan struct{}
	baseURL   string

	mu            sync.Mutex // everything below
	requireAuth   bool
	pageSize      int
	deltaPageSize int
	faults        faultState
	rec           recorder
}

type config struct {
	addr           string
	requireAuth    bool
	identityHeader string
	miClientID     string
	tokenTTL       time.Duration
	pageSize       int
	deltaPageSize  int
	clock          func() time.Time
}

// Option configures a Server.
type Option func(*config)

// WithAddr sets the listen address of Start (default "127.0.0.1:0").
func WithAddr(addr string) Option { return func(c *config) { c.addr = addr } }

// WithoutAuth accepts Graph requests without a bearer token.
func WithoutAuth() Option { return func(c *config) { c.requireAuth = false } }

// WithIdentityHeader sets the secret the token endpoint expects in
// X-IDENTITY-HEADER (what IDENTITY_HEADER holds); default random, see IdentityHeader.
func WithIdentityHeader(secret string) Option { return func(c *config) { c.identityHeader = secret } }

// WithManagedIdentityClientID sets the client_id the token endpoint reports
// for a system-assigned identity.
func WithManagedIdentityClientID(id string) Option { return func(c *config) { c.miClientID = id } }

// WithTokenLifetime sets how long issued tokens live (default 24h).
func WithTokenLifetime(d time.Duration) Option { return func(c *config) { c.tokenTTL = d } }

// WithPageSize sets the page size of owners, appRoleAssignments and
// oauth2PermissionGrants collections (default 100; $top overrides it).
func WithPageSize(n int) Option { return func(c *config) { c.pageSize = n } }

// WithDeltaPageSize sets the page size of delta query (default 200;
// Prefer: odata.maxpagesize overrides it).
func WithDeltaPageSize(n int) Option { return func(c *config) { c.deltaPageSize = n } }

// WithClock sets the clock of the rate limiter (default time.Now), so a test
// can move time by hand.
func WithClock(now func() time.Time) Option { return func(c *config) { c.clock = now } }

// New returns a Server for the tenant (a new empty one when nil). It does not
// listen until Start.
func New(t *Tenant, opts ...Option) *Server {
	if t == nil {
		t = NewTenant("")
	}
	cfg := config{
		addr:           "127.0.0.1:0",
		requireAuth:    true,
		identityHeader: "fakegraph-" + uuid.NewString(),
		miClientID:     uuid.NewString(),
		tokenTTL:       24 * time.Hour,
		pageSize:       100,
		deltaPageSize:  200,
		clock:          time.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.pageSize, cfg.deltaPageSize = max(1, cfg.pageSize), max(1, cfg.deltaPageSize)
	if cfg.clock == nil {
		cfg.clock = time.Now
	}
	s := &Server{
		tenant:        t,
		cfg:           cfg,
		done:          make(chan struct{}),
		requireAuth:   cfg.requireAuth,
		pageSize:      cfg.pageSize,
		deltaPageSize: cfg.deltaPageSize,
	}
	s.faults.init()
	s.rec.init()
	return s
}

// Start is New followed by (*Server).Start.
func Start(t *Tenant, opts ...Option) (*Server, error) {
	s := New(t, opts...)
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// Start listens (on 127.0.0.1 with a random port unless WithAddr) and serves
// in the background until Close.
func (s *Server) Start() error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.closed {
		return errors.New("fakegraph: server closed")
	}
	if s.srv != nil {
		return errors.New("fakegraph: server already started")
	}
	ln, err := net.Listen("tcp", s.cfg.addr)
	if err != nil {
		return fmt.Errorf("fakegraph: %w", err)
	}
	s.baseURL = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.serveDone = make(chan struct{})
	go func() {
		defer close(s.serveDone)
		_ = s.srv.Serve(ln)
	}()
	return nil
}

// Close stops the server: the listener and open connections are closed,
// delayed requests are cut short, and Close returns once every handler and
// the serve goroutine have returned.
func (s *Server) Close() error {
	s.lifeMu.Lock()
	if s.closed {
		s.lifeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	srv, serveDone := s.srv, s.serveDone
	s.lifeMu.Unlock()
	var err error
	if srv != nil {
		err = srv.Close()
		<-serveDone
	}
	s.inflight.Wait()
	return err
}

// URL is the base URL (http://127.0.0.1:port); Graph is under URL()+"/v1.0".
func (s *Server) URL() string {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	return s.baseURL
}

// GraphURL is URL()+"/v1.0", the base URL for msgraph-sdk-go's request adapter.
func (s *Server) GraphURL() string { return s.URL() + "/v1.0" }

// TokenURL is the managed identity endpoint, the value for IDENTITY_ENDPOINT.
func (s *Server) TokenURL() string { return s.URL() + TokenPath }

// IdentityHeader is the secret the token endpoint expects, the value for IDENTITY_HEADER.
func (s *Server) IdentityHeader() string { return s.cfg.identityHeader }

// Env returns the environment a process needs to get managed identity tokens
// from this server through azidentity: IDENTITY_ENDPOINT and IDENTITY_HEADER,
// as "KEY=value" strings for exec.Cmd.Env.
func (s *Server) Env() []string {
	return []string{"IDENTITY_ENDPOINT=" + s.TokenURL(), "IDENTITY_HEADER=" + s.IdentityHeader()}
}

// ManagedIdentityClientID is the client_id the token endpoint reports by default.
func (s *Server) ManagedIdentityClientID() string { return s.cfg.miClientID }

// Tenant returns the served tenant.
func (s *Server) Tenant() *Tenant { return s.tenant }

// SetRequireAuth turns the bearer token check on or off.
func (s *Server) SetRequireAuth(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requireAuth = on
}

// SetPageSize sets the page size of owners, appRoleAssignments and
// oauth2PermissionGrants collections.
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = max(1, n)
}

// SetDeltaPageSize sets the page size of delta query.
func (s *Server) SetDeltaPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deltaPageSize = max(1, n)
}

func (s *Server) settings() (requireAuth bool, pageSize, deltaPageSize int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requireAuth, s.pageSize, s.deltaPageSize
}

// ---- tokens ----

// tokenKey signs issued tokens. It is per process, not per server, because
// MSAL caches managed identity tokens process-wide: a token one server issued
// must be good at another server of the same test binary.
var tokenKey = func() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}()

type tokenClaims struct {
	Aud string `json:"aud"`
	Cid string `json:"cid"`
	Exp int64  `json:"exp"`
	Jti string `json:"jti"`
}

// IssueToken returns an access token the stand-in accepts, for clients that
// do not go through the token endpoint.
func (s *Server) IssueToken() string {
	return issueToken("https://graph.microsoft.com", s.cfg.miClientID, time.Now().Add(s.cfg.tokenTTL))
}

func issueToken(resource, clientID string, exp time.Time) string {
	payload, _ := json.Marshal(tokenClaims{Aud: resource, Cid: clientID, Exp: exp.Unix(), Jti: uuid.NewString()})
	body := "fg1." + base64.RawURLEncoding.EncodeToString(payload)
	mac := hmac.New(sha256.New, tokenKey)
	mac.Write([]byte(body))
	return body + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func validToken(authorization string) (ok bool, reason string) {
	scheme, tok, found := strings.Cut(strings.TrimSpace(authorization), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return false, "Access token is empty."
	}
	tok = strings.TrimSpace(tok)
	i := strings.LastIndexByte(tok, '.')
	if i < 0 || !strings.HasPrefix(tok, "fg1.") {
		return false, "Access token validation failure. Invalid audience."
	}
	body, sig := tok[:i], tok[i+1:]
	want := hmac.New(sha256.New, tokenKey)
	want.Write([]byte(body))
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, want.Sum(nil)) {
		return false, "Access token validation failure. Invalid signature."
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(body, "fg1."))
	var c tokenClaims
	if err != nil || json.Unmarshal(payload, &c) != nil {
		return false, "Access token validation failure."
	}
	if time.Now().Unix() >= c.Exp {
		return false, "Lifetime validation failed, the token is expired."
	}
	return true, ""
}

// serveToken is the App Service / Functions managed identity endpoint
// (api-version 2019-08-01) as azidentity's ManagedIdentityCredential calls it
// when IDENTITY_ENDPOINT and IDENTITY_HEADER are set.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	s.rec.countToken(&s.mu)
	fail := func(status int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"statusCode": status, "message": msg, "correlationId": uuid.NewString()})
	}
	if r.Method != http.MethodGet {
		fail(http.StatusMethodNotAllowed, "The requested method is not allowed.")
		return
	}
	secret := r.Header.Get("X-IDENTITY-HEADER")
	if secret == "" {
		fail(http.StatusBadRequest, "The X-IDENTITY-HEADER header is missing.")
		return
	}
	if !subtleEqual(secret, s.cfg.identityHeader) {
		fail(http.StatusUnauthorized, "The X-IDENTITY-HEADER header is not valid.")
		return
	}
	q := r.URL.Query()
	if v := q.Get("api-version"); v != "2019-08-01" {
		fail(http.StatusBadRequest, fmt.Sprintf("Unsupported api-version %q.", v))
		return
	}
	resource := q.Get("resource")
	if resource == "" {
		fail(http.StatusBadRequest, "The resource parameter is required.")
		return
	}
	clientID := q.Get("client_id")
	if clientID == "" {
		clientID = s.cfg.miClientID
	}
	exp := time.Now().Add(s.cfg.tokenTTL)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{
		"access_token": issueToken(resource, clientID, exp),
		"expires_on":   strconv.FormatInt(exp.Unix(), 10),
		"resource":     resource,
		"token_type":   "Bearer",
		"client_id":    clientID,
	})
}

func subtleEqual(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }

// ---- HTTP ----

func (s *Server) enter() bool {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.closed {
		return false
	}
	s.inflight.Add(1)
	s.active.Add(1)
	return true
}

// InFlight is the number of requests being handled right now.
func (s *Server) InFlight() int { return int(s.active.Load()) }

// ServeHTTP serves Graph under /v1.0 and the token endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		http.Error(w, "fakegraph: closed", http.StatusServiceUnavailable)
		return
	}
	defer s.inflight.Done()
	defer s.active.Add(-1)
	if r.URL.Path == TokenPath {
		s.serveToken(w, r)
		return
	}
	s.serveGraph(w, r)
}

// response is one answer, top-level or inside a batch.
type response struct {
	status   int
	body     []byte
	headers  map[string]string
	fault    string
	rejected bool
}

func (s *Server) base(r *http.Request) string {
	if u := s.URL(); u != "" {
		return u
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request) {
	op := &op{
		method:   r.Method,
		rawURL:   r.URL.RequestURI(),
		query:    r.URL.Query(),
		header:   r.Header,
		base:     s.base(r),
		reqID:    uuid.NewString(),
		clientID: r.Header.Get("client-request-id"),
		encoding: r.Header.Get("Content-Encoding"),
	}
	rel, ok := strings.CutPrefix(r.URL.EscapedPath(), "/v1.0")
	if ok && (rel == "" || rel[0] == '/') {
		op.path = strings.TrimPrefix(r.URL.Path, "/v1.0")
		op.match = match(op.method, rel)
	} else {
		op.path = r.URL.Path
		op.match = routeMatch{err: &apiError{http.StatusBadRequest, "BadRequest", "Invalid version: the request URL must start with /v1.0."}}
	}

	if s.takeReset(op) {
		s.record(op, response{fault: FaultReset}, nil)
		abortConnection(w)
		return
	}
	if d := s.latency(); d > 0 {
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
			s.record(op, response{fault: FaultCanceled}, nil)
			return
		case <-s.done:
			timer.Stop()
			http.Error(w, "fakegraph: closed", http.StatusServiceUnavailable)
			return
		}
	}

	var resp response
	var body []byte
	requireAuth, _, _ := s.settings()
	if ok, reason := validToken(r.Header.Get("Authorization")); requireAuth && !ok {
		resp = s.errorResponse(op, &apiError{http.StatusUnauthorized, "InvalidAuthenticationToken", reason})
		resp.headers = map[string]string{"WWW-Authenticate": `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`}
		resp.rejected = true
	} else if b, aerr := readBody(r); aerr != nil {
		resp = s.errorResponse(op, aerr)
		resp.rejected = true
	} else {
		body = b
		op.body = b
		if op.match.kind == kindBatch && op.match.err == nil {
			resp = s.serveBatch(op)
		} else {
			resp = s.dispatch(op)
		}
	}
	// Record before answering: a client that has read the response must find
	// its call in the record (recording after the write let a test count the
	// calls before the last one was recorded).
	s.record(op, resp, body)
	s.writeResponse(w, op, resp)
}

func (s *Server) writeResponse(w http.ResponseWriter, op *op, resp response) {
	h := w.Header()
	for k, v := range resp.headers {
		h.Set(k, v)
	}
	h.Set("request-id", op.reqID)
	h.Set("client-request-id", orDefault(op.clientID, op.reqID))
	if len(resp.body) > 0 {
		h.Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
		h.Set("Content-Length", strconv.Itoa(len(resp.body)))
	}
	w.WriteHeader(resp.status)
	if len(resp.body) > 0 {
		_, _ = w.Write(resp.body)
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// readBody reads the request body, inflating it when gzip-encoded (as
// msgraph-sdk-go sends bodies by default).
func readBody(r *http.Request) ([]byte, *apiError) {
	if r.Body == nil {
		return nil, nil
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, badRequest("Cannot read the request body: %v", err)
	}
	if len(raw) > maxBody {
		return nil, &apiError{http.StatusRequestEntityTooLarge, "Request_EntityTooLarge", "The request body is larger than 4 MB."}
	}
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		return raw, nil
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, badRequest("Cannot inflate the gzip request body: %v", err)
		}
		out, err := io.ReadAll(io.LimitReader(zr, maxBody+1))
		if err != nil {
			return nil, badRequest("Cannot inflate the gzip request body: %v", err)
		}
		if len(out) > maxBody {
			return nil, &apiError{http.StatusRequestEntityTooLarge, "Request_EntityTooLarge", "The request body is larger than 4 MB."}
		}
		return out, nil
	default:
		return nil, &apiError{http.StatusUnsupportedMediaType, "UnsupportedMediaType", fmt.Sprintf("Content-Encoding %q is not supported.", enc)}
	}
}

// abortConnection drops the connection without an answer: the client sees a
// connection reset (or EOF). Go's transport retries an idempotent request on
// its own when the dropped connection had been reused.
func abortConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

func (s *Server) errorResponse(op *op, e *apiError) response {
	return response{
		status: e.status,
		body:   graphError(e.code, e.message, op.reqID, op.clientID, time.Now()),
	}
}

// jsonResponse is a 200/201 answer with a serialized body.
func jsonResponse(status int, body []byte) response {
	return response{status: status, body: body}
}
