// Package notice is what a notification says about a decision, whatever
// its form: the Teams card (package teams) and the email (package mail) are
// both rendered from one Notice, so they always agree. Package notify
// decides who gets it and delivers it.
package notice

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// Notice is what a notification says, independent of its form: the Teams
// card and the email are both rendered from it, so they always agree.
type Notice struct {
	// Kind says which of the three stories this is.
	Kind Story
	// Headline is the card's title, without the app's name.
	Headline string
	// Lead is one sentence under the headline.
	Lead string
	App  Facts
	// Max is the highest severity shown.
	Max appwarden.Severity

	Findings     []Finding
	MoreFindings int

	// DoneTitle is "What AppWarden did" or "What AppWarden would have done".
	DoneTitle string
	DoneNote  string
	Done      []string
	MoreDone  int

	Fix     []Fix
	Restore []string
	// ReleaseCommand is the exact command the security team runs to undo
	// what AppWarden did; empty when nothing was changed.
	ReleaseCommand string

	// People are the owners and the creator, mentioned in Teams and mailed.
	People []Person
	// Others are owners that cannot be mentioned (service principals) and a
	// creator that is an app.
	Others []string
	// Change says what the escalation was, for a change to an app AppWarden
	// already knew: the activity, who made it and when, then one line per
	// item it added. Empty for a new app, judged as a whole.
	Change []string
	// Routing says why a copy went to the security channel; empty for the
	// owners' copy.
	Routing string
	Links   []Link
}

// Story is which of the three stories a notice tells.
type Story int

// The stories.
const (
	StoryFindings Story = iota // found problems, changed nothing
	StoryAudit                 // would have acted (audit mode)
	StoryEnforce               // acted
)

// Facts identify the app: its names and ids, when and by whom it was created.
type Facts struct {
	Name      string
	AppID     string
	ObjectID  string
	SPID      string
	Created   string
	CreatedBy string
}

// Finding is one finding as the notice shows it.
type Finding struct {
	RuleID   string
	Title    string
	Severity appwarden.Severity
	Why      string
	Evidence []string
	More     int
}

// Fix is the concrete steps that fix one finding.
type Fix struct {
	Title string
	Steps []string
}

// Person is someone to mention and mail.
type Person struct {
	Name string
	// MentionID is the UPN, or the object id when there is no UPN.
	MentionID string
	Mail      string
	Role      string // "owner", "creator", "owner and creator"
}

// Link is a portal link.
type Link struct {
	Title string
	URL   string
}

// Limits bound how much of a decision a notification shows.
type Limits struct {
	Findings int
	Evidence int
	Actions  int
	Text     int
}

// FullLimits are the most a notice shows; the renderers lower them until it fits.
var FullLimits = Limits{Findings: 50, Evidence: 8, Actions: 20, Text: 400}

const releaseDocs = "appwarden release --app %s --reason \"<what was fixed, or why it is accepted>\" --by <your UPN>"

// Build makes the notice for one decision and its outcome.
func Build(app *appwarden.App, d appwarden.Decision, o appwarden.Outcome, minSev appwarden.Severity, lim Limits) Notice {
	r := Notice{App: facts(app)}

	// Findings: those at or above the threshold, or all of them when the
	// notification is about actions only.
	// Posture (baseline findings) is scan's to report: a notice is about
	// what the change brought.
	shown := slices.DeleteFunc(slices.Clone(d.Findings), func(f appwarden.Finding) bool { return f.Baseline })
	r.Change = changeLines(app.Change, shown, lim)
	if slices.ContainsFunc(shown, func(f appwarden.Finding) bool { return f.Severity >= minSev }) {
		shown = slices.DeleteFunc(shown, func(f appwarden.Finding) bool { return f.Severity < minSev })
	}
	slices.SortStableFunc(shown, func(a, b appwarden.Finding) int {
		if c := cmp.Compare(b.Severity, a.Severity); c != 0 {
			return c
		}
		return strings.Compare(a.RuleID, b.RuleID)
	})
	if len(shown) > 0 {
		r.Max = shown[0].Severity
	}
	if len(shown) > lim.Findings {
		r.MoreFindings = len(shown) - lim.Findings
		shown = shown[:lim.Findings]
	}
	said := map[string]bool{} // a step shared by two findings is said once
	for _, f := range shown {
		fv := Finding{RuleID: f.RuleID, Title: Clip(f.Title, lim.Text), Severity: f.Severity, Why: why(f)}
		for i, e := range f.Evidence {
			if i == lim.Evidence {
				fv.More = len(f.Evidence) - i
				break
			}
			fv.Evidence = append(fv.Evidence, Clip(evidenceLine(e), lim.Text))
		}
		r.Findings = append(r.Findings, fv)
		var steps []string
		for _, s := range fixSteps(f, lim.Evidence) {
			if !said[s] {
				said[s] = true
				steps = append(steps, Clip(s, lim.Text))
			}
		}
		if len(steps) > 0 {
			r.Fix = append(r.Fix, Fix{Title: Clip(f.Title, lim.Text), Steps: steps})
		}
	}

	// Actions, and the story they tell.
	var done, would []appwarden.Action
	for _, a := range o.Actions {
		switch {
		case !a.Kind.Changes():
		case a.DryRun || o.Mode == appwarden.ModeAudit:
			would = append(would, a)
		default:
			done = append(done, a)
		}
	}
	name := r.App.Name
	switch {
	case len(done) > 0 && len(r.Change) > 0:
		r.Kind = StoryEnforce
		r.Headline = "AppWarden contained a change to your app"
		r.Lead = fmt.Sprintf("A change to %s gave it more power than the policy allows (below, \"What changed\"). AppWarden undid or contained it. If the change was yours and intended, ask the security team to release it.", name)
		fallthrough
	case len(done) > 0:
		if r.Kind != StoryEnforce {
			r.Kind = StoryEnforce
			r.Headline = "AppWarden contained your app"
			r.Lead = fmt.Sprintf("AppWarden changed %s in this tenant because of the problems below. Fix them, then ask the security team to release the app.", name)
		}
		r.DoneTitle = "What AppWarden did"
		r.DoneNote = "These changes are in effect now."
		for _, a := range done {
			r.Done = append(r.Done, actionLine(a, false))
		}
		if len(would) > 0 {
			r.DoneNote += " Some changes were only planned (audit mode): they are marked \"would have\"."
			for _, a := range would {
				r.Done = append(r.Done, actionLine(a, true))
			}
		}
		r.ReleaseCommand = fmt.Sprintf(releaseDocs, app.AppID)
		r.Restore = restoreSteps(done)
	case len(would) > 0:
		r.Kind = StoryAudit
		r.Headline = "AppWarden would have contained your app (audit mode)"
		r.Lead = fmt.Sprintf("Nothing was changed: AppWarden runs in audit mode for this app. With enforcement on, it would have changed %s because of the problems below.", name)
		r.DoneTitle = "What AppWarden would have done"
		r.DoneNote = "Audit mode: nothing below was done. Fix the problems before enforcement is switched on, or this is what will happen."
		for _, a := range would {
			r.Done = append(r.Done, actionLine(a, true))
		}
		r.Restore = []string{"Nothing to get back: AppWarden changed nothing.",
			"If the app really needs what is reported, ask the security team for a reviewed exception with an expiry date (in the AppWarden policy) before enforcement is switched on."}
	default:
		r.Kind = StoryFindings
		r.Headline = "AppWarden found security problems in your app"
		r.Lead = fmt.Sprintf("AppWarden checked %s and found the problems below. It did not change anything.", name)
		r.DoneTitle = "What AppWarden did"
		r.Done = []string{"Nothing was changed: these findings are reported only."}
		r.Restore = []string{"Nothing to get back: AppWarden changed nothing.",
			"If these findings are expected, ask the security team for a reviewed exception with an expiry date in the AppWarden policy."}
	}
	if o.Skipped != "" {
		r.Done = append(r.Done, "Not acted on: "+Clip(o.Skipped, lim.Text)+".")
	} else if d.Protected != "" {
		r.Done = append(r.Done, "Never acted on: "+Clip(d.Protected, lim.Text)+".")
	}
	if len(r.Done) > lim.Actions {
		r.MoreDone = len(r.Done) - lim.Actions
		r.Done = r.Done[:lim.Actions]
	}

	r.People, r.Others = people(app)
	r.Links = links(app)
	return r
}

func facts(app *appwarden.App) Facts {
	f := Facts{Name: firstOf(app.DisplayName, appName(app), app.AppID), AppID: app.AppID, CreatedBy: app.Creator.String()}
	if a := app.Application; a != nil {
		f.ObjectID = a.ID
		if !a.CreatedDateTime.IsZero() {
			f.Created = a.CreatedDateTime.UTC().Format("2006-01-02 15:04 UTC")
		}
	}
	if sp := app.ServicePrincipal(); sp != nil {
		f.SPID = sp.ID
	}
	c := app.Creator
	switch {
	case c.IsZero():
		f.CreatedBy = "unknown"
	case c.UPN == "" && c.UserID == "" && (c.AppID != "" || c.ServicePrincipalID != ""):
		f.CreatedBy = "the app " + firstOf(c.DisplayName, c.AppID, c.ServicePrincipalID)
		if c.DisplayName != "" && c.AppID != "" {
			f.CreatedBy += " (appId " + c.AppID + ")"
		}
	}
	return f
}

func appName(app *appwarden.App) string {
	if app.Application != nil {
		return app.Application.DisplayName
	}
	if sp := app.ServicePrincipal(); sp != nil {
		return sp.DisplayName
	}
	return ""
}

// why explains a finding to a developer: what the risk is to their app,
// not the rule's internals.
func why(f appwarden.Finding) string {
	switch f.RuleID {
	case "critical-app-permission":
		return "Your app asks for (or holds) an application permission that works with no user signed in, across the whole organization. Anyone who gets hold of the app's secret or certificate could use it to take over the tenant or read everyone's data."
	case "credential-on-privileged-app":
		return "Your app has a secret or certificate and a critical permission: whoever copies that credential can act as your app, from anywhere, with no user and no MFA."
	case "high-privilege-delegated":
		return "Your app has delegated permissions that let it change directory-wide settings when an admin uses it, or an admin consented for everyone to let it read all users' mail or files."
	case "multi-tenant-unverified":
		return "Accounts outside this organization can sign in to your app and it has no verified publisher: that is exactly what consent-phishing apps look like to users."
	case "risky-redirect-uri":
		return "Sign-in codes and tokens are sent to the app's redirect URIs. The URIs below could hand them to someone else: wildcards, plain http, IP addresses, tunnels and request bins."
	case "password-credential":
		return "Your app signs in with a client secret: a password that anyone who copies it (from a config file, a pipeline log, a laptop) can use from anywhere. Certificates and managed identities are much harder to leak."
	case "ownerless-app":
		return "Nobody owns this app registration, so nobody is responsible for rotating its credentials or noticing if it is misused."
	case "credential-added-to-privileged-app":
		return "Someone added a credential to an app that holds a critical permission or a privileged directory role. Whoever holds that credential can act as the app, with all its power, from anywhere: the usual way an attacker takes over an existing app."
	case "untrusted-federated-credential":
		return "The app trusts tokens from an outside issuer (a pipeline, a cluster, another cloud) that is not on the policy's trusted list, and the app holds a critical permission or role: whoever controls that identity signs in as the app, with no secret at all."
	case "first-party-credential":
		return "A credential was put on one of Microsoft's own apps in this tenant. Those apps hold wide permissions, and nobody here has a reason to give them a key: whoever holds it can act as that Microsoft app."
	case "privileged-directory-role":
		return "The app's service principal holds a privileged directory role (such as Global Administrator), which lets it take over the tenant with no user signed in, whatever permissions it asked for."
	case "hidden-critical-app-role":
		return "A critical application permission was granted straight to the app's service principal, without being requested on the app registration, so it does not show on the registration's API permissions page."
	case "owner-added-to-privileged-app":
		return "A new owner was added to an app that holds a critical permission or role. Owners can add credentials to the app at any time."
	case "exception-expired":
		return "A policy exception that covered this app has expired, so the rules it suspended apply again."
	case "rule-error":
		return "A policy rule could not be evaluated for this app. This is a problem in the policy, not in your app."
	}
	return f.Title
}

func evidenceLine(e appwarden.Evidence) string {
	var b strings.Builder
	switch e.Kind {
	case "permission":
		b.WriteString(firstOf(e.Name, e.ID))
		if e.Name != "" && e.Name == e.ID {
			b.WriteString(" (unknown permission id)")
		}
		if e.Detail != "" {
			b.WriteString(": " + e.Detail)
		}
		if e.ID != "" && e.Name != e.ID {
			fmt.Fprintf(&b, " (id %s)", e.ID)
		}
	case "credential":
		label := "credential"
		if strings.HasPrefix(e.Detail, "client secret") {
			label = "client secret"
		} else if strings.HasPrefix(e.Detail, "certificate") {
			label = "certificate"
		}
		if e.Name != "" {
			fmt.Fprintf(&b, "%s \"%s\"", label, e.Name)
		} else {
			b.WriteString(label)
		}
		if e.ID != "" {
			fmt.Fprintf(&b, " (key id %s)", e.ID)
		}
		d := strings.TrimPrefix(strings.TrimPrefix(e.Detail, label), ", ")
		if d != "" {
			b.WriteString(": " + d)
		}
		return b.String()
	default:
		if e.Name == "" && e.ID == "" && e.Detail != "" {
			b.WriteString(e.Detail)
			break
		}
		b.WriteString(firstOf(e.Name, e.ID, e.Kind))
		if e.Name != "" && e.ID != "" {
			fmt.Fprintf(&b, " (%s)", e.ID)
		}
		if e.Detail != "" {
			b.WriteString(": " + e.Detail)
		}
	}
	if e.EndDateTime != nil && !strings.Contains(e.Detail, e.EndDateTime.Format(time.DateOnly)) {
		b.WriteString(", until " + e.EndDateTime.Format(time.DateOnly))
	}
	return b.String()
}

// fixSteps are concrete steps for a finding, naming its evidence.
func fixSteps(f appwarden.Finding, max int) []string {
	var steps []string
	each := func(kind string, fn func(e appwarden.Evidence) string) {
		n := 0
		for _, e := range f.Evidence {
			if e.Kind != kind {
				continue
			}
			if n == max {
				steps = append(steps, fmt.Sprintf("...and the same for %d more.", countKind(f.Evidence, kind)-n))
				return
			}
			steps = append(steps, fn(e))
			n++
		}
	}
	removePerm := func(e appwarden.Evidence) string {
		s := fmt.Sprintf("Remove %s from the app registration's API permissions (API permissions, select it, Remove permission).", firstOf(e.Name, e.ID))
		if granted(e) {
			s += " It is granted: also revoke the admin consent (Enterprise applications > the app > Permissions)."
		}
		return s
	}
	switch f.RuleID {
	case "critical-app-permission":
		each("permission", removePerm)
		steps = append(steps, "Use a least-privileged permission instead: for example Sites.Selected rather than Sites.FullControl.All, or Application.ReadWrite.OwnedBy rather than Application.ReadWrite.All.",
			"If the app really needs it, ask the security team for a reviewed exception with an expiry date.")
	case "credential-on-privileged-app":
		each("permission", removePerm)
		each("credential", func(e appwarden.Evidence) string {
			return fmt.Sprintf("Or move the workload to a managed identity and delete %s (Certificates & secrets).", credName(e))
		})
	case "password-credential":
		each("credential", func(e appwarden.Evidence) string {
			return fmt.Sprintf("Replace %s with a certificate or a federated credential (managed identity or workload identity federation), then delete the secret (Certificates & secrets).", credName(e))
		})
		steps = append(steps, "If a secret is unavoidable, keep its lifetime at 180 days or less and rotate it.")
	case "risky-redirect-uri":
		each("redirectUri", func(e appwarden.Evidence) string {
			return fmt.Sprintf("Remove the redirect URI %s (Authentication), or replace it with an exact https URI on a domain your organization controls.", e.Name)
		})
		steps = append(steps, "For local development use http://localhost, which is allowed.")
	case "multi-tenant-unverified":
		steps = append(steps, "If only people in this organization use the app: set Supported account types to \"Accounts in this organizational directory only\" (Authentication).",
			"Otherwise complete publisher verification (Branding & properties > Publisher verification, with a Microsoft Partner Network ID).")
	case "high-privilege-delegated":
		each("permission", func(e appwarden.Evidence) string {
			s := fmt.Sprintf("Check that the app needs %s; if not, remove it from API permissions.", firstOf(e.Name, e.ID))
			if strings.Contains(e.Detail, "admin consent") {
				s += " Replace the tenant-wide admin consent with per-user consent or a narrower scope."
			}
			return s
		})
	case "ownerless-app":
		steps = append(steps, "Add at least two people who are responsible for the app as owners (app registration > Owners).")
	}
	if len(steps) == 0 && f.Remedy != "" {
		steps = append(steps, OneLine(f.Remedy))
	}
	if len(steps) == 0 {
		steps = append(steps, "Ask the security team what to change: the policy gives no remedy for this finding.")
	}
	return steps
}

func countKind(es []appwarden.Evidence, kind string) int {
	n := 0
	for _, e := range es {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

func granted(e appwarden.Evidence) bool {
	d := strings.ToLower(e.Detail)
	return strings.Contains(d, "granted") && !strings.Contains(d, "not granted")
}

func credName(e appwarden.Evidence) string {
	label := "the credential"
	if strings.HasPrefix(e.Detail, "client secret") {
		label = "the client secret"
	} else if strings.HasPrefix(e.Detail, "certificate") {
		label = "the certificate"
	}
	switch {
	case e.Name != "" && e.ID != "":
		return fmt.Sprintf("%s \"%s\" (key id %s)", label, e.Name, e.ID)
	case e.ID != "":
		return fmt.Sprintf("%s with key id %s", label, e.ID)
	case e.Name != "":
		return fmt.Sprintf("%s \"%s\"", label, e.Name)
	}
	return label
}

// actionLine says what an action did, or in audit mode would have done.
// The two wordings never share a verb, so nobody mistakes one for the other.
func actionLine(a appwarden.Action, would bool) string {
	target := a.Target
	if _, after, ok := strings.Cut(target, "/"); ok {
		target = after
	}
	var did, wouldDo string
	switch a.Kind {
	case appwarden.ActionDisableServicePrincipal:
		did = fmt.Sprintf("Disabled the enterprise app (service principal %s): nobody can sign in to it or get new tokens for it in this tenant.", target)
		wouldDo = fmt.Sprintf("Would have disabled the enterprise app (service principal %s), so that nobody could sign in to it or get new tokens.", target)
	case appwarden.ActionDeactivateApplication:
		did = fmt.Sprintf("Deactivated the app registration (object %s) in every tenant. Tokens already issued stay valid until they expire.", target)
		wouldDo = fmt.Sprintf("Would have deactivated the app registration (object %s) in every tenant.", target)
	case appwarden.ActionRemovePasswords:
		did = fmt.Sprintf("Removed the client secret with key id %s. A removed secret cannot be restored: create a new credential, preferably a certificate.", target)
		wouldDo = fmt.Sprintf("Would have removed the client secret with key id %s.", target)
	case appwarden.ActionRemoveCriticalAppRoles:
		did = fmt.Sprintf("Removed the critical application permission granted to the app (app role assignment %s).", target)
		wouldDo = fmt.Sprintf("Would have removed the critical application permission granted to the app (app role assignment %s).", target)
	case appwarden.ActionRevokeOAuth2Grants:
		did = fmt.Sprintf("Revoked the delegated permission consent %s.", target)
		wouldDo = fmt.Sprintf("Would have revoked the delegated permission consent %s.", target)
	case appwarden.ActionRemoveCredentials:
		did = fmt.Sprintf("Removed the credential %s. A removed client secret cannot come back (create a new one if it was yours); a removed certificate or federated credential is restored by the release below.", target)
		wouldDo = fmt.Sprintf("Would have removed the credential %s.", target)
	case appwarden.ActionRemoveAppRoleGrants:
		did = fmt.Sprintf("Removed the application permission granted to the app without being requested (app role assignment %s); the release below grants it again.", target)
		wouldDo = fmt.Sprintf("Would have removed the application permission granted without being requested (app role assignment %s).", target)
	case appwarden.ActionMarkQuarantined:
		did = "Tagged the app registration AppWarden:Quarantined and added a note saying why."
		wouldDo = "Would have tagged the app registration AppWarden:Quarantined."
	default:
		did = fmt.Sprintf("Applied %s to %s.", a.Kind, a.Target)
		wouldDo = fmt.Sprintf("Would have applied %s to %s.", a.Kind, a.Target)
	}
	if would {
		return wouldDo
	}
	return did
}

// restoreSteps say how the app comes back after enforcement.
func restoreSteps(done []appwarden.Action) []string {
	steps := []string{
		"Fix the problems above first (the steps under \"How to fix it\").",
		"Then ask the security team to release the app. They run the command below; it restores what AppWarden changed (re-enables the enterprise app, reactivates the registration, re-grants removed permissions, removes the quarantine tag) and records who released it and why.",
		"After a release AppWarden does not act on the same findings again; it acts again only if the app changes for the worse.",
	}
	if slices.ContainsFunc(done, func(a appwarden.Action) bool {
		return a.Kind == appwarden.ActionRemovePasswords || a.Kind == appwarden.ActionRemoveCredentials
	}) {
		steps = append(steps, "Removed client secrets cannot be restored: create a new credential, preferably a certificate or a federated credential.")
	}
	return steps
}

// changeLines tell the escalation: what the change was, who made it and
// when, and each item it added that a shown finding names.
func changeLines(c *appwarden.Change, shown []appwarden.Finding, lim Limits) []string {
	if c == nil || c.New {
		return nil
	}
	head := "Change: " + firstOf(strings.TrimSpace(c.Activity), string(c.Kind), "an update")
	if !c.Initiator.IsZero() {
		head += ", by " + c.Initiator.String()
	}
	if !c.At.IsZero() {
		head += ", at " + c.At.UTC().Format("2006-01-02 15:04 UTC")
	}
	lines := []string{Clip(head, lim.Text)}
	seen := map[string]bool{}
	for _, f := range shown {
		for _, e := range f.Evidence {
			if !e.Added {
				continue
			}
			l := Clip("Added: "+evidenceLine(e), lim.Text)
			if !seen[l] && len(lines) <= lim.Evidence {
				seen[l] = true
				lines = append(lines, l)
			}
		}
	}
	if len(lines) == 1 {
		return nil // nothing the findings name was added
	}
	return lines
}

// people lists the owners and the creator, each once.
func people(app *appwarden.App) ([]Person, []string) {
	var ps []Person
	var others []string
	add := func(p Person) {
		for i := range ps {
			if strings.EqualFold(ps[i].MentionID, p.MentionID) {
				if !strings.Contains(ps[i].Role, p.Role) {
					ps[i].Role += " and " + p.Role
				}
				return
			}
		}
		ps = append(ps, p)
	}
	for _, o := range app.Owners {
		if o.Type != "" && !strings.EqualFold(o.Type, "user") {
			others = append(others, "owner "+firstOf(o.DisplayName, o.ID)+" (an app)")
			continue
		}
		id := firstOf(mentionUPN(o.UPN), o.ID)
		if id == "" {
			continue
		}
		add(Person{Name: mentionName(firstOf(o.DisplayName, o.UPN, o.ID)), MentionID: id, Mail: firstOf(o.Mail, o.UPN), Role: "owner"})
	}
	c := app.Creator
	switch {
	case c.UPN != "" || c.UserID != "":
		id := firstOf(mentionUPN(c.UPN), c.UserID, c.UPN)
		// An owner's UPN and the creator's object id may name the same person.
		for _, o := range app.Owners {
			if c.UserID != "" && strings.EqualFold(o.ID, c.UserID) {
				id = firstOf(mentionUPN(o.UPN), o.ID)
			}
		}
		add(Person{Name: mentionName(firstOf(c.DisplayName, c.UPN, c.UserID)), MentionID: id, Mail: c.UPN, Role: "creator"})
	}
	return ps, others
}

// mentionUPN is the UPN to mention a user by; a guest's #EXT# UPN is
// skipped in favour of the object id.
func mentionUPN(upn string) string {
	if strings.Contains(strings.ToUpper(upn), "#EXT#") {
		return ""
	}
	return upn
}

// mentionName makes a name safe inside <at>...</at>: no tags, no markdown
// that could turn it into a link.
func mentionName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), unicode.IsMark(r), r == ' ', r == '.', r == '-', r == '\'', r == ',', r == '@':
			return r
		}
		return ' '
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	return Clip(s, 80)
}

// Portal links.
const (
	registrationURL = "https://entra.microsoft.com/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/Overview/appId/%s"
	enterpriseURL   = "https://entra.microsoft.com/#view/Microsoft_AAD_IAM/ManagedAppMenuBlade/~/Overview/objectId/%s/appId/%s"
)

func links(app *appwarden.App) []Link {
	var ls []Link
	if app.Application != nil && app.AppID != "" {
		ls = append(ls, Link{"Open the app registration", fmt.Sprintf(registrationURL, url.PathEscape(app.AppID))})
	}
	if sp := app.ServicePrincipal(); sp != nil && sp.ID != "" {
		ls = append(ls, Link{"Open the enterprise app", fmt.Sprintf(enterpriseURL, url.PathEscape(sp.ID), url.PathEscape(app.AppID))})
	}
	return ls
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}

// OneLine joins s into one line of single spaces.
func OneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Clip shortens s to n runes, marking the cut.
func Clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if n <= 0 || len(s) <= n {
		return s
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// SeverityLabel names a severity for people.
func SeverityLabel(s appwarden.Severity) string {
	switch s {
	case appwarden.SeverityCritical:
		return "Critical"
	case appwarden.SeverityHigh:
		return "High"
	case appwarden.SeverityMedium:
		return "Medium"
	case appwarden.SeverityLow:
		return "Low"
	}
	return "Info"
}
