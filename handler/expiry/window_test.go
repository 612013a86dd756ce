package expiry_test

import (
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/expiry"
)

func TestParseWindow(t *testing.T) {
	for in, want := range map[string]time.Duration{"30d": 30 * 24 * time.Hour, " 1d ": 24 * time.Hour, "12h": 12 * time.Hour, "36500d": expiry.MaxWindow} {
		if got, err := expiry.ParseWindow(in); err != nil || got != want {
			t.Errorf("ParseWindow(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "30", "0d", "-1d", "soon", "1.5d", "36501d", "9999999999d", "-9999999999d", "-12h", "900000h"} {
		if got, err := expiry.ParseWindow(bad); err == nil {
			t.Errorf("ParseWindow(%q) = %v; want an error", bad, got)
		}
	}
}

func TestDaysLeft(t *testing.T) {
	for left, want := range map[time.Duration]int{
		30*24*time.Hour + time.Minute: 30, 30 * 24 * time.Hour: 30, 30*24*time.Hour - time.Minute: 29,
		time.Hour: 0, 0: 0, -time.Hour: -1, -24 * time.Hour: -1, -49 * time.Hour: -3,
	} {
		if got := expiry.DaysLeft(now.Add(left), now); got != want {
			t.Errorf("DaysLeft(now%+v) = %d; want %d", left, got, want)
		}
	}
}

func TestWithin(t *testing.T) {
	app := &appwarden.App{AppID: "a", Application: &appwarden.Application{ID: "o",
		PasswordCredentials: []appwarden.Credential{cred("in", 29*24*time.Hour), cred("out", 31*24*time.Hour), cred("gone", -time.Hour)}}}
	got := expiry.Within(app, now, 30*24*time.Hour)
	if len(got) != 2 || got[0].Credential.KeyID != "gone" || !got[0].Expired || got[1].Credential.KeyID != "in" || got[1].Expired {
		t.Errorf("Within = %+v", got)
	}
}
