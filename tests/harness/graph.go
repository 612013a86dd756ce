package harness

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/appwarden/appwarden/handler/fakegraph"
)

// Graph is the Graph stand-in (fakegraph) behind a tap of our own. The tap
// sees every request before the stand-in does, so it can:
//
//   - timestamp the moment a service principal is disabled (the answer to a
//     PATCH {"accountEnabled":false}, top-level or inside a $batch, has been
//     produced: the write is applied), for time-to-contain;
//   - hold requests that carry a write before they reach the stand-in
//     (SetWriteDelay: a write "in flight" that is not applied if the client
//     goes away meanwhile), or after they were applied and before the answer
//     leaves (SetAnswerDelay: the write reached Graph, the client has not
//     heard), for crash tests.
//
// Every fakegraph method (faults, counters, Tenant) is available through the
// embedded Server; URL, GraphURL and TokenURL are the tap's.
type Graph struct {
	*fakegraph.Server

	url  string
	srv  *http.Server
	done chan struct{}

	writeDelay  atomic.Int64 // ns
	answerDelay atomic.Int64 // ns
	writesSeen  atomic.Int64 // requests carrying a write that reached the tap

	mu         sync.Mutex
	disabledAt map[string]time.Time // lower-case sp id -> first time seen disabled
	waiters    map[string][]chan struct{}
}

// StartGraph serves tenant through a tap on 127.0.0.1 (a free port).
func StartGraph(tenant *fakegraph.Tenant, opts ...fakegraph.Option) (*Graph, error) {
	g := &Graph{
		Server:     fakegraph.New(tenant, opts...),
		done:       make(chan struct{}),
		disabledAt: map[string]time.Time{},
		waiters:    map[string][]chan struct{}{},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g.url = "http://" + ln.Addr().String()
	g.srv = &http.Server{Handler: g, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = g.srv.Serve(ln) }()
	return g, nil
}

// MustStartGraph is StartGraph for tests; the tap closes when the test ends.
func MustStartGraph(t TB, tenant *fakegraph.Tenant, opts ...fakegraph.Option) *Graph {
	t.Helper()
	g, err := StartGraph(tenant, opts...)
	if err != nil {
		t.Fatalf("starting the Graph stand-in: %v", err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// Close stops the tap and the stand-in.
func (g *Graph) Close() error {
	select {
	case <-g.done:
		return nil
	default:
	}
	close(g.done)
	err := g.srv.Close()
	_ = g.Server.Close()
	return err
}

// URL is the tap's base URL; Graph is under URL()+"/v1.0".
func (g *Graph) URL() string { return g.url }

// GraphURL is URL()+"/v1.0".
func (g *Graph) GraphURL() string { return g.url + "/v1.0" }

// TokenURL is the managed identity endpoint (IDENTITY_ENDPOINT).
func (g *Graph) TokenURL() string { return g.url + fakegraph.TokenPath }

// HandlerEnv is what the handler needs to reach this stand-in: the managed
// identity endpoint and header, and the Graph endpoint.
func (g *Graph) HandlerEnv() map[string]string {
	return map[string]string{
		"IDENTITY_ENDPOINT":        g.TokenURL(),
		"IDENTITY_HEADER":          g.IdentityHeader(),
		"APPWARDEN_GRAPH_ENDPOINT": g.url,
	}
}

// Token gets an access token from the managed identity endpoint, as any
// client of the stand-in would.
func (g *Graph) Token(ctx context.Context, client *http.Client) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, g.TokenURL()+"?api-version=2019-08-01&resource="+g.url, nil)
	req.Header.Set("X-IDENTITY-HEADER", g.IdentityHeader())
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var v struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v.AccessToken == "" {
		return "", fmt.Errorf("harness: token endpoint answered %d (%v)", resp.StatusCode, err)
	}
	return v.AccessToken, nil
}

// SetWriteDelay holds each request that carries a write (a PATCH, POST or
// DELETE, top-level or inside a $batch) for d before the stand-in sees it.
// A client that gives up (or dies) meanwhile never reaches the stand-in: the
// write is not applied. 0 turns it off.
func (g *Graph) SetWriteDelay(d time.Duration) { g.writeDelay.Store(int64(d)) }

// SetAnswerDelay holds the answer to each request that carries a write for
// d after the stand-in applied it. A client that dies meanwhile never learns
// that its write reached Graph. 0 turns it off.
func (g *Graph) SetAnswerDelay(d time.Duration) { g.answerDelay.Store(int64(d)) }

// WritesSeen is the number of requests carrying a write that reached the
// tap (whether or not they were held or applied).
func (g *Graph) WritesSeen() int64 { return g.writesSeen.Load() }

// DisabledAt is when the tap first saw the service principal disabled by a
// write (its answer produced).
func (g *Graph) DisabledAt(spID string) (time.Time, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	t, ok := g.disabledAt[strings.ToLower(spID)]
	return t, ok
}

// WaitDisabled waits until the service principal is disabled by a write.
func (g *Graph) WaitDisabled(ctx context.Context, spID string) (time.Time, error) {
	k := strings.ToLower(spID)
	g.mu.Lock()
	if t, ok := g.disabledAt[k]; ok {
		g.mu.Unlock()
		return t, nil
	}
	ch := make(chan struct{})
	g.waiters[k] = append(g.waiters[k], ch)
	g.mu.Unlock()
	select {
	case <-ch:
		t, _ := g.DisabledAt(k)
		return t, nil
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
}

var spPathRE = regexp.MustCompile(`^(?:/v1\.0)?/servicePrincipals/([^/?()]+)$`)

// disablingTargets lists the service principals a request disables, and
// whether it carries any write.
func disablingTargets(r *http.Request, body []byte) (sps []string, write bool) {
	type item struct {
		Method string          `json:"method"`
		URL    string          `json:"url"`
		Body   json.RawMessage `json:"body"`
	}
	check := func(it item) {
		if it.Method == http.MethodGet || it.Method == "" {
			return
		}
		write = true
		if !strings.EqualFold(it.Method, http.MethodPatch) {
			return
		}
		path, _, _ := strings.Cut(it.URL, "?")
		m := spPathRE.FindStringSubmatch(path)
		if m == nil {
			return
		}
		var b struct {
			AccountEnabled *bool `json:"accountEnabled"`
		}
		if json.Unmarshal(it.Body, &b) == nil && b.AccountEnabled != nil && !*b.AccountEnabled {
			sps = append(sps, strings.ToLower(m[1]))
		}
	}
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/$batch") {
		var batch struct {
			Requests []item `json:"requests"`
		}
		if json.Unmarshal(body, &batch) == nil {
			for _, it := range batch.Requests {
				check(it)
			}
		}
		return sps, write
	}
	check(item{Method: r.Method, URL: r.URL.Path, Body: body})
	return sps, write
}

// ServeHTTP is the tap.
func (g *Graph) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet || r.URL.Path == fakegraph.TokenPath || r.Body == nil {
		g.Server.ServeHTTP(w, r)
		return
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "tap: reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(raw))
	body := raw
	if strings.EqualFold(strings.TrimSpace(r.Header.Get("Content-Encoding")), "gzip") {
		if zr, err := gzip.NewReader(bytes.NewReader(raw)); err == nil {
			if b, err := io.ReadAll(zr); err == nil {
				body = b
			}
		}
	}
	sps, write := disablingTargets(r, body)
	if !write {
		g.Server.ServeHTTP(w, r)
		return
	}
	g.writesSeen.Add(1)
	if d := time.Duration(g.writeDelay.Load()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return // the client went away: the write never reaches Graph
		case <-g.done:
			t.Stop()
			return
		}
	}
	hold := time.Duration(g.answerDelay.Load())
	if hold <= 0 {
		g.Server.ServeHTTP(w, r)
		g.noteDisabled(sps)
		return
	}
	rec := &bufferedWriter{header: http.Header{}}
	g.Server.ServeHTTP(rec, r)
	g.noteDisabled(sps)
	t := time.NewTimer(hold)
	select {
	case <-t.C:
	case <-r.Context().Done():
		t.Stop()
		return // applied, but the client never hears it
	case <-g.done:
		t.Stop()
		return
	}
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body.Bytes())
}

func (g *Graph) noteDisabled(sps []string) {
	if len(sps) == 0 {
		return
	}
	now := time.Now()
	for _, id := range sps {
		sp, ok := g.Tenant().ServicePrincipal(id)
		if !ok || sp.GetAccountEnabled() == nil || *sp.GetAccountEnabled() {
			continue
		}
		g.mu.Lock()
		if _, seen := g.disabledAt[id]; !seen {
			g.disabledAt[id] = now
			for _, ch := range g.waiters[id] {
				close(ch)
			}
			delete(g.waiters, id)
		}
		g.mu.Unlock()
	}
}

// bufferedWriter holds an answer so the tap can delay it.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) WriteHeader(s int) {
	if b.status == 0 {
		b.status = s
	}
}
func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// ---- tenants ----

// Owner is the owner the harness gives the apps it adds.
var Owner = fakegraph.Owner{ID: "30a6c29d-de7c-4830-815f-9b3bb366e975", DisplayName: "Dev One", UPN: "dev.one@contoso.example", Mail: "dev.one@contoso.example"}

// NewTenant returns a tenant with Microsoft Graph's service principal, so
// apps can be granted Graph permissions.
func NewTenant() *fakegraph.Tenant {
	t := fakegraph.NewTenant(TenantID)
	t.AddMicrosoftGraph()
	return t
}

// AddRiskyApp adds an app that the built-in policy contains in enforce
// mode: it requests and holds the application permission
// RoleManagement.ReadWrite.Directory (rule critical-app-permission:
// disableServicePrincipal, notify). It has one owner.
func AddRiskyApp(t *fakegraph.Tenant, name string) fakegraph.IDs {
	role := fakegraph.GraphRole("RoleManagement.ReadWrite.Directory")
	return t.AddApp(fakegraph.AppSpec{
		DisplayName: name,
		Owners:      []fakegraph.Owner{Owner},
		Requested:   []fakegraph.Permission{role, fakegraph.GraphScope("User.Read")},
		Granted:     []fakegraph.Permission{role},
	})
}

// AddBenignApp adds an app with no finding at or above medium: a
// single-tenant app with an owner, a certificate-less delegated User.Read.
func AddBenignApp(t *fakegraph.Tenant, name string) fakegraph.IDs {
	return t.AddApp(fakegraph.AppSpec{
		DisplayName: name,
		Owners:      []fakegraph.Owner{Owner},
		Requested:   []fakegraph.Permission{fakegraph.GraphScope("User.Read")},
	})
}

// AuditFor is the "Add application" audit record announcing an app.
func AuditFor(ids fakegraph.IDs) Audit {
	return Audit{AppID: ids.AppID, ObjectID: ids.ApplicationID}
}

// ---- counting ----

// DisablingWrites counts, per service principal id (lower case), the
// disabling writes (PATCH /servicePrincipals/{id} {"accountEnabled":false})
// the stand-in applied (answered 2xx), top-level or inside a $batch.
func DisablingWrites(s *fakegraph.Server) map[string]int {
	out := map[string]int{}
	for _, c := range s.Writes() {
		if c.Method != http.MethodPatch || c.Status < 200 || c.Status >= 300 || c.Fault != "" {
			continue
		}
		path, _, _ := strings.Cut(c.Path, "?")
		m := spPathRE.FindStringSubmatch(path)
		if m == nil {
			continue
		}
		var b struct {
			AccountEnabled *bool `json:"accountEnabled"`
		}
		if json.Unmarshal(c.Body, &b) == nil && b.AccountEnabled != nil && !*b.AccountEnabled {
			out[strings.ToLower(m[1])]++
		}
	}
	return out
}

// Trips are the Graph round trips of one operation, split by purpose: a
// $batch (or a top-level request) carrying a write is acting, anything else
// is resolving.
type Trips struct {
	Resolve, Act           int // HTTP round trips
	ResolveInner, ActInner int // requests inside those $batch requests
}

// Total is every round trip.
func (t Trips) Total() int { return t.Resolve + t.Act }

// CountTrips classifies recorded calls (e.g. CallsSince(mark)).
func CountTrips(calls []fakegraph.Call) Trips {
	writes := map[int64]bool{} // batch id -> holds a write
	inner := map[int64]int{}
	for _, c := range calls {
		if c.Inner {
			inner[c.BatchID]++
			if c.IsWrite() {
				writes[c.BatchID] = true
			}
		}
	}
	var t Trips
	for _, c := range calls {
		if c.Inner {
			continue
		}
		isWrite := c.IsWrite() || (c.Route == fakegraph.RouteBatch && writes[c.BatchID])
		if isWrite {
			t.Act++
			t.ActInner += inner[c.BatchID]
		} else {
			t.Resolve++
			if c.Route == fakegraph.RouteBatch {
				t.ResolveInner += inner[c.BatchID]
			}
		}
	}
	return t
}
