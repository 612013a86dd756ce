package teams

import (
	"fmt"
	"strings"

	"github.com/appwarden/appwarden/handler/notice"
)

// digestHeadroom is kept free in each digest message for its header and
// footer, which are measured after the apps are shared out.
const digestHeadroom = 3 * 1024

// DigestAppsURL is the Entra admin center's list of app registrations.
const DigestAppsURL = "https://entra.microsoft.com/#view/Microsoft_AAD_RegisteredApps/ApplicationsListBlade/quickStartType~/null/sourceType/Microsoft_AAD_IAM"

// Digest is the digest of many apps' notifications for one channel: as few
// Teams messages as hold them within MaxMessageBytes, each naming its own
// apps (the first app of a message is never cut). note says why the
// channel gets it (the security team's reasons); it may be empty. Each
// element is a whole Workflows message (see Message), with the briefs it
// names.
func Digest(bs []notice.Brief, note string) []DigestPart {
	if len(bs) == 0 {
		return nil
	}
	budget := MaxMessageBytes - digestHeadroom
	groups := pack(bs, budget, func(b notice.Brief) int { return size(digestItem(b)) })
	out := make([]DigestPart, 0, len(groups))
	first := 1
	for i, g := range groups {
		card := digestCard(g, len(bs), i+1, len(groups), first, note)
		out = append(out, DigestPart{Apps: g, Message: Message(card)})
		first += len(g)
	}
	return out
}

// DigestPart is one digest message and the apps it names.
type DigestPart struct {
	Apps    []notice.Brief
	Message map[string]any
}

func digestCard(bs []notice.Brief, total, part, parts, first int, note string) map[string]any {
	style := "warning"
	if e, _, _ := notice.Tally(bs); e > 0 {
		style = "attention"
	}
	title := fmt.Sprintf("AppWarden: %d apps in one burst", total)
	header := []any{
		textBlock(title, "weight", "Bolder", "size", "Large"),
		rich(run(notice.DigestLead(total, bs))),
	}
	if parts > 1 {
		header = append(header, rich(run(fmt.Sprintf("Part %d of %d: apps %d to %d of %d.", part, parts, first, first+len(bs)-1, total), "weight", "Bolder")))
	}
	if note != "" {
		header = append(header, rich(run(note, "italic", true, "isSubtle", true)))
	}
	body := []any{map[string]any{"type": "Container", "style": style, "bleed": true, "items": header}}
	for _, b := range bs {
		body = append(body, digestItem(b))
	}
	body = append(body,
		heading("How to get an app back"),
		rich(run("The security team (AppWarden operators) releases an app, once it is fixed or accepted, with:")),
		map[string]any{"type": "Container", "style": "emphasis", "items": []any{
			rich(run(notice.ReleaseHint, "fontType", "Monospace")),
		}},
		rich(run("Each app's whole decision, findings and evidence: appwarden history --app <application (client) ID>", "isSubtle", true)),
	)
	return map[string]any{
		"type":    "AdaptiveCard",
		"$schema": CardSchema,
		"version": CardVersion,
		"body":    body,
		"msteams": map[string]any{"width": "Full"},
		"actions": []any{map[string]any{"type": "Action.OpenUrl", "title": "Open app registrations", "url": DigestAppsURL}},
	}
}

// digestItem is one app in a digest. Every name is untrusted, so it goes
// only into TextRuns.
func digestItem(b notice.Brief) map[string]any {
	items := []any{
		rich(run(strings.ToUpper(notice.SeverityLabel(b.Max))+"  ", "weight", "Bolder", "color", severityColor(b.Max)),
			run(b.Name, "weight", "Bolder")),
		rich(run("Application (client) ID: ", "isSubtle", true), run(b.AppID, "fontType", "Monospace")),
		rich(run("Owners: ", "weight", "Bolder"), run(b.OwnersLine()), run("  ·  Created by: ", "weight", "Bolder"), run(b.CreatedBy)),
	}
	if b.Change != "" {
		items = append(items, rich(run("What changed: ", "weight", "Bolder"), run(b.Change)))
	}
	items = append(items,
		rich(run(b.DoneLabel(), "weight", "Bolder"), run(b.DoneLine())),
		rich(run("Why: ", "weight", "Bolder"), run(b.WhyLine())),
	)
	return map[string]any{"type": "Container", "separator": true, "spacing": "Medium", "items": items}
}

// pack splits items, in order, into groups whose sizes (and a byte each
// between them) fit in budget, so that each message of a digest stays
// within Teams' limit; an item larger than budget gets a group of its own.
func pack[T any](items []T, budget int, sizeOf func(T) int) [][]T {
	var groups [][]T
	var cur []T
	used := 0
	for _, it := range items {
		n := sizeOf(it)
		if len(cur) > 0 && used+n > budget {
			groups = append(groups, cur)
			cur, used = nil, 0
		}
		cur = append(cur, it)
		used += n + 1
	}
	return append(groups, cur)
}
