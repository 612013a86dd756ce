package appwarden

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// Fact kinds: the facts about an app that carry privilege, or that a rule
// judges when they change. The names match Evidence.Kind, so that policy
// can tell which of a finding's evidence a change added.
const (
	FactPermission          = "permission"
	FactCredential          = "credential"
	FactFederatedCredential = "federatedCredential"
	FactOwner               = "owner"
	FactDirectoryRole       = "directoryRole"
	FactRedirectURI         = "redirectUri"
	FactAudience            = "audience"
)

// The parts of an app that resolution reads only where they can matter
// (App.Read): a part not read is unknown, not empty. A new app's creation
// reads the least that containing it needs (see graph.Client.Resolve): not
// its federated credentials, directory roles, delegated grants, nor the
// service principal's own owners; every later change reads them all.
const (
	PartFederatedCredentials = "federatedIdentityCredentials"
	PartDirectoryRoles       = "directoryRoles"
	// PartOwners: every owner, of the registration and of the service
	// principal.
	PartOwners = "owners"
	// PartDelegatedGrants: the delegated permission grants (consents).
	PartDelegatedGrants = "delegatedGrants"
)

// Parts lists every optional part, in a new slice the caller may keep.
func Parts() []string {
	return []string{PartDelegatedGrants, PartDirectoryRoles, PartFederatedCredentials, PartOwners}
}

// PartOf is the optional part a fact is read with, or "" when facts like it
// are always read. A delegated grant is told from a requested scope by its
// state, and from an application permission by its Detail ("<resource>
// delegated", see FactsOf; an audit record's hint says "delegated").
func PartOf(f Fact) string {
	switch f.Kind {
	case FactFederatedCredential:
		return PartFederatedCredentials
	case FactDirectoryRole:
		return PartDirectoryRoles
	case FactOwner:
		return PartOwners
	case FactPermission:
		if f.State != StateRequested && strings.HasSuffix(f.Detail, PermissionDelegated) {
			return PartDelegatedGrants
		}
	}
	return ""
}

// Permission states, a Fact's State for FactPermission.
const (
	StateRequested = "requested"
	StateGranted   = "granted"
	// StateConsented is a delegated scope granted tenant-wide (AllPrincipals).
	StateConsented = "consented"
)

// Credential types, a Fact's State for FactCredential.
const (
	CredentialPassword    = "password"
	CredentialCertificate = "certificate"
)

// Where a credential or an owner sits, a Fact's On.
const (
	OnApplication      = "application"
	OnServicePrincipal = "servicePrincipal"
)

// Fact is one privilege-carrying fact about an app: a permission in one
// state, a credential, a federated credential, an owner, a directory role,
// a redirect URI, the sign-in audience. AppWarden records an app's facts
// after each decision (its baseline), and judges the next change by the
// facts it added.
type Fact struct {
	Kind string `json:"kind"`
	// ID is the permission id, keyId, federated credential id, owner's
	// object id or role template id; empty for a redirect URI or audience,
	// which are named by Name.
	ID     string `json:"id,omitempty"`
	Name   string `json:"name,omitempty"`
	State  string `json:"state,omitempty"`
	On     string `json:"on,omitempty"`
	Detail string `json:"detail,omitempty"`
	// Since is when the fact began, where Graph dates it (a credential's
	// start, an app role assignment's creation); zero when it does not.
	Since time.Time `json:"since,omitzero"`
	// Until is a credential's end: what the daily expiry pass reads from
	// the facts AppWarden already holds, instead of asking Graph again.
	Until time.Time `json:"until,omitzero"`
}

// Key identifies the fact in a set: the kind, the id (else the name) and
// the state. Two reads of the same app give the same keys.
func (f Fact) Key() string {
	return f.Kind + "|" + f.Ref() + "|" + f.State + "|" + f.On
}

// Ref is what evidence names the fact by: the id, else the name, in lower
// case. A federated credential is named by its name, an immutable alternate
// key unique per app, because its id is read-only: one that release
// re-creates comes back with a new id and must still be the same fact
// (Graph's federatedIdentityCredential resource).
func (f Fact) Ref() string { return ref(f.Kind, f.ID, f.Name) }

// Matches reports whether the evidence item is about this fact (same kind,
// same id or, without one, same name).
func (f Fact) Matches(e Evidence) bool {
	return f.Kind == e.Kind && f.Ref() == ref(e.Kind, e.ID, e.Name)
}

func ref(kind, id, name string) string {
	if kind == FactFederatedCredential {
		return strings.ToLower(cmp.Or(name, id))
	}
	return strings.ToLower(cmp.Or(id, name))
}

// FactsOf lists the app's facts, sorted by key, each once.
func FactsOf(app *App) []Fact {
	if app == nil {
		return nil
	}
	var out []Fact
	for _, p := range app.Permissions {
		base := Fact{Kind: FactPermission, ID: strings.ToLower(p.ID), Name: p.Name, Detail: p.ResourceName + " " + p.Type}
		if p.Requested {
			f := base
			f.State = StateRequested
			out = append(out, f)
		}
		if p.Granted {
			f := base
			f.State = StateGranted
			f.Since = grantedSince(app, p)
			out = append(out, f)
		}
		if p.AdminConsent {
			f := base
			f.State = StateConsented
			out = append(out, f)
		}
	}
	creds := func(on string, pw, keys []Credential) {
		for _, c := range pw {
			out = append(out, Fact{Kind: FactCredential, ID: strings.ToLower(c.KeyID), Name: c.DisplayName, State: CredentialPassword, On: on, Since: c.StartDateTime, Until: c.EndDateTime})
		}
		for _, c := range keys {
			out = append(out, Fact{Kind: FactCredential, ID: strings.ToLower(c.KeyID), Name: c.DisplayName, State: CredentialCertificate, On: on, Since: c.StartDateTime, Until: c.EndDateTime})
		}
	}
	if a := app.Application; a != nil {
		creds(OnApplication, a.PasswordCredentials, a.KeyCredentials)
		for _, r := range a.RedirectURIs {
			out = append(out, Fact{Kind: FactRedirectURI, Name: r.URI, State: r.Kind})
		}
		if a.SignInAudience != "" {
			out = append(out, Fact{Kind: FactAudience, Name: a.SignInAudience})
		}
	}
	for _, sp := range app.ServicePrincipals {
		creds(OnServicePrincipal, sp.PasswordCredentials, sp.KeyCredentials)
	}
	for _, c := range app.FederatedIdentityCredentials {
		out = append(out, Fact{Kind: FactFederatedCredential, ID: strings.ToLower(c.ID), Name: c.Name, Detail: c.Issuer + " " + c.Subject})
	}
	for _, o := range app.Owners {
		out = append(out, Fact{Kind: FactOwner, ID: strings.ToLower(o.ID), Name: cmp.Or(o.UPN, o.DisplayName), State: o.Type})
	}
	for _, r := range app.DirectoryRoles {
		out = append(out, Fact{Kind: FactDirectoryRole, ID: strings.ToLower(r.RoleTemplateID), Name: r.DisplayName})
	}
	slices.SortFunc(out, func(a, b Fact) int { return strings.Compare(a.Key(), b.Key()) })
	return slices.CompactFunc(out, func(a, b Fact) bool { return a.Key() == b.Key() })
}

// grantedSince is when the latest app role assignment behind a granted
// permission was created (zero for a delegated grant, which Graph does not
// date).
func grantedSince(app *App, p Permission) time.Time {
	var t time.Time
	for _, sp := range app.ServicePrincipals {
		for _, a := range sp.AppRoleAssignments {
			if slices.Contains(p.GrantIDs, a.ID) && a.CreatedDateTime.After(t) {
				t = a.CreatedDateTime
			}
		}
	}
	return t
}

// Change is what one signal changed about an app, as AppWarden judges it:
// the facts it added against those recorded before. A change is judged by
// what it added, so that a rename of an app that always held power is not
// taken for an escalation.
type Change struct {
	Kind      SignalKind `json:"kind"`
	Activity  string     `json:"activity,omitempty"`
	Initiator Initiator  `json:"initiator"`
	At        time.Time  `json:"at,omitzero"`
	Source    Source     `json:"source,omitempty"`
	// New is true when the app is new to AppWarden (created after its
	// installation, or never recorded): everything it holds counts as added.
	New bool `json:"new"`
	// Since is when the facts compared against were recorded (for an app
	// older than AppWarden whose facts were never read, the installation).
	Since time.Time `json:"since,omitzero"`
	// Added are the facts the app holds now that it did not hold then.
	Added []Fact `json:"added"`
	// Lazy is true when the baseline was never read (an app older than the
	// installation, resolved for the first time): Added then holds only what
	// the signal names and what Graph dates after Since.
	Lazy bool `json:"lazy,omitempty"`
	// Known are the optional parts (App.Read) the facts compared against
	// had read: a fact of one of them that the app holds now and did not
	// then is in Added. A fact of another optional part is in Added only
	// when the signal names it or Graph dates it after Since.
	Known []string `json:"known,omitempty"`
}

// AddedFact reports whether the change added a fact the evidence is about.
func (c *Change) AddedFact(e Evidence) bool {
	if c == nil {
		return false
	}
	return slices.ContainsFunc(c.Added, func(f Fact) bool { return f.Matches(e) })
}

// Diff returns the facts in now that are not in before.
func Diff(before, now []Fact) []Fact {
	had := make(map[string]bool, len(before))
	for _, f := range before {
		had[f.Key()] = true
	}
	var out []Fact
	for _, f := range now {
		if !had[f.Key()] {
			out = append(out, f)
		}
	}
	return out
}
