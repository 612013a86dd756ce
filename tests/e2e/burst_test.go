package e2e

// A burst: one Event Hub batch announcing many risky apps, through the real
// handler binary. Every app is contained before any notification of the
// batch goes out, each exactly once, and each channel gets a digest that
// names every app instead of 100 cards (Teams takes 4 posts a second).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/tests/harness"
)

// writeClock stands between the handler and the Graph stand-in and notes
// when each write (a PATCH, POST, DELETE, alone or inside a $batch) was
// answered.
type writeClock struct {
	mu     sync.Mutex
	writes []time.Time
}

func (w *writeClock) last() (time.Time, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var last time.Time
	for _, t := range w.writes {
		if t.After(last) {
			last = t
		}
	}
	return last, len(w.writes)
}

// startWriteClock proxies to g and returns the proxy's Graph endpoint.
func startWriteClock(t *testing.T, g *fakegraph.Server) (*writeClock, string) {
	t.Helper()
	target, err := url.Parse(g.URL())
	if err != nil {
		t.Fatal(err)
	}
	base := target.Path
	target.Path = ""
	proxy := httputil.NewSingleHostReverseProxy(target)
	wc := &writeClock{}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		writes := 0
		switch {
		case strings.HasSuffix(r.URL.Path, "/$batch"):
			var b struct{ Requests []struct{ Method string } }
			_ = json.Unmarshal(body, &b)
			for _, q := range b.Requests {
				if !strings.EqualFold(q.Method, http.MethodGet) {
					writes++
				}
			}
		case r.Method != http.MethodGet:
			writes++
		}
		proxy.ServeHTTP(rw, r)
		if writes > 0 {
			at := time.Now()
			wc.mu.Lock()
			for range writes {
				wc.writes = append(wc.writes, at)
			}
			wc.mu.Unlock()
		}
	}))
	t.Cleanup(srv.Close)
	return wc, srv.URL + base
}

// burstTenant is a tenant with n new apps, each requesting and holding
// RoleManagement.ReadWrite.Directory (critical: enforce contains it), owned
// by dev.one, and the audit records announcing them.
func burstTenant(n int) (*fakegraph.Tenant, []fakegraph.IDs, []auditRecord) {
	tenant := fakegraph.NewTenant(fixtureTenantID)
	tenant.AddMicrosoftGraph()
	tenant.AddApp(fakegraph.AppSpec{
		AppID: selfAppID, ApplicationID: selfObjectID, DisplayName: "AppWarden", PublisherDomain: "contoso.example",
		Owners:    []fakegraph.Owner{devOne},
		Requested: []fakegraph.Permission{fakegraph.GraphRole("Application.ReadWrite.All")},
		Granted:   []fakegraph.Permission{fakegraph.GraphRole("Application.ReadWrite.All")},
	})
	role := fakegraph.GraphRole("RoleManagement.ReadWrite.Directory")
	var ids []fakegraph.IDs
	var recs []auditRecord
	for i := range n {
		name := fmt.Sprintf("Burst App %03d", i)
		id := tenant.AddApp(fakegraph.AppSpec{DisplayName: name, Owners: []fakegraph.Owner{devOne},
			Requested: []fakegraph.Permission{role}, Granted: []fakegraph.Permission{role}})
		ids = append(ids, id)
		recs = append(recs, addApplication(fmt.Sprintf("burst-%03d-%s", i, id.AppID[:8]), id.ApplicationID, id.AppID, name))
	}
	return tenant, ids, recs
}

// burstEnv is enforce mode with room for a burst under the blast-radius
// limit, and both Teams channels on one webhook stand-in.
func burstEnv(hook *harness.Webhook, graphEndpoint string) map[string]string {
	env := map[string]string{
		"APPWARDEN_MODE":                 "enforce",
		"APPWARDEN_MAX_ACTIONS_PER_HOUR": "10000",
		"APPWARDEN_TEAMS_WEBHOOK_URL":    hook.URL + "/owners",
		"APPWARDEN_SECURITY_WEBHOOK_URL": hook.URL + "/security",
	}
	if graphEndpoint != "" {
		env["APPWARDEN_GRAPH_ENDPOINT"] = graphEndpoint
	}
	return env
}

// writesByApp sorts the stand-in's writes by the app they touch (its
// application or service principal object id in the path).
func writesByApp(g *fakegraph.Server, ids []fakegraph.IDs) (map[string][]string, []string) {
	by := map[string][]string{}
	var other []string
	for _, w := range g.Writes() {
		p := writePath(w)
		owner := ""
		for _, id := range ids {
			if strings.Contains(p, id.ApplicationID) || (id.ServicePrincipalID != "" && strings.Contains(p, id.ServicePrincipalID)) {
				owner = id.AppID
				break
			}
		}
		if owner == "" {
			other = append(other, p)
			continue
		}
		by[owner] = append(by[owner], p)
	}
	return by, other
}

// TestBurstContainsEveryAppBeforeAnyCard: one Event Hub batch of 100 new
// apps holding a critical permission, in enforce mode. The invocation
// answers 200 within 10 s; every app is contained, each write made once;
// the last Graph write is answered before the first card is posted; each
// channel gets a digest (a few messages, not 100 cards) that together name
// all 100 apps.
func TestBurstContainsEveryAppBeforeAnyCard(t *testing.T) {
	const n = 100
	tenant, ids, recs := burstTenant(n)
	g := startGraph(t, tenant)
	clock, endpoint := startWriteClock(t, g)
	hook := harness.MustStartWebhook(t)
	p := startHandlerWith(t, g, burstEnv(hook, endpoint))

	start := time.Now()
	r := p.mustInvoke(t, "OnAuditLogBatch", eventHubEnvelope(t, recs...), "e2e-burst-100")
	took := time.Since(start)
	logs := mustLogs(t, r, "the burst")
	if took > 10*time.Second {
		t.Errorf("the invocation answered after %s, more than 10 s", took.Round(time.Millisecond))
	}
	if logged(logs, "ERROR") {
		t.Errorf("Logs report an error: %q", logs)
	}

	// Every app contained, each write once.
	by, other := writesByApp(g, ids)
	if len(other) > 0 {
		t.Errorf("writes to no app of the burst: %q", other)
	}
	for _, id := range ids {
		ws := by[id.AppID]
		if len(ws) == 0 {
			t.Errorf("app %s was not contained", id.AppID)
			continue
		}
		if !slices.ContainsFunc(ws, func(w string) bool { return strings.Contains(w, id.ServicePrincipalID) }) {
			t.Errorf("app %s: no write to its service principal: %q", id.AppID, ws)
		}
		seen := map[string]bool{}
		for _, w := range ws {
			if seen[w] {
				t.Errorf("app %s: %s written twice: %q", id.AppID, w, ws)
			}
			seen[w] = true
		}
	}

	// Containment first: the last write was answered before the first post.
	posts := hook.Posts()
	if len(posts) == 0 {
		t.Fatal("no card was posted")
	}
	firstPost := posts[0].At
	for _, ps := range posts {
		if ps.At.Before(firstPost) {
			firstPost = ps.At
		}
	}
	lastWrite, nw := clock.last()
	if nw == 0 {
		t.Fatal("the write clock saw no write")
	}
	if !lastWrite.Before(firstPost) {
		t.Errorf("the last containment write was answered at +%s, after the first card at +%s", lastWrite.Sub(start), firstPost.Sub(start))
	}

	// Digests: a few messages per channel, naming every app.
	for _, ch := range []string{"owners", "security"} {
		var bodies []string
		for _, ps := range posts {
			if ps.Channel == ch && ps.Status < 300 {
				bodies = append(bodies, ps.Body)
			}
		}
		all := strings.Join(bodies, "\n")
		if len(bodies) == 0 || len(bodies) > 10 {
			t.Errorf("%s: %d messages for %d apps; want a digest of a few", ch, len(bodies), n)
		}
		missing := 0
		for _, id := range ids {
			if !strings.Contains(all, id.AppID) {
				missing++
			}
		}
		if missing > 0 {
			t.Errorf("%s: the digest does not name %d of the %d apps", ch, missing, n)
		}
		if !strings.Contains(all, "100 apps in one burst") || !strings.Contains(all, "dev.one@contoso.example") {
			t.Errorf("%s: the digest does not say it is a burst of 100 or name the owner", ch)
		}
	}
	t.Logf("100 apps: answered in %s; last containment write at +%s; first card at +%s; %d writes; %d posts",
		took.Round(time.Millisecond), lastWrite.Sub(start).Round(time.Millisecond), firstPost.Sub(start).Round(time.Millisecond), nw, len(posts))
}

// TestTwoSignalsForOneAppOneResolution: a batch that announces one app
// twice (its application and its service principal) and another app once:
// the app is resolved in one Graph $batch and contained with the same
// writes as the app announced once; both signals get a decision.
func TestTwoSignalsForOneAppOneResolution(t *testing.T) {
	tenant, ids, recs := burstTenant(2)
	g := startGraph(t, tenant)
	hook := harness.MustStartWebhook(t)
	p := startHandlerWith(t, g, burstEnv(hook, ""))
	twice, once := ids[0], ids[1]
	sp := addServicePrincipal("burst-sp-"+twice.AppID[:8], twice.ServicePrincipalID, twice.AppID, "Burst App 000")

	mark := len(g.Calls())
	r := p.mustInvoke(t, "OnAuditLogBatch", eventHubEnvelope(t, recs[0], recs[1], sp), "e2e-burst-twice")
	logs := mustLogs(t, r, "two signals for one app")
	for _, kind := range []string{"AppCreated", "ServicePrincipalCreated"} {
		if !logged(logs, "decision recorded", "signal="+kind, "appId="+twice.AppID) {
			t.Errorf("no decision recorded for the %s signal: %q", kind, logs)
		}
	}

	// Resolutions: $batch round trips with a request naming the app.
	reads := map[string]map[int64]bool{twice.AppID: {}, once.AppID: {}}
	for _, c := range g.Calls()[mark:] {
		if !c.Inner || c.Method != http.MethodGet {
			continue
		}
		for _, id := range []fakegraph.IDs{twice, once} {
			if strings.Contains(c.Path, id.AppID) || strings.Contains(c.Path, id.ApplicationID) || strings.Contains(c.Path, id.ServicePrincipalID) {
				reads[id.AppID][c.BatchID] = true
			}
		}
	}
	if got := len(reads[twice.AppID]); got != 1 {
		t.Errorf("the app announced twice was read in %d $batch round trips, want 1", got)
	}
	if got := len(reads[once.AppID]); got != 1 {
		t.Errorf("the app announced once was read in %d $batch round trips, want 1", got)
	}

	// One action: the same writes as the app announced once, each once.
	by, _ := writesByApp(g, ids)
	strip := func(ws []string, id fakegraph.IDs) []string {
		out := make([]string, len(ws))
		for i, w := range ws {
			out[i] = strings.NewReplacer(id.ApplicationID, "{app}", id.ServicePrincipalID, "{sp}").Replace(w)
		}
		slices.Sort(out)
		return out
	}
	a, b := strip(by[twice.AppID], twice), strip(by[once.AppID], once)
	if len(a) == 0 || !slices.Equal(a, b) {
		t.Errorf("writes for the app announced twice %q, once %q; want the same, once each", a, b)
	}
	t.Logf("app announced twice: %d $batch read(s), writes %q", len(reads[twice.AppID]), a)
}
