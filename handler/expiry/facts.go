package expiry

import (
	"strings"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// FromRecord rebuilds, from an app's recorded facts, the part of the App
// that Due judges: the credentials with their ends (on the registration and
// on the service principal), the owners, and the service principal's type
// and owner organization (so that managed identities and Microsoft apps are
// skipped as Due skips them). Nothing is read from Graph.
//
// A first sweep's record (Partial) holds the registration's secrets only:
// the delta feed does not carry certificates (see graph.DeltaStart) nor
// anything of the service principal: those are judged from the pass's
// daily credential listings (see listings) until a decision records them.
func FromRecord(r *appwarden.RecordedFacts) *appwarden.App {
	app := &appwarden.App{AppID: r.AppID, DisplayName: r.DisplayName}
	var a appwarden.Application
	var sp appwarden.ServicePrincipal
	for _, f := range r.Facts {
		switch f.Kind {
		case appwarden.FactCredential:
			c := appwarden.Credential{KeyID: f.ID, DisplayName: f.Name, StartDateTime: f.Since, EndDateTime: f.Until}
			switch {
			case f.On == appwarden.OnServicePrincipal && f.State == appwarden.CredentialCertificate:
				sp.KeyCredentials = append(sp.KeyCredentials, c)
			case f.On == appwarden.OnServicePrincipal:
				sp.PasswordCredentials = append(sp.PasswordCredentials, c)
			case f.State == appwarden.CredentialCertificate:
				a.KeyCredentials = append(a.KeyCredentials, c)
			default:
				a.PasswordCredentials = append(a.PasswordCredentials, c)
			}
		case appwarden.FactOwner:
			app.Owners = append(app.Owners, ownerOf(f))
		}
	}
	if r.ObjectID != "" || len(a.PasswordCredentials)+len(a.KeyCredentials) > 0 {
		a.ID, a.AppID, a.DisplayName = r.ObjectID, r.AppID, r.DisplayName
		app.Application = &a
	}
	if r.SPObjectID != "" || r.SPType != "" || r.OwnerOrg != "" || len(sp.PasswordCredentials)+len(sp.KeyCredentials) > 0 {
		sp.ID, sp.AppID, sp.DisplayName = r.SPObjectID, r.AppID, r.DisplayName
		sp.ServicePrincipalType, sp.AppOwnerOrganizationID = r.SPType, r.OwnerOrg
		app.ServicePrincipals = []appwarden.ServicePrincipal{sp}
	}
	return app
}

// ownerOf is the owner an owner fact names: its id, its type, and its UPN
// (or, without one, its display name: FactsOf keeps whichever it has).
func ownerOf(f appwarden.Fact) appwarden.Principal {
	p := appwarden.Principal{ID: f.ID, Type: f.State}
	if strings.Contains(f.Name, "@") {
		p.UPN = f.Name
	} else {
		p.DisplayName = f.Name
	}
	return p
}
