package mail_test

import (
	"strings"
	"testing"

	"github.com/appwarden/appwarden/handler/mail"
	"github.com/appwarden/appwarden/handler/notice"
	"github.com/appwarden/appwarden/handler/notify/notifytest"
)

func TestEmail(t *testing.T) {
	s := notifytest.Hostile()
	subject, html, err := mail.Email(s.App, s.Decision, s.Outcome)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(subject, "AppWarden contained your app") {
		t.Errorf("subject %q", subject)
	}
	if strings.Contains(html, "<at>") || strings.Contains(html, `<a href="https://evil.example`) {
		t.Error("untrusted names are not escaped in the email")
	}
	if !strings.Contains(html, "[Click to verify](https://evil.example/login) &lt;at&gt;Eve&lt;/at&gt;") {
		t.Error("the app's name is not shown escaped")
	}
	for _, want := range []string{"RoleManagement.ReadWrite.Directory", notifytest.SecretKey, "appwarden release --app " + notifytest.AppID,
		"What AppWarden did", "Disabled the enterprise app", "https://entra.microsoft.com/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/Overview/appId/" + notifytest.AppID} {
		if !strings.Contains(html, want) {
			t.Errorf("email lacks %q", want)
		}
	}
	a := notifytest.Audited()
	_, ah, _ := mail.Email(a.App, a.Decision, a.Outcome)
	if !strings.Contains(ah, "Would have disabled") || strings.Contains(ah, "These changes are in effect now") {
		t.Error("audit email wording")
	}
}

func TestExpiryEmail(t *testing.T) {
	due := notifytest.ExpiryCard().Expiry
	due[0].Credential.DisplayName = "<b>x</b> <script>alert(1)</script>"
	w := notice.BuildWarning(due, notifytest.ExpiryNow)
	subject, html, err := mail.ExpiryEmail(w)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(subject, "[AppWarden] 3 credentials of your app expire soon") {
		t.Errorf("subject %q", subject)
	}
	if strings.Contains(html, "<script>") || !strings.Contains(html, "&lt;script&gt;") {
		t.Error("a credential's name is not escaped")
	}
	for _, want := range []string{notifytest.SecretKey, notifytest.CertKey, notifytest.SPSecret, "ci-deploy", "Client secret", "Certificate",
		"expired 3 days ago", `href="https://entra.microsoft.com/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/Credentials/appId/` + notifytest.AppID + `"`} {
		if !strings.Contains(html, want) {
			t.Errorf("email lacks %q", want)
		}
	}
	if got := strings.Join(mail.Owners(w.People), ","); got != "alice.martin@contoso.example" {
		t.Errorf("owners %q (Bob has no mailbox)", got)
	}
	d := notifytest.ExpiryOwnerDigest()
	_, dh, err := mail.ExpiryDigestEmail(d.ExpiryDigest())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range d.Expiry {
		if !strings.Contains(dh, e.DisplayName) || !strings.Contains(dh, e.Credential.KeyID) {
			t.Errorf("digest email lacks %s / %s", e.DisplayName, e.Credential.KeyID)
		}
	}
}
