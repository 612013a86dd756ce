package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// findingsFingerprint identifies what a decision found on an app: its
// rules and their exact evidence. It changes when the app changes (a new
// permission, a new secret), not when it is judged again.
func findingsFingerprint(appID string, d appwarden.Decision) string {
	var parts []string
	for _, f := range d.Findings {
		if len(f.Evidence) == 0 {
			parts = append(parts, f.RuleID)
		}
		for _, e := range f.Evidence {
			parts = append(parts, f.RuleID+"|"+e.Kind+"|"+e.ID+"|"+e.Name)
		}
	}
	sort.Strings(parts)
	return hash(strings.ToLower(appID) + "\n" + strings.Join(parts, "\n"))[:16]
}

// outcomeFingerprint identifies what was done (or would have been): the
// mode and each action's kind, target and dry-run flag.
func outcomeFingerprint(d appwarden.Decision, o appwarden.Outcome) string {
	mode := o.Mode
	if mode == "" {
		mode = d.Mode
	}
	var parts []string
	for _, a := range o.Actions {
		if a.Kind.Changes() {
			parts = append(parts, fmt.Sprintf("%s|%s|%t", a.Kind, strings.ToLower(a.Target), a.DryRun))
		}
	}
	sort.Strings(parts)
	return hash(string(mode) + "\n" + strings.Join(parts, "\n"))[:8]
}

// Fingerprint identifies a notification about a decision: the same findings
// and the same outcome give the same fingerprint, so it is delivered at
// most once per channel however often the decision is made again.
func Fingerprint(appID string, d appwarden.Decision, o appwarden.Outcome) string {
	return findingsFingerprint(appID, d) + "-" + outcomeFingerprint(d, o)
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
