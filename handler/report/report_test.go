package report_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/report"
)

var t0 = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

func finding(rule string, sev appwarden.Severity, ev ...appwarden.Evidence) appwarden.Finding {
	return appwarden.Finding{RuleID: rule, Title: "Title of " + rule, Severity: sev, Evidence: ev}
}

// sample is a small scan: a critical app, a medium app whose display name
// tries to inject a formula and a terminal escape, a clean app, an error
// and an app deleted during the scan.
func sample() []report.App {
	end := t0.AddDate(1, 0, 0)
	return []report.App{
		{AppID: "a1", DisplayName: "Payroll <Sync>", Kind: report.KindApplication, Mode: appwarden.ModeEnforce, Severity: "critical",
			Findings: []appwarden.Finding{
				finding("critical-app-permission", appwarden.SeverityCritical, appwarden.Evidence{Kind: "permission", ID: "9e3f", Name: "RoleManagement.ReadWrite.Directory"}),
				finding("password-credential", appwarden.SeverityHigh, appwarden.Evidence{Kind: "credential", ID: "k1", Name: "secret", EndDateTime: &end}),
			},
			Actions: []report.Action{{Kind: "disableServicePrincipal", Target: "sp1", Status: report.WouldDo}, {Kind: "notify", Status: report.WouldNotify}}},
		{AppID: "a2", DisplayName: "=HYPERLINK(\"http://evil\")\x1b[31m|x", Kind: report.KindApplication, Mode: appwarden.ModeAudit, Severity: "medium",
			Findings: []appwarden.Finding{finding("password-credential", appwarden.SeverityMedium, appwarden.Evidence{Kind: "credential", Detail: "a secret"})},
			Actions:  []report.Action{{Kind: "notify", Status: report.WouldNotify}}},
		{AppID: "a3", DisplayName: "Clean", Kind: report.KindApplication, Severity: "none"},
		{AppID: "a4", DisplayName: "Broken", Kind: report.KindServicePrincipal, Severity: "none", Error: "graph: HTTP 403"},
		{AppID: "a5", Deleted: true},
	}
}

func write(t *testing.T, f report.Format) (string, report.Summary) {
	t.Helper()
	var b bytes.Buffer
	w, err := report.NewWriter(f, &b, report.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tally := report.NewTally(report.Meta{Source: "snapshot s.json", Policy: "built-in", PolicyVersion: "v1", Run: "dry run", Started: t0})
	for _, a := range sample() {
		tally.Add(a)
		if err := w.App(a); err != nil {
			t.Fatal(err)
		}
	}
	s := tally.Summary(t0.Add(3 * time.Second))
	if err := w.Close(s); err != nil {
		t.Fatal(err)
	}
	return b.String(), s
}

func TestTally(t *testing.T) {
	_, s := write(t, report.Text)
	if s.Apps != 4 || s.Applications != 3 || s.ServicePrincipals != 1 || s.Deleted != 1 || s.Errors != 1 || s.AppsWithFindings != 2 || s.Findings != 3 {
		t.Errorf("summary = %+v", s)
	}
	if c := s.Severity("critical"); c.Findings != 1 || c.Apps != 1 {
		t.Errorf("critical = %+v", c)
	}
	if c := s.Severity("high"); c.Findings != 1 || c.Apps != 0 {
		t.Errorf("high = %+v (the app whose top finding is critical is not a high app)", c)
	}
	if s.AtLeast(appwarden.SeverityHigh) != 2 || s.AtLeast(appwarden.SeverityCritical) != 1 {
		t.Errorf("AtLeast: %d %d", s.AtLeast(appwarden.SeverityHigh), s.AtLeast(appwarden.SeverityCritical))
	}
	if len(s.Rules) != 2 || s.Rules[0].RuleID != "critical-app-permission" || s.Rules[1].Severity != "high" ||
		s.Rules[1].Count("high") != 1 || s.Rules[1].Count("medium") != 1 || s.Rules[1].Findings != 2 {
		t.Errorf("rules = %+v", s.Rules)
	}
}

func TestTextPutsTheSummaryFirstAndCleansNames(t *testing.T) {
	out, _ := write(t, report.Text)
	sum, apps := strings.Index(out, "Findings by rule and severity"), strings.Index(out, "Payroll <Sync>")
	if sum < 0 || apps < 0 || sum > apps {
		t.Fatalf("summary at %d, apps at %d:\n%s", sum, apps, out)
	}
	if strings.Contains(out, "\x1b") {
		t.Error("a terminal escape from a display name reached the output")
	}
	if strings.Contains(out, "Clean") {
		t.Error("an app without findings is listed")
	}
	for _, want := range []string{"ERROR       graph: HTTP 403", "would do     disableServicePrincipal on sp1", "secret (k1) until 2027-11-24"} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
}

func TestJSONIsOneDocumentWithEveryApp(t *testing.T) {
	out, _ := write(t, report.JSON)
	var doc struct {
		Summary report.Summary `json:"summary"`
		Apps    []report.App   `json:"apps"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(doc.Apps) != 4 || doc.Summary.Findings != 3 || doc.Apps[2].Findings == nil || doc.Apps[2].Actions == nil {
		t.Errorf("doc = %+v", doc)
	}
}

func TestCSVRowsAreFindingsAndFormulasAreDefused(t *testing.T) {
	out, _ := write(t, report.CSV)
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || strings.Join(rows[0], ",") != "appId,displayName,ruleId,severity,evidence" {
		t.Fatalf("rows = %q", rows)
	}
	if got := rows[3][1]; !strings.HasPrefix(got, "'=") || strings.Contains(got, "\x1b") {
		t.Errorf("display name cell = %q", got)
	}
}

func TestMarkdownEscapesCells(t *testing.T) {
	out, _ := write(t, report.Markdown)
	if !strings.Contains(out, "| critical-app-permission | 1 | 0 | 0 | 0 | 0 | 1 |") {
		t.Errorf("summary row missing:\n%s", out)
	}
	if !strings.Contains(out, `\|x`) || strings.Contains(out, "<Sync>") {
		t.Errorf("cells not escaped:\n%s", out)
	}
}

func TestHTMLIsSelfContained(t *testing.T) {
	out, _ := write(t, report.HTML)
	doc, err := html.Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	var svgs, findingRows, scripts int
	var external []string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "svg":
				svgs++
			case "script":
				scripts++
			case "tr":
				if attr(n, "class") == "finding" {
					findingRows++
				}
			}
			for _, a := range n.Attr {
				if (a.Key == "src" || a.Key == "href") && a.Val != "" {
					external = append(external, a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if svgs != 2 || findingRows != 3 || scripts != 0 || len(external) != 0 {
		t.Errorf("svgs %d, finding rows %d, scripts %d, external %v", svgs, findingRows, scripts, external)
	}
	if strings.Contains(out, "<Sync>") || strings.Contains(out, "\x1b") {
		t.Error("a display name is not escaped")
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func TestFormats(t *testing.T) {
	for name, want := range map[string]report.Format{"r.json": report.JSON, "r.CSV": report.CSV, "r.md": report.Markdown, "r.htm": report.HTML, "r.txt": report.Text} {
		if got, ok := report.FormatOf(name); !ok || got != want {
			t.Errorf("FormatOf(%s) = %s, %v", name, got, ok)
		}
	}
	if _, ok := report.FormatOf("report"); ok {
		t.Error("a name without extension has a format")
	}
	if _, err := report.ParseFormat("xml"); err == nil {
		t.Error("xml accepted")
	}
}

func TestProgress(t *testing.T) {
	var tty, plain bytes.Buffer
	p := report.NewProgress(&tty, true, 10)
	q := report.NewProgress(&plain, false, 0)
	for i := 0; i < 1000; i++ {
		p.Read(1)
		p.Judged()
		q.Read(1)
		q.Judged()
	}
	p.Finish()
	q.Finish()
	if s := tty.String(); !strings.Contains(s, "\rscanning [") || !strings.Contains(s, "100%") || !strings.HasSuffix(s, "\n") {
		t.Errorf("terminal progress = %q", s)
	}
	if s := plain.String(); strings.Contains(s, "\r") || !strings.Contains(s, "scanned 500 apps…\nscanned 1000 apps…\n") {
		t.Errorf("plain progress = %q", s)
	}
}
