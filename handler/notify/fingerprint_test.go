package notify_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/notify"
	"github.com/appwarden/appwarden/handler/notify/notifytest"
)

func TestFingerprint(t *testing.T) {
	s := notifytest.Enforced()
	fp := notify.Fingerprint(s.App.AppID, s.Decision, s.Outcome)
	// Stable: action times and the order of findings do not matter.
	d2 := s.Decision
	d2.Findings = slices.Clone(d2.Findings)
	slices.Reverse(d2.Findings)
	o2 := s.Outcome
	o2.Actions = slices.Clone(o2.Actions)
	o2.Actions[0].At = o2.Actions[0].At.Add(3600e9)
	if got := notify.Fingerprint(strings.ToUpper(s.App.AppID), d2, o2); got != fp {
		t.Errorf("fingerprint changed: %s vs %s", got, fp)
	}
	a := notifytest.Audited()
	if notify.Fingerprint(a.App.AppID, a.Decision, a.Outcome) == fp {
		t.Error("audit and enforce outcomes share a fingerprint")
	}
	d3 := s.Decision
	d3.Findings = slices.Clone(d3.Findings)
	d3.Findings[2].Evidence = append(slices.Clone(d3.Findings[2].Evidence), appwarden.Evidence{Kind: "credential", ID: "new-key"})
	if notify.Fingerprint(s.App.AppID, d3, s.Outcome) == fp {
		t.Error("a new secret does not change the fingerprint")
	}
}
