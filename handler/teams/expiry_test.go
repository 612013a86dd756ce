package teams_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/notice"
	"github.com/appwarden/appwarden/handler/notify/notifytest"
	"github.com/appwarden/appwarden/handler/teams"
)

const credentialsPage = "https://entra.microsoft.com/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/Credentials/appId/"

// TestExpiryCardShape: the warning is a calm Workflows card that names
// each credential and links to the app's Certificates & secrets page.
func TestExpiryCardShape(t *testing.T) {
	w := notifytest.ExpiryCard().Warning()
	card := decode(t, teams.ExpiryCard(w))
	if card["type"] != "AdaptiveCard" || card["version"] != "1.5" {
		t.Fatalf("card header %v %v", card["type"], card["version"])
	}
	if style := card["body"].([]any)[0].(map[string]any)["style"]; style != "accent" {
		t.Errorf("header style %v: a warning is not an alarm", style)
	}
	walk(card, func(n node) {
		if n["type"] == "Action.Submit" || n["type"] == "Action.Execute" {
			t.Errorf("%v does not work in Workflows", n["type"])
		}
	})
	acts := card["actions"].([]any)
	first := acts[0].(map[string]any)
	if first["type"] != "Action.OpenUrl" || first["url"] != credentialsPage+notifytest.AppID {
		t.Errorf("first action %v", first)
	}
	all := textsOf(card).all()
	for _, want := range []string{notifytest.SecretKey, "ci-deploy", notifytest.CertKey, notifytest.SPSecret, "Client secret", "Certificate",
		"2026-03-09 08:44 UTC", "expired 3 days ago", "Warning threshold reached: 7 days.", "Warning threshold reached: 30 days.", "managed identity"} {
		if !strings.Contains(all, want) {
			t.Errorf("card lacks %q", want)
		}
	}
	if !strings.HasPrefix(w.Headline, "3 credentials of your app") {
		t.Errorf("headline %q", w.Headline)
	}
	one := notifytest.ExpiryCard().Expiry[1:2]
	if h := notice.BuildWarning(one, notifytest.ExpiryNow).Headline; h != "A credential of your app expires in 7 days" {
		t.Errorf("single headline %q", h)
	}
}

// TestExpiryCardHostileNames: a credential's or app's name is untrusted:
// it goes only into TextRuns, never into markdown or a mention.
func TestExpiryCardHostileNames(t *testing.T) {
	due := notifytest.ExpiryCard().Expiry
	for i := range due {
		due[i].DisplayName = "[Verify](https://evil.example) <at>Eve</at>"
		due[i].Credential.DisplayName = "**urgent** [x](https://evil.example)"
	}
	card := decode(t, teams.ExpiryCard(notice.BuildWarning(due, notifytest.ExpiryNow)))
	tx := textsOf(card)
	for _, b := range tx.blocks {
		if strings.Contains(b, "evil.example") || strings.Contains(b, "<at>Eve") {
			t.Errorf("untrusted text in a TextBlock: %q", b)
		}
	}
	if !strings.Contains(strings.Join(tx.runs, "\n"), "**urgent** [x](https://evil.example)") {
		t.Error("the credential's name is not shown as plain text")
	}
}

// TestExpiryDigestFits: an owner with many apps gets as few messages as
// hold them, each under the limit, together naming every app and
// credential.
func TestExpiryDigestFits(t *testing.T) {
	const day = 24 * time.Hour
	owner := appwarden.Principal{ID: notifytest.AliceID, UPN: "alice@contoso.example", DisplayName: "Alice Martin", Type: "user"}
	var apps [][]appwarden.Expiring
	for i := range 150 {
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", 0xa0000000+i, i)
		var due []appwarden.Expiring
		for j := range 3 {
			due = append(due, appwarden.Expiring{AppID: id, DisplayName: fmt.Sprintf("App %03d with a fairly long display name", i),
				Kind: appwarden.CredentialPassword, On: appwarden.OnApplication, Threshold: 30 * day, Owners: []appwarden.Principal{owner},
				Credential: appwarden.Credential{KeyID: fmt.Sprintf("%08x-%04x-4000-8000-000000000000", 0xb0000000+i, j), DisplayName: fmt.Sprintf("secret %d-%d", i, j),
					EndDateTime: notifytest.ExpiryNow.Add(20 * day)}})
		}
		apps = append(apps, due)
	}
	parts := teams.ExpiryDigest(notice.BuildExpiryDigest([]appwarden.Principal{owner}, apps, notifytest.ExpiryNow))
	if len(parts) < 2 {
		t.Fatalf("%d messages for 150 apps: cannot fit in one", len(parts))
	}
	var all strings.Builder
	named := 0
	for _, p := range parts {
		b, _ := json.Marshal(p.Message)
		if len(b) > teams.MaxMessageBytes {
			t.Errorf("a digest message is %d bytes", len(b))
		}
		if !strings.Contains(string(b), `"mentioned":{"id":"alice@contoso.example"`) {
			t.Error("a digest message does not mention the owner")
		}
		all.Write(b)
		named += len(p.Apps)
	}
	if named != 150 {
		t.Errorf("the parts name %d apps, want 150", named)
	}
	for _, due := range apps {
		for _, e := range due {
			if !strings.Contains(all.String(), e.Credential.KeyID) {
				t.Fatalf("no digest message names %s", e.Credential.KeyID)
			}
		}
		if !strings.Contains(all.String(), credentialsPage+due[0].AppID) {
			t.Fatalf("no link to %s's Certificates & secrets", due[0].AppID)
		}
	}
}
