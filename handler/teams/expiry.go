package teams

import (
	"fmt"

	"github.com/appwarden/appwarden/handler/notice"
)

// Expiry warnings are reminders, not alarms: a calm (accent) header band,
// no severity, and the renewal steps rather than a release command.

// ExpiryCard is the card of one app's expiry warning: each due credential
// (name, key id, type, where, expiry, threshold), how to renew it, the move
// that makes renewals unnecessary, and the app's Certificates & secrets
// page. It is cut to fit a Teams message (a warning lists at most 20
// credentials, so it always does).
func ExpiryCard(w notice.Warning) map[string]any {
	header := []any{
		textBlock(w.Headline, "weight", "Bolder", "size", "Large"),
		rich(run(w.App.Name, "size", "Large", "weight", "Bolder")),
		rich(run(w.Lead)),
	}
	if w.Routing != "" {
		header = append(header, rich(run(w.Routing, "italic", true, "isSubtle", true)))
	}
	body := []any{map[string]any{"type": "Container", "style": "accent", "bleed": true, "items": header}}

	facts := []any{fact("Application (client) ID", w.App.AppID)}
	if w.App.ObjectID != "" {
		facts = append(facts, fact("Application object ID", w.App.ObjectID))
	}
	if w.App.SPID != "" {
		facts = append(facts, fact("Enterprise app (service principal) ID", w.App.SPID))
	}
	body = append(body, map[string]any{"type": "FactSet", "facts": facts})
	body = append(body, ownersBlocks(w.People, w.Others)...)

	n := len(w.Credentials) + w.MoreCredentials
	body = append(body, heading(fmt.Sprintf("What expires (%d %s)", n, plural(n, "credential", "credentials"))))
	for _, c := range w.Credentials {
		body = append(body, credentialItem(c))
	}
	if w.MoreCredentials > 0 {
		body = append(body, rich(run(fmt.Sprintf("…and %d more, on the app's Certificates & secrets page.", w.MoreCredentials), "italic", true)))
	}
	body = append(body, renewBlocks(w.Renew, w.Better)...)

	card := map[string]any{
		"type":    "AdaptiveCard",
		"$schema": CardSchema,
		"version": CardVersion,
		"body":    body,
		"msteams": map[string]any{"width": "Full", "entities": mentionEntities(w.People)},
	}
	if acts := openURLs(w.Links); len(acts) > 0 {
		card["actions"] = acts
	}
	return card
}

// ExpiryDigest is the warning of owners with many apps due: as few Teams
// messages (see Message) as hold every app and credential within
// MaxMessageBytes, each mentioning the owners and naming its own apps.
func ExpiryDigest(d notice.ExpiryDigest) []ExpiryDigestPart {
	if len(d.Apps) == 0 {
		return nil
	}
	budget := MaxMessageBytes - digestHeadroom - size(renewBlocks(d.Renew, d.Better)) - size(ownersBlocks(d.People, d.Others))
	groups := pack(d.Apps, budget, func(w notice.Warning) int { return size(expiryDigestItem(w)) })
	out := make([]ExpiryDigestPart, 0, len(groups))
	first := 1
	for i, g := range groups {
		out = append(out, ExpiryDigestPart{Apps: g, Message: Message(expiryDigestCard(d, g, i+1, len(groups), first))})
		first += len(g)
	}
	return out
}

// ExpiryDigestPart is one message of an expiry digest and the apps it names.
type ExpiryDigestPart struct {
	Apps    []notice.Warning
	Message map[string]any
}

func expiryDigestCard(d notice.ExpiryDigest, apps []notice.Warning, part, parts, first int) map[string]any {
	header := []any{
		textBlock(d.Headline, "weight", "Bolder", "size", "Large"),
		rich(run(d.Lead)),
	}
	if parts > 1 {
		header = append(header, rich(run(fmt.Sprintf("Part %d of %d: apps %d to %d of %d.", part, parts, first, first+len(apps)-1, len(d.Apps)), "weight", "Bolder")))
	}
	body := []any{map[string]any{"type": "Container", "style": "accent", "bleed": true, "items": header}}
	body = append(body, ownersBlocks(d.People, d.Others)...)
	for _, w := range apps {
		body = append(body, expiryDigestItem(w))
	}
	body = append(body, renewBlocks(d.Renew, d.Better)...)
	return map[string]any{
		"type":    "AdaptiveCard",
		"$schema": CardSchema,
		"version": CardVersion,
		"body":    body,
		"msteams": map[string]any{"width": "Full", "entities": mentionEntities(d.People)},
		"actions": []any{map[string]any{"type": "Action.OpenUrl", "title": "Open app registrations", "url": DigestAppsURL}},
	}
}

// expiryDigestItem is one app of an expiry digest: its name and id, each
// due credential in a line, and its Certificates & secrets page.
func expiryDigestItem(w notice.Warning) map[string]any {
	items := []any{
		rich(run(w.App.Name, "weight", "Bolder", "size", "Medium")),
		rich(run("Application (client) ID: ", "isSubtle", true), run(w.App.AppID, "fontType", "Monospace")),
	}
	for _, c := range w.Credentials {
		items = append(items, rich(run("•  "), run(c.Line())))
	}
	if w.MoreCredentials > 0 {
		items = append(items, rich(run(fmt.Sprintf("…and %d more, on the app's Certificates & secrets page.", w.MoreCredentials), "italic", true)))
	}
	if acts := openURLs(w.Links); len(acts) > 0 {
		items = append(items, map[string]any{"type": "ActionSet", "actions": acts})
	}
	return map[string]any{"type": "Container", "separator": true, "spacing": "Medium", "items": items}
}

// credentialItem is one due credential on an app's card.
func credentialItem(c notice.DueCredential) map[string]any {
	color := "Accent"
	if c.Expired {
		color = "Warning"
	}
	return map[string]any{"type": "Container", "spacing": "Medium", "items": []any{
		rich(run(notice.Capital(c.Type)+"  ", "weight", "Bolder", "color", color), run(c.Name, "weight", "Bolder")),
		rich(run("Key id: ", "isSubtle", true), run(c.KeyID, "fontType", "Monospace")),
		rich(run("On the "+c.On+". ", "isSubtle", true),
			run(map[bool]string{true: "Expired ", false: "Expires "}[c.Expired]+c.Expires+" ("+c.When+").", "weight", "Bolder", "color", color)),
		rich(run("Warning threshold reached: "+c.Threshold+".", "isSubtle", true)),
	}}
}

// ownersBlocks mention the owners, or say there are none.
func ownersBlocks(people []notice.Person, others []string) []any {
	var out []any
	if line := mentionLine(people); line != "" {
		out = append(out, textBlock(line))
	}
	for _, o := range others {
		out = append(out, rich(run(o, "isSubtle", true)))
	}
	if len(people) == 0 && len(others) == 0 {
		out = append(out, textBlock("Owners: none", "weight", "Bolder"))
	}
	return out
}

func renewBlocks(renew, better []string) []any {
	out := []any{heading("How to renew it")}
	for i, s := range renew {
		out = append(out, rich(run(fmt.Sprintf("%d.  ", i+1)), run(s)))
	}
	if len(better) > 0 {
		out = append(out, heading("Better: no credential to renew"))
		out = append(out, bullets(better, 0, "")...)
	}
	return out
}

func openURLs(ls []notice.Link) []any {
	var acts []any
	for _, l := range ls {
		acts = append(acts, map[string]any{"type": "Action.OpenUrl", "title": l.Title, "url": l.URL})
	}
	return acts
}
