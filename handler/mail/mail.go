// Package mail is the email channel: the HTML email of a notice, with the
// same content as the Teams card, and its recipients. Package notify queues
// it and sends it through a Mailer (Microsoft Graph's sendMail).
package mail

import (
	"bytes"
	"html/template"
	"slices"
	"strings"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/notice"
)

// mailLimits keep an email readable; it has no hard size limit like Teams.
var mailLimits = notice.Limits{Findings: 30, Evidence: 20, Actions: 50, Text: 1000}

// maxMailBytes keeps an email (and its outbox entry) well inside Table
// Storage's 1 MB entity.
const maxMailBytes = 256 * 1024

// Email is the HTML email for a decision: the same content as the card,
// escaped by html/template. It returns the subject and the body.
func Email(app *appwarden.App, d appwarden.Decision, o appwarden.Outcome) (subject, html string, err error) {
	_, subject, html, err = Fit(app, d, o, appwarden.SeverityMedium)
	return subject, html, err
}

// Fit renders the email of a notification that shows the findings at or
// above minSev, with as much detail as fits in maxMailBytes. It returns the
// notice it rendered, the subject and the body.
func Fit(app *appwarden.App, d appwarden.Decision, o appwarden.Outcome, minSev appwarden.Severity) (notice.Notice, string, string, error) {
	lim := mailLimits
	for {
		r := notice.Build(app, d, o, minSev, lim)
		subject, html, err := renderEmail(r)
		if err != nil || len(html) <= maxMailBytes || lim.Text <= 100 {
			return r, subject, html, err
		}
		lim.Findings = max(1, lim.Findings/2)
		lim.Evidence = max(1, lim.Evidence/2)
		lim.Actions = max(3, lim.Actions/2)
		if lim.Findings == 1 && lim.Evidence == 1 {
			lim.Text /= 2
		}
	}
}

// Recipients are the owners' and the creator's addresses (mail, else UPN),
// each once.
func Recipients(r notice.Notice) []string {
	var to []string
	for _, p := range r.People {
		a := strings.TrimSpace(p.Mail)
		if a == "" && strings.Contains(p.MentionID, "@") {
			a = p.MentionID
		}
		// A guest's UPN (user_fabrikam.com#EXT#@contoso...) is no mailbox.
		if a == "" || !strings.Contains(a, "@") || strings.Contains(strings.ToUpper(a), "#EXT#") {
			continue
		}
		if !slices.ContainsFunc(to, func(x string) bool { return strings.EqualFold(x, a) }) {
			to = append(to, a)
		}
	}
	return to
}

func renderEmail(r notice.Notice) (string, string, error) {
	subject := "[AppWarden] " + r.Headline + ": " + notice.OneLine(r.App.Name)
	var b bytes.Buffer
	if err := mailTemplate.Execute(&b, mailView{Notice: r, Severity: notice.SeverityLabel(r.Max)}); err != nil {
		return "", "", err
	}
	return notice.Clip(subject, 250), b.String(), nil
}

type mailView struct {
	notice.Notice
	Severity string
}

var mailTemplate = template.Must(template.New("mail").Funcs(template.FuncMap{
	"sev": notice.SeverityLabel,
	"color": func(s appwarden.Severity) string {
		return map[bool]string{true: "#c4314b", false: "#c19c00"}[s >= appwarden.SeverityHigh]
	},
	"add1": func(i int) int { return i + 1 },
	"banner": func(k notice.Story) string {
		switch k {
		case notice.StoryEnforce:
			return "#fde7e9"
		case notice.StoryAudit:
			return "#fff4ce"
		}
		return "#fff4ce"
	},
}).Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Headline}}</title></head>
<body style="font-family:Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;color:#242424;max-width:760px">
<div style="background:{{banner .Kind}};padding:12px 16px">
<h2 style="margin:0 0 4px 0">{{.Headline}}</h2>
<div style="font-size:18px;font-weight:600">{{.App.Name}}</div>
<p style="margin:6px 0 0 0">{{.Lead}}</p>
{{if .Routing}}<p style="margin:6px 0 0 0;font-style:italic">{{.Routing}}</p>{{end}}
</div>

<h3>What happened</h3>
<table style="border-collapse:collapse">
<tr><td style="padding:2px 12px 2px 0;font-weight:600">Application (client) ID</td><td>{{.App.AppID}}</td></tr>
{{if .App.ObjectID}}<tr><td style="padding:2px 12px 2px 0;font-weight:600">Application object ID</td><td>{{.App.ObjectID}}</td></tr>{{end}}
{{if .App.SPID}}<tr><td style="padding:2px 12px 2px 0;font-weight:600">Enterprise app (service principal) ID</td><td>{{.App.SPID}}</td></tr>{{end}}
{{if .App.Created}}<tr><td style="padding:2px 12px 2px 0;font-weight:600">Created</td><td>{{.App.Created}}</td></tr>{{end}}
<tr><td style="padding:2px 12px 2px 0;font-weight:600">Created by</td><td>{{.App.CreatedBy}}</td></tr>
<tr><td style="padding:2px 12px 2px 0;font-weight:600">Highest severity</td><td>{{.Severity}}</td></tr>
{{if .People}}<tr><td style="padding:2px 12px 2px 0;font-weight:600">Owners and creator</td><td>{{range $i, $p := .People}}{{if $i}}, {{end}}{{$p.Name}} ({{$p.Role}}){{end}}</td></tr>{{end}}
</table>
{{range .Others}}<p style="color:#616161">{{.}}</p>{{end}}
{{if .Change}}
<h3>What changed</h3>
{{range $i, $l := .Change}}{{if eq $i 0}}<p><b>{{$l}}</b></p><ul>{{else}}<li>{{$l}}</li>{{end}}{{end}}</ul>
{{end}}

<h3>Why</h3>
{{range .Findings}}
<div style="margin:0 0 12px 0">
<div><b style="color:{{color .Severity}}">{{sev .Severity}}:</b> <b>{{.Title}}</b></div>
<div>{{.Why}}</div>
<ul style="margin:4px 0">{{range .Evidence}}<li>{{.}}</li>{{end}}{{if .More}}<li><i>…and {{.More}} more items.</i></li>{{end}}</ul>
</div>
{{end}}
{{if .MoreFindings}}<p><i>…and {{.MoreFindings}} more findings. The whole decision: <code>appwarden history --app {{.App.AppID}}</code></i></p>{{end}}

<h3>{{.DoneTitle}}</h3>
{{if .DoneNote}}<p><b>{{.DoneNote}}</b></p>{{end}}
<ul>{{range .Done}}<li>{{.}}</li>{{end}}{{if .MoreDone}}<li><i>…and {{.MoreDone}} more actions.</i></li>{{end}}</ul>

<h3>How to fix it</h3>
{{range .Fix}}<p style="margin:8px 0 2px 0"><b>{{.Title}}</b></p>
<ol style="margin:0">{{range .Steps}}<li>{{.}}</li>{{end}}</ol>{{end}}

<h3>How to get it back</h3>
<ul>{{range .Restore}}<li>{{.}}</li>{{end}}</ul>
{{if .ReleaseCommand}}<p><b>Who can release it:</b> the security team (AppWarden operators), with:</p>
<pre style="background:#f5f5f5;padding:8px;white-space:pre-wrap">{{.ReleaseCommand}}</pre>{{end}}

<p>{{range $i, $l := .Links}}{{if $i}} · {{end}}<a href="{{$l.URL}}">{{$l.Title}}</a>{{end}}</p>
<p style="color:#616161;font-size:12px">Sent by AppWarden, which watches this organization's app registrations.</p>
</body></html>
`))
