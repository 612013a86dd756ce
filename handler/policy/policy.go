package policy

import (
	"time"

	"github.com/google/cel-go/cel"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// APIVersion is the only policy schema version this package reads. A future
// incompatible schema gets a new version, so an old binary refuses a new
// file instead of misreading it.
const APIVersion = "appwarden.io/v1"

// Rule ids AppWarden itself uses for findings no policy rule produces.
// Policies may not reuse them, so a finding's rule id always says who made it.
const (
	RuleExceptionExpired = "exception-expired"
	RuleError            = "rule-error"
)

// Env is everything outside the App that a decision depends on. It is
// passed in, never read from the process, so that Evaluate stays pure.
type Env struct {
	// Now is the time of the decision: exceptions expire and credential ages
	// are judged against it. When zero, the App's ResolvedAt is used.
	Now time.Time
	// Mode is the global mode (APPWARDEN_MODE). Anything but enforce,
	// including "", means audit.
	Mode appwarden.Mode
	// Guard names the apps that must never be acted on.
	Guard appwarden.Guard
}

// Policy is a loaded and fully compiled policy. It is immutable and safe for
// concurrent use.
type Policy struct {
	apiVersion string
	version    string
	notifyMin  appwarden.Severity
	// allowlist maps a lower-case appId to the reason it is never acted on.
	allowlist  map[string]string
	rules      []*rule
	exceptions []exception
}

// rule is one compiled rule.
type rule struct {
	id       string
	title    string
	severity appwarden.Severity
	mode     appwarden.Mode
	actions  []appwarden.ActionKind
	remedy   string
	// condition yields a bool, or a list of matched items (matched when
	// non-empty, and then the items are the evidence).
	condition cel.Program
	// evidence, when set, yields the evidence items of a matched rule.
	evidence cel.Program
	escalate []escalation
}

// escalation raises a matched rule's severity when its condition holds.
type escalation struct {
	when     cel.Program
	severity appwarden.Severity
}

// exception suppresses some rules' findings for one app until it expires.
type exception struct {
	appID    string
	rules    []string
	reason   string
	approver string
	// until is the first instant the exception no longer applies.
	until time.Time
	// expires is the expiry as written in the policy, for evidence.
	expires string
}

// Version identifies the policy for Decision.PolicyVersion: the schema
// version and a hash of the exact file contents, so a recorded decision can
// be traced to the policy text that made it.
func (p *Policy) Version() string { return p.version }

// RuleIDs lists the policy's rule ids in file order.
func (p *Policy) RuleIDs() []string {
	ids := make([]string, len(p.rules))
	for i, r := range p.rules {
		ids[i] = r.id
	}
	return ids
}
