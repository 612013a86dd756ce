package mail

import (
	"bytes"
	"fmt"
	"html/template"

	"github.com/appwarden/appwarden/handler/notice"
)

// DigestPart is one digest email and the apps it names.
type DigestPart struct {
	Apps    []notice.Brief
	Subject string
	HTML    string
}

// Digest is the digest email of many apps' notifications for one
// recipient: the same lines as the Teams digest, as few emails as hold them
// within maxMailBytes, each naming its own apps.
func Digest(bs []notice.Brief) ([]DigestPart, error) {
	var out []DigestPart
	for start := 0; start < len(bs); {
		end := len(bs)
		for {
			subject, html, err := renderDigest(bs[start:end], len(bs), start+1)
			if err != nil {
				return nil, fmt.Errorf("mail: rendering the digest: %w", err)
			}
			if len(html) <= maxMailBytes || end-start == 1 {
				out = append(out, DigestPart{Apps: bs[start:end], Subject: subject, HTML: html})
				break
			}
			end = start + (end-start)/2
		}
		start = end
	}
	return out, nil
}

func renderDigest(bs []notice.Brief, total, first int) (string, string, error) {
	subject := fmt.Sprintf("[AppWarden] %d apps in one burst", total)
	if len(bs) < total {
		subject += fmt.Sprintf(" (apps %d to %d)", first, first+len(bs)-1)
	}
	var b bytes.Buffer
	err := digestTemplate.Execute(&b, map[string]any{
		"Title": subject[len("[AppWarden] "):], "Lead": notice.DigestLead(total, bs), "Apps": bs, "Release": notice.ReleaseHint,
	})
	return subject, b.String(), err
}

var digestTemplate = template.Must(template.New("digest").Funcs(template.FuncMap{
	"sev": notice.SeverityLabel,
}).Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body style="font-family:Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;color:#242424;max-width:960px">
<div style="background:#fde7e9;padding:12px 16px">
<h2 style="margin:0 0 4px 0">AppWarden: {{.Title}}</h2>
<p style="margin:6px 0 0 0">{{.Lead}}</p>
</div>
<table style="border-collapse:collapse;margin-top:12px" cellpadding="4">
<tr style="text-align:left;border-bottom:1px solid #ccc"><th>Severity</th><th>App</th><th>Owners</th><th>What was done</th><th>Why</th></tr>
{{range .Apps}}<tr style="vertical-align:top;border-bottom:1px solid #eee">
<td><b>{{sev .Max}}</b></td>
<td><b>{{.Name}}</b><br><code>{{.AppID}}</code><br>Created by: {{.CreatedBy}}{{if .Change}}<br>What changed: {{.Change}}{{end}}</td>
<td>{{.OwnersLine}}</td>
<td>{{.DoneLabel}}{{.DoneLine}}</td>
<td>{{.WhyLine}}</td>
</tr>
{{end}}</table>
<h3>How to get an app back</h3>
<p>The security team (AppWarden operators) releases an app, once it is fixed or accepted, with:</p>
<pre style="background:#f5f5f5;padding:8px;white-space:pre-wrap">{{.Release}}</pre>
<p style="color:#616161;font-size:12px">Sent by AppWarden, which watches this organization's app registrations. Each app's whole decision: <code>appwarden history --app &lt;application (client) ID&gt;</code></p>
</body></html>
`))
