package notice

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// Warning is what an expiry warning says about one app: its secrets and
// certificates that expire soon (or have expired and are still present),
// how to renew them and where. It is a reminder, not an alarm: AppWarden
// changed nothing. The Teams card and the email are both rendered from it.
type Warning struct {
	Headline string
	Lead     string
	App      Facts
	// Credentials are the app's due credentials, soonest first.
	Credentials     []DueCredential
	MoreCredentials int
	// Renew are the steps that renew a credential in place; Better is the
	// move that makes the next renewal unnecessary.
	Renew  []string
	Better []string
	// People are the owners to mention and mail; Others are owners that
	// cannot be (apps, or users with no name in the directory).
	People []Person
	Others []string
	// Routing says why a copy went to the security channel (an ownerless
	// app); empty for the owners' copy.
	Routing string
	// Links are the app's Certificates & secrets page (and the enterprise
	// app, for a credential on the service principal).
	Links []Link
}

// DueCredential is one due credential as a warning shows it. Never its
// value, nor its hint.
type DueCredential struct {
	Name  string // display name, or "(no name)"
	KeyID string
	Type  string // "client secret" or "certificate"
	On    string // "app registration" or "enterprise app (service principal)"
	// Expires is the expiry date and time (UTC); When says it relative to
	// now ("in 7 days", "expired 3 days ago").
	Expires   string
	When      string
	Threshold string // the warning threshold reached ("7 days"), or "expired"
	Expired   bool
}

// Line is the credential in one line of text.
func (c DueCredential) Line() string {
	return fmt.Sprintf("%s \"%s\" (key id %s) on the %s: %s %s (%s). Warning threshold: %s.",
		Capital(c.Type), c.Name, c.KeyID, c.On, map[bool]string{true: "expired", false: "expires"}[c.Expired], c.Expires, c.When, c.Threshold)
}

// ExpiryDigest is one warning for owners with many apps due: every app of
// theirs and every credential of each.
type ExpiryDigest struct {
	Headline string
	Lead     string
	People   []Person
	Others   []string
	Apps     []Warning
	Renew    []string
	Better   []string
}

// expiryCredentials bounds the credentials one warning lists.
const expiryCredentials = 20

// Portal links of the expiry warnings.
const (
	// CredentialsURL is the Certificates & secrets page of an app
	// registration in the Microsoft Entra admin center (App registrations >
	// the app > Certificates & secrets, as Microsoft's "Add credentials to
	// your application" describes it:
	// https://learn.microsoft.com/entra/identity-platform/how-to-add-credentials).
	// It is the admin center's deep link to that blade: the same
	// ApplicationMenuBlade as the registration's Overview link above, with
	// the Credentials section, keyed by the application (client) ID.
	CredentialsURL = "https://entra.microsoft.com/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/Credentials/appId/%s"
)

// Renewal steps. A secret or certificate on the service principal is not
// shown in the admin center: it is renewed with Graph (or the Azure CLI).
var (
	renewRegistration = []string{
		"Create the new credential first: in the Microsoft Entra admin center, App registrations > the app > Certificates & secrets > New client secret (or Certificates > Upload certificate). Copy a new secret's value at once: it is shown only then.",
		"Update the app's configuration (Key Vault, app settings, pipeline variables) to use the new credential, deploy, and check that the app signs in with it.",
		"Then delete the old credential (the key id named above) on the same page, so that only the new one works.",
	}
	renewServicePrincipal = "A credential on the enterprise app (service principal) is not shown in the admin center: create the new one with Microsoft Graph (POST /servicePrincipals/{id}/addPassword, or addKey for a certificate; Add-MgServicePrincipalPassword in PowerShell), update the app's configuration, then remove the old one by its key id (POST /servicePrincipals/{id}/removePassword or removeKey; Remove-MgServicePrincipalPassword)."
	better                = []string{
		"Better than renewing: if the app runs in Azure, give it a managed identity and delete the secret or certificate; there is then nothing to renew or leak.",
		"If it runs elsewhere (GitHub Actions, Kubernetes, another cloud), add a federated credential (Certificates & secrets > Federated credentials) and delete the secret or certificate.",
	}
)

// BuildWarning makes the warning for one app's due credentials (all of
// due share an AppID). now dates the "in N days" and "expired N days ago".
func BuildWarning(due []appwarden.Expiring, now time.Time) Warning {
	if len(due) == 0 {
		return Warning{}
	}
	due = slices.Clone(due)
	slices.SortStableFunc(due, func(a, b appwarden.Expiring) int {
		return a.Credential.EndDateTime.Compare(b.Credential.EndDateTime)
	})
	first := due[0]
	w := Warning{App: Facts{Name: firstOf(first.DisplayName, first.AppID), AppID: first.AppID}}
	onSP := false
	var spID string
	for i, e := range due {
		if e.On == appwarden.OnServicePrincipal {
			onSP = true
			spID = firstOf(spID, e.ObjectID)
		} else if w.App.ObjectID == "" {
			w.App.ObjectID = e.ObjectID
		}
		if i == expiryCredentials {
			w.MoreCredentials = len(due) - i
			continue
		}
		w.Credentials = append(w.Credentials, dueCredential(e, now))
	}
	w.App.SPID = spID
	expired := 0
	for _, e := range due {
		if e.Expired {
			expired++
		}
	}
	name := OneLine(w.App.Name)
	switch c := w.Credentials[0]; {
	case len(due) == 1 && c.Expired:
		w.Headline = "A credential of your app has expired"
		w.Lead = fmt.Sprintf("The %s \"%s\" of %s expired on %s (%s) and is still on the app. If the app still uses it, it can no longer sign in with it: renew it as below, or delete it if nothing uses it. AppWarden changed nothing; this is a reminder.", c.Type, c.Name, name, c.Expires, c.When)
	case len(due) == 1:
		w.Headline = "A credential of your app expires " + c.When
		w.Lead = fmt.Sprintf("The %s \"%s\" of %s expires on %s (%s). When it does, the app can no longer sign in with it. Renew it before then, as below. AppWarden changed nothing; this is a reminder.", c.Type, c.Name, name, c.Expires, c.When)
	case expired > 0:
		w.Headline = fmt.Sprintf("%d credentials of your app expire soon or have expired", len(due))
		w.Lead = fmt.Sprintf("%d secrets or certificates of %s expire soon or have expired (%d of them, still on the app). Renew the ones the app uses, as below, and delete the rest. AppWarden changed nothing; this is a reminder.", len(due), name, expired)
	default:
		w.Headline = fmt.Sprintf("%d credentials of your app expire soon", len(due))
		w.Lead = fmt.Sprintf("%d secrets or certificates of %s expire soon; the first %s. Renew the ones the app uses before then, as below. AppWarden changed nothing; this is a reminder.", len(due), name, c.When)
	}
	w.Renew = slices.Clone(renewRegistration)
	if onSP {
		w.Renew = append(w.Renew, renewServicePrincipal)
	}
	w.Better = slices.Clone(better)
	w.People, w.Others = ownerPeople(first.Owners)
	if w.App.AppID != "" {
		w.Links = append(w.Links, Link{"Open Certificates & secrets", fmt.Sprintf(CredentialsURL, url.PathEscape(w.App.AppID))})
	}
	if onSP && spID != "" && w.App.AppID != "" {
		w.Links = append(w.Links, Link{"Open the enterprise app", fmt.Sprintf(enterpriseURL, url.PathEscape(spID), url.PathEscape(w.App.AppID))})
	}
	return w
}

// BuildExpiryDigest makes one warning for owners with many apps due: one
// entry per app (each app's due credentials), soonest app first.
func BuildExpiryDigest(owners []appwarden.Principal, apps [][]appwarden.Expiring, now time.Time) ExpiryDigest {
	d := ExpiryDigest{Renew: slices.Clone(renewRegistration), Better: slices.Clone(better)}
	creds, expired := 0, 0
	for _, due := range apps {
		if len(due) == 0 {
			continue
		}
		w := BuildWarning(due, now)
		w.People, w.Others = nil, nil // the digest names its owners once
		d.Apps = append(d.Apps, w)
		creds += len(due)
		for _, e := range due {
			if e.Expired {
				expired++
			}
			if e.On == appwarden.OnServicePrincipal && !slices.Contains(d.Renew, renewServicePrincipal) {
				d.Renew = append(d.Renew, renewServicePrincipal)
			}
		}
	}
	slices.SortStableFunc(d.Apps, func(a, b Warning) int {
		return cmp.Compare(a.Credentials[0].Expires, b.Credentials[0].Expires)
	})
	d.People, d.Others = ownerPeople(owners)
	d.Headline = fmt.Sprintf("Credentials of %d of your apps expire soon", len(d.Apps))
	if expired > 0 {
		d.Headline = fmt.Sprintf("Credentials of %d of your apps expire soon or have expired", len(d.Apps))
	}
	d.Lead = fmt.Sprintf("%d secrets or certificates of the %d apps below, which you own, expire soon%s. One message for all of them, rather than one per app: each app, each credential, and where to renew it. AppWarden changed nothing; this is a reminder.",
		creds, len(d.Apps), map[bool]string{true: fmt.Sprintf(" or have expired (%d of them, still on the apps)", expired), false: ""}[expired > 0])
	return d
}

func dueCredential(e appwarden.Expiring, now time.Time) DueCredential {
	c := DueCredential{Name: Clip(OneLine(firstOf(e.Credential.DisplayName, "(no name)")), 120), KeyID: e.Credential.KeyID,
		Type: "client secret", On: "app registration", Expired: e.Expired || !e.Credential.EndDateTime.After(now)}
	if e.Kind == appwarden.CredentialCertificate {
		c.Type = "certificate"
	}
	if e.On == appwarden.OnServicePrincipal {
		c.On = "enterprise app (service principal)"
	}
	end := e.Credential.EndDateTime.UTC()
	c.Expires = end.Format("2006-01-02 15:04 UTC")
	left := end.Sub(now)
	switch {
	case c.Expired:
		days := int(-left / (24 * time.Hour))
		switch days {
		case 0:
			c.When = "expired less than a day ago"
		case 1:
			c.When = "expired 1 day ago"
		default:
			c.When = fmt.Sprintf("expired %d days ago", days)
		}
		c.Threshold = "expired"
	default:
		days := int((left + 24*time.Hour - 1) / (24 * time.Hour)) // rounded up: "in 7 days" until it is 6 days and less
		switch {
		case left < 24*time.Hour:
			c.When = "within a day"
		case days == 1:
			c.When = "in 1 day"
		default:
			c.When = fmt.Sprintf("in %d days", days)
		}
		c.Threshold = appwarden.ThresholdLabel(e.Threshold)
	}
	return c
}

// ownerPeople are the owners to mention and mail. A user is named by their
// name (else UPN, else mail); one with none of them is not mentioned by an
// object id alone but listed among the others, so that the security team
// can look them up.
func ownerPeople(owners []appwarden.Principal) ([]Person, []string) {
	var ps []Person
	var others []string
	for _, o := range owners {
		if o.Type != "" && !strings.EqualFold(o.Type, "user") {
			others = append(others, "owner "+firstOf(o.DisplayName, o.ID)+" (an app)")
			continue
		}
		name := mentionName(firstOf(o.DisplayName, o.UPN, o.Mail))
		if name == "" {
			others = append(others, "an owner with no name in the directory (object id "+o.ID+")")
			continue
		}
		id := firstOf(mentionUPN(o.UPN), o.ID)
		if id == "" || slices.ContainsFunc(ps, func(p Person) bool { return strings.EqualFold(p.MentionID, id) }) {
			continue
		}
		ps = append(ps, Person{Name: name, MentionID: id, Mail: firstOf(o.Mail, mentionUPN(o.UPN)), Role: "owner"})
	}
	return ps, others
}

// Capital upper-cases the first letter.
func Capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
