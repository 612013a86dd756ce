package mail_test

import (
	"strings"
	"testing"

	"github.com/appwarden/appwarden/handler/mail"
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
