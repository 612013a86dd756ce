package appwarden

import (
	"errors"
	"time"
)

// ErrUnresolvable marks a resolution that failed for good: Graph refused
// the request itself (400, e.g. a service principal name taken for an
// appId) or access to the object (403 Authorization_RequestDenied). Asking
// again cannot change the answer, so an invocation that meets it records an
// "unresolvable" decision and succeeds rather than failing until its input
// dead-letters. Resolvers' errors match it with errors.Is.
var ErrUnresolvable = errors.New("unresolvable in Microsoft Graph")

// ErrAccessDenied marks the unresolvable resolutions that Graph refused
// with 403: a permission AppWarden's identity lacks (or lost), which leaves
// apps unjudged until an administrator grants it again. It is also
// ErrUnresolvable.
var ErrAccessDenied = errors.New("access refused by Microsoft Graph (403)")

// ErrNotYetVisible marks a resolution that found no object where a recent
// change says there is one: past the re-reads of one invocation, and not
// among deleted items, so most likely replication lag. Neither decided nor
// a failure to retry at once: an invocation that meets it leaves the
// signal pending in the inbox for the timer to read again, and answers 200
// (redelivery would only repeat the same reads sooner). Once the change is
// old enough for lag not to explain the absence, the app is "gone".
var ErrNotYetVisible = errors.New("graph: object not visible yet (replication lag); retry later")

// App is the resolved truth about one application, read from Microsoft Graph.
// Policy judges it and remediation acts on it. The JSON form (lowerCamelCase)
// is what policy conditions see and what `appwarden policy test --app` reads.
type App struct {
	AppID       string `json:"appId"`
	DisplayName string `json:"displayName"`
	// Application is the registration in this tenant, or nil when the app
	// exists here only as a service principal (a multi-tenant app from
	// another tenant, a managed identity, a Microsoft first-party app).
	Application *Application `json:"application,omitempty"`
	// ServicePrincipals are the app's service principals in this tenant
	// (normally zero or one).
	ServicePrincipals []ServicePrincipal `json:"servicePrincipals,omitempty"`
	Owners            []Principal        `json:"owners,omitempty"`
	// Creator comes from the signal's initiator; zero when unknown.
	Creator Initiator `json:"creator"`
	// Permissions lists every permission requested or granted, with names and
	// privilege levels.
	Permissions []Permission `json:"permissions,omitempty"`
	// FederatedIdentityCredentials are the registration's federated
	// credentials: trust in another issuer's tokens (GitHub Actions, a
	// Kubernetes cluster...), a credential with no secret to steal but one to
	// forge. Read only where they can matter (see graph.Resolve); Read lists
	// what was read.
	FederatedIdentityCredentials []FederatedCredential `json:"federatedIdentityCredentials,omitempty"`
	// DirectoryRoles are the directory roles the service principal holds
	// (Global Administrator...), which can outweigh any permission.
	DirectoryRoles []DirectoryRole `json:"directoryRoles,omitempty"`
	// Read lists the optional parts that resolution read ("federatedIdentityCredentials",
	// "directoryRoles"): a part not read is unknown, not empty.
	Read []string `json:"read,omitempty"`
	// Change is what the signal being judged added to the app, against the
	// facts AppWarden recorded before (see Change); nil when the app is
	// judged as a whole (scan, policy test).
	Change *Change `json:"change,omitempty"`
	// Deleted is set when the app is gone: Graph lists it in deleted items,
	// or it still answers 404 after the re-reads and the change is too old
	// (or the sweep saw it too recently) for replication lag to explain it.
	Deleted bool `json:"deleted,omitempty"`
	// Unresolvable is why Graph could not be asked about the app (its error
	// code and message, see ErrUnresolvable); nothing else is known then,
	// and nothing is judged or done.
	Unresolvable string `json:"unresolvable,omitempty"`
	// Unread lists the parts of the app Graph refused to show (403: a
	// permission AppWarden lacks, such as owners without User.ReadBasic.All).
	// The app is still judged on what could be read, so that a missing read
	// permission never lets a risky app through unjudged.
	Unread []string `json:"unread,omitempty"`
	// SPOnly is true when there is no local application object; SPOnlyReason
	// says why in words.
	SPOnly       bool      `json:"spOnly,omitempty"`
	SPOnlyReason string    `json:"spOnlyReason,omitempty"`
	ResolvedAt   time.Time `json:"resolvedAt"`
}

// Application is the subset of Graph's application resource AppWarden reads.
type Application struct {
	ID                     string             `json:"id"`
	AppID                  string             `json:"appId"`
	DisplayName            string             `json:"displayName"`
	CreatedDateTime        time.Time          `json:"createdDateTime"`
	SignInAudience         string             `json:"signInAudience"`
	PublisherDomain        string             `json:"publisherDomain,omitempty"`
	VerifiedPublisher      *VerifiedPublisher `json:"verifiedPublisher,omitempty"`
	RequiredResourceAccess []RequiredResource `json:"requiredResourceAccess,omitempty"`
	PasswordCredentials    []Credential       `json:"passwordCredentials,omitempty"`
	KeyCredentials         []Credential       `json:"keyCredentials,omitempty"`
	RedirectURIs           []RedirectURI      `json:"redirectUris,omitempty"`
	IdentifierURIs         []string           `json:"identifierUris,omitempty"`
	IsDisabled             bool               `json:"isDisabled"`
	Tags                   []string           `json:"tags,omitempty"`
	Notes                  string             `json:"notes,omitempty"`
}

// VerifiedPublisher is the Microsoft Partner Network verification, if any.
type VerifiedPublisher struct {
	DisplayName         string    `json:"displayName,omitempty"`
	VerifiedPublisherID string    `json:"verifiedPublisherId,omitempty"`
	AddedDateTime       time.Time `json:"addedDateTime,omitempty"`
}

// RequiredResource is one entry of requiredResourceAccess.
type RequiredResource struct {
	ResourceAppID  string           `json:"resourceAppId"`
	ResourceAccess []ResourceAccess `json:"resourceAccess"`
}

// ResourceAccess is one requested permission: Type "Role" (application) or
// "Scope" (delegated).
type ResourceAccess struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// Credential is a secret's or certificate's metadata; never its value.
type Credential struct {
	KeyID         string    `json:"keyId"`
	DisplayName   string    `json:"displayName,omitempty"`
	Type          string    `json:"type,omitempty"`
	Usage         string    `json:"usage,omitempty"`
	Hint          string    `json:"hint,omitempty"`
	StartDateTime time.Time `json:"startDateTime"`
	EndDateTime   time.Time `json:"endDateTime"`
}

// Lifetime is how long the credential is valid for, from start to end.
func (c Credential) Lifetime() time.Duration {
	if c.StartDateTime.IsZero() || c.EndDateTime.IsZero() {
		return 0
	}
	return c.EndDateTime.Sub(c.StartDateTime)
}

// Redirect URI kinds, after the application property they come from.
const (
	RedirectWeb          = "web"
	RedirectSPA          = "spa"
	RedirectPublicClient = "publicClient"
)

// RedirectURI is one reply URL with the platform it is registered for.
type RedirectURI struct {
	Kind string `json:"kind"`
	URI  string `json:"uri"`
}

// ServicePrincipal is the subset of Graph's servicePrincipal resource AppWarden reads.
type ServicePrincipal struct {
	ID                     string   `json:"id"`
	AppID                  string   `json:"appId"`
	DisplayName            string   `json:"displayName"`
	AccountEnabled         bool     `json:"accountEnabled"`
	AppOwnerOrganizationID string   `json:"appOwnerOrganizationId,omitempty"`
	ServicePrincipalType   string   `json:"servicePrincipalType,omitempty"`
	Tags                   []string `json:"tags,omitempty"`
	// PasswordCredentials and KeyCredentials are the service principal's
	// own secrets and certificates, separate from the registration's: the
	// path by which a Microsoft first-party app that holds wide permissions
	// in the tenant can be given a key.
	PasswordCredentials    []Credential            `json:"passwordCredentials,omitempty"`
	KeyCredentials         []Credential            `json:"keyCredentials,omitempty"`
	AppRoleAssignments     []AppRoleAssignment     `json:"appRoleAssignments,omitempty"`
	OAuth2PermissionGrants []OAuth2PermissionGrant `json:"oauth2PermissionGrants,omitempty"`
}

// AppRoleAssignment is an application permission granted to a service principal.
type AppRoleAssignment struct {
	ID                  string    `json:"id"`
	AppRoleID           string    `json:"appRoleId"`
	PrincipalID         string    `json:"principalId"`
	ResourceID          string    `json:"resourceId"`
	ResourceDisplayName string    `json:"resourceDisplayName,omitempty"`
	CreatedDateTime     time.Time `json:"createdDateTime,omitempty"`
}

// OAuth2PermissionGrant is a delegated permission grant. ConsentType is
// "AllPrincipals" for tenant-wide admin consent, "Principal" for one user.
type OAuth2PermissionGrant struct {
	ID          string `json:"id"`
	ClientID    string `json:"clientId"`
	ConsentType string `json:"consentType"`
	PrincipalID string `json:"principalId,omitempty"`
	ResourceID  string `json:"resourceId"`
	Scope       string `json:"scope"`
}

// Principal is an owner: a user or a service principal.
type Principal struct {
	ID          string `json:"id"`
	UPN         string `json:"upn,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	Mail        string `json:"mail,omitempty"`
	// Type is "user" or "servicePrincipal".
	Type string `json:"type"`
}

// Permission types.
const (
	PermissionApplication = "application"
	PermissionDelegated   = "delegated"
)

// Permission is one permission the app requests or holds, with its name and
// Microsoft's privilege level (1-5; 0 when unknown). An unknown permission
// keeps its id as its name, so it stays visible.
type Permission struct {
	ResourceAppID string `json:"resourceAppId"`
	ResourceName  string `json:"resourceName,omitempty"`
	ID            string `json:"id"`
	Name          string `json:"name"`
	Type          string `json:"type"`
	Privilege     int    `json:"privilege"`
	Requested     bool   `json:"requested"`
	Granted       bool   `json:"granted"`
	// AdminConsent is true for a delegated scope granted tenant-wide.
	AdminConsent bool `json:"adminConsent,omitempty"`
	// GrantIDs are the appRoleAssignment or oauth2PermissionGrant ids behind
	// a granted permission.
	GrantIDs []string `json:"grantIds,omitempty"`
	// Hidden is set on an application permission granted to the service
	// principal that the app's registration in this tenant never requested:
	// a grant made straight to the service principal, invisible on the
	// registration's API permissions page.
	Hidden bool `json:"hidden,omitempty"`
}

// FederatedCredential is one federated identity credential of a registration.
type FederatedCredential struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Issuer      string   `json:"issuer"`
	Subject     string   `json:"subject"`
	Audiences   []string `json:"audiences,omitempty"`
	Description string   `json:"description,omitempty"`
}

// DirectoryRole is a directory role the service principal is a member of.
type DirectoryRole struct {
	// ID is the activated role's object id in this tenant; RoleTemplateID is
	// the same in every tenant (62e90394-... is Global Administrator).
	ID             string `json:"id"`
	RoleTemplateID string `json:"roleTemplateId"`
	DisplayName    string `json:"displayName"`
}

// ServicePrincipal returns the app's first service principal, or nil.
func (a *App) ServicePrincipal() *ServicePrincipal {
	if len(a.ServicePrincipals) == 0 {
		return nil
	}
	return &a.ServicePrincipals[0]
}

// Microsoft's first-party tenant ids (appOwnerOrganizationId).
const (
	MicrosoftServicesTenantID = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
	MicrosoftTenantID         = "72f988bf-86f1-41af-91ab-2d7cd011db47"
)

// IsMicrosoftFirstParty reports whether any service principal of the app is
// owned by a Microsoft tenant.
func (a *App) IsMicrosoftFirstParty() bool {
	for _, sp := range a.ServicePrincipals {
		if sp.AppOwnerOrganizationID == MicrosoftServicesTenantID || sp.AppOwnerOrganizationID == MicrosoftTenantID {
			return true
		}
	}
	return false
}

// IsManagedIdentity reports whether the app is a managed identity.
func (a *App) IsManagedIdentity() bool {
	for _, sp := range a.ServicePrincipals {
		if sp.ServicePrincipalType == "ManagedIdentity" {
			return true
		}
	}
	return false
}
