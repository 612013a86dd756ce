package report

import (
	"html/template"
	"io"
	"time"
)

// htmlWriter writes one self-contained page: inline CSS, inline SVG bar
// charts (findings by severity and by rule), the summary table, with scan
// --expiring the expiry timeline (an SVG column chart) and the expiring
// credentials, and a table of every finding grouped by app. No script, no external asset: it opens
// from a mail attachment or a file share as it is.
type htmlWriter struct {
	w  io.Writer
	sp spool
}

type htmlFinding struct {
	RuleID, Title, Severity, Evidence, Remedy string
}

type htmlApp struct {
	AppID, DisplayName, Kind, Severity, Mode, Protected, SPOnlyReason, Error, Explanation string
	Findings                                                                              []htmlFinding
	Actions                                                                               []Action
	Rows                                                                                  int
}

func (h *htmlWriter) App(a App) error {
	if !a.Listed() {
		return nil
	}
	bw, err := h.sp.writer()
	if err != nil {
		return err
	}
	v := htmlApp{
		AppID: clean(a.AppID), DisplayName: clean(orName(a.DisplayName)), Kind: a.Kind, Severity: a.Severity,
		Mode: string(a.Mode), Protected: clean(a.Protected), SPOnlyReason: clean(a.SPOnlyReason), Error: clean(a.Error),
		Explanation: clean(a.Explanation),
	}
	for _, f := range a.Findings {
		v.Findings = append(v.Findings, htmlFinding{RuleID: f.RuleID, Title: clean(f.Title), Severity: f.Severity.String(), Evidence: clean(EvidenceText(f.Evidence)), Remedy: clean(f.Remedy)})
	}
	for _, act := range a.Actions {
		act.Target, act.Note = clean(act.Target), clean(act.Note)
		v.Actions = append(v.Actions, act)
	}
	v.Rows = max(1, len(v.Findings))
	return htmlTemplates.ExecuteTemplate(bw, "app", v)
}

// chart is an inline SVG horizontal bar chart.
type chart struct {
	ID, Title          string
	Width, Height      int
	LabelX, BarX, BarH int
	Bars               []chartBar
	Empty              bool
	EmptyX, EmptyY     int
}

type chartBar struct {
	Label, Class        string
	Value               int
	Y, W, TextY, ValueX int
}

const (
	chartWidth  = 570
	chartLabelW = 210
	chartBarMax = 300
	chartRow    = 26
	chartBarH   = 18
)

func newChart(id, title string, labels, classes []string, values []int) chart {
	c := chart{ID: id, Title: title, Width: chartWidth, LabelX: chartLabelW - 8, BarX: chartLabelW, BarH: chartBarH}
	top := 0
	for _, v := range values {
		top = max(top, v)
	}
	for i, l := range labels {
		w := 0
		if top > 0 {
			w = values[i] * chartBarMax / top
			if values[i] > 0 {
				w = max(w, 2)
			}
		}
		y := 8 + i*chartRow
		c.Bars = append(c.Bars, chartBar{Label: l, Class: classes[i], Value: values[i], Y: y, W: w, TextY: y + chartBarH - 4, ValueX: chartLabelW + w + 6})
	}
	c.Height = 16 + max(1, len(labels))*chartRow
	if len(labels) == 0 {
		c.Empty, c.EmptyX, c.EmptyY = true, chartLabelW, 8+chartBarH-4
	}
	return c
}

type htmlPage struct {
	Summary
	Duration   string
	Started    string
	Severities []string
	SevChart   chart
	RuleChart  chart
	Listed     int
	// With scan --expiring: the timeline and the rows, cleaned.
	Timeline timeline
	Expiring []htmlExpiring
}

type htmlExpiring struct {
	ExpiringCredential
	EndText, Days, TypeText, WhereText string
}

func (h *htmlWriter) Close(s Summary) error {
	p := htmlPage{Summary: s, Severities: SeverityNames, Listed: s.AppsWithFindings + s.Errors,
		Duration: s.Finished.Sub(s.Meta.Started).Round(100 * time.Millisecond).String(),
		Started:  s.Meta.Started.UTC().Format(time.RFC3339)}
	p.Source, p.Policy, p.Incomplete = clean(s.Source), clean(s.Policy), clean(s.Incomplete)
	var labels, classes []string
	var values []int
	for _, c := range s.Severities {
		labels, classes, values = append(labels, c.Severity), append(classes, "sev-"+c.Severity), append(values, c.Findings)
	}
	p.SevChart = newChart("chart-severity", "Findings by severity", labels, classes, values)
	labels, classes, values = nil, nil, nil
	for _, r := range s.Rules {
		labels, classes, values = append(labels, r.RuleID), append(classes, "sev-"+r.Severity), append(values, r.Findings)
	}
	p.RuleChart = newChart("chart-rules", "Findings by rule", labels, classes, values)
	if e := s.Expiry; e != nil {
		p.Timeline = newTimeline(e)
		p.Expiring = make([]htmlExpiring, 0, len(e.List))
		for _, r := range e.List {
			r.AppID, r.DisplayName, r.Name, r.KeyID, r.ObjectID = clean(r.AppID), clean(orName(r.DisplayName)), clean(orName(r.Name)), clean(r.KeyID), clean(r.ObjectID)
			p.Expiring = append(p.Expiring, htmlExpiring{ExpiringCredential: r, EndText: r.End.UTC().Format("2006-01-02 15:04"), Days: daysText(r),
				TypeText: r.TypeWord(), WhereText: r.Where()})
		}
	}
	w := &errWriter{w: h.w}
	if err := htmlTemplates.ExecuteTemplate(w, "head", p); err != nil {
		h.sp.discard()
		return err
	}
	if err := h.sp.copyTo(w); err != nil {
		return err
	}
	h.sp.discard()
	return htmlTemplates.ExecuteTemplate(w, "foot", p)
}

var htmlTemplates = template.Must(template.New("report").Funcs(template.FuncMap{
	"count": func(r RuleCount, sev string) int { return r.Count(sev) },
	"sev":   func(s Summary, name string) int { return s.Severity(name).Findings },
}).Parse(htmlSource))

const htmlSource = `{{define "chart"}}<svg id="{{.ID}}" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {{.Width}} {{.Height}}" width="{{.Width}}" height="{{.Height}}" role="img" aria-label="{{.Title}}">
<title>{{.Title}}</title>
{{- range .Bars}}
<g class="bar" data-label="{{.Label}}" data-value="{{.Value}}"><text class="label" x="{{$.LabelX}}" y="{{.TextY}}" text-anchor="end">{{.Label}}</text><rect class="{{.Class}}" x="{{$.BarX}}" y="{{.Y}}" width="{{.W}}" height="{{$.BarH}}"><title>{{.Label}}: {{.Value}}</title></rect><text class="value" x="{{.ValueX}}" y="{{.TextY}}">{{.Value}}</text></g>
{{- end}}
{{- if .Empty}}
<text class="value" x="{{.EmptyX}}" y="{{.EmptyY}}">no findings</text>
{{- end}}
</svg>{{end}}

{{define "timeline"}}<svg id="{{.ID}}" class="chart timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {{.Width}} {{.Height}}" width="{{.Width}}" height="{{.Height}}" role="img" aria-label="{{.Title}}" data-bucket="{{.Bucket}}">
<title>{{.Title}}</title>
<line class="axis" x1="0" y1="{{.AxisY}}" x2="{{.Width}}" y2="{{.AxisY}}"/>
<line class="today" x1="{{.TodayX}}" y1="4" x2="{{.TodayX}}" y2="{{.AxisY}}"><title>now</title></line>
{{- range .Cols}}
<g class="bucket" data-label="{{.Label}}" data-value="{{.Value}}"{{if .Expired}} data-expired="true"{{else}} data-from="{{.From}}" data-to="{{.To}}"{{end}}><rect class="{{.Class}}" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>{{if .Expired}}already expired{{else}}{{.From}}{{if ne .From .To}} to {{.To}}{{end}}{{end}}: {{.Value}}</title></rect><text class="value" x="{{.CenterX}}" y="{{.ValueY}}" text-anchor="middle">{{.Value}}</text><text class="label{{if .Expired}} expired{{end}}" x="{{.CenterX}}" y="{{.LabelY}}" text-anchor="middle">{{.Label}}</text>{{if .Label2}}<text class="label2" x="{{.CenterX}}" y="{{.Label2Y}}" text-anchor="middle">{{.Label2}}</text>{{end}}</g>
{{- end}}
</svg>{{end}}

{{define "head"}}<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>AppWarden scan: {{.Source}}</title>
<style>
body{font:14px/1.45 -apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1f2328;margin:2rem auto;max-width:1200px;padding:0 1rem}
h1{font-size:1.6rem;margin:0 0 .25rem}h2{font-size:1.2rem;margin:2rem 0 .5rem;border-bottom:1px solid #d0d7de;padding-bottom:.25rem}
.meta{color:#59636e;margin:0}.incomplete{background:#fff1f0;border:1px solid #cf222e;padding:.5rem .75rem;border-radius:6px}
ul.totals{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;list-style:none;padding:0}ul.totals b{font-size:1.3rem;display:block}
.charts{display:flex;flex-wrap:wrap;gap:1rem}figure{margin:0;border:1px solid #d0d7de;border-radius:6px;padding:.5rem}figcaption{font-weight:600;margin-bottom:.25rem}
svg.chart{max-width:100%;height:auto}svg text{font-size:12px;fill:#1f2328}
.sev-critical{fill:#b91c1c;background:#b91c1c}.sev-high{fill:#ea580c;background:#ea580c}.sev-medium{fill:#ca8a04;background:#ca8a04}.sev-low{fill:#2563eb;background:#2563eb}.sev-info{fill:#6b7280;background:#6b7280}
table{border-collapse:collapse;width:100%;margin:1rem 0}caption{text-align:left;font-weight:600;padding:.25rem 0}th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
thead th{background:#f6f8fa}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}tfoot td,tfoot th{font-weight:600;background:#f6f8fa}
span.sev{color:#fff;border-radius:4px;padding:0 .4rem;font-size:12px;font-weight:600}
tbody.app th{background:#fbfcfd;min-width:14rem}code{font-size:12px;word-break:break-all}small{color:#59636e}
td.actions ul{margin:0;padding-left:1rem}tr.error td{color:#cf222e}
.exp-expired{fill:#b91c1c}.exp-soon{fill:#ea580c}.exp-later{fill:#2563eb}svg .axis{stroke:#59636e}svg .today{stroke:#b91c1c;stroke-dasharray:4 3}
svg text.label2{font-size:10px;fill:#59636e}svg text.label.expired{fill:#b91c1c;font-weight:600}tr.expired td{color:#b91c1c}
</style>
</head>
<body>
<header>
<h1>AppWarden scan</h1>
<p class="meta">Source: {{.Source}} · policy {{.Policy}} (<code>{{.PolicyVersion}}</code>) · {{if eq .Run "enforce"}}enforce: actions were applied{{else}}dry run: nothing was written{{end}} · started {{.Started}} · took {{.Duration}}</p>
{{- if .Incomplete}}
<p class="incomplete"><strong>Incomplete:</strong> {{.Incomplete}}</p>
{{- end}}
</header>
<section id="summary">
<h2>Summary</h2>
<ul class="totals">
<li><b data-total="apps">{{.Apps}}</b>apps judged</li>
<li><b data-total="applications">{{.Applications}}</b>registrations</li>
<li><b data-total="servicePrincipalsOnly">{{.ServicePrincipals}}</b>service principals only</li>
<li><b data-total="appsWithFindings">{{.AppsWithFindings}}</b>with findings</li>
<li><b data-total="findings">{{.Findings}}</b>findings</li>
<li><b data-total="protected">{{.Protected}}</b>protected</li>
<li><b data-total="errors">{{.Errors}}</b>errors</li>
{{- if .Expiry}}
<li><b data-total="expiring">{{.Expiry.Credentials}}</b>credentials expiring within {{.Expiry.WindowText}}</li>
<li><b data-total="expired">{{.Expiry.Expired}}</b>credentials expired</li>
{{- end}}
</ul>
<div class="charts">
<figure><figcaption>Findings by severity</figcaption>
{{template "chart" .SevChart}}
</figure>
<figure><figcaption>Findings by rule</figcaption>
{{template "chart" .RuleChart}}
</figure>
</div>
<table id="rules">
<caption>Findings by rule and severity</caption>
<thead><tr><th scope="col">Rule</th>{{range .Severities}}<th scope="col" class="num">{{.}}</th>{{end}}<th scope="col" class="num">total</th></tr></thead>
<tbody>
{{- range .Rules}}
<tr data-rule="{{.RuleID}}"><th scope="row">{{.RuleID}}<br><small>{{.Title}}</small></th>{{$r := .}}{{range $.Severities}}<td class="num" data-severity="{{.}}">{{count $r .}}</td>{{end}}<td class="num total">{{.Findings}}</td></tr>
{{- end}}
</tbody>
<tfoot><tr data-rule=""><th scope="row">all rules</th>{{$s := .Summary}}{{range .Severities}}<td class="num" data-severity="{{.}}">{{sev $s .}}</td>{{end}}<td class="num total">{{.Findings}}</td></tr></tfoot>
</table>
{{- if .Actions}}
<table id="actions">
<caption>Actions</caption>
<thead><tr><th scope="col">Status</th><th scope="col">Action</th><th scope="col" class="num">Count</th></tr></thead>
<tbody>
{{- range .Actions}}
<tr><td>{{.Status}}</td><td>{{.Kind}}</td><td class="num">{{.Count}}</td></tr>
{{- end}}
</tbody>
</table>
{{- end}}
</section>
{{- if .Expiry}}
<section id="expiry">
<h2>Credentials expiring within {{.Expiry.WindowText}}, or expired</h2>
<p class="meta">As of {{.Expiry.AsOf.Format "2006-01-02 15:04 UTC"}}, until {{.Expiry.Until.Format "2006-01-02 15:04 UTC"}}: {{.Expiry.Credentials}} credentials, {{.Expiry.Expired}} already expired (secrets and certificates, on registrations and service principals; managed identities and Microsoft first-party apps are left out: their credentials are rotated for them).</p>
<div class="charts">
<figure><figcaption>Expiry timeline, by {{.Timeline.Bucket}} <small>(red: already expired; orange: this week; blue: later)</small></figcaption>
{{template "timeline" .Timeline}}
</figure>
</div>
<table id="expiring">
<thead><tr><th scope="col">Expires (UTC)</th><th scope="col" class="num">Days left</th><th scope="col">App</th><th scope="col">Credential</th><th scope="col">Type</th><th scope="col">On</th></tr></thead>
<tbody>
{{- range .Expiring}}
<tr class="credential{{if .Expired}} expired{{end}}" data-app-id="{{.AppID}}" data-key-id="{{.KeyID}}" data-type="{{.Type}}" data-on="{{.On}}" data-end="{{.End.UTC.Format "2006-01-02T15:04:05Z07:00"}}" data-days-left="{{.DaysLeft}}" data-expired="{{.Expired}}"><td>{{.EndText}}</td><td class="num">{{.Days}}</td><td>{{.DisplayName}}<br><code>{{.AppID}}</code></td><td>{{.Name}}<br><code>{{.KeyID}}</code></td><td>{{.TypeText}}</td><td>{{.WhereText}}</td></tr>
{{- end}}
</tbody>
</table>
</section>
{{- end}}
<section id="apps">
<h2>Findings by app</h2>
<p class="meta">{{.Listed}} apps listed; apps without findings are not.</p>
<table id="findings">
<thead><tr><th scope="col">App</th><th scope="col">Rule</th><th scope="col">Severity</th><th scope="col">Evidence</th><th scope="col">Actions</th></tr></thead>
{{end}}

{{define "app"}}
<tbody class="app" data-app-id="{{.AppID}}" data-kind="{{.Kind}}" data-severity="{{.Severity}}">
{{- if .Findings}}
{{- range $i, $f := .Findings}}
<tr class="finding" data-rule="{{$f.RuleID}}" data-severity="{{$f.Severity}}">
{{- if eq $i 0}}<th scope="rowgroup" rowspan="{{$.Rows}}">{{$.DisplayName}}<br><code>{{$.AppID}}</code><br><small>{{$.Kind}}{{if $.Mode}} · {{$.Mode}}{{end}}{{if $.Protected}} · protected: {{$.Protected}}{{end}}</small></th>{{end}}
<td>{{$f.RuleID}}<br><small>{{$f.Title}}</small></td><td><span class="sev sev-{{$f.Severity}}">{{$f.Severity}}</span></td><td>{{$f.Evidence}}</td>
{{- if eq $i 0}}<td class="actions" rowspan="{{$.Rows}}"><ul>{{range $.Actions}}<li>{{.Status}}: {{.Kind}}{{if .Target}} on <code>{{.Target}}</code>{{end}}{{if .Note}} <small>({{.Note}})</small>{{end}}</li>{{end}}</ul></td>{{end}}
</tr>
{{- end}}
{{- else}}
<tr class="error"><th scope="rowgroup">{{.DisplayName}}<br><code>{{.AppID}}</code></th><td colspan="4">could not be judged: {{.Error}}</td></tr>
{{- end}}
</tbody>
{{- end}}

{{define "foot"}}
</table>
</section>
<footer><p class="meta">AppWarden · {{.Apps}} apps judged · {{.Findings}} findings</p></footer>
</body>
</html>
{{end}}`
