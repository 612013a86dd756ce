package report

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// ---- text ----

type textWriter struct {
	w           io.Writer
	summaryOnly bool
	sp          spool
}

func (t *textWriter) App(a App) error {
	if t.summaryOnly || !a.Listed() {
		return nil
	}
	bw, err := t.sp.writer()
	if err != nil {
		return err
	}
	w := &errWriter{w: bw}
	w.printf("\n%s  %s  %s", clean(orName(a.DisplayName)), a.AppID, a.Kind)
	if a.Severity != "" && a.Severity != "none" {
		w.printf("  %s", a.Severity)
	}
	if a.Mode != "" {
		w.printf("  %s", a.Mode)
	}
	w.printf("\n")
	if a.Protected != "" {
		w.printf("    protected   %s: never acted on\n", clean(a.Protected))
	}
	if a.Error != "" {
		w.printf("    ERROR       %s\n", clean(a.Error))
	}
	for _, f := range a.Findings {
		w.printf("    %-9s %-30s %s\n", f.Severity, f.RuleID, clean(EvidenceText(f.Evidence)))
	}
	for _, act := range a.Actions {
		w.printf("    %-12s %s\n", act.Status, clean(actionObject(act)))
	}
	return w.err
}

func actionObject(a Action) string {
	s := a.Kind
	if a.Target != "" {
		s += " on " + a.Target
	}
	if a.Note != "" {
		s += " (" + a.Note + ")"
	}
	return s
}

func orName(s string) string {
	if strings.TrimSpace(s) == "" {
		return "(no name)"
	}
	return s
}

func (t *textWriter) Close(s Summary) error {
	w := &errWriter{w: t.w}
	w.printf("AppWarden scan of %s\n", clean(s.Source))
	w.printf("policy %s (%s); %s\n", clean(s.Policy), s.PolicyVersion, runWords(s.Run))
	if s.Incomplete != "" {
		w.printf("INCOMPLETE: %s\n", clean(s.Incomplete))
	}
	w.printf("\n%s\n", totalsLine(s))
	w.printf("\nFindings by rule and severity\n")
	w.printf("  %-32s %8s %8s %8s %8s %8s %8s\n", "RULE", "CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO", "TOTAL")
	for _, r := range s.Rules {
		w.printf("  %-32s", r.RuleID)
		for _, sev := range SeverityNames {
			w.printf(" %8d", r.Count(sev))
		}
		w.printf(" %8d\n", r.Findings)
	}
	w.printf("  %-32s", "all rules")
	for _, sev := range SeverityNames {
		w.printf(" %8d", s.Severity(sev).Findings)
	}
	w.printf(" %8d\n", s.Findings)
	if len(s.Actions) > 0 {
		w.printf("\nActions\n")
		for _, a := range s.Actions {
			w.printf("  %-12s %-34s %6d\n", a.Status, a.Kind, a.Count)
		}
	}
	if e := s.Expiry; e != nil {
		if t.summaryOnly {
			w.printf("\n%s; listed in the reports.\n", e.countLine())
		} else {
			writeExpiryText(w, e)
		}
	}
	if !t.summaryOnly {
		w.printf("\nFindings by app (%d apps; apps without findings are not listed)\n", s.AppsWithFindings+s.Errors)
		if w.err == nil {
			w.err = t.sp.copyTo(w.w)
		}
	}
	t.sp.discard()
	return w.err
}

// writeExpiryText writes the expiring credentials as a table, soonest
// first.
func writeExpiryText(w *errWriter, e *Expiry) {
	w.printf("\n%s\n%s.\n", e.heading(), e.countLine())
	if len(e.List) == 0 {
		return
	}
	w.printf("  %-20s %9s  %-11s %-17s %-36s %-36s %s\n", "EXPIRES (UTC)", "DAYS LEFT", "TYPE", "ON", "KEY ID", "APP ID", "APP / CREDENTIAL")
	for _, r := range e.List {
		w.printf("  %-20s %9s  %-11s %-17s %-36s %-36s %s / %s\n", r.End.UTC().Format("2006-01-02 15:04"), daysText(r), r.TypeWord(), r.Where(),
			clean(r.KeyID), clean(r.AppID), clean(orName(r.DisplayName)), clean(orName(r.Name)))
	}
}

func runWords(run string) string {
	if run == "enforce" {
		return "enforce: actions were applied"
	}
	return "dry run: nothing was written"
}

func totalsLine(s Summary) string {
	return fmt.Sprintf("%d apps judged (%d app registrations, %d service principals without one) in %s: %d with findings, %d findings, %d protected, %d errors",
		s.Apps, s.Applications, s.ServicePrincipals, s.Finished.Sub(s.Started).Round(100*time.Millisecond),
		s.AppsWithFindings, s.Findings, s.Protected, s.Errors)
}

// ---- markdown ----

type markdownWriter struct {
	w  io.Writer
	sp spool
}

// md escapes text for a Markdown table cell or line.
func md(s string) string {
	s = clean(s)
	r := strings.NewReplacer("\\", "\\\\", "|", "\\|", "`", "\\`", "*", "\\*", "_", "\\_", "[", "\\[", "]", "\\]", "<", "&lt;", ">", "&gt;", "\n", " ", "\r", " ")
	return r.Replace(s)
}

func (m *markdownWriter) App(a App) error {
	if !a.Listed() {
		return nil
	}
	bw, err := m.sp.writer()
	if err != nil {
		return err
	}
	w := &errWriter{w: bw}
	w.printf("\n### %s\n\n", md(orName(a.DisplayName)))
	w.printf("`%s` · %s", md(a.AppID), a.Kind)
	if a.Severity != "" && a.Severity != "none" {
		w.printf(" · **%s**", a.Severity)
	}
	if a.Mode != "" {
		w.printf(" · %s", a.Mode)
	}
	w.printf("\n\n")
	if a.Protected != "" {
		w.printf("Protected (%s): never acted on.\n\n", md(a.Protected))
	}
	if a.Error != "" {
		w.printf("**Error:** %s\n\n", md(a.Error))
	}
	if len(a.Findings) > 0 {
		w.printf("| Rule | Severity | Evidence |\n|---|---|---|\n")
		for _, f := range a.Findings {
			w.printf("| %s | %s | %s |\n", md(f.RuleID), f.Severity, md(EvidenceText(f.Evidence)))
		}
		w.printf("\n")
	}
	for _, act := range a.Actions {
		w.printf("- %s: %s\n", act.Status, md(actionObject(act)))
	}
	return w.err
}

func (m *markdownWriter) Close(s Summary) error {
	w := &errWriter{w: m.w}
	w.printf("# AppWarden scan\n\n")
	w.printf("Source: %s  \nPolicy: %s (`%s`)  \nRun: %s  \nStarted: %s\n\n", md(s.Source), md(s.Policy), md(s.PolicyVersion), runWords(s.Run), s.Started.UTC().Format(time.RFC3339))
	if s.Incomplete != "" {
		w.printf("> **Incomplete:** %s\n\n", md(s.Incomplete))
	}
	w.printf("%s.\n\n", totalsLine(s))
	w.printf("## Findings by rule and severity\n\n| Rule | Critical | High | Medium | Low | Info | Total |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range s.Rules {
		w.printf("| %s |", md(r.RuleID))
		for _, sev := range SeverityNames {
			w.printf(" %d |", r.Count(sev))
		}
		w.printf(" %d |\n", r.Findings)
	}
	w.printf("| **all rules** |")
	for _, sev := range SeverityNames {
		w.printf(" %d |", s.Severity(sev).Findings)
	}
	w.printf(" %d |\n", s.Findings)
	if len(s.Actions) > 0 {
		w.printf("\n## Actions\n\n| Status | Action | Count |\n|---|---|---:|\n")
		for _, a := range s.Actions {
			w.printf("| %s | %s | %d |\n", a.Status, md(a.Kind), a.Count)
		}
	}
	if e := s.Expiry; e != nil {
		w.printf("\n## %s\n\n%s.\n", e.heading(), e.countLine())
		if len(e.List) > 0 {
			w.printf("\n| Expires (UTC) | Days left | App | App ID | Credential | Key ID | Type | On |\n|---|---:|---|---|---|---|---|---|\n")
			for _, r := range e.List {
				w.printf("| %s | %s | %s | `%s` | %s | `%s` | %s | %s |\n", r.End.UTC().Format("2006-01-02 15:04"), daysText(r), md(orName(r.DisplayName)),
					md(r.AppID), md(orName(r.Name)), md(r.KeyID), r.TypeWord(), r.Where())
			}
		}
	}
	w.printf("\n## Findings by app\n\nApps without findings are not listed.\n")
	if w.err == nil {
		w.err = m.sp.copyTo(w.w)
	}
	m.sp.discard()
	return w.err
}
