// Package expiry finds the secrets and certificates that expire soon, so
// that their owners hear about it before their app breaks: Due judges one
// app against the warning thresholds (a pure function, shared by the daily
// pass and `appwarden scan --expiring`).
package expiry

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// DefaultThresholds are APPWARDEN_EXPIRY_THRESHOLDS' default: 30d,14d,7d,1d.
var DefaultThresholds = []time.Duration{30 * day, 14 * day, 7 * day, day}

const day = 24 * time.Hour

// ParseThresholds reads a comma-separated list of durations in days or
// hours ("30d,14d,7d,1d", "12h"): the thresholds, longest first, each
// once. An empty list turns the warnings off (nil, no error).
func ParseThresholds(s string) ([]time.Duration, error) {
	var out []time.Duration
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		d, err := ParseDays(part)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b time.Duration) int { return int((b - a) / time.Second) })
	return out, nil
}

// ParseDays reads "30d" (days) or a Go duration ("12h"); it must be
// positive.
func ParseDays(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number of days (e.g. 30d)", s)
		}
		d = time.Duration(days) * day
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q is neither days (30d) nor a duration (12h)", s)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration", s)
	}
	return d, nil
}

// Due lists the app's credentials, on the registration and on its service
// principals, that expire within the longest threshold after now, each
// with the shortest threshold it has reached, and those already expired
// (still present, so still someone's to remove or renew). Managed
// identities and Microsoft first-party apps are skipped: Azure and
// Microsoft rotate their credentials, and their owners are not in this
// tenant. The result is sorted by expiry.
func Due(app *appwarden.App, now time.Time, thresholds []time.Duration) []appwarden.Expiring {
	if app == nil || len(thresholds) == 0 || app.IsManagedIdentity() || app.IsMicrosoftFirstParty() {
		return nil
	}
	var out []appwarden.Expiring
	add := func(objectID, on, kind string, creds []appwarden.Credential) {
		for _, c := range creds {
			if c.EndDateTime.IsZero() {
				continue
			}
			left := c.EndDateTime.Sub(now)
			e := appwarden.Expiring{AppID: app.AppID, DisplayName: app.DisplayName, ObjectID: objectID,
				Credential: c, Kind: kind, On: on, Owners: app.Owners}
			switch th, ok := reached(left, thresholds); {
			case left <= 0:
				e.Expired = true
			case ok:
				e.Threshold = th
			default:
				continue
			}
			out = append(out, e)
		}
	}
	if a := app.Application; a != nil {
		add(a.ID, appwarden.OnApplication, appwarden.CredentialPassword, a.PasswordCredentials)
		add(a.ID, appwarden.OnApplication, appwarden.CredentialCertificate, a.KeyCredentials)
	}
	for _, sp := range app.ServicePrincipals {
		add(sp.ID, appwarden.OnServicePrincipal, appwarden.CredentialPassword, sp.PasswordCredentials)
		add(sp.ID, appwarden.OnServicePrincipal, appwarden.CredentialCertificate, sp.KeyCredentials)
	}
	slices.SortStableFunc(out, func(a, b appwarden.Expiring) int {
		return a.Credential.EndDateTime.Compare(b.Credential.EndDateTime)
	})
	return out
}

// reached is the shortest threshold that left is within.
func reached(left time.Duration, thresholds []time.Duration) (time.Duration, bool) {
	var best time.Duration
	ok := false
	for _, th := range thresholds {
		if left <= th && (!ok || th < best) {
			best, ok = th, true
		}
	}
	return best, ok
}
