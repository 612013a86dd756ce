package mail

import (
	"bytes"
	"fmt"
	"html/template"

	"github.com/appwarden/appwarden/handler/notice"
)

// Owners are the mailboxes of the people an expiry warning names (mail,
// else UPN; never a guest's #EXT# UPN), each once.
func Owners(people []notice.Person) []string {
	return Recipients(notice.Notice{People: people})
}

// ExpiryEmail is the email of one app's expiry warning: the same content as
// its Teams card (teams.ExpiryCard). It returns the subject and the body.
func ExpiryEmail(w notice.Warning) (subject, html string, err error) {
	subject = notice.Clip("[AppWarden] "+w.Headline+": "+notice.OneLine(w.App.Name), 250)
	var b bytes.Buffer
	if err := expiryTemplate.Execute(&b, map[string]any{"Title": w.Headline, "Lead": w.Lead, "Routing": w.Routing, "People": w.People, "Others": w.Others,
		"Apps": []notice.Warning{w}, "Single": true, "Renew": w.Renew, "Better": w.Better}); err != nil {
		return "", "", fmt.Errorf("mail: rendering the expiry warning: %w", err)
	}
	return subject, b.String(), nil
}

// ExpiryDigestEmail is the email of an owner's expiry digest: every app of
// theirs that is due and every due credential of each, in one email.
func ExpiryDigestEmail(d notice.ExpiryDigest) (subject, html string, err error) {
	subject = notice.Clip("[AppWarden] "+d.Headline, 250)
	var b bytes.Buffer
	if err := expiryTemplate.Execute(&b, map[string]any{"Title": d.Headline, "Lead": d.Lead, "People": d.People, "Others": d.Others,
		"Apps": d.Apps, "Renew": d.Renew, "Better": d.Better}); err != nil {
		return "", "", fmt.Errorf("mail: rendering the expiry digest: %w", err)
	}
	return subject, b.String(), nil
}

var expiryTemplate = template.Must(template.New("expiry").Funcs(template.FuncMap{"capital": notice.Capital}).Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body style="font-family:Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;color:#242424;max-width:760px">
<div style="background:#e8f0fb;padding:12px 16px">
<h2 style="margin:0 0 4px 0">{{.Title}}</h2>
{{if .Single}}{{range .Apps}}<div style="font-size:18px;font-weight:600">{{.App.Name}}</div>{{end}}{{end}}
<p style="margin:6px 0 0 0">{{.Lead}}</p>
{{if .Routing}}<p style="margin:6px 0 0 0;font-style:italic">{{.Routing}}</p>{{end}}
</div>
<p><b>Owners:</b> {{range $i, $p := .People}}{{if $i}}, {{end}}{{$p.Name}}{{end}}{{if not .People}}{{if not .Others}}none{{end}}{{end}}</p>
{{range .Others}}<p style="color:#616161">{{.}}</p>{{end}}
{{range .Apps}}
<h3 style="margin-bottom:4px">{{.App.Name}}</h3>
<div style="color:#616161">Application (client) ID <code>{{.App.AppID}}</code>{{if .App.ObjectID}} · object ID <code>{{.App.ObjectID}}</code>{{end}}{{if .App.SPID}} · service principal ID <code>{{.App.SPID}}</code>{{end}}</div>
<table style="border-collapse:collapse;margin-top:6px" cellpadding="4">
<tr style="text-align:left;border-bottom:1px solid #ccc"><th>Credential</th><th>Key id</th><th>Type</th><th>On the</th><th>Expiry</th><th>Threshold</th></tr>
{{range .Credentials}}<tr style="vertical-align:top;border-bottom:1px solid #eee">
<td><b>{{.Name}}</b></td><td><code>{{.KeyID}}</code></td><td>{{capital .Type}}</td><td>{{.On}}</td>
<td{{if .Expired}} style="color:#8a6100"{{end}}>{{if .Expired}}Expired{{else}}Expires{{end}} {{.Expires}} ({{.When}})</td><td>{{.Threshold}}</td>
</tr>
{{end}}</table>
{{if .MoreCredentials}}<p><i>…and {{.MoreCredentials}} more, on the app's Certificates &amp; secrets page.</i></p>{{end}}
<p>{{range $i, $l := .Links}}{{if $i}} · {{end}}<a href="{{$l.URL}}">{{$l.Title}}</a>{{end}}</p>
{{end}}
<h3>How to renew it</h3>
<ol>{{range .Renew}}<li>{{.}}</li>{{end}}</ol>
{{if .Better}}<h3>Better: no credential to renew</h3>
<ul>{{range .Better}}<li>{{.}}</li>{{end}}</ul>{{end}}
<p style="color:#616161;font-size:12px">Sent by AppWarden, which watches this organization's app registrations. A reminder: AppWarden changed nothing.</p>
</body></html>
`))
