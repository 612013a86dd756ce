package report_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/appwarden/appwarden/handler/report"
)

const day = 24 * time.Hour

// expiringSample is sample() with expiring credentials: one expired two
// days ago, one today, one in 5 days (the first week), one in 20 days
// (the third), and one on the window's last day; t0 is the scan's start.
func expiringSample() (*report.Expiry, []report.App) {
	apps := sample()
	row := func(app report.App, key, typ, on string, left time.Duration) report.ExpiringCredential {
		end := t0.Add(left)
		return report.ExpiringCredential{AppID: app.AppID, DisplayName: app.DisplayName, Name: "name of " + key, KeyID: key, Type: typ, On: on,
			End: end, DaysLeft: int((left+1000*day)/day) - 1000, Expired: left <= 0}
	}
	apps[0].Expiring = []report.ExpiringCredential{row(apps[0], "k-20", "password", "application", 20*day), row(apps[0], "k-gone", "certificate", "servicePrincipal", -2*day)}
	apps[1].Expiring = []report.ExpiringCredential{row(apps[1], "k-5", "password", "application", 5*day+time.Hour), row(apps[1], "k-today", "certificate", "application", 3*time.Hour)}
	apps[2].Expiring = []report.ExpiringCredential{row(apps[2], "k-29", "password", "servicePrincipal", 29*day+20*time.Hour)}
	l := report.NewExpiryList(30*day, t0, "30 days")
	for _, a := range apps {
		l.Add(a.Expiring...)
	}
	return l.Expiry(), apps
}

func writeExpiring(t *testing.T, f report.Format) string {
	t.Helper()
	e, apps := expiringSample()
	var b bytes.Buffer
	w, err := report.NewWriter(f, &b, report.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tally := report.NewTally(report.Meta{Source: "snapshot s.json", Policy: "built-in", PolicyVersion: "v1", Run: "dry run", Started: t0})
	for _, a := range apps {
		tally.Add(a)
		if err := w.App(a); err != nil {
			t.Fatal(err)
		}
	}
	s := tally.Summary(t0.Add(3 * time.Second))
	s.Expiry = e
	if err := w.Close(s); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

var wantOrder = []string{"k-gone", "k-today", "k-5", "k-20", "k-29"}

func TestExpiryList(t *testing.T) {
	e, _ := expiringSample()
	if e.Credentials != 5 || e.Expired != 1 || e.WindowText != "30 days" || !e.Until.Equal(t0.Add(30*day)) {
		t.Errorf("expiry = %+v", e)
	}
	for i, k := range wantOrder {
		if e.List[i].KeyID != k {
			t.Errorf("list[%d] = %s; want %s (sorted by expiry)", i, e.List[i].KeyID, k)
		}
	}
	var nilList *report.ExpiryList
	nilList.Add(e.List...)
	if nilList.Expiry() != nil {
		t.Error("a nil list has an expiry")
	}
	// 30 days from 09:00: weekly buckets from today's UTC midnight, the last
	// one (days 28 to 30) short; t0 is 2026-11-24 09:00.
	expired, size, counts := report.TimelineBuckets(e)
	if expired != 1 || size != 7 || len(counts) != 5 || counts[0] != 2 || counts[1] != 0 || counts[2] != 1 || counts[3] != 0 || counts[4] != 1 {
		t.Errorf("buckets: %d expired, %d days, %v", expired, size, counts)
	}
	for window, want := range map[time.Duration]int{12 * time.Hour: 1, 14 * day: 1, 15 * day: 7, 182 * day: 7, 183 * day: 14, 3650 * day: 147} {
		e := report.NewExpiryList(window, t0, "w").Expiry()
		_, size, counts := report.TimelineBuckets(e)
		if size != want || len(counts) > 27 {
			t.Errorf("window %s: buckets of %d days (%d); want %d days, at most 27", window, size, len(counts), want)
		}
	}
}

func TestExpiringJSON(t *testing.T) {
	out := writeExpiring(t, report.JSON)
	var doc struct {
		Summary struct {
			Expiry struct {
				Window      string    `json:"window"`
				AsOf        time.Time `json:"asOf"`
				Credentials int       `json:"credentials"`
				Expired     int       `json:"expired"`
			} `json:"expiry"`
		} `json:"summary"`
		Apps     []json.RawMessage           `json:"apps"`
		Expiring []report.ExpiringCredential `json:"expiring"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if s := doc.Summary.Expiry; s.Window != "30 days" || !s.AsOf.Equal(t0) || s.Credentials != 5 || s.Expired != 1 || len(doc.Apps) != 4 {
		t.Errorf("summary.expiry = %+v, %d apps", s, len(doc.Apps))
	}
	if len(doc.Expiring) != 5 {
		t.Fatalf("%d expiring", len(doc.Expiring))
	}
	for i, k := range wantOrder {
		if doc.Expiring[i].KeyID != k {
			t.Errorf("expiring[%d] = %s; want %s", i, doc.Expiring[i].KeyID, k)
		}
	}
	if g := doc.Expiring[0]; !g.Expired || g.DaysLeft != -2 || g.Type != "certificate" || g.On != "servicePrincipal" || g.AppID != "a1" {
		t.Errorf("the expired one = %+v", g)
	}
	if strings.Contains(out, `"Expiring"`) {
		t.Error("the apps carry their expiring rows")
	}
	// Without --expiring, no trace of it.
	plain, _ := write(t, report.JSON)
	if strings.Contains(plain, "expir") {
		t.Errorf("a report without --expiring mentions expiry:\n%s", plain)
	}
}

func TestExpiringCSV(t *testing.T) {
	e, _ := expiringSample()
	var b bytes.Buffer
	w := report.NewExpiringCSVWriter(&b)
	if err := w.Close(report.Summary{Expiry: e}); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 6 || strings.Join(rows[0], ",") != "appId,displayName,credentialName,keyId,type,on,endDateTime,daysLeft,expired" {
		t.Fatalf("rows = %q", rows)
	}
	// The display name that tries to be a formula is defused here too.
	if r := rows[2]; r[3] != "k-today" || !strings.HasPrefix(r[1], "'=") || r[7] != "0" || r[8] != "false" || r[6] != t0.Add(3*time.Hour).Format(time.RFC3339) {
		t.Errorf("row = %q", r)
	}
	if r := rows[1]; r[3] != "k-gone" || r[7] != "-2" || r[8] != "true" {
		t.Errorf("row = %q", r)
	}
	// The findings' CSV is unchanged.
	if out := writeExpiring(t, report.CSV); strings.Contains(out, "k-20") || !strings.HasPrefix(out, "appId,displayName,ruleId,severity,evidence\n") {
		t.Errorf("findings CSV:\n%s", out)
	}
}

func TestExpiringTextAndMarkdown(t *testing.T) {
	txt := writeExpiring(t, report.Text)
	for _, want := range []string{
		"Credentials expiring within 30 days, or expired\n5 credentials expire within 30 days of 2026-11-24 09:00 UTC (until 2026-12-24 09:00 UTC), 1 of them already expired.",
		"  2026-11-22 09:00       expired  certificate service principal k-gone",
		"  2026-11-29 10:00             5  secret      registration      k-5 ",
		"\x1b[31m", // not: the name is cleaned
	} {
		if strings.Contains(txt, want) == (want == "\x1b[31m") {
			t.Errorf("text: %q present = %v\n%s", want, !strings.Contains(txt, want), txt)
		}
	}
	if i, j := strings.Index(txt, "k-gone"), strings.Index(txt, "k-29"); i < 0 || j < i {
		t.Error("text: not sorted by expiry")
	}
	md := writeExpiring(t, report.Markdown)
	if !strings.Contains(md, "## Credentials expiring within 30 days, or expired") || !strings.Contains(md, "| 2026-12-24 05:00 | 29 | Clean | `a3` | name of k-29 | `k-29` | secret | service principal |") {
		t.Errorf("markdown:\n%s", md)
	}
	var summary bytes.Buffer
	w, _ := report.NewWriter(report.Text, &summary, report.Options{SummaryOnly: true})
	e, _ := expiringSample()
	if err := w.Close(report.Summary{Expiry: e}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(summary.String(), "\n5 credentials expire within 30 days") || strings.Contains(summary.String(), "k-gone") {
		t.Errorf("summary only:\n%s", summary.String())
	}
}

func TestExpiringHTMLTimeline(t *testing.T) {
	out := writeExpiring(t, report.HTML)
	doc, err := html.Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	var svg *html.Node
	var buckets, rows []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch {
			case n.Data == "svg" && attrOf(n, "id") == "chart-expiry":
				svg = n
			case n.Data == "g" && attrOf(n, "class") == "bucket":
				buckets = append(buckets, n)
			case n.Data == "tr" && strings.HasPrefix(attrOf(n, "class"), "credential"):
				rows = append(rows, n)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if svg == nil || attrOf(svg, "viewBox") == "" {
		t.Fatalf("no timeline:\n%s", out)
	}
	type col struct {
		from, to string
		value    int
		expired  bool
	}
	var got []col
	for _, g := range buckets {
		v, _ := strconv.Atoi(attrOf(g, "data-value"))
		got = append(got, col{attrOf(g, "data-from"), attrOf(g, "data-to"), v, attrOf(g, "data-expired") == "true"})
	}
	want := []col{{"", "", 1, true}, {"2026-11-24", "2026-11-30", 2, false}, {"2026-12-01", "2026-12-07", 0, false},
		{"2026-12-08", "2026-12-14", 1, false}, {"2026-12-15", "2026-12-21", 0, false}, {"2026-12-22", "2026-12-24", 1, false}}
	if len(got) != len(want) {
		t.Fatalf("columns = %+v; want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("column %d = %+v; want %+v", i, got[i], want[i])
		}
	}
	if len(rows) != 5 || attrOf(rows[0], "data-key-id") != "k-gone" || !strings.Contains(attrOf(rows[0], "class"), "expired") {
		t.Errorf("%d rows in the expiring table", len(rows))
	}
	if !strings.Contains(out, `<b data-total="expiring">5</b>`) || strings.Contains(out, "\x1b") {
		t.Error("totals: no expiring count, or an escape got through")
	}
	if plain, _ := write(t, report.HTML); strings.Contains(plain, "chart-expiry") || strings.Contains(plain, `id="expiry"`) {
		t.Error("a report without --expiring has the timeline")
	}
}

func attrOf(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
