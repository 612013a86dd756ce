package notice

import (
	"fmt"
	"strings"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// Brief is one app's line in a digest: when one invocation yields many
// notifications for the same channel, that channel gets one digest that
// names every app, its owners and what was done, compactly, instead of one
// message per app (a Teams channel takes 4 posts a second).
type Brief struct {
	Kind  Story              `json:"kind"`
	Name  string             `json:"name"`
	AppID string             `json:"appId"`
	Max   appwarden.Severity `json:"max"`
	// Owners name each owner (and a creator who owns it) with their UPN or
	// mail; empty when the app has none.
	Owners    []string `json:"owners,omitempty"`
	CreatedBy string   `json:"createdBy,omitempty"`
	// Change is the escalation in one line ("Add service principal
	// credentials by eve@... on ..."); empty for a new app.
	Change       string   `json:"change,omitempty"`
	Findings     []string `json:"findings,omitempty"`
	MoreFindings int      `json:"moreFindings,omitempty"`
	// Done is what AppWarden did (or, in audit mode, would have done).
	Done     []string `json:"done,omitempty"`
	MoreDone int      `json:"moreDone,omitempty"`
	// Released is true when something was changed that the security team
	// can release (appwarden release --app <AppID>).
	Released bool `json:"released,omitempty"`
}

// Brief limits: a digest line stays short whatever the decision.
const (
	briefFindings = 3
	briefDone     = 3
	briefText     = 160
)

// BriefOf is the digest line of a notice.
func BriefOf(r Notice) Brief {
	b := Brief{Kind: r.Kind, Name: Clip(OneLine(r.App.Name), 120), AppID: r.App.AppID, Max: r.Max,
		CreatedBy: Clip(OneLine(r.App.CreatedBy), 120), Released: r.ReleaseCommand != ""}
	for _, p := range r.People {
		if !strings.HasPrefix(p.Role, "owner") {
			continue
		}
		who := p.Name
		if id := firstOf(p.Mail, p.MentionID); strings.Contains(id, "@") && !strings.EqualFold(id, p.Name) {
			who += " (" + id + ")"
		}
		b.Owners = append(b.Owners, Clip(OneLine(who), 120))
	}
	for _, o := range r.Others {
		if strings.Contains(strings.ToLower(o), "owner") {
			b.Owners = append(b.Owners, Clip(OneLine(o), 120))
		}
	}
	if len(r.Change) > 0 {
		b.Change = Clip(OneLine(r.Change[0]), briefText)
		if n := len(r.Change) - 1; n > 0 {
			b.Change = Clip(OneLine(r.Change[0]+": "+strings.Join(r.Change[1:], "; ")), briefText)
		}
	}
	for i, f := range r.Findings {
		if i == briefFindings {
			b.MoreFindings = len(r.Findings) - i
			break
		}
		b.Findings = append(b.Findings, Clip(OneLine(SeverityLabel(f.Severity)+": "+f.Title), briefText))
	}
	b.MoreFindings += r.MoreFindings
	for i, d := range r.Done {
		if i == briefDone {
			b.MoreDone = len(r.Done) - i
			break
		}
		b.Done = append(b.Done, Clip(OneLine(d), briefText))
	}
	b.MoreDone += r.MoreDone
	return b
}

// DoneLabel introduces a brief's actions: what was done, or would have been.
func (b Brief) DoneLabel() string {
	switch b.Kind {
	case StoryEnforce:
		return "Done: "
	case StoryAudit:
		return "Would have done (audit mode): "
	}
	return "Done: "
}

// OwnersLine names the owners, or says there are none.
func (b Brief) OwnersLine() string {
	if len(b.Owners) == 0 {
		return "none"
	}
	return strings.Join(b.Owners, ", ")
}

// DoneLine is the actions in one line.
func (b Brief) DoneLine() string {
	s := strings.Join(b.Done, "; ")
	if b.MoreDone > 0 {
		s += fmt.Sprintf("; …and %d more", b.MoreDone)
	}
	return s
}

// WhyLine is the findings in one line.
func (b Brief) WhyLine() string {
	s := strings.Join(b.Findings, "; ")
	if b.MoreFindings > 0 {
		s += fmt.Sprintf("; …and %d more", b.MoreFindings)
	}
	if s == "" {
		s = "see appwarden history --app " + b.AppID
	}
	return s
}

// Tally counts briefs by story: contained, would have been contained
// (audit mode), findings only.
func Tally(bs []Brief) (enforced, audited, findings int) {
	for _, b := range bs {
		switch b.Kind {
		case StoryEnforce:
			enforced++
		case StoryAudit:
			audited++
		default:
			findings++
		}
	}
	return enforced, audited, findings
}

// DigestLead is the sentence under a digest's headline.
func DigestLead(total int, bs []Brief) string {
	e, a, f := Tally(bs)
	var parts []string
	if e > 0 {
		parts = append(parts, fmt.Sprintf("contained %d", e))
	}
	if a > 0 {
		parts = append(parts, fmt.Sprintf("would have contained %d (audit mode)", a))
	}
	if f > 0 {
		parts = append(parts, fmt.Sprintf("found problems on %d and changed nothing", f))
	}
	return fmt.Sprintf("AppWarden handled %d %s at once and, of those below, %s. Each app: who owns it, what was done and why.",
		total, map[bool]string{true: "app", false: "apps"}[total == 1], strings.Join(parts, ", "))
}

// ReleaseHint says how to undo what a digest's apps went through.
const ReleaseHint = "appwarden release --app <application (client) ID> --reason \"<what was fixed, or why it is accepted>\" --by <your UPN>"
