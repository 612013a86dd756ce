package cli

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// jsonReport is the JSON format as documented in appwarden scan --help.
type jsonReport struct {
	Summary struct {
		Source                string `json:"source"`
		TenantID              string `json:"tenantId"`
		Run                   string `json:"run"`
		Incomplete            string `json:"incomplete"`
		Apps                  int    `json:"apps"`
		Applications          int    `json:"applications"`
		ServicePrincipalsOnly int    `json:"servicePrincipalsOnly"`
		AppsWithFindings      int    `json:"appsWithFindings"`
		Protected             int    `json:"protected"`
		Errors                int    `json:"errors"`
		Findings              int    `json:"findings"`
		BySeverity            []struct {
			Severity string `json:"severity"`
			Findings int    `json:"findings"`
		} `json:"bySeverity"`
		ByRule []struct {
			RuleID     string         `json:"ruleId"`
			Findings   int            `json:"findings"`
			BySeverity map[string]int `json:"bySeverity"`
		} `json:"byRule"`
		Actions []struct {
			Kind   string `json:"kind"`
			Status string `json:"status"`
			Count  int    `json:"count"`
		} `json:"actions"`
	} `json:"summary"`
	Apps []jsonApp `json:"apps"`
}

type jsonApp struct {
	AppID       string `json:"appId"`
	DisplayName string `json:"displayName"`
	Kind        string `json:"kind"`
	Protected   string `json:"protected"`
	Mode        string `json:"mode"`
	Severity    string `json:"severity"`
	Findings    []struct {
		RuleID   string `json:"ruleId"`
		Severity string `json:"severity"`
		Evidence []struct {
			Kind   string `json:"kind"`
			ID     string `json:"id"`
			Name   string `json:"name"`
			Detail string `json:"detail"`
		} `json:"evidence"`
	} `json:"findings"`
	Actions []struct {
		Kind   string `json:"kind"`
		Target string `json:"target"`
		Status string `json:"status"`
	} `json:"actions"`
	Error string `json:"error"`
}

func readJSONReport(t *testing.T, path string) jsonReport {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r jsonReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return r
}

// counts is findings by rule and severity.
type counts map[string]map[string]int

func (c counts) add(rule, sev string) {
	if c[rule] == nil {
		c[rule] = map[string]int{}
	}
	c[rule][sev]++
}

// checkCounts compares counted findings with the expectation, rule by rule
// and severity by severity.
func checkCounts(t *testing.T, what string, got counts, e expectation) {
	t.Helper()
	for rule, bySev := range e.rules {
		for sev, n := range bySev {
			if got[rule][sev] != n {
				t.Errorf("%s: %s %s: %d findings; want %d", what, rule, sev, got[rule][sev], n)
			}
		}
	}
	for rule, bySev := range got {
		for sev, n := range bySev {
			if e.rules[rule][sev] == 0 && n != 0 {
				t.Errorf("%s: %d unexpected %s %s findings", what, n, rule, sev)
			}
		}
	}
}

// TestScan5000Apps scans a generated 5,000-app snapshot once, into every
// format at the same time, and reads each format back with a real parser:
// the counts per rule and severity must be the ones the tenant was built
// with. It also checks that the scan is fast and that its progress on a pipe
// is plain lines.
func TestScan5000Apps(t *testing.T) {
	_, e, snap := big(t)
	dir := t.TempDir()
	out := func(ext string) string { return filepath.Join(dir, "scan."+ext) }
	r := run(t, nil, "", "scan", "--tenant", snap, "--out", out("json"), "--out", out("csv"), "--out", out("html"), "--out", out("md"), "--out", out("txt"))
	t.Logf("scan of %d apps took %s", e.apps, r.took.Round(time.Millisecond))
	if r.code != 1 {
		t.Fatalf("exit %d; want 1 (findings at or above high)\nstderr:\n%s", r.code, r.stderr)
	}
	if r.took > time.Minute {
		t.Errorf("the scan took %s; it must stay well under a minute", r.took)
	}

	// Progress on a pipe: plain lines, never a carriage return.
	if strings.Contains(r.stderr, "\r") || !strings.Contains(r.stderr, "scanned 500 apps…\n") || !strings.Contains(r.stderr, "scanned 5000 apps…\n") ||
		!strings.Contains(r.stderr, fmt.Sprintf("scanned %d apps (%d objects read)", e.apps, e.apps+e.applications)) {
		t.Errorf("progress on a pipe:\n%s", r.stderr)
	}
	// With --out, stdout holds the text summary.
	if !strings.Contains(r.stdout, "Findings by rule and severity") || strings.Contains(r.stdout, "app-00003") {
		t.Errorf("stdout is not the summary:\n%s", r.stdout)
	}

	t.Run("json", func(t *testing.T) { checkJSON(t, readJSONReport(t, out("json")), e) })
	t.Run("csv", func(t *testing.T) { checkCSV(t, out("csv"), e) })
	t.Run("html", func(t *testing.T) { checkHTML(t, out("html"), e) })
	t.Run("markdown", func(t *testing.T) { checkSummaryTable(t, out("md"), e, markdownRow) })
	t.Run("text", func(t *testing.T) { checkSummaryTable(t, out("txt"), e, textRow) })
}

func checkJSON(t *testing.T, r jsonReport, e expectation) {
	s := r.Summary
	if s.Apps != e.apps || s.Applications != e.applications || s.ServicePrincipalsOnly != e.spOnly || s.AppsWithFindings != e.withFindings ||
		s.Protected != e.protected || s.Errors != 0 || s.Findings != e.findings() || s.Run != "dry run" || s.Incomplete != "" || s.TenantID != tenantID {
		t.Errorf("summary = %+v\nwant %+v (%d findings)", s, e, e.findings())
	}
	if len(r.Apps) != e.apps {
		t.Fatalf("%d apps in the report; want every judged app, %d", len(r.Apps), e.apps)
	}
	got := counts{}
	wouldDisable := 0
	for i, a := range r.Apps {
		// Feed order, whatever the parallel resolution did.
		if i < e.applications && a.DisplayName != fmt.Sprintf("app-%05d", i) {
			t.Fatalf("apps[%d] is %s: the report is not in feed order", i, a.DisplayName)
		}
		for _, f := range a.Findings {
			got.add(f.RuleID, f.Severity)
		}
		for _, act := range a.Actions {
			if act.Kind == "disableServicePrincipal" && act.Status == "would do" {
				wouldDisable++
			}
		}
		if a.Kind == "servicePrincipal" && strings.HasPrefix(a.DisplayName, "mi-") && (a.Protected != "managed identity" || len(a.Findings) != 1) {
			t.Errorf("managed identity %s: %+v", a.DisplayName, a)
		}
	}
	checkCounts(t, "json apps", got, e)
	fromSummary := counts{}
	for _, rc := range s.ByRule {
		total := 0
		for sev, n := range rc.BySeverity {
			for i := 0; i < n; i++ {
				fromSummary.add(rc.RuleID, sev)
			}
			total += n
		}
		if total != rc.Findings || rc.Findings != e.ruleTotal(rc.RuleID) {
			t.Errorf("summary rule %s: %d findings (%d by severity); want %d", rc.RuleID, rc.Findings, total, e.ruleTotal(rc.RuleID))
		}
	}
	checkCounts(t, "json summary", fromSummary, e)
	for _, c := range s.BySeverity {
		if c.Findings != e.bySeverity()[c.Severity] {
			t.Errorf("summary %s: %d; want %d", c.Severity, c.Findings, e.bySeverity()[c.Severity])
		}
	}
	// Registrations holding critical permissions would lose their service
	// principals; protected managed identities would not.
	if want := e.rules["credential-on-privileged-app"]["critical"] * 2; wouldDisable != want {
		t.Errorf("%d would-do disableServicePrincipal actions; want %d", wouldDisable, want)
	}
}

func checkCSV(t *testing.T, path string, e expectation) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 || strings.Join(rows[0], ",") != "appId,displayName,ruleId,severity,evidence" {
		t.Fatalf("header = %v", rows[:min(1, len(rows))])
	}
	if len(rows)-1 != e.findings() {
		t.Errorf("%d rows; want one per finding, %d", len(rows)-1, e.findings())
	}
	got := counts{}
	for _, row := range rows[1:] {
		if len(row) != 5 || row[0] == "" || row[4] == "" {
			t.Fatalf("row = %q", row)
		}
		got.add(row[2], row[3])
	}
	checkCounts(t, "csv", got, e)
}

// ---- HTML ----

func find(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.TrimSpace(b.String())
}

func byTag(tag string) func(*html.Node) bool { return func(n *html.Node) bool { return n.Data == tag } }

func byID(id string) func(*html.Node) bool {
	return func(n *html.Node) bool { return attr(n, "id") == id }
}

func one(t *testing.T, n *html.Node, what string, match func(*html.Node) bool) *html.Node {
	t.Helper()
	got := find(n, match)
	if len(got) != 1 {
		t.Fatalf("%d %s; want one", len(got), what)
	}
	return got[0]
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return n
}

func checkHTML(t *testing.T, path string, e expectation) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := html.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	// Self-contained: no script, no stylesheet link, nothing fetched.
	if n := len(find(doc, byTag("script"))) + len(find(doc, byTag("link"))) + len(find(doc, byTag("img"))); n != 0 {
		t.Errorf("%d script, link or img elements", n)
	}
	for _, n := range find(doc, func(n *html.Node) bool { return attr(n, "src") != "" || attr(n, "href") != "" }) {
		t.Errorf("<%s> refers to %s%s", n.Data, attr(n, "src"), attr(n, "href"))
	}
	if len(find(doc, byTag("style"))) != 1 {
		t.Error("no inline style")
	}

	// The summary table, rule by severity.
	rules := one(t, doc, "table#rules", byID("rules"))
	got := counts{}
	for _, tr := range find(one(t, rules, "tbody", byTag("tbody")), byTag("tr")) {
		rule := attr(tr, "data-rule")
		sum := 0
		for _, td := range find(tr, func(n *html.Node) bool { return n.Data == "td" && attr(n, "data-severity") != "" }) {
			n := atoi(t, text(td))
			for i := 0; i < n; i++ {
				got.add(rule, attr(td, "data-severity"))
			}
			sum += n
		}
		total := one(t, tr, "total cell", func(n *html.Node) bool { return strings.Contains(attr(n, "class"), "total") })
		if atoi(t, text(total)) != sum || sum != e.ruleTotal(rule) {
			t.Errorf("rules table %s: total %s, cells %d; want %d", rule, text(total), sum, e.ruleTotal(rule))
		}
	}
	checkCounts(t, "html rules table", got, e)
	if len(find(rules, byTag("caption"))) != 1 {
		t.Error("the rules table has no caption")
	}

	// The charts: inline SVG bars whose values are the counts.
	bars := func(id string) map[string]int {
		svg := one(t, doc, "svg#"+id, byID(id))
		if svg.Data != "svg" || attr(svg, "viewBox") == "" {
			t.Errorf("#%s is a <%s> without viewBox", id, svg.Data)
		}
		out := map[string]int{}
		for _, g := range find(svg, func(n *html.Node) bool { return n.Data == "g" && attr(n, "class") == "bar" }) {
			v := atoi(t, attr(g, "data-value"))
			out[attr(g, "data-label")] = v
			rect := one(t, g, "rect", byTag("rect"))
			if w := atoi(t, attr(rect, "width")); (v == 0) != (w == 0) {
				t.Errorf("#%s %s: value %d drawn %d wide", id, attr(g, "data-label"), v, w)
			}
		}
		return out
	}
	sev := bars("chart-severity")
	for _, s := range []string{"critical", "high", "medium", "low", "info"} {
		if sev[s] != e.bySeverity()[s] {
			t.Errorf("severity chart %s = %d; want %d", s, sev[s], e.bySeverity()[s])
		}
	}
	byRule := bars("chart-rules")
	if len(byRule) != len(e.rules) {
		t.Errorf("rule chart has %d bars; want %d", len(byRule), len(e.rules))
	}
	for _, rule := range e.ruleIDs() {
		if byRule[rule] != e.ruleTotal(rule) {
			t.Errorf("rule chart %s = %d; want %d", rule, byRule[rule], e.ruleTotal(rule))
		}
	}

	// The findings table: one tbody per listed app, one row per finding.
	findings := one(t, doc, "table#findings", byID("findings"))
	if n := len(find(findings, func(n *html.Node) bool { return n.Data == "tbody" && attr(n, "class") == "app" })); n != e.withFindings {
		t.Errorf("%d apps in the findings table; want %d", n, e.withFindings)
	}
	rows := counts{}
	for _, tr := range find(findings, func(n *html.Node) bool { return n.Data == "tr" && attr(n, "class") == "finding" }) {
		rows.add(attr(tr, "data-rule"), attr(tr, "data-severity"))
	}
	checkCounts(t, "html findings table", rows, e)

	totals := map[string]int{}
	for _, b := range find(doc, func(n *html.Node) bool { return attr(n, "data-total") != "" }) {
		totals[attr(b, "data-total")] = atoi(t, text(b))
	}
	if totals["apps"] != e.apps || totals["findings"] != e.findings() || totals["appsWithFindings"] != e.withFindings || totals["protected"] != e.protected {
		t.Errorf("totals = %v", totals)
	}
}

// ---- text formats: the summary table ----

func markdownRow(rule string, c []int) string {
	s := "| " + rule + " |"
	for _, n := range c {
		s += fmt.Sprintf(" %d |", n)
	}
	return s
}

func textRow(rule string, c []int) string {
	s := fmt.Sprintf("  %-32s", rule)
	for _, n := range c {
		s += fmt.Sprintf(" %8d", n)
	}
	return s
}

// listedApp is the first line of a generated registration's entry in the
// text and Markdown formats.
var listedApp = regexp.MustCompile(`(?m)^(### )?app-\d{5}\b`)

func checkSummaryTable(t *testing.T, path string, e expectation, row func(string, []int) string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		lines[l] = true
	}
	for _, rule := range e.ruleIDs() {
		var c []int
		for _, sev := range []string{"critical", "high", "medium", "low", "info"} {
			c = append(c, e.rules[rule][sev])
		}
		c = append(c, e.ruleTotal(rule))
		if want := row(rule, c); !lines[want] {
			t.Errorf("%s lacks the line %q", filepath.Base(path), want)
		}
	}
	if n := len(listedApp.FindAllString(string(b), -1)); n != e.regWithFindings {
		t.Errorf("%s lists %d registrations; want the %d with findings", filepath.Base(path), n, e.regWithFindings)
	}
}
