// Package report writes what `appwarden scan` found: text for a terminal, one
// JSON document, CSV (one row per finding), Markdown, or a single
// self-contained HTML page with inline SVG charts. Writers take the scan's
// apps one at a time as they stream in and write the summary first, so they
// keep the apps in a temporary file (never in memory) until the end. The
// package also draws the scan's progress on a terminal.
package report

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// Format is an output format.
type Format string

// The formats.
const (
	Text     Format = "text"
	JSON     Format = "json"
	CSV      Format = "csv"
	Markdown Format = "markdown"
	HTML     Format = "html"
)

// Formats lists every format.
var Formats = []Format{Text, JSON, CSV, Markdown, HTML}

// ParseFormat reads a format name (also md, htm, txt).
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "text", "txt":
		return Text, nil
	case "json":
		return JSON, nil
	case "csv":
		return CSV, nil
	case "markdown", "md":
		return Markdown, nil
	case "html", "htm":
		return HTML, nil
	}
	return "", fmt.Errorf("unknown format %q (want text, json, csv, markdown or html)", s)
}

// FormatOf picks the format from a file name's extension.
func FormatOf(name string) (Format, bool) {
	ext := strings.TrimPrefix(filepath.Ext(name), ".")
	if ext == "" {
		return "", false
	}
	f, err := ParseFormat(ext)
	return f, err == nil
}

// Object kinds.
const (
	KindApplication      = "application"
	KindServicePrincipal = "servicePrincipal"
)

// Action statuses.
const (
	// WouldDo: the decision is in enforce mode; --enforce applies it.
	WouldDo = "would do"
	// AuditOnly: the rule is in audit mode, so AppWarden only records it.
	AuditOnly = "audit only"
	// WouldNotify: the owners and the security channel would be told.
	WouldNotify = "would notify"
	// NotSent: a notification scan and replay do not send.
	NotSent = "not sent"
	// Done: applied to the tenant by this run.
	Done = "done"
	// NotActed: nothing done, and Note says why (protected, released, limit).
	NotActed = "not acted"
)

// Action is one thing AppWarden would do, or did, to an app.
type Action struct {
	Kind   string `json:"kind"`
	Target string `json:"target,omitempty"`
	Status string `json:"status"`
	Note   string `json:"note,omitempty"`
}

// App is one judged app or service principal.
type App struct {
	AppID       string `json:"appId"`
	DisplayName string `json:"displayName"`
	// Kind is application (a registration in this tenant, with its service
	// principal if any) or servicePrincipal (no local registration).
	Kind         string `json:"kind"`
	SPOnlyReason string `json:"spOnlyReason,omitempty"`
	// Protected says why AppWarden never acts on the app.
	Protected string         `json:"protected,omitempty"`
	Mode      appwarden.Mode `json:"mode,omitempty"`
	// Severity is the highest finding's, or "none".
	Severity    string              `json:"severity"`
	Explanation string              `json:"explanation,omitempty"`
	Findings    []appwarden.Finding `json:"findings"`
	Actions     []Action            `json:"actions"`
	// Error is why the app could not be judged.
	Error string `json:"error,omitempty"`
	// Deleted apps vanished during the scan; they are counted, not listed.
	Deleted bool `json:"-"`
	// Expiring are the app's credentials that expire within the window of
	// `scan --expiring`, or have expired; the scan gathers them into the
	// summary's Expiry (ExpiryList), and the writers list them from there.
	Expiring []ExpiringCredential `json:"-"`
}

// Listed reports whether the human formats list the app: it has findings or
// could not be judged.
func (a App) Listed() bool { return !a.Deleted && (len(a.Findings) > 0 || a.Error != "") }

// SeverityNames are the severities, most severe first: the columns of the
// summary table.
var SeverityNames = []string{"critical", "high", "medium", "low", "info"}

// Meta describes a scan; it is known before the first app.
type Meta struct {
	Source        string    `json:"source"`
	TenantID      string    `json:"tenantId,omitempty"`
	Policy        string    `json:"policy"`
	PolicyVersion string    `json:"policyVersion"`
	Run           string    `json:"run"` // "dry run" or "enforce"
	Started       time.Time `json:"started"`
}

// Summary is the whole scan in numbers.
type Summary struct {
	Meta
	Finished time.Time `json:"finished"`
	// Incomplete says why the scan stopped early; empty when it ran to the end.
	Incomplete string `json:"incomplete,omitempty"`
	// Apps counts every judged app: Applications plus ServicePrincipals
	// (service principals with no registration in this tenant).
	Apps              int             `json:"apps"`
	Applications      int             `json:"applications"`
	ServicePrincipals int             `json:"servicePrincipalsOnly"`
	AppsWithFindings  int             `json:"appsWithFindings"`
	Protected         int             `json:"protected"`
	Errors            int             `json:"errors"`
	Deleted           int             `json:"deletedDuringScan"`
	Findings          int             `json:"findings"`
	Severities        []SeverityCount `json:"bySeverity"`
	Rules             []RuleCount     `json:"byRule"`
	Actions           []ActionCount   `json:"actions"`
	// Expiry is set by `scan --expiring`: the expiring and expired
	// credentials (their counts here, the list in each format's own section).
	Expiry *Expiry `json:"expiry,omitempty"`
}

// SeverityCount counts the findings of one severity, and the apps whose
// highest finding has it.
type SeverityCount struct {
	Severity string `json:"severity"`
	Findings int    `json:"findings"`
	Apps     int    `json:"apps"`
}

// RuleCount counts one rule's findings (one per app at most), by severity.
type RuleCount struct {
	RuleID     string         `json:"ruleId"`
	Title      string         `json:"title"`
	Severity   string         `json:"severity"` // the highest among its findings
	Findings   int            `json:"findings"`
	BySeverity map[string]int `json:"bySeverity"`
}

// Count is the rule's findings of one severity.
func (r RuleCount) Count(severity string) int { return r.BySeverity[severity] }

// ActionCount counts actions of one kind and status.
type ActionCount struct {
	Kind   string `json:"kind"`
	Status string `json:"status"`
	Count  int    `json:"count"`
}

// AtLeast counts the findings at or above a severity.
func (s Summary) AtLeast(min appwarden.Severity) int {
	n := 0
	for _, c := range s.Severities {
		if sev, err := appwarden.ParseSeverity(c.Severity); err == nil && sev >= min {
			n += c.Findings
		}
	}
	return n
}

// Severity returns the count for one severity.
func (s Summary) Severity(name string) SeverityCount {
	for _, c := range s.Severities {
		if c.Severity == name {
			return c
		}
	}
	return SeverityCount{Severity: name}
}

// Tally adds apps up into a Summary. It keeps counts, not apps.
type Tally struct {
	meta    Meta
	s       Summary
	sevs    map[string]*SeverityCount
	rules   map[string]*RuleCount
	actions map[[2]string]int
}

// NewTally starts a summary.
func NewTally(m Meta) *Tally {
	t := &Tally{meta: m, sevs: map[string]*SeverityCount{}, rules: map[string]*RuleCount{}, actions: map[[2]string]int{}}
	for _, n := range SeverityNames {
		t.sevs[n] = &SeverityCount{Severity: n}
	}
	return t
}

// Add counts one app.
func (t *Tally) Add(a App) {
	if a.Deleted {
		t.s.Deleted++
		return
	}
	t.s.Apps++
	if a.Kind == KindServicePrincipal {
		t.s.ServicePrincipals++
	} else {
		t.s.Applications++
	}
	if a.Error != "" {
		t.s.Errors++
	}
	if a.Protected != "" {
		t.s.Protected++
	}
	if len(a.Findings) > 0 {
		t.s.AppsWithFindings++
	}
	top := appwarden.Severity(-1)
	for _, f := range a.Findings {
		sev := f.Severity.String()
		t.s.Findings++
		if c, ok := t.sevs[sev]; ok {
			c.Findings++
		}
		top = max(top, f.Severity)
		r, ok := t.rules[f.RuleID]
		if !ok {
			r = &RuleCount{RuleID: f.RuleID, Title: f.Title, Severity: sev, BySeverity: map[string]int{}}
			t.rules[f.RuleID] = r
		}
		r.Findings++
		r.BySeverity[sev]++
		if cur, err := appwarden.ParseSeverity(r.Severity); err == nil && f.Severity > cur {
			r.Severity = sev
		}
	}
	if top >= 0 {
		if c, ok := t.sevs[top.String()]; ok {
			c.Apps++
		}
	}
	for _, act := range a.Actions {
		t.actions[[2]string{act.Kind, act.Status}]++
	}
}

// Summary returns the counts so far, finished at end.
func (t *Tally) Summary(end time.Time) Summary {
	s := t.s
	s.Meta = t.meta
	s.Finished = end
	s.Severities = nil
	for _, n := range SeverityNames {
		s.Severities = append(s.Severities, *t.sevs[n])
	}
	s.Rules = nil
	for _, r := range t.rules {
		c := *r
		c.BySeverity = map[string]int{}
		for k, v := range r.BySeverity {
			c.BySeverity[k] = v
		}
		s.Rules = append(s.Rules, c)
	}
	slices.SortFunc(s.Rules, func(a, b RuleCount) int {
		sa, _ := appwarden.ParseSeverity(a.Severity)
		sb, _ := appwarden.ParseSeverity(b.Severity)
		switch {
		case sa != sb:
			return int(sb) - int(sa)
		case a.Findings != b.Findings:
			return b.Findings - a.Findings
		}
		return strings.Compare(a.RuleID, b.RuleID)
	})
	s.Actions = nil
	for k, n := range t.actions {
		s.Actions = append(s.Actions, ActionCount{Kind: k[0], Status: k[1], Count: n})
	}
	slices.SortFunc(s.Actions, func(a, b ActionCount) int {
		if c := strings.Compare(a.Status, b.Status); c != 0 {
			return c
		}
		return strings.Compare(a.Kind, b.Kind)
	})
	return s
}

// EvidenceText writes a finding's evidence on one line: each item's name (or
// detail), its id when it differs, and its end date.
func EvidenceText(ev []appwarden.Evidence) string {
	var parts []string
	for _, e := range ev {
		s := e.Name
		if s == "" {
			s = e.Detail
		}
		if e.ID != "" && e.ID != e.Name {
			s += " (" + e.ID + ")"
		}
		if e.EndDateTime != nil {
			if d := e.EndDateTime.Format("2006-01-02"); !strings.Contains(s, d) {
				s += " until " + d
			}
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// ActionText writes an action on one line.
func ActionText(a Action) string {
	s := a.Kind
	if a.Target != "" {
		s += " on " + a.Target
	}
	s += ": " + a.Status
	if a.Note != "" {
		s += " (" + a.Note + ")"
	}
	return s
}
