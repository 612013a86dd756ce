package fakegraph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"

	"github.com/google/uuid"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// Tenant helpers that simulate a person or an attacker changing an app that
// already exists. Each changes the tenant as Graph would and appends the
// audit record Entra writes for it, initiated by the current actor
// (SetActor). They panic on a key that names nothing, like a broken fixture.
// appKey is an appId or an object id.

// AddApplicationPassword adds a client secret to an application and returns
// its keyId. Audit: "Update application – Certificates and secrets
// management " with KeyDescription before and after.
func (t *Tenant) AddApplicationPassword(appKey, displayName string) (keyID string) {
	return t.addCredential(setApplications, appKey, displayName, false)
}

// AddApplicationCertificate adds a certificate (keyCredentials) to an
// application and returns its keyId. Audit as AddApplicationPassword, with
// KeyType=AsymmetricX509Cert.
func (t *Tenant) AddApplicationCertificate(appKey, displayName string) (keyID string) {
	return t.addCredential(setApplications, appKey, displayName, true)
}

// AddServicePrincipalPassword adds a password to a service principal (the
// app's own in this tenant, or a Microsoft first-party one: the "I SPy"
// path) and returns its keyId. Audit: "Add service principal credentials".
func (t *Tenant) AddServicePrincipalPassword(appKey, displayName string) (keyID string) {
	return t.addCredential(setServicePrincipals, appKey, displayName, false)
}

// AddServicePrincipalCertificate adds a certificate to a service principal
// and returns its keyId. Audit: "Add service principal credentials".
func (t *Tenant) AddServicePrincipalCertificate(appKey, displayName string) (keyID string) {
	return t.addCredential(setServicePrincipals, appKey, displayName, true)
}

func (t *Tenant) addCredential(setName, key, displayName string, cert bool) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.set(setName).lookup(key)
	if o == nil {
		panic(fmt.Sprintf("fakegraph: no %s %s", strings.TrimSuffix(setName, "s"), key))
	}
	var keyID string
	var beforeP, afterP []models.PasswordCredentialable
	var beforeK, afterK []models.KeyCredentialable
	err := t.updateCredentialsLocked(setName, o, func(pcs []models.PasswordCredentialable, kcs []models.KeyCredentialable) ([]models.PasswordCredentialable, []models.KeyCredentialable, error) {
		beforeP, beforeK, afterP, afterK = pcs, kcs, pcs, kcs
		if cert {
			kc := t.certificateLocked(Credential{DisplayName: displayName})
			keyID = kc.GetKeyId().String()
			afterK = append(slices.Clone(kcs), kc)
		} else {
			pc := passwordCredential(Credential{DisplayName: displayName})
			keyID = pc.GetKeyId().String()
			afterP = append(slices.Clone(pcs), pc)
		}
		return afterP, afterK, nil
	})
	if err != nil {
		panic("fakegraph: adding a credential: " + err.Error())
	}
	t.auditCredentialsLocked(setName, o, credentialDescriptions(beforeP, beforeK), credentialDescriptions(afterP, afterK))
	return keyID
}

// AddFederatedCredential adds a federated identity credential (audience
// api://AzureADTokenExchange) to an application and returns its id. Audit:
// "Update application" with the FederatedIdentityCredentials property (the
// property name is what public detections match; no Microsoft page shows a
// sample record).
func (t *Tenant) AddFederatedCredential(appKey, name, issuer, subject string) (id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.apps.lookup(appKey)
	if o == nil {
		panic("fakegraph: no application " + appKey)
	}
	before := t.ficNamesLocked(o.id)
	f := models.NewFederatedIdentityCredential()
	f.SetName(ptr(name))
	f.SetIssuer(ptr(issuer))
	f.SetSubject(ptr(subject))
	f.SetAudiences([]string{FederatedIdentityAudience})
	if _, aerr := t.addFICLocked(o, f); aerr != nil {
		panic("fakegraph: AddFederatedCredential: " + aerr.message)
	}
	t.auditUpdateLocked(setApplications, o, []auditProp{prop("FederatedIdentityCredentials", jsonList(before...), jsonList(t.ficNamesLocked(o.id)...))})
	return *f.GetId()
}

// ficNamesLocked describes an application's federated credentials as the
// audit property lists them.
func (t *Tenant) ficNamesLocked(appObjectID string) []string {
	var out []string
	for _, f := range t.fics[appObjectID] {
		m, err := parse[models.FederatedIdentityCredentialable](f.raw, models.CreateFederatedIdentityCredentialFromDiscriminatorValue)
		if err != nil {
			continue
		}
		out = append(out, fmt.Sprintf("[Name=%s,Issuer=%s,Subject=%s,Audiences=%s]", str(m.GetName()), str(m.GetIssuer()), str(m.GetSubject()), strings.Join(m.GetAudiences(), ";")))
	}
	return out
}

// FederatedCredentials returns copies of an application's federated
// identity credentials.
func (t *Tenant) FederatedCredentials(appKey string) []models.FederatedIdentityCredentialable {
	t.mu.RLock()
	var raws [][]byte
	if o := t.apps.lookup(appKey); o != nil {
		for _, f := range t.fics[o.id] {
			raws = append(raws, f.raw)
		}
	}
	t.mu.RUnlock()
	return parseAll[models.FederatedIdentityCredentialable](raws, models.CreateFederatedIdentityCredentialFromDiscriminatorValue)
}

// AssignDirectoryRole makes the app's service principal a member of the
// directory role with that template id (one of DirectoryRoleNames; the role
// is activated on first use) and returns the role's object id. Audit: "Add
// member to role", category RoleManagement, targets the service principal
// (with Role.ObjectID, Role.DisplayName, Role.TemplateId,
// Role.WellKnownObjectName) and the role.
func (t *Tenant) AssignDirectoryRole(appKey, roleTemplateID string) (roleID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	sp := t.sps.lookup(appKey)
	if sp == nil {
		panic("fakegraph: no servicePrincipal " + appKey)
	}
	r, err := t.roleLocked(roleTemplateID)
	if err != nil {
		panic("fakegraph: AssignDirectoryRole: " + err.Error())
	}
	if !slices.Contains(r.members, sp.id) {
		r.members = append(r.members, sp.id)
	}
	well := strings.Map(func(c rune) rune {
		if unicode.IsSpace(c) {
			return -1
		}
		return c
	}, r.displayName)
	t.appendAuditLocked(auditEntry{
		activity: ActivityAddMemberToRole, category: CategoryRoleManagement, operationType: "Assign",
		targets: []auditTarget{
			{id: sp.id, displayName: sp.displayName, typ: "ServicePrincipal", props: []auditProp{
				prop("Role.ObjectID", nil, jsonString(r.id)),
				prop("Role.DisplayName", nil, jsonString(r.displayName)),
				prop("Role.TemplateId", nil, jsonString(r.templateID)),
				prop("Role.WellKnownObjectName", nil, jsonString(well)),
			}},
			{id: r.id, displayName: r.displayName, typ: "Role"},
		},
	})
	return r.id
}

// DirectoryRoles returns the template ids of the directory roles the app's
// service principal is a member of.
func (t *Tenant) DirectoryRoles(appKey string) []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	sp := t.sps.lookup(appKey)
	if sp == nil {
		return nil
	}
	var out []string
	for tid, r := range t.roles {
		if slices.Contains(r.members, sp.id) {
			out = append(out, tid)
		}
	}
	slices.Sort(out)
	return out
}

// GrantAppRole grants an application permission (an app role of the
// resource, by value, e.g. "Mail.ReadWrite") straight to the app's service
// principal, and returns the assignment id. Audit: "Add app role assignment
// to service principal", targetResources[0] the resource service principal
// carrying AppRole.* and the grantee's ServicePrincipal.ObjectID/AppId,
// targetResources[1] the grantee.
func (t *Tenant) GrantAppRole(appKey, resourceAppID, permissionName string) (assignmentID string) {
	ids, _, err := t.Grant(appKey, Permission{ResourceAppID: resourceAppID, Value: permissionName, Type: "Role"})
	if err != nil {
		panic("fakegraph: GrantAppRole: " + err.Error())
	}
	return ids[0]
}

// ConsentDelegated grants delegated scopes of a resource tenant-wide
// (AllPrincipals, admin consent) to the app's service principal, adding to
// an existing grant for that resource, and returns the grant id. Audit:
// "Add delegated permission grant" (resource first, old and new scope) and
// "Consent to application" (the client), with one correlationId.
func (t *Tenant) ConsentDelegated(appKey, resourceAppID string, scopes ...string) (grantID string) {
	perms := make([]Permission, len(scopes))
	for i, s := range scopes {
		perms[i] = Permission{ResourceAppID: resourceAppID, Value: s, Type: "Scope"}
	}
	_, ids, err := t.Grant(appKey, perms...)
	if err != nil {
		panic("fakegraph: ConsentDelegated: " + err.Error())
	}
	return ids[0]
}

// ---- audit records of the builders ----

func (t *Tenant) auditCredentialsLocked(setName string, o *object, before, after []string) {
	if setName == setApplications {
		t.appendAuditLocked(auditEntry{
			activity: ActivityCertificatesAndSecrets, category: CategoryApplicationManagement, operationType: "Update",
			targets: []auditTarget{{id: o.id, displayName: o.displayName, typ: "Application", props: []auditProp{
				prop("KeyDescription", jsonList(before...), jsonList(after...)),
				prop("Included Updated Properties", nil, jsonString("KeyDescription")),
			}}},
			details: [][2]string{{"AppId", o.appID}},
		})
		return
	}
	t.appendAuditLocked(auditEntry{
		activity: ActivityAddSPCredentials, category: CategoryApplicationManagement, operationType: "Add",
		targets: []auditTarget{{id: o.id, displayName: o.displayName, typ: "ServicePrincipal", props: []auditProp{
			prop("KeyDescription", jsonList(before...), jsonList(after...)),
			prop("Included Updated Properties", nil, jsonString("KeyDescription")),
			prop("TargetId.ServicePrincipalNames", nil, jsonString(t.spNamesLocked(o))),
		}}},
		details: [][2]string{{"AppId", o.appID}},
	})
}

// spNamesLocked is a service principal's servicePrincipalNames joined by
// ";", as TargetId.ServicePrincipalNames holds them.
func (t *Tenant) spNamesLocked(o *object) string {
	sp, err := parse[models.ServicePrincipalable](o.raw, models.CreateServicePrincipalFromDiscriminatorValue)
	if err != nil || len(sp.GetServicePrincipalNames()) == 0 {
		return o.appID
	}
	return strings.Join(sp.GetServicePrincipalNames(), ";")
}

func (t *Tenant) auditAddApplicationLocked(o *object) {
	t.appendAuditLocked(auditEntry{
		activity: ActivityAddApplication, category: CategoryApplicationManagement, operationType: "Add",
		targets: []auditTarget{{id: o.id, displayName: o.displayName, typ: "Application", props: []auditProp{
			prop("AppId", jsonList(), jsonList(o.appID)),
			prop("DisplayName", jsonList(), jsonList(o.displayName)),
			prop("Included Updated Properties", nil, jsonString("AppId, DisplayName")),
		}}},
		details: [][2]string{{"AppId", o.appID}},
	})
}

func (t *Tenant) auditAddServicePrincipalLocked(o *object, ownerOrg, spType string) {
	provisioning := "Other"
	switch {
	case spType == "ManagedIdentity":
		provisioning = "ManagedServiceIdentity"
	case ownerOrg == MicrosoftServicesTenantID || strings.EqualFold(ownerOrg, "72f988bf-86f1-41af-91ab-2d7cd011db47"):
		provisioning = "defaultMicrosoft"
	}
	t.appendAuditLocked(auditEntry{
		activity: ActivityAddServicePrincipal, category: CategoryApplicationManagement, operationType: "Add",
		targets: []auditTarget{{id: o.id, displayName: o.displayName, typ: "ServicePrincipal", props: []auditProp{
			prop("AccountEnabled", jsonList(), ptr("[true]")),
			prop("AppPrincipalId", jsonList(), jsonList(o.appID)),
			prop("DisplayName", jsonList(), jsonList(o.displayName)),
			prop("ServicePrincipalName", jsonList(), jsonList(o.appID)),
		}}},
		details: [][2]string{{"AppId", o.appID}, {"ServicePrincipalProvisioningType", provisioning}, {"AppOwnerOrganizationId", ownerOrg}},
	})
}

// auditAddOwnerLocked: "Add owner to application" / "... to service
// principal": the new owner first, carrying the owned object's
// Application.ObjectID/AppId/DisplayName (or ServicePrincipal.*), then the
// owned object.
func (t *Tenant) auditAddOwnerLocked(setName string, owned *object, owner models.DirectoryObjectable) {
	kind, typ, activity := "Application", "Application", ActivityAddOwnerToApplication
	if setName == setServicePrincipals {
		kind, typ, activity = "ServicePrincipal", "ServicePrincipal", ActivityAddOwnerToSP
	}
	ot := auditTarget{id: str(owner.GetId()), typ: "User"}
	switch v := owner.(type) {
	case models.Userable:
		ot.displayName, ot.upn = str(v.GetDisplayName()), str(v.GetUserPrincipalName())
	case models.ServicePrincipalable:
		ot.typ, ot.displayName = "ServicePrincipal", str(v.GetDisplayName())
	}
	ot.props = []auditProp{
		prop(kind+".ObjectID", nil, jsonString(owned.id)),
		prop(kind+".AppId", nil, jsonString(owned.appID)),
		prop(kind+".DisplayName", nil, jsonString(owned.displayName)),
	}
	t.appendAuditLocked(auditEntry{
		activity: activity, category: CategoryApplicationManagement, operationType: "Assign",
		targets: []auditTarget{ot, {id: owned.id, displayName: owned.displayName, typ: typ}},
	})
}

func (t *Tenant) auditAppRoleLocked(sp, res *object, appRoleID, value string) {
	t.appendAuditLocked(auditEntry{
		activity: ActivityAddAppRoleAssignment, category: CategoryApplicationManagement, operationType: "Assign",
		targets: []auditTarget{
			{id: res.id, displayName: res.displayName, typ: "ServicePrincipal", props: []auditProp{
				prop("AppRole.Id", nil, jsonString(appRoleID)),
				prop("AppRole.Value", nil, jsonString(value)),
				prop("AppRole.DisplayName", nil, jsonString(value)),
				prop("ServicePrincipal.ObjectID", nil, jsonString(sp.id)),
				prop("ServicePrincipal.DisplayName", nil, jsonString(sp.displayName)),
				prop("ServicePrincipal.AppId", nil, jsonString(sp.appID)),
				prop("ServicePrincipal.Name", nil, jsonString(sp.displayName)),
				prop("TargetId.ServicePrincipalNames", nil, jsonString(t.spNamesLocked(res))),
			}},
			{id: sp.id, displayName: sp.displayName, typ: "ServicePrincipal"},
		},
		details: [][2]string{{"AppId", sp.appID}},
	})
}

func (t *Tenant) auditDelegatedLocked(sp, res *object, oldScope, newScope, consentType string) {
	correlation := uuid.NewString()
	var oldV *string
	if oldScope != "" {
		oldV = jsonString(oldScope)
	}
	t.appendAuditLocked(auditEntry{
		activity: ActivityAddDelegatedGrant, category: CategoryApplicationManagement, operationType: "Assign", correlationID: correlation,
		targets: []auditTarget{
			{id: res.id, displayName: res.displayName, typ: "ServicePrincipal", props: []auditProp{
				prop("DelegatedPermissionGrant.Scope", oldV, jsonString(newScope)),
				prop("DelegatedPermissionGrant.ConsentType", nil, jsonString(consentType)),
				prop("ServicePrincipal.ObjectID", nil, jsonString(sp.id)),
				prop("ServicePrincipal.DisplayName", nil, jsonString(sp.displayName)),
				prop("ServicePrincipal.AppId", nil, jsonString(sp.appID)),
				prop("ServicePrincipal.Name", nil, jsonString(sp.displayName)),
				prop("TargetId.ServicePrincipalNames", nil, jsonString(t.spNamesLocked(res))),
			}},
			{id: sp.id, displayName: sp.displayName, typ: "ServicePrincipal"},
		},
	})
	perms := fmt.Sprintf("[] => [[Id: %s, ClientId: %s, PrincipalId: , ResourceId: %s, ConsentType: %s, Scope:  %s, CreatedDateTime: , LastModifiedDateTime ]]; ", "x", sp.id, res.id, consentType, newScope)
	t.appendAuditLocked(auditEntry{
		activity: ActivityConsentToApplication, category: CategoryApplicationManagement, operationType: "Assign", correlationID: correlation,
		targets: []auditTarget{{id: sp.id, displayName: sp.displayName, typ: "ServicePrincipal", props: []auditProp{
			prop("ConsentContext.IsAdminConsent", nil, jsonList("True")),
			prop("ConsentContext.IsAppOnly", nil, jsonList("False")),
			prop("ConsentContext.OnBehalfOfAll", nil, jsonList("True")),
			prop("ConsentAction.Permissions", nil, jsonString(perms)),
			prop("TargetId.ServicePrincipalNames", nil, jsonString(t.spNamesLocked(sp))),
		}}},
		details: [][2]string{{"AppId", sp.appID}},
	})
}

// auditUpdateLocked: "Update application" / "Update service principal"
// with the changed properties and Included Updated Properties.
func (t *Tenant) auditUpdateLocked(setName string, o *object, props []auditProp) {
	if len(props) == 0 {
		return
	}
	activity, typ := ActivityUpdateApplication, "Application"
	if setName == setServicePrincipals {
		activity, typ = ActivityUpdateServicePrincipal, "ServicePrincipal"
	}
	names := make([]string, len(props))
	for i, p := range props {
		names[i] = p.name
	}
	// As in the real row otrf-02: the changed properties, then "Included
	// Updated Properties"; the appId is in additionalDetails.
	props = append(props, prop("Included Updated Properties", nil, jsonString(strings.Join(names, ", "))))
	t.appendAuditLocked(auditEntry{
		activity: activity, category: CategoryApplicationManagement, operationType: "Update",
		targets: []auditTarget{{id: o.id, displayName: o.displayName, typ: typ, props: props}},
		details: [][2]string{{"AppId", o.appID}},
	})
}

// changedProps lists the top-level properties that differ between two
// serializations, in Entra's PascalCase, values as one-element JSON lists.
func changedProps(before, after []byte) []auditProp {
	var b, a map[string]json.RawMessage
	_ = json.Unmarshal(before, &b)
	_ = json.Unmarshal(after, &a)
	keys := map[string]bool{}
	for k := range b {
		keys[k] = true
	}
	for k := range a {
		keys[k] = true
	}
	var out []auditProp
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if k == "id" || k == "appId" || strings.HasPrefix(k, "@") || bytes.Equal(b[k], a[k]) {
			continue
		}
		val := func(v json.RawMessage) *string {
			if v == nil {
				return ptr("[]")
			}
			return ptr("[" + string(v) + "]")
		}
		out = append(out, prop(strings.ToUpper(k[:1])+k[1:], val(b[k]), val(a[k])))
	}
	return out
}
