package auditlog

import (
	"strings"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// normalize folds the ways real audit data spells an activity: case, EN and
// EM DASHes, runs of spaces, and trailing spaces
// ("Update application – Certificates and secrets management ").
func normalize(s string) string {
	s = strings.NewReplacer("\u2013", "-", "\u2014", "-", "\u2012", "-", "\u2212", "-").Replace(s)
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// activities maps normalized activity names to signal kinds.
var activities = map[string]appwarden.SignalKind{
	"add application":                              appwarden.AppCreated,
	"add service principal":                        appwarden.ServicePrincipalCreated,
	"add service principal credentials":            appwarden.CredentialAdded,
	"update service principal credentials":         appwarden.CredentialAdded,
	"add owner to application":                     appwarden.OwnerAdded,
	"add owner to service principal":               appwarden.OwnerAdded,
	"consent to application":                       appwarden.ConsentGranted,
	"add delegated permission grant":               appwarden.ConsentGranted,
	"add app role assignment to service principal": appwarden.AppRoleGranted,
	"update application":                           appwarden.AppUpdated,
	"update service principal":                     appwarden.AppUpdated,
}

// kindOf returns the signal kind for an activity name, and false when the
// activity does not concern AppWarden.
func kindOf(activity string) (appwarden.SignalKind, bool) {
	n := normalize(activity)
	if strings.Contains(n, "certificates and secrets management") {
		return appwarden.CredentialAdded, true
	}
	k, ok := activities[n]
	return k, ok
}
