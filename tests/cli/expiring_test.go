package cli

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"golang.org/x/net/html"

	"github.com/appwarden/appwarden/handler/fakegraph"
)

const day = 24 * time.Hour

// wantCred is a credential a scan with --expiring 30d must list, noted
// while the tenant is built.
type wantCred struct {
	appID, displayName, name, keyID, typ, on string
	end                                      time.Time
}

func (w wantCred) expired(asOf time.Time) bool { return !w.end.After(asOf) }

// expiryOffsets are the credentials' ends relative to the tenant's build,
// cycled through the apps: expired long ago and lately, then within the
// window (every week of it), and beyond it. None is within 12 hours of a
// boundary (now, 30 days), so the seconds between building the tenant and
// scanning it cannot move one across.
var expiryOffsets = []time.Duration{-400 * day, -3 * day, -13 * time.Hour, 13 * time.Hour, 2 * day, 9*day + 5*time.Hour,
	16 * day, 23 * day, 29*day + 11*time.Hour, 30*day + 13*time.Hour, 45 * day, 400 * day}

func inWindow(off time.Duration) bool { return off <= 30*day }

func password(keyID, name string, start, end time.Time) models.PasswordCredentialable {
	pc := models.NewPasswordCredential()
	id := uuid.MustParse(keyID)
	pc.SetKeyId(&id)
	if name != "" {
		pc.SetDisplayName(&name)
	}
	hint := "abc"
	pc.SetHint(&hint)
	pc.SetStartDateTime(&start)
	pc.SetEndDateTime(&end)
	return pc
}

func certificate(keyID, name string, start, end time.Time) models.KeyCredentialable {
	kc := models.NewKeyCredential()
	id := uuid.MustParse(keyID)
	kc.SetKeyId(&id)
	if name != "" {
		kc.SetDisplayName(&name)
	}
	typ, usage := "AsymmetricX509Cert", "Verify"
	kc.SetTypeEscaped(&typ)
	kc.SetUsage(&usage)
	kc.SetStartDateTime(&start)
	kc.SetEndDateTime(&end)
	return kc
}

// generateExpiring is generate(n) with credentials of assorted ends added,
// by i mod 10 (the groups without a finding that a credential would
// change): 0 a certificate on the service principal, 1 a certificate on
// the registration, 2 a secret on the service principal (no rule reads
// those of an ordinary app), 8 a second registration secret of 60 days
// (the app's password-credential finding stays what it was). Then n/200
// managed identities and Microsoft Graph (first party) get credentials
// that must not be listed (Graph's is a first-party-credential finding),
// and n/200 service principals of other tenants' apps get a secret that
// must be. It returns the credentials a 30-day window lists.
func generateExpiring(n int) (*fakegraph.Tenant, expectation, []wantCred) {
	now := time.Now().UTC().Truncate(time.Second)
	var want []wantCred
	note := func(appID, display, name, keyID, typ, on string, off time.Duration) {
		if inWindow(off) {
			want = append(want, wantCred{appID: appID, displayName: display, name: name, keyID: keyID, typ: typ, on: on, end: now.Add(off)})
		}
	}
	tenant, e := generateWith(n, func(t *fakegraph.Tenant, i int, ids fakegraph.IDs, hit func(rule, sev string)) {
		group := i % 10
		if group != 0 && group != 1 && group != 2 && group != 8 {
			return
		}
		off := expiryOffsets[(i/10+group)%len(expiryOffsets)]
		end := now.Add(off)
		start := end.Add(-60 * day)
		keyID := uuid.NewString()
		name := fmt.Sprintf("exp-%05d", i)
		if (i/10)%3 == 0 {
			name = "" // many credentials have no name
		}
		display := fmt.Sprintf("app-%05d", i)
		var err error
		switch group {
		case 0:
			err = t.UpdateServicePrincipal(ids.ServicePrincipalID, func(sp models.ServicePrincipalable) {
				sp.SetKeyCredentials(append(sp.GetKeyCredentials(), certificate(keyID, name, start, end)))
			})
			note(ids.AppID, display, name, keyID, "certificate", "servicePrincipal", off)
		case 1:
			err = t.UpdateApplication(ids.ApplicationID, func(a models.Applicationable) {
				a.SetKeyCredentials(append(a.GetKeyCredentials(), certificate(keyID, name, start, end)))
			})
			note(ids.AppID, display, name, keyID, "certificate", "application", off)
		case 2:
			err = t.UpdateServicePrincipal(ids.ServicePrincipalID, func(sp models.ServicePrincipalable) {
				sp.SetPasswordCredentials(append(sp.GetPasswordCredentials(), password(keyID, name, start, end)))
			})
			note(ids.AppID, display, name, keyID, "password", "servicePrincipal", off)
		case 8:
			err = t.UpdateApplication(ids.ApplicationID, func(a models.Applicationable) {
				a.SetPasswordCredentials(append(a.GetPasswordCredentials(), password(keyID, name, start, end)))
			})
			note(ids.AppID, display, name, keyID, "password", "application", off)
		}
		if err != nil {
			panic(err)
		}
	})
	soon, gone := now.Add(5*day), now.Add(-2*day)
	for i := 0; i < n/200; i++ {
		// Managed identities: Azure rotates their certificates; skipped.
		mi := tenant.AddServicePrincipal(fakegraph.SPSpec{DisplayName: fmt.Sprintf("msi-exp-%03d", i), ServicePrincipalType: "ManagedIdentity", AppOwnerOrganizationID: tenantID})
		if err := tenant.UpdateServicePrincipal(mi.ServicePrincipalID, func(sp models.ServicePrincipalable) {
			sp.SetKeyCredentials([]models.KeyCredentialable{certificate(uuid.NewString(), "mi cert", soon.Add(-60*day), soon), certificate(uuid.NewString(), "", gone.Add(-60*day), gone)})
		}); err != nil {
			panic(err)
		}
		e.apps, e.spOnly, e.protected = e.apps+1, e.spOnly+1, e.protected+1
		// Another tenant's app with a secret here: listed.
		off := expiryOffsets[(i+3)%len(expiryOffsets)]
		partner := tenant.AddServicePrincipal(fakegraph.SPSpec{DisplayName: fmt.Sprintf("partner-exp-%03d", i)})
		keyID := uuid.NewString()
		if err := tenant.UpdateServicePrincipal(partner.ServicePrincipalID, func(sp models.ServicePrincipalable) {
			sp.SetPasswordCredentials([]models.PasswordCredentialable{password(keyID, "partner secret", now.Add(off-60*day), now.Add(off))})
		}); err != nil {
			panic(err)
		}
		note(partner.AppID, fmt.Sprintf("partner-exp-%03d", i), "partner secret", keyID, "password", "servicePrincipal", off)
		e.apps, e.spOnly = e.apps+1, e.spOnly+1
	}
	// Microsoft Graph, first party: its credential is a finding, not listed.
	if err := tenant.UpdateServicePrincipal(fakegraph.GraphAppID, func(sp models.ServicePrincipalable) {
		sp.SetKeyCredentials([]models.KeyCredentialable{certificate(uuid.NewString(), "graph cert", soon.Add(-60*day), soon)})
	}); err != nil {
		panic(err)
	}
	if e.rules["first-party-credential"] == nil {
		e.rules["first-party-credential"] = map[string]int{}
	}
	e.rules["first-party-credential"]["critical"]++
	e.withFindings++
	return tenant, e, want
}

// TestScanExpiring10000Apps scans a 10,000-app snapshot with --expiring
// 30d into every format at once: each lists exactly the credentials noted
// while the tenant was built (registration and service principal, secrets
// and certificates, expired ones too; none of the managed identities' or
// Microsoft Graph's), sorted by expiry, and the HTML timeline counts them
// per week. The findings are unchanged, and so is the exit code's meaning.
func TestScanExpiring10000Apps(t *testing.T) {
	start := time.Now()
	tenant, e, want := generateExpiring(10000)
	snap := filepath.Join(t.TempDir(), "tenant-10000.json")
	if err := saveTo(tenant, snap); err != nil {
		t.Fatal(err)
	}
	tenant = nil
	t.Logf("generated a %d-app tenant, %d credentials to list, in %s", e.apps, len(want), time.Since(start).Round(time.Millisecond))
	if len(want) < 1000 {
		t.Fatalf("only %d credentials to list", len(want))
	}

	dir := t.TempDir()
	out := func(ext string) string { return filepath.Join(dir, "scan."+ext) }
	r := run(t, nil, "", "scan", "--tenant", snap, "--expiring", "30d", "--out", out("json"), "--out", out("csv"), "--out", out("html"), "--out", out("md"), "--out", out("txt"))
	t.Logf("scan of %d apps took %s", e.apps, r.took.Round(time.Millisecond))
	if r.code != 1 {
		t.Fatalf("exit %d; want 1 (findings at or above high; expiring credentials do not change it)\nstderr:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "wrote "+out("expiring.csv")+"\n") {
		t.Errorf("no expiring CSV written:\n%s", r.stderr)
	}

	rep := readJSONReport(t, out("json"))
	t.Run("findings", func(t *testing.T) { checkJSON(t, rep, e) })
	t.Run("csv findings", func(t *testing.T) { checkCSV(t, out("csv"), e) })

	var doc struct {
		Summary struct {
			Expiry struct {
				Window      string    `json:"window"`
				AsOf        time.Time `json:"asOf"`
				Credentials int       `json:"credentials"`
				Expired     int       `json:"expired"`
			} `json:"expiry"`
		} `json:"summary"`
		Expiring []struct {
			AppID          string    `json:"appId"`
			DisplayName    string    `json:"displayName"`
			CredentialName string    `json:"credentialName"`
			KeyID          string    `json:"keyId"`
			Type           string    `json:"type"`
			On             string    `json:"on"`
			EndDateTime    time.Time `json:"endDateTime"`
			DaysLeft       int       `json:"daysLeft"`
			Expired        bool      `json:"expired"`
		} `json:"expiring"`
	}
	b, err := os.ReadFile(out("json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	asOf := doc.Summary.Expiry.AsOf
	if asOf.IsZero() || time.Since(asOf) > 5*time.Minute {
		t.Fatalf("summary.expiry.asOf = %s", asOf)
	}
	byKey := map[string]wantCred{}
	expired := 0
	for _, w := range want {
		byKey[w.keyID] = w
		if w.expired(asOf) {
			expired++
		}
	}
	if s := doc.Summary.Expiry; s.Window != "30 days" || s.Credentials != len(want) || s.Expired != expired {
		t.Errorf("summary.expiry = %+v; want %d credentials, %d expired", s, len(want), expired)
	}

	t.Run("json", func(t *testing.T) {
		if len(doc.Expiring) != len(want) {
			t.Errorf("%d listed; want %d", len(doc.Expiring), len(want))
		}
		seen := map[string]bool{}
		for i, g := range doc.Expiring {
			w, ok := byKey[g.KeyID]
			if !ok || seen[g.KeyID] {
				t.Errorf("listed %+v: not expected, or twice", g)
				continue
			}
			seen[g.KeyID] = true
			days := int(math.Floor(w.end.Sub(asOf).Hours() / 24))
			if g.AppID != w.appID || g.DisplayName != w.displayName || g.CredentialName != w.name || g.Type != w.typ || g.On != w.on ||
				!g.EndDateTime.Equal(w.end) || g.Expired != w.expired(asOf) || g.DaysLeft != days {
				t.Errorf("listed %+v; want %+v (days left %d)", g, w, days)
			}
			if i > 0 && g.EndDateTime.Before(doc.Expiring[i-1].EndDateTime) {
				t.Errorf("expiring[%d] ends before expiring[%d]: not sorted by expiry", i, i-1)
			}
			if strings.HasPrefix(g.DisplayName, "msi-") || g.AppID == fakegraph.GraphAppID {
				t.Errorf("listed a managed identity's or a first-party app's credential: %+v", g)
			}
		}
	})

	t.Run("csv", func(t *testing.T) {
		f, err := os.Open(out("expiring.csv"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		rows, err := csv.NewReader(f).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 0 || strings.Join(rows[0], ",") != "appId,displayName,credentialName,keyId,type,on,endDateTime,daysLeft,expired" {
			t.Fatalf("header = %v", rows[:min(1, len(rows))])
		}
		got := map[string]bool{}
		for _, row := range rows[1:] {
			w, ok := byKey[row[3]]
			if !ok || got[row[3]] || row[0] != w.appID || row[4] != w.typ || row[5] != w.on || row[6] != w.end.Format(time.RFC3339) ||
				row[8] != fmt.Sprint(w.expired(asOf)) {
				t.Errorf("row %q; want %+v", row, w)
			}
			got[row[3]] = true
		}
		if len(got) != len(want) {
			t.Errorf("%d credentials in the CSV; want %d", len(got), len(want))
		}
	})

	// The text and Markdown formats: each wanted keyId once, in the
	// section, and no other credential's.
	checkListed := func(t *testing.T, path, heading string) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		i := strings.Index(s, heading)
		j := strings.Index(s, "Findings by app")
		if i < 0 || j < i {
			t.Fatalf("%s: no section %q before the findings", filepath.Base(path), heading)
		}
		section := s[i:j]
		if !strings.Contains(section, fmt.Sprintf("%d credentials expire within 30 days of ", len(want))) ||
			!strings.Contains(section, fmt.Sprintf(", %d of them already expired.", expired)) {
			t.Errorf("%s: the counts are not %d and %d:\n%.300s", filepath.Base(path), len(want), expired, section)
		}
		for _, w := range want {
			if n := strings.Count(section, w.keyID); n != 1 {
				t.Errorf("%s: %s (%s) listed %d times", filepath.Base(path), w.keyID, w.displayName, n)
			}
		}
		if listed := len(expiringRow.FindAllString(section, -1)); listed != len(want) {
			t.Errorf("%s: %d rows; want %d", filepath.Base(path), listed, len(want))
		}
	}
	t.Run("text", func(t *testing.T) { checkListed(t, out("txt"), "Credentials expiring within 30 days, or expired\n") })
	t.Run("markdown", func(t *testing.T) { checkListed(t, out("md"), "## Credentials expiring within 30 days, or expired\n") })
	// The terminal summary says how many.
	if !strings.Contains(r.stdout, fmt.Sprintf("\n%d credentials expire within 30 days", len(want))) {
		t.Errorf("stdout lacks the count:\n%s", r.stdout)
	}

	t.Run("html", func(t *testing.T) {
		f, err := os.Open(out("html"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		checkExpiringHTML(t, f, want, asOf)
	})

	t.Run("html findings", func(t *testing.T) { checkHTML(t, out("html"), e) })
}

// expiringRow is a row of the expiring section in text or Markdown: it
// starts with the end date.
var expiringRow = regexp.MustCompile(`(?m)^(\| |  )\d{4}-\d{2}-\d{2} \d{2}:\d{2} `)

func checkExpiringHTML(t *testing.T, r io.Reader, want []wantCred, asOf time.Time) {
	doc, err := html.Parse(r)
	if err != nil {
		t.Fatal(err)
	}
	svg := one(t, doc, "svg#chart-expiry", byID("chart-expiry"))
	if svg.Data != "svg" || attr(svg, "viewBox") == "" || attr(svg, "data-bucket") != "week" {
		t.Errorf("#chart-expiry is a <%s> (viewBox %q, bucket %q)", svg.Data, attr(svg, "viewBox"), attr(svg, "data-bucket"))
	}
	// Expected: the expired column, then five weeks (the fifth holds the
	// window's last two days).
	wantCols := make([]int, 6)
	for _, w := range want {
		wantCols[weekOf(w.end, asOf)]++
	}
	cols := find(svg, func(n *html.Node) bool { return n.Data == "g" && attr(n, "class") == "bucket" })
	if len(cols) != len(wantCols) {
		t.Fatalf("%d columns in the timeline; want %d", len(cols), len(wantCols))
	}
	day0 := asOf.UTC().Truncate(day)
	for i, g := range cols {
		v := atoi(t, attr(g, "data-value"))
		if v != wantCols[i] {
			t.Errorf("timeline column %d (%s %s): %d; want %d", i, attr(g, "data-label"), attr(g, "data-from"), v, wantCols[i])
		}
		rect := one(t, g, "rect", byTag("rect"))
		if h := atoi(t, attr(rect, "height")); (v == 0) != (h == 0) {
			t.Errorf("timeline column %d: %d drawn %d high", i, v, h)
		}
		label := find(g, func(n *html.Node) bool { return n.Data == "text" && strings.HasPrefix(attr(n, "class"), "label") })
		if len(label) == 0 || text(label[0]) == "" {
			t.Errorf("timeline column %d has no label", i)
		}
		switch {
		case i == 0 && (attr(g, "data-expired") != "true" || text(label[0]) != "expired" || !strings.Contains(attr(rect, "class"), "expired")):
			t.Errorf("the first column is not the expired one, marked: %v", g.Attr)
		case i > 0 && attr(g, "data-from") != day0.AddDate(0, 0, 7*(i-1)).Format(time.DateOnly):
			t.Errorf("timeline column %d starts %s; want %s", i, attr(g, "data-from"), day0.AddDate(0, 0, 7*(i-1)).Format(time.DateOnly))
		}
	}
	// The table: one row per credential, expired ones marked.
	table := one(t, doc, "table#expiring", byID("expiring"))
	byKey := map[string]wantCred{}
	for _, w := range want {
		byKey[w.keyID] = w
	}
	rows := find(table, func(n *html.Node) bool { return n.Data == "tr" && strings.HasPrefix(attr(n, "class"), "credential") })
	seen := map[string]bool{}
	for _, tr := range rows {
		k := attr(tr, "data-key-id")
		w, ok := byKey[k]
		if !ok || seen[k] || attr(tr, "data-app-id") != w.appID || strings.Contains(attr(tr, "class"), "expired") != w.expired(asOf) {
			t.Errorf("table row %v; want %+v", tr.Attr, w)
		}
		seen[k] = true
	}
	if len(seen) != len(want) {
		t.Errorf("%d credentials in the table; want %d", len(seen), len(want))
	}
}

// weekOf is the timeline's column of a credential: 0 for expired, then
// 1, 2... the weeks from asOf's UTC midnight.
func weekOf(end, asOf time.Time) int {
	if !end.After(asOf) {
		return 0
	}
	return 1 + int(end.Sub(asOf.UTC().Truncate(day))/(7*day))
}
