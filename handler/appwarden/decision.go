package appwarden

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Severity orders findings from info to critical.
type Severity int

// Severities, lowest first.
const (
	SeverityInfo Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{"info", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity reads a severity name, case-insensitively.
func ParseSeverity(s string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q (want one of %s)", s, strings.Join(severityNames[:], ", "))
}

// MarshalJSON writes the severity's name.
func (s Severity) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON reads a severity's name.
func (s *Severity) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return fmt.Errorf("severity: %w", err)
	}
	v, err := ParseSeverity(name)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Mode is whether AppWarden changes the tenant (enforce) or only decides,
// records and notifies (audit).
type Mode string

// The modes.
const (
	ModeAudit   Mode = "audit"
	ModeEnforce Mode = "enforce"
)

// ParseMode reads a mode name.
func ParseMode(s string) (Mode, error) {
	switch Mode(strings.ToLower(strings.TrimSpace(s))) {
	case ModeAudit:
		return ModeAudit, nil
	case ModeEnforce:
		return ModeEnforce, nil
	}
	return "", fmt.Errorf("unknown mode %q (want audit or enforce)", s)
}

// Evidence is one exact fact behind a finding.
type Evidence struct {
	// Kind is "permission", "redirectUri", "credential", "owner",
	// "exception", "audience" or "publisher".
	Kind string `json:"kind"`
	// ID is the permission id, the credential keyId, the exception's appId...
	ID string `json:"id,omitempty"`
	// Name is the permission name, the redirect URI, the credential's name...
	Name string `json:"name,omitempty"`
	// Detail says in words why this item matters.
	Detail string `json:"detail,omitempty"`
	// EndDateTime is a credential's or an exception's expiry.
	EndDateTime *time.Time `json:"endDateTime,omitempty"`
	// Added is set when the change being judged added this item (see
	// Change): the new secret, the new owner, the grant.
	Added bool `json:"added,omitempty"`
}

// Finding is one rule that matched an app.
type Finding struct {
	RuleID   string     `json:"ruleId"`
	Title    string     `json:"title"`
	Severity Severity   `json:"severity"`
	Evidence []Evidence `json:"evidence,omitempty"`
	// Remedy tells the app's owners, in words, how to fix it.
	Remedy string `json:"remedy,omitempty"`
	// Actions are the actions the finding's rule asks for; actions that
	// target items (removeCredentials, removeAppRoleGrants) act on this
	// finding's evidence only.
	Actions []ActionKind `json:"actions,omitempty"`
	// Baseline is set when the app already held everything the finding
	// names before the change being judged: posture, which scan reports,
	// not an incident. Such a finding chooses no action and notifies no one.
	Baseline bool `json:"baseline,omitempty"`
}

// ActionKind names a remediation a policy can ask for.
type ActionKind string

// The actions (see FACTS.md §4 for the Graph operation behind each).
const (
	ActionNotify                  ActionKind = "notify"
	ActionDisableServicePrincipal ActionKind = "disableServicePrincipal"
	ActionDeactivateApplication   ActionKind = "deactivateApplication"
	ActionRemovePasswords         ActionKind = "removePasswords"
	ActionRemoveCriticalAppRoles  ActionKind = "removeCriticalAppRoleAssignments"
	ActionRevokeOAuth2Grants      ActionKind = "revokeOAuth2Grants"
	ActionMarkQuarantined         ActionKind = "markQuarantined"
	// ActionRemoveCredentials removes the credentials a finding names as
	// evidence (an escalation rule names the ones the change added): a
	// secret by keyId, which cannot come back; a certificate by rewriting
	// keyCredentials from the recorded before-state, which can; a federated
	// credential, recorded whole so that release re-creates it.
	ActionRemoveCredentials ActionKind = "removeCredentials"
	// ActionRemoveAppRoleGrants removes the app role assignments behind the
	// granted application permissions a finding names as evidence (a hidden
	// grant); release re-creates them.
	ActionRemoveAppRoleGrants ActionKind = "removeAppRoleGrants"
)

// ActionKinds lists every action, in the order remediation applies them.
var ActionKinds = []ActionKind{
	ActionMarkQuarantined, ActionRemoveCredentials, ActionRemoveAppRoleGrants,
	ActionDisableServicePrincipal, ActionDeactivateApplication,
	ActionRemovePasswords, ActionRemoveCriticalAppRoles, ActionRevokeOAuth2Grants, ActionNotify,
}

// Changes reports whether the action writes to the tenant.
func (k ActionKind) Changes() bool { return k != ActionNotify }

// Decision is policy's verdict on one App. It is deterministic: the same App,
// policy and time give the same Decision.
type Decision struct {
	AppID    string    `json:"appId"`
	Findings []Finding `json:"findings"`
	// Actions are the actions chosen, in apply order.
	Actions []ActionKind `json:"actions"`
	// Mode is the effective mode after APPWARDEN_MODE and per-rule modes.
	Mode Mode `json:"mode"`
	// Protected is non-empty when the app must never be acted on, and says why.
	Protected string `json:"protected,omitempty"`
	// Explanation is a short plain-language account, reused by logs and notifications.
	Explanation string `json:"explanation"`
	// PolicyVersion identifies the policy that decided.
	PolicyVersion string `json:"policyVersion,omitempty"`
}

// MaxSeverity is the highest severity among the findings, and false when
// there are none.
func (d Decision) MaxSeverity() (Severity, bool) {
	if len(d.Findings) == 0 {
		return 0, false
	}
	max := d.Findings[0].Severity
	for _, f := range d.Findings[1:] {
		if f.Severity > max {
			max = f.Severity
		}
	}
	return max, true
}

// Action is one remediation applied (or, in audit mode, that would have been).
type Action struct {
	Kind  ActionKind `json:"kind"`
	AppID string     `json:"appId"`
	// Target is the object the action writes to (a service principal or
	// application object id, a grant id...).
	Target string `json:"target"`
	// Before is the exact state the action changes, saved before the write so
	// that release can restore it.
	Before json.RawMessage `json:"before,omitempty"`
	// DryRun is true in audit mode: nothing was written.
	DryRun bool      `json:"dryRun"`
	At     time.Time `json:"at"`
}

// Outcome is what remediation did with a decision.
type Outcome struct {
	Actions []Action `json:"actions"`
	// Mode is the mode actually applied: audit when the decision was audit,
	// the app is protected or released, or the blast-radius limit tripped.
	Mode Mode `json:"mode"`
	// Skipped says why nothing was done, when nothing was.
	Skipped string `json:"skipped,omitempty"`
	// Withheld is set when an enforce decision was held back (the
	// blast-radius limit): the change is not dealt with yet.
	Withheld bool `json:"withheld,omitempty"`
}
