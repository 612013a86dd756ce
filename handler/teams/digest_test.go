package teams_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/appwarden/appwarden/handler/notice"
	"github.com/appwarden/appwarden/handler/notify/notifytest"
	"github.com/appwarden/appwarden/handler/teams"
)

// TestDigestNamesEveryAppWithinTheLimit: a digest of 60 apps (every story,
// a huge decision, a hostile name) is split into messages that each fit a
// Workflows message, and together name every app exactly once, with its
// owners and what was done; untrusted names only ever appear in TextRuns.
func TestDigestNamesEveryAppWithinTheLimit(t *testing.T) {
	s := notifytest.Digest()
	briefs := s.Briefs()
	parts := teams.Digest(briefs, "Sent to the security team.")
	if len(parts) < 2 {
		t.Fatalf("%d messages for %d apps; want the digest split", len(parts), len(briefs))
	}
	seen := map[string]int{}
	for i, p := range parts {
		b, err := json.Marshal(p.Message)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > teams.MaxMessageBytes {
			t.Errorf("part %d is %d bytes, over %d", i+1, len(b), teams.MaxMessageBytes)
		}
		card := node(decode(t, p.Message)["attachments"].([]any)[0].(map[string]any)["content"].(map[string]any))
		tx := textsOf(card)
		all := strings.Join(tx.runs, "\n")
		for _, a := range p.Apps {
			seen[a.AppID]++
			if !strings.Contains(all, a.AppID) || !strings.Contains(all, a.Name) {
				t.Errorf("part %d does not name %s (%s)", i+1, a.Name, a.AppID)
			}
			if !strings.Contains(all, a.OwnersLine()) {
				t.Errorf("part %d does not name the owners of %s: %q", i+1, a.Name, a.OwnersLine())
			}
			if len(a.Done) > 0 && !strings.Contains(all, a.Done[0]) {
				t.Errorf("part %d does not say what was done to %s", i+1, a.Name)
			}
		}
		for _, bl := range tx.blocks {
			if strings.Contains(bl, "evil.example") || strings.Contains(bl, "<at>") {
				t.Errorf("an untrusted name reached a TextBlock: %q", bl)
			}
		}
		if len(parts) > 1 && !strings.Contains(all, "Part ") {
			t.Errorf("part %d does not say which part it is", i+1)
		}
	}
	for _, b := range briefs {
		if seen[b.AppID] != 1 {
			t.Errorf("%s named in %d parts, want 1", b.AppID, seen[b.AppID])
		}
	}
	if e, a, f := notice.Tally(briefs); e == 0 || a == 0 || f == 0 {
		t.Errorf("the sample lacks a story: %d enforced, %d audited, %d findings", e, a, f)
	}
}

// TestDigestOfFewIsOneMessage: a handful of apps is one message.
func TestDigestOfFewIsOneMessage(t *testing.T) {
	briefs := notifytest.Digest().Briefs()[:6]
	if parts := teams.Digest(briefs, ""); len(parts) != 1 || len(parts[0].Apps) != 6 {
		t.Fatalf("got %d parts", len(parts))
	}
	if teams.Digest(nil, "") != nil {
		t.Error("a digest of nothing")
	}
}
