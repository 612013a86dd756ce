package fakegraph

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// Well-known ids.
const (
	// GraphAppID is Microsoft Graph's appId.
	GraphAppID = "00000003-0000-0000-c000-000000000000"
	// MicrosoftServicesTenantID owns Microsoft's first-party apps.
	MicrosoftServicesTenantID = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
)

// GraphAppRoles are a few Microsoft Graph application permissions (app roles),
// by value, with their real ids; AddMicrosoftGraph defines them.
var GraphAppRoles = map[string]string{
	"Application.Read.All":               "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
	"Application.ReadWrite.All":          "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
	"AppRoleAssignment.ReadWrite.All":    "06b708a9-e830-4db3-a914-8e69da51d44f",
	"Directory.ReadWrite.All":            "19dbc75e-c2e2-444c-a770-ec69d8559fc7",
	"Files.ReadWrite.All":                "75359482-378d-4052-8f01-80520e7db3cd",
	"Mail.Read":                          "810c84a8-4a9e-49e6-bf7d-12d183f40d01",
	"Mail.Send":                          "b633e1c5-b582-4048-a93e-9f11b44c7e96",
	"RoleManagement.ReadWrite.Directory": "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8",
	"User.Read.All":                      "df021288-bdef-4463-88db-98f22de89214",
}

// GraphScopes are a few Microsoft Graph delegated permissions (oauth2
// permission scopes), by value, with their real ids.
var GraphScopes = map[string]string{
	"Directory.AccessAsUser.All": "0e263e50-5827-48a4-b97c-d940288653c7",
	"Files.ReadWrite.All":        "863451e7-0667-486c-a5d6-d135439485f0",
	"Mail.Read":                  "570282fd-fa5c-430d-a7fd-fc8dc98a9dca",
	"Mail.Send":                  "e383f46e-2787-4529-855e-0e479a3ffac0",
	"offline_access":             "7427e0e9-2fba-42fe-b0c0-848c9e6a8182",
	"openid":                     "37f7f235-527c-4136-accd-4a02d197296e",
	"User.Read":                  "e1fe6dd8-ba31-4d61-89e7-88639da4683d",
}

// Permission names one permission of a resource app. Type is "Role"
// (application permission) or "Scope" (delegated), as in requiredResourceAccess.
type Permission struct {
	ResourceAppID string
	ID            string // app role or scope id; looked up from Value when empty
	Value         string // e.g. "Mail.Send"; looked up from ID when empty
	Type          string
}

// GraphRole is the Microsoft Graph application permission with that value
// (one of GraphAppRoles).
func GraphRole(value string) Permission {
	id, ok := GraphAppRoles[value]
	if !ok {
		panic("fakegraph: unknown Graph app role " + value)
	}
	return Permission{ResourceAppID: GraphAppID, ID: id, Value: value, Type: "Role"}
}

// GraphScope is the Microsoft Graph delegated permission with that value
// (one of GraphScopes).
func GraphScope(value string) Permission {
	id, ok := GraphScopes[value]
	if !ok {
		panic("fakegraph: unknown Graph scope " + value)
	}
	return Permission{ResourceAppID: GraphAppID, ID: id, Value: value, Type: "Scope"}
}

// Credential describes a client secret (passwordCredentials) or certificate
// (keyCredentials). Zero Start means now, zero End means Start plus one year.
type Credential struct {
	KeyID       string
	DisplayName string
	Hint        string
	Start, End  time.Time
}

// Owner is an owner of an application or service principal. Type is "user"
// (default) or "servicePrincipal".
type Owner struct {
	ID          string // generated when empty
	Type        string
	DisplayName string
	UPN         string
	Mail        string
}

// Role defines an app role or delegated scope on a resource service principal.
type Role struct {
	ID    string // generated when empty
	Value string
}

// AppSpec describes an app registered in this tenant: an application object
// and (unless NoServicePrincipal) its service principal. Zero values get
// sensible defaults.
type AppSpec struct {
	AppID, ApplicationID, ServicePrincipalID string // generated when empty
	DisplayName                              string
	SignInAudience                           string    // default AzureADMyOrg
	CreatedDateTime                          time.Time // default now
	PublisherDomain                          string
	IsDisabled                               bool
	Tags                                     []string
	Notes                                    string
	Secrets                                  []Credential
	Certificates                             []Credential
	RedirectURIs                             []string     // web redirect URIs
	Requested                                []Permission // requiredResourceAccess
	Owners                                   []Owner      // owners of the application

	NoServicePrincipal bool
	SPDisabled         bool         // service principal accountEnabled false
	Granted            []Permission // granted to the service principal (needs the resource SP, e.g. AddMicrosoftGraph)
}

// SPSpec describes a service principal with no application object in this
// tenant: a multi-tenant app from elsewhere, a managed identity, a Microsoft
// app, or a resource API with app roles and scopes.
type SPSpec struct {
	AppID, ID              string // generated when empty
	DisplayName            string
	Disabled               bool
	AppOwnerOrganizationID string // default: a random other tenant
	ServicePrincipalType   string // default Application
	Tags                   []string
	AppRoles               []Role
	Scopes                 []Role
	Owners                 []Owner
	Granted                []Permission
}

// IDs are the ids of what a builder created.
type IDs struct {
	AppID              string
	ApplicationID      string
	ServicePrincipalID string
	AssignmentIDs      []string
	GrantIDs           []string
}

// AddMicrosoftGraph adds Microsoft Graph's service principal with the app
// roles in GraphAppRoles and scopes in GraphScopes (once; later calls return
// the existing ids).
func (t *Tenant) AddMicrosoftGraph() IDs {
	t.mu.RLock()
	o := t.sps.byAppID[GraphAppID]
	t.mu.RUnlock()
	if o != nil {
		return IDs{AppID: GraphAppID, ServicePrincipalID: o.id}
	}
	spec := SPSpec{AppID: GraphAppID, DisplayName: "Microsoft Graph", AppOwnerOrganizationID: MicrosoftServicesTenantID}
	for _, v := range slices.Sorted(maps.Keys(GraphAppRoles)) {
		spec.AppRoles = append(spec.AppRoles, Role{ID: GraphAppRoles[v], Value: v})
	}
	for _, v := range slices.Sorted(maps.Keys(GraphScopes)) {
		spec.Scopes = append(spec.Scopes, Role{ID: GraphScopes[v], Value: v})
	}
	ids, err := t.addServicePrincipal(spec, false)
	if err != nil {
		panic("fakegraph: AddMicrosoftGraph: " + err.Error())
	}
	return ids
}

// AddApp adds an app described by spec and returns its ids. It panics on an
// impossible spec (duplicate ids, a granted permission whose resource service
// principal is missing), like a broken test fixture.
func (t *Tenant) AddApp(spec AppSpec) IDs {
	ids, err := t.addApp(spec)
	if err != nil {
		panic("fakegraph: AddApp: " + err.Error())
	}
	return ids
}

func (t *Tenant) addApp(spec AppSpec) (IDs, error) {
	if spec.AppID == "" {
		spec.AppID = uuid.NewString()
	}
	if spec.ApplicationID == "" {
		spec.ApplicationID = uuid.NewString()
	}
	if spec.DisplayName == "" {
		spec.DisplayName = "app-" + spec.AppID[:8]
	}
	if spec.SignInAudience == "" {
		spec.SignInAudience = "AzureADMyOrg"
	}
	if spec.CreatedDateTime.IsZero() {
		spec.CreatedDateTime = now()
	}
	app := models.NewApplication()
	app.SetId(ptr(spec.ApplicationID))
	app.SetAppId(ptr(spec.AppID))
	app.SetDisplayName(ptr(spec.DisplayName))
	app.SetSignInAudience(ptr(spec.SignInAudience))
	app.SetCreatedDateTime(ptr(spec.CreatedDateTime.UTC()))
	if spec.PublisherDomain != "" {
		app.SetPublisherDomain(ptr(spec.PublisherDomain))
	}
	app.SetTags(append([]string{}, spec.Tags...))
	if spec.Notes != "" {
		app.SetNotes(ptr(spec.Notes))
	}
	app.GetAdditionalData()["isDisabled"] = spec.IsDisabled
	pcs := []models.PasswordCredentialable{}
	for _, c := range spec.Secrets {
		pcs = append(pcs, passwordCredential(c))
	}
	app.SetPasswordCredentials(pcs)
	kcs := []models.KeyCredentialable{}
	for _, c := range spec.Certificates {
		kcs = append(kcs, keyCredential(c))
	}
	app.SetKeyCredentials(kcs)
	web := models.NewWebApplication()
	web.SetRedirectUris(append([]string{}, spec.RedirectURIs...))
	app.SetWeb(web)
	app.SetRequiredResourceAccess(requiredResourceAccess(spec.Requested))

	t.mu.Lock()
	defer t.mu.Unlock()
	if t.apps.byAppID[strings.ToLower(spec.AppID)] != nil || t.sps.byAppID[strings.ToLower(spec.AppID)] != nil {
		return IDs{}, fmt.Errorf("appId %s already exists", spec.AppID)
	}
	// Resolve everything that can fail before changing state.
	granted, err := t.resolvePermissionsLocked(spec.Granted)
	if err != nil {
		return IDs{}, err
	}
	if len(granted) > 0 && spec.NoServicePrincipal {
		return IDs{}, fmt.Errorf("granted permissions need a service principal")
	}
	ao, err := t.putApplicationLocked(app)
	if err != nil {
		return IDs{}, err
	}
	t.auditAddApplicationLocked(ao)
	ids := IDs{AppID: spec.AppID, ApplicationID: spec.ApplicationID}
	for _, ow := range spec.Owners {
		owner := ownerObject(ow)
		if err := t.putOwnerLocked(spec.ApplicationID, owner); err != nil {
			return IDs{}, err
		}
		t.auditAddOwnerLocked(setApplications, ao, owner)
	}
	if spec.NoServicePrincipal {
		return ids, nil
	}
	sp := models.NewServicePrincipal()
	sp.SetId(ptr(spec.ServicePrincipalID))
	sp.SetAppId(ptr(spec.AppID))
	sp.SetDisplayName(ptr(spec.DisplayName))
	sp.SetAccountEnabled(ptr(!spec.SPDisabled))
	if u, err := uuid.Parse(t.tenantID); err == nil {
		sp.SetAppOwnerOrganizationId(&u)
	}
	sp.SetServicePrincipalType(ptr("Application"))
	sp.SetSignInAudience(ptr(spec.SignInAudience))
	sp.SetServicePrincipalNames([]string{spec.AppID})
	sp.SetTags([]string{})
	o, err := t.putServicePrincipalLocked(sp)
	if err != nil {
		return IDs{}, err
	}
	t.auditAddServicePrincipalLocked(o, t.tenantID, "Application")
	ids.ServicePrincipalID = o.id
	ids.AssignmentIDs, ids.GrantIDs, err = t.grantLocked(o, granted)
	return ids, err
}

// AddServicePrincipal adds a service principal with no local application
// object and returns its ids. It panics on an impossible spec.
func (t *Tenant) AddServicePrincipal(spec SPSpec) IDs {
	ids, err := t.addServicePrincipal(spec, true)
	if err != nil {
		panic("fakegraph: AddServicePrincipal: " + err.Error())
	}
	return ids
}

func (t *Tenant) addServicePrincipal(spec SPSpec, audit bool) (IDs, error) {
	if spec.AppID == "" {
		spec.AppID = uuid.NewString()
	}
	if spec.DisplayName == "" {
		spec.DisplayName = "sp-" + spec.AppID[:8]
	}
	if spec.AppOwnerOrganizationID == "" {
		spec.AppOwnerOrganizationID = uuid.NewString()
	}
	if spec.ServicePrincipalType == "" {
		spec.ServicePrincipalType = "Application"
	}
	sp := models.NewServicePrincipal()
	if spec.ID != "" {
		sp.SetId(ptr(spec.ID))
	}
	sp.SetAppId(ptr(spec.AppID))
	sp.SetDisplayName(ptr(spec.DisplayName))
	sp.SetAccountEnabled(ptr(!spec.Disabled))
	sp.SetAppOwnerOrganizationId(uuidPtr(spec.AppOwnerOrganizationID))
	sp.SetServicePrincipalType(ptr(spec.ServicePrincipalType))
	sp.SetServicePrincipalNames([]string{spec.AppID})
	sp.SetTags(append([]string{}, spec.Tags...))
	roles := []models.AppRoleable{}
	for _, r := range spec.AppRoles {
		ar := models.NewAppRole()
		ar.SetId(uuidPtr(orNewUUID(r.ID)))
		ar.SetValue(ptr(r.Value))
		ar.SetDisplayName(ptr(r.Value))
		ar.SetIsEnabled(ptr(true))
		ar.SetAllowedMemberTypes([]string{"Application"})
		roles = append(roles, ar)
	}
	sp.SetAppRoles(roles)
	scopes := []models.PermissionScopeable{}
	for _, r := range spec.Scopes {
		ps := models.NewPermissionScope()
		ps.SetId(uuidPtr(orNewUUID(r.ID)))
		ps.SetValue(ptr(r.Value))
		ps.SetAdminConsentDisplayName(ptr(r.Value))
		ps.SetIsEnabled(ptr(true))
		ps.SetTypeEscaped(ptr("User"))
		scopes = append(scopes, ps)
	}
	sp.SetOauth2PermissionScopes(scopes)

	t.mu.Lock()
	defer t.mu.Unlock()
	granted, err := t.resolvePermissionsLocked(spec.Granted)
	if err != nil {
		return IDs{}, err
	}
	o, err := t.putServicePrincipalLocked(sp)
	if err != nil {
		return IDs{}, err
	}
	if audit {
		t.auditAddServicePrincipalLocked(o, spec.AppOwnerOrganizationID, spec.ServicePrincipalType)
	}
	for _, ow := range spec.Owners {
		owner := ownerObject(ow)
		if err := t.putOwnerLocked(o.id, owner); err != nil {
			return IDs{}, err
		}
		if audit {
			t.auditAddOwnerLocked(setServicePrincipals, o, owner)
		}
	}
	ids := IDs{AppID: spec.AppID, ServicePrincipalID: o.id}
	ids.AssignmentIDs, ids.GrantIDs, err = t.grantLocked(o, granted)
	return ids, err
}

// AddOwner adds an owner to an application or service principal (by object
// id; an appId names the application, else the service principal) and
// returns the owner's id. Audit: "Add owner to application" or "Add owner to
// service principal", the new owner as targetResources[0] carrying the owned
// object's Application.ObjectID/AppId/DisplayName (ServicePrincipal.*).
func (t *Tenant) AddOwner(key string, ow Owner) (ownerID string) {
	o := ownerObject(ow)
	t.mu.Lock()
	defer t.mu.Unlock()
	setName, owned := setApplications, t.apps.byID[key]
	if owned == nil {
		setName, owned = setServicePrincipals, t.sps.byID[key]
	}
	if owned == nil {
		setName, owned = setApplications, t.apps.byAppID[strings.ToLower(key)]
	}
	if owned == nil {
		setName, owned = setServicePrincipals, t.sps.byAppID[strings.ToLower(key)]
	}
	objectID := key
	if owned != nil {
		objectID = owned.id
	}
	if err := t.putOwnerLocked(objectID, o); err != nil {
		panic("fakegraph: AddOwner: " + err.Error())
	}
	if owned != nil {
		t.auditAddOwnerLocked(setName, owned, o)
	}
	return *o.GetId()
}

// Grant grants permissions to an existing service principal (by appId or
// object id) and returns the new assignment and grant ids.
func (t *Tenant) Grant(spKey string, perms ...Permission) (assignmentIDs, grantIDs []string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.sps.lookup(spKey)
	if o == nil {
		return nil, nil, fmt.Errorf("fakegraph: no servicePrincipal %s", spKey)
	}
	resolved, err := t.resolvePermissionsLocked(perms)
	if err != nil {
		return nil, nil, err
	}
	return t.grantLocked(o, resolved)
}

type resolvedPermission struct {
	Permission
	resource *object
}

func (t *Tenant) resolvePermissionsLocked(perms []Permission) ([]resolvedPermission, error) {
	var out []resolvedPermission
	for _, p := range perms {
		res := t.sps.byAppID[strings.ToLower(p.ResourceAppID)]
		if res == nil {
			return nil, fmt.Errorf("no service principal for resource appId %s (add it first, e.g. AddMicrosoftGraph)", p.ResourceAppID)
		}
		if p.ID == "" || p.Value == "" {
			sp, err := parse[models.ServicePrincipalable](res.raw, models.CreateServicePrincipalFromDiscriminatorValue)
			if err != nil {
				return nil, err
			}
			found := false
			if p.Type == "Role" {
				for _, r := range sp.GetAppRoles() {
					if r.GetId() != nil && (strings.EqualFold(r.GetId().String(), p.ID) || str(r.GetValue()) == p.Value) {
						p.ID, p.Value, found = r.GetId().String(), str(r.GetValue()), true
						break
					}
				}
			} else {
				for _, s := range sp.GetOauth2PermissionScopes() {
					if s.GetId() != nil && (strings.EqualFold(s.GetId().String(), p.ID) || str(s.GetValue()) == p.Value) {
						p.ID, p.Value, found = s.GetId().String(), str(s.GetValue()), true
						break
					}
				}
			}
			if !found {
				return nil, fmt.Errorf("resource %s defines no %s %q%q", p.ResourceAppID, p.Type, p.ID, p.Value)
			}
		}
		if p.Type != "Role" && p.Type != "Scope" {
			return nil, fmt.Errorf("permission type %q: want Role or Scope", p.Type)
		}
		out = append(out, resolvedPermission{Permission: p, resource: res})
	}
	return out, nil
}

// grantLocked creates app role assignments for roles and one AllPrincipals
// grant per resource for scopes, and bumps the service principal's change sequence.
func (t *Tenant) grantLocked(sp *object, perms []resolvedPermission) (assignmentIDs, grantIDs []string, err error) {
	scopes := map[*object][]string{}
	var resources []*object
	for _, p := range perms {
		if p.Type == "Role" {
			a := models.NewAppRoleAssignment()
			a.SetAppRoleId(uuidPtr(p.ID))
			a.SetPrincipalId(uuidPtr(sp.id))
			a.SetPrincipalType(ptr("ServicePrincipal"))
			a.SetPrincipalDisplayName(ptr(sp.displayName))
			a.SetResourceId(uuidPtr(p.resource.id))
			a.SetResourceDisplayName(ptr(p.resource.displayName))
			a.SetCreatedDateTime(ptr(now()))
			rec, err := t.putAssignmentLocked(a)
			if err != nil {
				return nil, nil, err
			}
			t.auditAppRoleLocked(sp, p.resource, p.ID, p.Value)
			assignmentIDs = append(assignmentIDs, rec.id)
			continue
		}
		if _, ok := scopes[p.resource]; !ok {
			resources = append(resources, p.resource)
		}
		scopes[p.resource] = append(scopes[p.resource], p.Value)
	}
	for _, res := range resources {
		if rec := t.adminGrantLocked(sp.id, res.id); rec != nil {
			// Consent adds to the tenant-wide grant the client already
			// holds for the resource.
			old := rec.scope
			scope := strings.Fields(old)
			for _, s := range scopes[res] {
				if !slices.Contains(scope, s) {
					scope = append(scope, s)
				}
			}
			if err := t.setGrantScopeLocked(rec, strings.Join(scope, " ")); err != nil {
				return nil, nil, err
			}
			t.auditDelegatedLocked(sp, res, old, rec.scope, "AllPrincipals")
			grantIDs = append(grantIDs, rec.id)
			continue
		}
		g := models.NewOAuth2PermissionGrant()
		g.SetClientId(ptr(sp.id))
		g.SetConsentType(ptr("AllPrincipals"))
		g.SetResourceId(ptr(res.id))
		g.SetScope(ptr(strings.Join(scopes[res], " ")))
		rec, err := t.putGrantLocked(g)
		if err != nil {
			return nil, nil, err
		}
		t.auditDelegatedLocked(sp, res, "", rec.scope, "AllPrincipals")
		grantIDs = append(grantIDs, rec.id)
	}
	if len(perms) > 0 {
		t.touch(&t.sps, sp)
	}
	return assignmentIDs, grantIDs, nil
}

func requiredResourceAccess(perms []Permission) []models.RequiredResourceAccessable {
	out := []models.RequiredResourceAccessable{}
	byRes := map[string]models.RequiredResourceAccessable{}
	for _, p := range perms {
		rra, ok := byRes[p.ResourceAppID]
		if !ok {
			rra = models.NewRequiredResourceAccess()
			rra.SetResourceAppId(ptr(p.ResourceAppID))
			rra.SetResourceAccess([]models.ResourceAccessable{})
			byRes[p.ResourceAppID] = rra
			out = append(out, rra)
		}
		ra := models.NewResourceAccess()
		id := p.ID
		if id == "" {
			switch {
			case p.ResourceAppID == GraphAppID && p.Type == "Role":
				id = GraphAppRoles[p.Value]
			case p.ResourceAppID == GraphAppID:
				id = GraphScopes[p.Value]
			}
		}
		ra.SetId(uuidPtr(orNewUUID(id)))
		typ := p.Type
		if typ == "" {
			typ = "Role"
		}
		ra.SetTypeEscaped(ptr(typ))
		rra.SetResourceAccess(append(rra.GetResourceAccess(), ra))
	}
	return out
}

func passwordCredential(c Credential) models.PasswordCredentialable {
	c = credentialDefaults(c)
	pc := models.NewPasswordCredential()
	pc.SetKeyId(uuidPtr(c.KeyID))
	if c.DisplayName != "" {
		pc.SetDisplayName(ptr(c.DisplayName))
	}
	if c.Hint == "" {
		c.Hint = randomSecret()[:3]
	}
	pc.SetHint(ptr(c.Hint))
	pc.SetStartDateTime(ptr(c.Start))
	pc.SetEndDateTime(ptr(c.End))
	return pc
}

func keyCredential(c Credential) models.KeyCredentialable {
	c = credentialDefaults(c)
	kc := models.NewKeyCredential()
	kc.SetKeyId(uuidPtr(c.KeyID))
	if c.DisplayName != "" {
		kc.SetDisplayName(ptr(c.DisplayName))
	}
	kc.SetTypeEscaped(ptr("AsymmetricX509Cert"))
	kc.SetUsage(ptr("Verify"))
	kc.SetStartDateTime(ptr(c.Start))
	kc.SetEndDateTime(ptr(c.End))
	return kc
}

func credentialDefaults(c Credential) Credential {
	if c.KeyID == "" {
		c.KeyID = uuid.NewString()
	}
	if c.Start.IsZero() {
		c.Start = now()
	}
	if c.End.IsZero() {
		c.End = c.Start.AddDate(1, 0, 0)
	}
	c.Start, c.End = c.Start.UTC(), c.End.UTC()
	return c
}

func ownerObject(ow Owner) models.DirectoryObjectable {
	if ow.ID == "" {
		ow.ID = uuid.NewString()
	}
	if ow.Type == "servicePrincipal" {
		sp := models.NewServicePrincipal()
		sp.SetId(ptr(ow.ID))
		if ow.DisplayName != "" {
			sp.SetDisplayName(ptr(ow.DisplayName))
		}
		return sp
	}
	u := models.NewUser()
	u.SetId(ptr(ow.ID))
	if ow.DisplayName != "" {
		u.SetDisplayName(ptr(ow.DisplayName))
	}
	if ow.UPN != "" {
		u.SetUserPrincipalName(ptr(ow.UPN))
	}
	if ow.Mail != "" {
		u.SetMail(ptr(ow.Mail))
	}
	return u
}

func uuidPtr(s string) *uuid.UUID {
	u, err := uuid.Parse(s)
	if err != nil {
		panic(fmt.Sprintf("fakegraph: %q is not a GUID", s))
	}
	return &u
}

func orNewUUID(s string) string {
	if s == "" {
		return uuid.NewString()
	}
	return s
}

// newGraphID makes an id in the style Graph uses for appRoleAssignments and
// oauth2PermissionGrants (43 base64url characters).
func newGraphID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func randomSecret() string {
	var b [30]byte
	_, _ = rand.Read(b[:])
	s := base64.RawURLEncoding.EncodeToString(b[:])
	return strings.NewReplacer("-", "~", "_", ".").Replace(s)
}

// adminGrantLocked is the client's AllPrincipals grant for the resource, or nil.
func (t *Tenant) adminGrantLocked(clientID, resourceID string) *grantRec {
	for _, g := range t.grantsByClient[clientID] {
		if g.resourceID == resourceID && g.consentType == "AllPrincipals" {
			return g
		}
	}
	return nil
}

func (t *Tenant) setGrantScopeLocked(rec *grantRec, scope string) error {
	g, err := parse[models.OAuth2PermissionGrantable](rec.raw, models.CreateOAuth2PermissionGrantFromDiscriminatorValue)
	if err != nil {
		return err
	}
	g.SetScope(&scope)
	raw, err := marshal(g)
	if err != nil {
		return err
	}
	rec.raw, rec.scope = raw, scope
	return nil
}
