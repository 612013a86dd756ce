package teams

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/notice"
)

// Adaptive Card constants. Teams Workflows renders schema 1.5; only
// Action.OpenUrl works there (no Action.Submit or Action.Execute).
const (
	CardSchema      = "http://adaptivecards.io/schemas/adaptive-card.json"
	CardVersion     = "1.5"
	CardContentType = "application/vnd.microsoft.card.adaptive"
	// MaxMessageBytes keeps a serialized message under the Workflows
	// webhook's 28 KB limit, with room for Teams' own wrapping.
	MaxMessageBytes = 27 * 1024
)

// Card is the owners' Adaptive Card for a decision and its outcome, cut to
// fit a Teams message. It shows every finding at or above medium severity
// (all findings when none is).
func Card(app *appwarden.App, d appwarden.Decision, o appwarden.Outcome) map[string]any {
	return Fit(app, d, o, appwarden.SeverityMedium, "")
}

// Message wraps a card as a Workflows webhook message.
func Message(card map[string]any) map[string]any {
	return map[string]any{
		"type": "message",
		"attachments": []any{map[string]any{
			"contentType": CardContentType,
			"content":     card,
		}},
	}
}

// Fit builds the card with as much detail as fits in MaxMessageBytes:
// fewer evidence items per finding first, then fewer findings ("and N
// more"), then shorter texts.
func Fit(app *appwarden.App, d appwarden.Decision, o appwarden.Outcome, minSev appwarden.Severity, routing string) map[string]any {
	lim := notice.FullLimits
	for {
		r := notice.Build(app, d, o, minSev, lim)
		r.Routing = routing
		card := renderCard(r)
		if size(Message(card)) <= MaxMessageBytes {
			return card
		}
		switch {
		case lim.Evidence > 3:
			lim.Evidence = 3
		case lim.Findings > 1:
			lim.Findings = max(1, min(lim.Findings, len(d.Findings))*2/3)
		case lim.Actions > 3:
			lim.Actions = 3
		case lim.Evidence > 1:
			lim.Evidence = 1
		case lim.Text > 60:
			lim.Text /= 2
		default:
			return card // cannot happen: one finding, one line, short texts
		}
	}
}

func size(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return 1 << 30
	}
	return len(b)
}

// Element builders. Untrusted text (names, URIs, evidence) goes only into
// TextRuns of RichTextBlocks, which hosts never parse as markdown, so a
// display name cannot smuggle a link into the card. TextBlocks carry only
// AppWarden's own words and the <at> mentions.
func textBlock(text string, props ...any) map[string]any {
	m := map[string]any{"type": "TextBlock", "text": text, "wrap": true}
	for i := 0; i+1 < len(props); i += 2 {
		m[props[i].(string)] = props[i+1]
	}
	return m
}

func run(text string, props ...any) map[string]any {
	m := map[string]any{"type": "TextRun", "text": text}
	for i := 0; i+1 < len(props); i += 2 {
		m[props[i].(string)] = props[i+1]
	}
	return m
}

func rich(runs ...any) map[string]any {
	return map[string]any{"type": "RichTextBlock", "inlines": runs}
}

func heading(text string) map[string]any {
	return textBlock(text, "weight", "Bolder", "size", "Medium", "spacing", "Large", "separator", true)
}

func bullets(lines []string, more int, moreWhat string) []any {
	var out []any
	for _, l := range lines {
		out = append(out, rich(run("•  "), run(l)))
	}
	if more > 0 {
		out = append(out, rich(run(fmt.Sprintf("…and %d more %s.", more, moreWhat), "italic", true)))
	}
	return out
}

func severityColor(s appwarden.Severity) string {
	switch s {
	case appwarden.SeverityCritical, appwarden.SeverityHigh:
		return "Attention"
	case appwarden.SeverityMedium:
		return "Warning"
	}
	return "Default"
}

// renderCard turns a notice into an Adaptive Card.
func renderCard(r notice.Notice) map[string]any {
	var body []any

	style := "warning"
	if r.Kind == notice.StoryEnforce {
		style = "attention"
	}
	header := []any{
		textBlock(r.Headline, "weight", "Bolder", "size", "Large"),
		rich(run(r.App.Name, "size", "Large", "weight", "Bolder")),
		rich(run(r.Lead)),
	}
	if r.Routing != "" {
		header = append(header, rich(run(r.Routing, "italic", true, "isSubtle", true)))
	}
	body = append(body, map[string]any{"type": "Container", "style": style, "bleed": true, "items": header})

	// What happened: the app, when and by whom.
	facts := []any{fact("Application (client) ID", r.App.AppID)}
	if r.App.ObjectID != "" {
		facts = append(facts, fact("Application object ID", r.App.ObjectID))
	}
	if r.App.SPID != "" {
		facts = append(facts, fact("Enterprise app (service principal) ID", r.App.SPID))
	}
	if r.App.Created != "" {
		facts = append(facts, fact("Created", r.App.Created))
	}
	facts = append(facts, fact("Highest severity", notice.SeverityLabel(r.Max)))
	body = append(body, heading("What happened"), map[string]any{"type": "FactSet", "facts": facts})
	if !hasCreator(r.People) {
		body = append(body, rich(run("Created by: ", "weight", "Bolder"), run(r.App.CreatedBy)))
	}

	// What changed: the escalation of an app AppWarden knew.
	if len(r.Change) > 0 {
		body = append(body, heading("What changed"))
		body = append(body, rich(run(r.Change[0], "weight", "Bolder")))
		body = append(body, bullets(r.Change[1:], 0, "")...)
	}

	// Who: mentions.
	if line := mentionLine(r.People); line != "" {
		body = append(body, textBlock(line))
	}
	if !hasOwner(r.People) && len(r.Others) == 0 {
		body = append(body, textBlock("Owners: none", "weight", "Bolder", "color", "Attention"))
	}
	for _, o := range r.Others {
		body = append(body, rich(run(o, "isSubtle", true)))
	}

	// Why.
	body = append(body, heading(fmt.Sprintf("Why (%d %s)", len(r.Findings)+r.MoreFindings, plural(len(r.Findings)+r.MoreFindings, "problem", "problems"))))
	for _, f := range r.Findings {
		items := []any{
			rich(run(strings.ToUpper(notice.SeverityLabel(f.Severity))+"  ", "weight", "Bolder", "color", severityColor(f.Severity)),
				run(f.Title, "weight", "Bolder")),
			rich(run(f.Why)),
		}
		items = append(items, bullets(f.Evidence, f.More, "items")...)
		body = append(body, map[string]any{"type": "Container", "spacing": "Medium", "items": items})
	}
	if r.MoreFindings > 0 {
		body = append(body, rich(run(fmt.Sprintf("…and %d more %s. The whole decision: appwarden history --app %s", r.MoreFindings, plural(r.MoreFindings, "finding", "findings"), r.App.AppID), "italic", true)))
	}

	// What AppWarden did, or would have done.
	body = append(body, heading(r.DoneTitle))
	if r.DoneNote != "" {
		color := "Attention"
		if r.Kind == notice.StoryAudit {
			color = "Warning"
		}
		body = append(body, rich(run(r.DoneNote, "weight", "Bolder", "color", color)))
	}
	body = append(body, bullets(r.Done, r.MoreDone, "actions")...)

	// How to fix it.
	body = append(body, heading("How to fix it"))
	for _, f := range r.Fix {
		body = append(body, rich(run(f.Title, "weight", "Bolder")))
		for i, s := range f.Steps {
			body = append(body, rich(run(fmt.Sprintf("%d.  ", i+1)), run(s)))
		}
	}

	// How to get it back.
	body = append(body, heading("How to get it back"))
	body = append(body, bullets(r.Restore, 0, "")...)
	if r.ReleaseCommand != "" {
		body = append(body,
			rich(run("Who can release it: ", "weight", "Bolder"), run("the security team (AppWarden operators), with:")),
			map[string]any{"type": "Container", "style": "emphasis", "items": []any{
				rich(run(r.ReleaseCommand, "fontType", "Monospace")),
			}})
	}

	card := map[string]any{
		"type":    "AdaptiveCard",
		"$schema": CardSchema,
		"version": CardVersion,
		"body":    body,
		"msteams": map[string]any{"width": "Full", "entities": mentionEntities(r.People)},
	}
	if len(r.Links) > 0 {
		var acts []any
		for _, l := range r.Links {
			acts = append(acts, map[string]any{"type": "Action.OpenUrl", "title": l.Title, "url": l.URL})
		}
		card["actions"] = acts
	}
	return card
}

func fact(title, value string) map[string]any {
	return map[string]any{"title": title, "value": value}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func hasOwner(ps []notice.Person) bool {
	for _, p := range ps {
		if strings.HasPrefix(p.Role, "owner") {
			return true
		}
	}
	return false
}

func hasCreator(ps []notice.Person) bool {
	for _, p := range ps {
		if strings.Contains(p.Role, "creator") {
			return true
		}
	}
	return false
}

func mentionText(p notice.Person) string { return "<at>" + p.Name + "</at>" }

// mentionLine is the TextBlock that mentions the owners and the creator.
func mentionLine(ps []notice.Person) string {
	if len(ps) == 0 {
		return ""
	}
	var owners, creators []string
	for _, p := range ps {
		switch {
		case p.Role == "owner":
			owners = append(owners, mentionText(p))
		case strings.HasPrefix(p.Role, "owner"):
			owners = append(owners, mentionText(p)+" (creator)")
		default:
			creators = append(creators, mentionText(p))
		}
	}
	var parts []string
	if len(owners) > 0 {
		parts = append(parts, "Owners: "+strings.Join(owners, ", "))
	}
	if len(creators) > 0 {
		parts = append(parts, "Created by: "+strings.Join(creators, ", "))
	}
	return strings.Join(parts, " · ")
}

// mentionEntities are the msteams.entities that make the <at> texts real
// mentions: the UPN, or the object id when the user has no UPN.
func mentionEntities(ps []notice.Person) []any {
	out := []any{}
	for _, p := range ps {
		out = append(out, map[string]any{
			"type":      "mention",
			"text":      mentionText(p),
			"mentioned": map[string]any{"id": p.MentionID, "name": p.Name},
		})
	}
	return out
}

// AlertCard is the card of a blast-radius (or other operator) alert.
func AlertCard(message string) map[string]any {
	return map[string]any{
		"type":    "AdaptiveCard",
		"$schema": CardSchema,
		"version": CardVersion,
		"body": []any{
			map[string]any{"type": "Container", "style": "attention", "bleed": true, "items": []any{
				textBlock("AppWarden alert", "weight", "Bolder", "size", "Large"),
			}},
			rich(run(notice.Clip(message, 4000))),
		},
		"msteams": map[string]any{"width": "Full"},
	}
}
