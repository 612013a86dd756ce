package expiry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/baseline"
	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/graph"
	"github.com/appwarden/appwarden/handler/graph/graphtest"
	"github.com/appwarden/appwarden/handler/store"
)

// addSPPassword adds a secret ending at end to a service principal, as
// Graph's addPassword does.
func addSPPassword(t *testing.T, srv *fakegraph.Server, spID string, end time.Time) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"passwordCredential": map[string]any{
		"displayName": "sp secret", "startDateTime": end.AddDate(-1, 0, 0), "endDateTime": end}})
	req, err := http.NewRequest("POST", srv.GraphURL()+"/servicePrincipals/"+spID+"/addPassword", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+srv.IssueToken())
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var pc struct {
		KeyID string `json:"keyId"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&pc); err != nil || resp.StatusCode != 200 || pc.KeyID == "" {
		t.Fatalf("addPassword: %d %v", resp.StatusCode, err)
	}
	return pc.KeyID
}

// TestPassListsWhatFirstSweepsMiss: an old app never decided (a first
// sweep's record: its secrets only) has a certificate ending in 5 days on
// its registration and a secret ending in 12 days on its service
// principal; a decided app (a full record) has a certificate ending in 5
// days; a managed identity and a Microsoft app have secrets ending in 3
// days. The pass, with Graph's two credential listings, reports the old
// app's certificate at 7 days and its service principal's secret at 14
// days, the decided app's certificate once (from its record: the listing
// skips a full record), and nothing of the managed identity nor of the
// Microsoft app; the next day's pass reports nothing again.
func TestPassListsWhatFirstSweepsMiss(t *testing.T) {
	now := time.Now().UTC().Truncate(passDay).Add(9 * time.Hour)
	ctx := context.Background()
	tenant := fakegraph.NewTenant("6f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b")
	in := func(d time.Duration) time.Time { return now.Add(d + time.Hour) }
	cert := func(keyID string, end time.Time) []fakegraph.Credential {
		return []fakegraph.Credential{{KeyID: keyID, DisplayName: "signing cert", Start: end.AddDate(-1, 0, 0), End: end}}
	}
	const oldCert, decidedCert = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
	old := tenant.AddApp(fakegraph.AppSpec{DisplayName: "old app", Certificates: cert(oldCert, in(5*passDay)),
		Owners: []fakegraph.Owner{{UPN: "dev@contoso.example"}}})
	decided := tenant.AddApp(fakegraph.AppSpec{DisplayName: "decided app", Certificates: cert(decidedCert, in(5*passDay))})
	mi := tenant.AddServicePrincipal(fakegraph.SPSpec{DisplayName: "vm identity", ServicePrincipalType: "ManagedIdentity"})
	ms := tenant.AddServicePrincipal(fakegraph.SPSpec{DisplayName: "Office 365 thing", AppOwnerOrganizationID: appwarden.MicrosoftServicesTenantID})
	srv, err := fakegraph.Start(tenant)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	spSecret := addSPPassword(t, srv, old.ServicePrincipalID, in(12*passDay))
	addSPPassword(t, srv, mi.ServicePrincipalID, in(3*passDay))
	addSPPassword(t, srv, ms.ServicePrincipalID, in(3*passDay))
	gc := graphtest.Client(t, srv, graph.RetryPolicy{Attempts: 2, MaxWait: 50 * time.Millisecond})

	st := store.NewMemory()
	k := &baseline.Keeper{Store: st}
	// The first sweep's record of the old app: its (no) secrets, from the
	// delta feed.
	if err := k.RecordDelta(ctx, old.AppID, &appwarden.Application{ID: old.ApplicationID, AppID: old.AppID, DisplayName: "old app"}); err != nil {
		t.Fatal(err)
	}
	// The decided app's record: what its decision read.
	if err := k.Record(ctx, &appwarden.App{AppID: decided.AppID, DisplayName: "decided app",
		Application: &appwarden.Application{ID: decided.ApplicationID, AppID: decided.AppID, DisplayName: "decided app",
			KeyCredentials: []appwarden.Credential{{KeyID: decidedCert, DisplayName: "signing cert", EndDateTime: in(5 * passDay)}}},
		ServicePrincipals: []appwarden.ServicePrincipal{{ID: decided.ServicePrincipalID, AppID: decided.AppID, ServicePrincipalType: "Application"}},
		Owners:            []appwarden.Principal{{ID: "0a000000-0000-4000-8000-000000000001", UPN: "owner@contoso.example", Type: "user"}},
	}); err != nil {
		t.Fatal(err)
	}

	c := &clock{t: now}
	h := &heard{keep: true}
	p := newPass(st, c, h)
	p.Owners, p.Lister = gc, gc
	s, err := p.RunStats(ctx, quiet)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		strings.ToLower(old.AppID) + "|" + oldCert + "|7d":         1,
		strings.ToLower(old.AppID) + "|" + spSecret + "|14d":       1,
		strings.ToLower(decided.AppID) + "|" + decidedCert + "|7d": 1,
	}
	if fmt.Sprint(h.got) != fmt.Sprint(want) {
		t.Errorf("reported %v; want %v", h.got, want)
	}
	// Due counts the decided app's certificate once: the listing skipped it.
	if !s.Finished || s.Due != 3 || s.Reported != 3 || s.Listed == 0 {
		t.Errorf("stats %+v; want finished, 3 due, 3 reported", s)
	}
	for _, e := range h.items {
		switch {
		case e.AppID == strings.ToLower(old.AppID) && e.Credential.KeyID == oldCert:
			if e.On != appwarden.OnApplication || e.Kind != appwarden.CredentialCertificate || e.ObjectID != old.ApplicationID {
				t.Errorf("old app's certificate reported as %+v", e)
			}
			if len(e.Owners) != 1 || e.Owners[0].UPN != "dev@contoso.example" {
				t.Errorf("old app's owners %+v; want those Graph lists", e.Owners)
			}
		case e.AppID == strings.ToLower(old.AppID):
			if e.On != appwarden.OnServicePrincipal || e.Kind != appwarden.CredentialPassword || e.ObjectID != old.ServicePrincipalID {
				t.Errorf("old app's service principal secret reported as %+v", e)
			}
		}
	}

	// The next day: the same thresholds, nothing new.
	c.Set(now.Add(passDay))
	p = newPass(st, c, h)
	p.Owners, p.Lister = gc, gc
	if s, err := p.RunStats(ctx, quiet); err != nil || !s.Finished || s.Reported != 0 {
		t.Errorf("next day: %+v, %v; want finished with nothing reported", s, err)
	}
	if h.total() != 3 {
		t.Errorf("reported %v over two days; want each once", h.got)
	}
}

// pagedLister serves the listings from memory, a page per object, and can
// end the invocation after some pages.
type pagedLister struct {
	apps     []appwarden.Application
	sps      []appwarden.ServicePrincipal
	cancel   func()
	cancelAt int
	pages    int
	froms    []string
}

func (l *pagedLister) page(ctx context.Context, prefix, link string, n int, fn func(i int, next string) error) error {
	l.froms = append(l.froms, prefix+":"+link)
	i := 0
	if link != "" {
		if _, err := fmt.Sscanf(link, prefix+"%d", &i); err != nil {
			return fmt.Errorf("bad link %q", link)
		}
	}
	for ; i < n; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		next := ""
		if i+1 < n {
			next = fmt.Sprintf("%s%d", prefix, i+1)
		}
		l.pages++
		if err := fn(i, next); err != nil {
			return err
		}
		if l.cancel != nil && l.pages == l.cancelAt {
			l.cancel()
		}
	}
	return nil
}

func (l *pagedLister) ApplicationCertificates(ctx context.Context, link string, fn func([]appwarden.Application, string) error) error {
	return l.page(ctx, "apps", link, len(l.apps), func(i int, next string) error { return fn(l.apps[i:i+1], next) })
}

func (l *pagedLister) ServicePrincipalCredentials(ctx context.Context, link string, fn func([]appwarden.ServicePrincipal, string) error) error {
	return l.page(ctx, "sps", link, len(l.sps), func(i int, next string) error { return fn(l.sps[i:i+1], next) })
}

// TestPassListingsGoOnAfterADeadline: a pass whose invocation ends during
// the listings goes on, at the next tick, from the page it had reached (not
// from the facts walk nor the listing's start), and reports each
// credential once.
func TestPassListingsGoOnAfterADeadline(t *testing.T) {
	st := store.NewMemory()
	l := &pagedLister{}
	for i := range 6 {
		id := appNo(100 + i)
		end := start.Add(time.Duration(3+i) * passDay)
		l.apps = append(l.apps, appwarden.Application{ID: "0b" + id[2:], AppID: id, DisplayName: "app",
			KeyCredentials: []appwarden.Credential{{KeyID: "ce" + id[2:], EndDateTime: end}}})
		l.sps = append(l.sps, appwarden.ServicePrincipal{ID: "5b" + id[2:], AppID: id, ServicePrincipalType: "Application",
			PasswordCredentials: []appwarden.Credential{{KeyID: "5e" + id[2:], EndDateTime: end}}})
	}
	c := &clock{t: start}
	h := &heard{}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.cancelAt = cancel, 8 // six application pages, two service principal pages
	p := newPass(st, c, h)
	p.Lister = l
	s, err := p.RunStats(ctx, quiet)
	if err != nil || s.Finished {
		t.Fatalf("first tick: %+v, %v; want cut short without error", s, err)
	}
	l.cancel, l.froms = nil, nil
	s, err = p.RunStats(context.Background(), quiet)
	if err != nil || !s.Finished {
		t.Fatalf("second tick: %+v, %v; want finished", s, err)
	}
	if fmt.Sprint(l.froms) != "[sps:sps2]" {
		t.Errorf("the second tick read %v; want the service principals from their third page", l.froms)
	}
	if len(h.got) != 12 || h.total() != 12 {
		t.Errorf("reported %d warnings (%d distinct); want 12, each once", h.total(), len(h.got))
	}
}
