package expiry_test

import (
	"slices"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/expiry"
)

var now = time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)

func cred(id string, left time.Duration) appwarden.Credential {
	return appwarden.Credential{KeyID: id, DisplayName: "key " + id, StartDateTime: now.AddDate(-1, 0, 0), EndDateTime: now.Add(left)}
}

func TestParseThresholds(t *testing.T) {
	got, err := expiry.ParseThresholds(" 7d,30d, 1d,14d,7d ")
	if err != nil || !slices.Equal(got, expiry.DefaultThresholds) {
		t.Fatalf("ParseThresholds = %v, %v; want %v", got, err, expiry.DefaultThresholds)
	}
	if got, err := expiry.ParseThresholds(""); err != nil || got != nil {
		t.Errorf("empty = %v, %v; want off", got, err)
	}
	for _, bad := range []string{"30", "-1d", "0d", "soon", "30d,x"} {
		if _, err := expiry.ParseThresholds(bad); err == nil {
			t.Errorf("ParseThresholds(%q) accepted", bad)
		}
	}
}

// Each credential is reported at the shortest threshold it has reached;
// expired ones still present are reported; others are not; managed
// identities and Microsoft apps are skipped.
func TestDue(t *testing.T) {
	app := &appwarden.App{AppID: "a", DisplayName: "Payroll",
		Application: &appwarden.Application{ID: "o",
			PasswordCredentials: []appwarden.Credential{cred("in-20d", 20*24*time.Hour), cred("in-60d", 60*24*time.Hour), cred("gone", -time.Hour)},
			KeyCredentials:      []appwarden.Credential{cred("in-12h", 12*time.Hour)}},
		ServicePrincipals: []appwarden.ServicePrincipal{{ID: "sp", PasswordCredentials: []appwarden.Credential{cred("sp-in-7d", 7*24*time.Hour)}}}}
	got := expiry.Due(app, now, expiry.DefaultThresholds)
	type row struct {
		id, label, kind, on string
	}
	var rows []row
	for _, e := range got {
		label := appwarden.ThresholdLabel(e.Threshold)
		if e.Expired {
			label = "expired"
		}
		rows = append(rows, row{e.Credential.KeyID, label, e.Kind, e.On})
	}
	want := []row{
		{"gone", "expired", appwarden.CredentialPassword, appwarden.OnApplication},
		{"in-12h", "1 day", appwarden.CredentialCertificate, appwarden.OnApplication},
		{"sp-in-7d", "7 days", appwarden.CredentialPassword, appwarden.OnServicePrincipal},
		{"in-20d", "30 days", appwarden.CredentialPassword, appwarden.OnApplication},
	}
	if !slices.Equal(rows, want) {
		t.Errorf("Due = %v\nwant  %v", rows, want)
	}
	mi := *app
	mi.ServicePrincipals = []appwarden.ServicePrincipal{{ID: "sp", ServicePrincipalType: "ManagedIdentity", PasswordCredentials: []appwarden.Credential{cred("x", time.Hour)}}}
	if d := expiry.Due(&mi, now, expiry.DefaultThresholds); len(d) != 0 {
		t.Errorf("a managed identity: %d due", len(d))
	}
	ms := *app
	ms.ServicePrincipals = []appwarden.ServicePrincipal{{ID: "sp", AppOwnerOrganizationID: appwarden.MicrosoftServicesTenantID}}
	if d := expiry.Due(&ms, now, expiry.DefaultThresholds); len(d) != 0 {
		t.Errorf("a Microsoft app: %d due", len(d))
	}
	if d := expiry.Due(app, now, nil); d != nil {
		t.Errorf("thresholds off: %d due", len(d))
	}
}
