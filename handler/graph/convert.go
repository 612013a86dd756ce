package graph

import (
	"fmt"
	"strings"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/google/uuid"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func id(p *uuid.UUID) string {
	if p == nil {
		return ""
	}
	return p.String()
}

func tm(p *time.Time) time.Time {
	if p == nil {
		return time.Time{}
	}
	return p.UTC()
}

// isDisabled reads the application's isDisabled, which msgraph-sdk-go v1.89's
// model lacks, from the model's additional data.
func isDisabled(a models.Applicationable) bool {
	switch v := a.GetAdditionalData()["isDisabled"].(type) {
	case *bool:
		return v != nil && *v
	case bool:
		return v
	}
	return false
}

func toApplication(a models.Applicationable) *appwarden.Application {
	out := &appwarden.Application{
		ID:              str(a.GetId()),
		AppID:           strings.ToLower(str(a.GetAppId())),
		DisplayName:     str(a.GetDisplayName()),
		CreatedDateTime: tm(a.GetCreatedDateTime()),
		SignInAudience:  str(a.GetSignInAudience()),
		PublisherDomain: str(a.GetPublisherDomain()),
		IdentifierURIs:  a.GetIdentifierUris(),
		IsDisabled:      isDisabled(a),
		Tags:            a.GetTags(),
		Notes:           str(a.GetNotes()),
	}
	if vp := a.GetVerifiedPublisher(); vp != nil && str(vp.GetVerifiedPublisherId()) != "" {
		out.VerifiedPublisher = &appwarden.VerifiedPublisher{
			DisplayName:         str(vp.GetDisplayName()),
			VerifiedPublisherID: str(vp.GetVerifiedPublisherId()),
			AddedDateTime:       tm(vp.GetAddedDateTime()),
		}
	}
	for _, rra := range a.GetRequiredResourceAccess() {
		rr := appwarden.RequiredResource{ResourceAppID: strings.ToLower(str(rra.GetResourceAppId()))}
		for _, ra := range rra.GetResourceAccess() {
			rr.ResourceAccess = append(rr.ResourceAccess, appwarden.ResourceAccess{ID: id(ra.GetId()), Type: str(ra.GetTypeEscaped())})
		}
		out.RequiredResourceAccess = append(out.RequiredResourceAccess, rr)
	}
	out.PasswordCredentials = toPasswords(a.GetPasswordCredentials())
	out.KeyCredentials = toKeys(a.GetKeyCredentials())
	add := func(kind string, uris []string) {
		for _, u := range uris {
			out.RedirectURIs = append(out.RedirectURIs, appwarden.RedirectURI{Kind: kind, URI: u})
		}
	}
	if w := a.GetWeb(); w != nil {
		add(appwarden.RedirectWeb, w.GetRedirectUris())
	}
	if s := a.GetSpa(); s != nil {
		add(appwarden.RedirectSPA, s.GetRedirectUris())
	}
	if p := a.GetPublicClient(); p != nil {
		add(appwarden.RedirectPublicClient, p.GetRedirectUris())
	}
	return out
}

func toServicePrincipal(sp models.ServicePrincipalable) appwarden.ServicePrincipal {
	enabled := true
	if e := sp.GetAccountEnabled(); e != nil {
		enabled = *e
	}
	return appwarden.ServicePrincipal{
		ID:                     str(sp.GetId()),
		AppID:                  strings.ToLower(str(sp.GetAppId())),
		DisplayName:            str(sp.GetDisplayName()),
		AccountEnabled:         enabled,
		AppOwnerOrganizationID: id(sp.GetAppOwnerOrganizationId()),
		ServicePrincipalType:   str(sp.GetServicePrincipalType()),
		Tags:                   sp.GetTags(),
		PasswordCredentials:    toPasswords(sp.GetPasswordCredentials()),
		KeyCredentials:         toKeys(sp.GetKeyCredentials()),
	}
}

// toPasswords converts password credentials (metadata only: Graph never
// returns a secret after addPassword).
func toPasswords(pcs []models.PasswordCredentialable) []appwarden.Credential {
	var out []appwarden.Credential
	for _, p := range pcs {
		out = append(out, appwarden.Credential{
			KeyID: id(p.GetKeyId()), DisplayName: str(p.GetDisplayName()), Type: "Password", Hint: str(p.GetHint()),
			StartDateTime: tm(p.GetStartDateTime()), EndDateTime: tm(p.GetEndDateTime()),
		})
	}
	return out
}

// toKeys converts key credentials (certificates), leaving out the key bytes
// Graph returns on a single object's $select=keyCredentials.
func toKeys(kcs []models.KeyCredentialable) []appwarden.Credential {
	var out []appwarden.Credential
	for _, k := range kcs {
		out = append(out, appwarden.Credential{
			KeyID: id(k.GetKeyId()), DisplayName: str(k.GetDisplayName()), Type: str(k.GetTypeEscaped()), Usage: str(k.GetUsage()),
			StartDateTime: tm(k.GetStartDateTime()), EndDateTime: tm(k.GetEndDateTime()),
		})
	}
	return out
}

func toFederatedCredential(f models.FederatedIdentityCredentialable) appwarden.FederatedCredential {
	return appwarden.FederatedCredential{
		ID: str(f.GetId()), Name: str(f.GetName()), Issuer: str(f.GetIssuer()), Subject: str(f.GetSubject()),
		Audiences: f.GetAudiences(), Description: str(f.GetDescription()),
	}
}

func toDirectoryRole(r models.DirectoryRoleable) appwarden.DirectoryRole {
	return appwarden.DirectoryRole{ID: str(r.GetId()), RoleTemplateID: strings.ToLower(str(r.GetRoleTemplateId())), DisplayName: str(r.GetDisplayName())}
}

func toAssignment(a models.AppRoleAssignmentable) appwarden.AppRoleAssignment {
	return appwarden.AppRoleAssignment{
		ID: str(a.GetId()), AppRoleID: id(a.GetAppRoleId()), PrincipalID: id(a.GetPrincipalId()),
		ResourceID: id(a.GetResourceId()), ResourceDisplayName: str(a.GetResourceDisplayName()),
		CreatedDateTime: tm(a.GetCreatedDateTime()),
	}
}

func toGrant(g models.OAuth2PermissionGrantable) appwarden.OAuth2PermissionGrant {
	return appwarden.OAuth2PermissionGrant{
		ID: str(g.GetId()), ClientID: str(g.GetClientId()), ConsentType: str(g.GetConsentType()),
		PrincipalID: str(g.GetPrincipalId()), ResourceID: str(g.GetResourceId()), Scope: str(g.GetScope()),
	}
}

func toPrincipal(o models.DirectoryObjectable) appwarden.Principal {
	p := appwarden.Principal{ID: str(o.GetId())}
	switch v := o.(type) {
	case models.Userable:
		p.Type, p.UPN, p.DisplayName, p.Mail = "user", str(v.GetUserPrincipalName()), str(v.GetDisplayName()), str(v.GetMail())
	case models.ServicePrincipalable:
		p.Type, p.DisplayName = "servicePrincipal", str(v.GetDisplayName())
	default:
		p.Type = strings.TrimPrefix(str(o.GetOdataType()), "#microsoft.graph.")
	}
	return p
}

func toResource(sp models.ServicePrincipalable) *resource {
	r := &resource{
		AppID: strings.ToLower(str(sp.GetAppId())), ID: strings.ToLower(str(sp.GetId())), Name: str(sp.GetDisplayName()),
		Roles: map[string]permDef{}, Scopes: map[string]permDef{}, ScopesByName: map[string]string{},
	}
	for _, role := range sp.GetAppRoles() {
		r.Roles[strings.ToLower(id(role.GetId()))] = permDef{Name: str(role.GetValue()), Type: appwarden.PermissionApplication}
	}
	for _, s := range sp.GetOauth2PermissionScopes() {
		sid := strings.ToLower(id(s.GetId()))
		r.Scopes[sid] = permDef{Name: str(s.GetValue()), Type: appwarden.PermissionDelegated}
		r.ScopesByName[strings.ToLower(str(s.GetValue()))] = sid
	}
	return r
}

// spOnlyReason says why an app has no application object here.
func spOnlyReason(sp appwarden.ServicePrincipal) string {
	switch {
	case sp.AppOwnerOrganizationID == appwarden.MicrosoftServicesTenantID || sp.AppOwnerOrganizationID == appwarden.MicrosoftTenantID:
		return "Microsoft first-party app (appOwnerOrganizationId " + sp.AppOwnerOrganizationID + ")"
	case sp.ServicePrincipalType == "ManagedIdentity":
		return "managed identity"
	case sp.AppOwnerOrganizationID != "":
		return fmt.Sprintf("multi-tenant app registered in another tenant (appOwnerOrganizationId %s)", sp.AppOwnerOrganizationID)
	}
	return "no application object in this tenant"
}
