package policy

import (
	"fmt"
	"strings"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// actionPhrases says what each action does to the app, as "AppWarden
// <third person>" and "AppWarden would <base>".
var actionPhrases = map[appwarden.ActionKind][2]string{
	appwarden.ActionMarkQuarantined:         {"mark it quarantined", "marks it quarantined"},
	appwarden.ActionRemoveCredentials:       {"remove the credentials named", "removes the credentials named"},
	appwarden.ActionRemoveAppRoleGrants:     {"remove the app role grants named", "removes the app role grants named"},
	appwarden.ActionDisableServicePrincipal: {"disable its service principal", "disables its service principal"},
	appwarden.ActionDeactivateApplication:   {"deactivate its registration", "deactivates its registration"},
	appwarden.ActionRemovePasswords:         {"remove its client secrets", "removes its client secrets"},
	appwarden.ActionRemoveCriticalAppRoles:  {"remove its critical application permission grants", "removes its critical application permission grants"},
	appwarden.ActionRevokeOAuth2Grants:      {"revoke its delegated permission grants", "revokes its delegated permission grants"},
	appwarden.ActionNotify:                  {"notify", "notifies"},
}

// explain writes the decision in a sentence or three, for logs, records and
// notifications: which app, its most severe finding with the items behind
// it, the other findings by rule id, and what AppWarden does about it.
func explain(app *appwarden.App, d appwarden.Decision, suppressed []string) string {
	var b strings.Builder
	b.WriteString(appLabel(app))
	news, posture := splitBaseline(d.Findings)
	switch {
	case len(d.Findings) == 0:
		b.WriteString(" meets the policy: no findings.")
	case len(news) == 0:
		fmt.Fprintf(&b, ": the change (%s) added nothing a rule judges.", changeLabel(app.Change))
	default:
		top := news[0]
		fmt.Fprintf(&b, ": %s, %s", top.Severity, lowerFirst(strings.TrimSuffix(top.Title, ".")))
		if items := evidenceLabels(top.Evidence, 3); items != "" {
			fmt.Fprintf(&b, " (%s)", items)
		}
		if rest := news[1:]; len(rest) > 0 {
			ids := make([]string, len(rest))
			for i, f := range rest {
				ids[i] = f.RuleID
			}
			fmt.Fprintf(&b, "; also %s", strings.Join(ids, ", "))
		}
		b.WriteString(".")
	}
	if len(posture) > 0 {
		ids := make([]string, len(posture))
		for i, f := range posture {
			ids[i] = f.RuleID
		}
		fmt.Fprintf(&b, " Held before this change (posture, reported by scan): %s.", strings.Join(ids, ", "))
	}
	b.WriteString(" ")
	b.WriteString(actionSentence(d))
	if len(suppressed) > 0 {
		fmt.Fprintf(&b, " An exception suppresses %s.", strings.Join(suppressed, ", "))
	}
	return b.String()
}

func actionSentence(d appwarden.Decision) string {
	var base, third []string
	notify := false
	for _, a := range d.Actions {
		if a == appwarden.ActionNotify {
			notify = true
			continue
		}
		p := actionPhrases[a]
		base, third = append(base, p[0]), append(third, p[1])
	}
	switch {
	case d.Protected != "":
		s := "AppWarden never changes it (" + d.Protected + ")"
		if notify {
			return s + "; it notifies."
		}
		return s + "."
	case len(base) == 0 && notify:
		return "AppWarden notifies."
	case len(base) == 0:
		return "No action."
	case d.Mode == appwarden.ModeEnforce:
		if notify {
			third = append(third, "notifies")
		}
		return "AppWarden " + joinAnd(third) + "."
	}
	s := "Audit mode, nothing is changed: AppWarden would " + joinAnd(base)
	if notify {
		return s + "; it notifies."
	}
	return s + "."
}

// appLabel names the app for people: "Payroll Sync (5bee10b5-...)".
func appLabel(app *appwarden.App) string {
	name := app.DisplayName
	if name == "" && app.Application != nil {
		name = app.Application.DisplayName
	}
	if sp := app.ServicePrincipal(); name == "" && sp != nil {
		name = sp.DisplayName
	}
	if name == "" {
		name = "Unnamed app"
	}
	id := app.AppID
	if id == "" {
		id = "no appId"
	}
	return fmt.Sprintf("%s (%s)", name, id)
}

// evidenceLabels lists up to max evidence items by their most telling field.
func evidenceLabels(es []appwarden.Evidence, max int) string {
	var labels []string
	for _, e := range es {
		if len(labels) == max {
			labels = append(labels, fmt.Sprintf("%d more", len(es)-max))
			break
		}
		if l := firstOf(e.Name, e.ID, e.Detail); l != "" {
			labels = append(labels, l)
		}
	}
	return strings.Join(labels, ", ")
}

func joinAnd(ss []string) string {
	if len(ss) <= 1 {
		return strings.Join(ss, "")
	}
	return strings.Join(ss[:len(ss)-1], ", ") + " and " + ss[len(ss)-1]
}

func lowerFirst(s string) string {
	if s == "" || strings.ToUpper(s[:1]) != s[:1] || (len(s) > 1 && strings.ToUpper(s[1:2]) == s[1:2]) {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// splitBaseline separates what the change brought from the posture the app
// held before it.
func splitBaseline(fs []appwarden.Finding) (news, posture []appwarden.Finding) {
	for _, f := range fs {
		if f.Baseline {
			posture = append(posture, f)
		} else {
			news = append(news, f)
		}
	}
	return news, posture
}

// changeLabel names a change for people: its activity, else its kind.
func changeLabel(c *appwarden.Change) string {
	if c == nil {
		return "unknown"
	}
	return firstOf(strings.TrimSpace(c.Activity), string(c.Kind), "unknown")
}
