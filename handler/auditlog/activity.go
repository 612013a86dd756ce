package auditlog

import (
	"strings"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// normalize folds the ways real audit data spells an activity: case, EN and
// EM DASHes, runs of spaces, and trailing spaces
// ("Update application – Certificates and secrets management " in the OTRF
// row otrf-01 and FACTS.md §1).
func normalize(s string) string {
	s = strings.NewReplacer("\u2013", "-", "\u2014", "-", "\u2012", "-", "\u2212", "-").Replace(s)
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// subjectRule says where in a record the app the signal is about is named.
// Real records do not name it in one place: a grant names the resource
// first and the grantee in that target's modified properties (FACTS.md §1).
type subjectRule int

const (
	// bySubject: the first Application or ServicePrincipal target is the app
	// itself (Add application, Update service principal...).
	bySubject subjectRule = iota
	// byGrantee: the record names the resource first; the app is the grantee
	// (Add app role assignment to service principal, Add delegated
	// permission grant).
	byGrantee
	// byConsent: "Consent to application" names the client first, unless it
	// carries the grant's ServicePrincipal.* properties like a grant does.
	byConsent
	// byRoleMember: "Add member to role"; only a service principal member
	// concerns AppWarden.
	byRoleMember
)

// activity is what AppWarden makes of one audit activity.
type activity struct {
	kind appwarden.SignalKind
	rule subjectRule
}

// activities maps normalized activity names (FACTS.md §1, the audit
// activity reference) to what they mean.
var activities = map[string]activity{
	"add application":                              {appwarden.AppCreated, bySubject},
	"add service principal":                        {appwarden.ServicePrincipalCreated, bySubject},
	"add service principal credentials":            {appwarden.CredentialAdded, bySubject},
	"update service principal credentials":         {appwarden.CredentialAdded, bySubject},
	"add owner to application":                     {appwarden.OwnerAdded, bySubject},
	"add owner to service principal":               {appwarden.OwnerAdded, bySubject},
	"consent to application":                       {appwarden.ConsentGranted, byConsent},
	"add delegated permission grant":               {appwarden.ConsentGranted, byGrantee},
	"add app role assignment to service principal": {appwarden.AppRoleGranted, byGrantee},
	"update application":                           {appwarden.AppUpdated, bySubject},
	"update service principal":                     {appwarden.AppUpdated, bySubject},
	"add member to role":                           {appwarden.DirectoryRoleGranted, byRoleMember},
}

// activityOf returns what an activity name means, and false when the
// activity does not concern AppWarden.
func activityOf(name string) (activity, bool) {
	n := normalize(name)
	if strings.Contains(n, "certificates and secrets management") {
		return activity{appwarden.CredentialAdded, bySubject}, true
	}
	a, ok := activities[n]
	return a, ok
}
