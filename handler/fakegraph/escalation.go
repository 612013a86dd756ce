package fakegraph

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// What escalations change and delta does not track: federated identity
// credentials, directory role memberships, and the certificates' key bytes
// (kept apart from the stored objects, see certKeys).

// Directory role template ids (the same in every tenant; learn.microsoft.com/
// entra/identity/role-based-access-control/permissions-reference).
const (
	RoleGlobalAdministrator                   = "62e90394-69f5-4237-9190-012177145e10"
	RolePrivilegedRoleAdministrator           = "e8611ab8-c189-46e8-94e1-60213ab1f814"
	RoleApplicationAdministrator              = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
	RoleCloudApplicationAdministrator         = "158c047a-c907-4556-b7ef-446551a6b5f7"
	RolePrivilegedAuthenticationAdministrator = "7be44c8a-adaf-4e2a-84d6-ab2649e08a13"
	RoleDirectoryReaders                      = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b"
)

// DirectoryRoleNames are the display names of the role templates the
// stand-in knows; AssignDirectoryRole activates a role from its template.
var DirectoryRoleNames = map[string]string{
	RoleGlobalAdministrator:                   "Global Administrator",
	RolePrivilegedRoleAdministrator:           "Privileged Role Administrator",
	RoleApplicationAdministrator:              "Application Administrator",
	RoleCloudApplicationAdministrator:         "Cloud Application Administrator",
	RolePrivilegedAuthenticationAdministrator: "Privileged Authentication Administrator",
	RoleDirectoryReaders:                      "Directory Readers",
}

// FederatedIdentityAudience is the audience Microsoft recommends for
// federated identity credentials (learn.microsoft.com/graph/api/resources/
// federatedidentitycredentials-overview).
const FederatedIdentityAudience = "api://AzureADTokenExchange"

type ficRec struct {
	id, name string
	raw      []byte
}

// roleRec is an activated directory role: GET /directoryRoles lists only
// the roles activated in the tenant (a role is activated from its template
// when its first member is added).
type roleRec struct {
	id, templateID, displayName string
	raw                         []byte
	members                     []string // member object ids
}

// ---- federated identity credentials ----

// listFICs answers GET /applications/{id}/federatedIdentityCredentials.
func (t *Tenant) listFICs(key string, byAppID bool) ([][]byte, *apiError) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	o := t.apps.resolve(key, byAppID)
	if o == nil {
		return nil, notFound(key)
	}
	out := [][]byte{}
	for _, f := range t.fics[o.id] {
		out = append(out, f.raw)
	}
	return out, nil
}

func (t *Tenant) getFIC(key string, byAppID bool, id string) ([]byte, *apiError) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	o := t.apps.resolve(key, byAppID)
	if o == nil {
		return nil, notFound(key)
	}
	for _, f := range t.fics[o.id] {
		if f.id == id {
			return f.raw, nil
		}
	}
	return nil, notFound(id)
}

// maxFICs is Graph's limit of federated identity credentials per
// application (learn.microsoft.com/graph/api/resources/
// federatedidentitycredentials-overview: "A maximum of 20 objects can be
// added to an application").
const maxFICs = 20

// addFIC answers POST /applications/{id}/federatedIdentityCredentials: 201
// with the new object and its id. name, issuer, subject and audiences are
// required; the name is unique per application (3-120 characters).
func (t *Tenant) addFIC(key string, byAppID bool, body []byte) ([]byte, *apiError) {
	f, err := parse[models.FederatedIdentityCredentialable](body, models.CreateFederatedIdentityCredentialFromDiscriminatorValue)
	if err != nil {
		return nil, invalidBody(err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.apps.resolve(key, byAppID)
	if o == nil {
		return nil, notFound(key)
	}
	raw, aerr := t.addFICLocked(o, f)
	return raw, aerr
}

func (t *Tenant) addFICLocked(o *object, f models.FederatedIdentityCredentialable) ([]byte, *apiError) {
	name, issuer, subject := str(f.GetName()), str(f.GetIssuer()), str(f.GetSubject())
	switch {
	case len(name) < 3 || len(name) > 120:
		return nil, badRequest("Federated identity credential name must be between 3 and 120 characters.")
	case issuer == "" || subject == "":
		return nil, badRequest("Federated identity credential issuer and subject are required.")
	case len(f.GetAudiences()) != 1:
		return nil, badRequest("Federated identity credential audiences must hold exactly one value.")
	case len(t.fics[o.id]) >= maxFICs:
		return nil, badRequest("An application can have at most %d federated identity credentials.", maxFICs)
	}
	for _, x := range t.fics[o.id] {
		if strings.EqualFold(x.name, name) {
			return nil, &apiError{http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("FederatedIdentityCredential with name %s already exists.", name)}
		}
	}
	f.SetId(ptr(uuid.NewString()))
	raw, err := marshal(f)
	if err != nil {
		return nil, invalidBody(err)
	}
	t.fics[o.id] = append(t.fics[o.id], &ficRec{id: *f.GetId(), name: name, raw: raw})
	return raw, nil
}

// deleteFIC answers DELETE /applications/{id}/federatedIdentityCredentials/{ficId}.
func (t *Tenant) deleteFIC(key string, byAppID bool, id string) *apiError {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.apps.resolve(key, byAppID)
	if o == nil {
		return notFound(key)
	}
	list := t.fics[o.id]
	i := slices.IndexFunc(list, func(f *ficRec) bool { return f.id == id })
	if i < 0 {
		return notFound(id)
	}
	t.fics[o.id] = slices.Delete(list, i, i+1)
	return nil
}

// ---- directory roles ----

// roleLocked returns the activated role of a template, activating it.
func (t *Tenant) roleLocked(templateID string) (*roleRec, error) {
	templateID = strings.ToLower(templateID)
	if r := t.roles[templateID]; r != nil {
		return r, nil
	}
	name, ok := DirectoryRoleNames[templateID]
	if !ok {
		return nil, fmt.Errorf("unknown directory role template %s (see DirectoryRoleNames)", templateID)
	}
	r := &roleRec{id: uuid.NewString(), templateID: templateID, displayName: name}
	m := models.NewDirectoryRole()
	m.SetId(ptr(r.id))
	m.SetRoleTemplateId(ptr(templateID))
	m.SetDisplayName(ptr(name))
	m.SetDescription(ptr(name + " (activated by the Graph stand-in)"))
	r.raw = mustMarshal(m)
	t.roles[templateID] = r
	return r, nil
}

// listMemberOf answers GET /servicePrincipals/{id}/memberOf and its cast
// /memberOf/microsoft.graph.directoryRole (learn.microsoft.com/graph/api/
// serviceprincipal-list-memberof: "OData cast is also enabled"). The
// stand-in holds no groups or administrative units, so both list the
// directory roles the service principal is a direct member of.
func (t *Tenant) listMemberOf(key string, byAppID bool) ([][]byte, *apiError) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	o := t.sps.resolve(key, byAppID)
	if o == nil {
		return nil, notFound(key)
	}
	out := [][]byte{}
	for _, tid := range slices.Sorted(maps.Keys(t.roles)) {
		r := t.roles[tid]
		if slices.Contains(r.members, o.id) {
			out = append(out, r.raw)
		}
	}
	return out, nil
}

// listRoles answers GET /directoryRoles: the activated roles.
func (t *Tenant) listRoles() [][]byte {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := [][]byte{}
	for _, tid := range slices.Sorted(maps.Keys(t.roles)) {
		out = append(out, t.roles[tid].raw)
	}
	return out
}

// ---- credentials of applications and service principals ----

// removePassword answers POST /applications/{id}/removePassword and
// /servicePrincipals/{id}/removePassword ({"keyId":...} -> 204).
func (t *Tenant) removePassword(setName, key string, byAppID bool, body []byte) *apiError {
	req, err := parse[applications.ItemRemovePasswordPostRequestBodyable](body, applications.CreateItemRemovePasswordPostRequestBodyFromDiscriminatorValue)
	if err != nil {
		return invalidBody(err)
	}
	if req.GetKeyId() == nil {
		return badRequest("keyId is required.")
	}
	keyID := *req.GetKeyId()
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.set(setName).resolve(key, byAppID)
	if o == nil {
		return notFound(key)
	}
	errMissing := errors.New("missing")
	err = t.updateCredentialsLocked(setName, o, func(pcs []models.PasswordCredentialable, kcs []models.KeyCredentialable) ([]models.PasswordCredentialable, []models.KeyCredentialable, error) {
		kept := slices.DeleteFunc(slices.Clone(pcs), func(pc models.PasswordCredentialable) bool {
			return pc.GetKeyId() != nil && *pc.GetKeyId() == keyID
		})
		if len(kept) == len(pcs) {
			return nil, nil, errMissing
		}
		return kept, kcs, nil
	})
	if errors.Is(err, errMissing) {
		return badRequest("No password credential found with keyId '%s'.", keyID)
	}
	if err != nil {
		return &apiError{http.StatusInternalServerError, "generalException", err.Error()}
	}
	return nil
}

// addPassword answers POST /applications/{id}/addPassword and
// /servicePrincipals/{id}/addPassword: 200 with the passwordCredential and
// its secretText, which Graph shows only here.
func (t *Tenant) addPassword(setName, key string, byAppID bool, body []byte) ([]byte, *apiError) {
	req, err := parse[applications.ItemAddPasswordPostRequestBodyable](body, applications.CreateItemAddPasswordPostRequestBodyFromDiscriminatorValue)
	if err != nil {
		return nil, invalidBody(err)
	}
	c := Credential{}
	if pc := req.GetPasswordCredential(); pc != nil {
		c.DisplayName = str(pc.GetDisplayName())
		if pc.GetStartDateTime() != nil {
			c.Start = *pc.GetStartDateTime()
		}
		if pc.GetEndDateTime() != nil {
			c.End = *pc.GetEndDateTime()
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.set(setName).resolve(key, byAppID)
	if o == nil {
		return nil, notFound(key)
	}
	out, _, err := t.addPasswordLocked(setName, o, c)
	if err != nil {
		return nil, &apiError{http.StatusInternalServerError, "generalException", err.Error()}
	}
	return mustMarshal(out), nil
}

// addPasswordLocked adds a password credential; it returns the credential
// with its secretText, and the keyIds before the change.
func (t *Tenant) addPasswordLocked(setName string, o *object, c Credential) (models.PasswordCredentialable, []models.PasswordCredentialable, error) {
	secret := randomSecret()
	c.Hint = secret[:3]
	stored := passwordCredential(c)
	var before []models.PasswordCredentialable
	err := t.updateCredentialsLocked(setName, o, func(pcs []models.PasswordCredentialable, kcs []models.KeyCredentialable) ([]models.PasswordCredentialable, []models.KeyCredentialable, error) {
		before = pcs
		return append(slices.Clone(pcs), stored), kcs, nil
	})
	if err != nil {
		return nil, nil, err
	}
	out := models.NewPasswordCredential()
	out.SetKeyId(stored.GetKeyId())
	out.SetDisplayName(stored.GetDisplayName())
	out.SetHint(stored.GetHint())
	out.SetStartDateTime(stored.GetStartDateTime())
	out.SetEndDateTime(stored.GetEndDateTime())
	out.SetSecretText(&secret)
	return out, before, nil
}

// updateCredentialsLocked lets fn replace the password and key credentials
// of an application or service principal.
func (t *Tenant) updateCredentialsLocked(setName string, o *object, fn func([]models.PasswordCredentialable, []models.KeyCredentialable) ([]models.PasswordCredentialable, []models.KeyCredentialable, error)) error {
	if setName == setApplications {
		return t.updateApplicationLocked(o, func(a models.Applicationable) error {
			pcs, kcs, err := fn(a.GetPasswordCredentials(), a.GetKeyCredentials())
			if err != nil {
				return err
			}
			a.SetPasswordCredentials(orEmpty(pcs))
			a.SetKeyCredentials(orEmpty(kcs))
			return nil
		})
	}
	return t.updateServicePrincipalLocked(o, func(s models.ServicePrincipalable) error {
		pcs, kcs, err := fn(s.GetPasswordCredentials(), s.GetKeyCredentials())
		if err != nil {
			return err
		}
		s.SetPasswordCredentials(orEmpty(pcs))
		s.SetKeyCredentials(orEmpty(kcs))
		return nil
	})
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// takeKeys moves the certificate bytes ("key") of a PATCH body's
// keyCredentials into t.certKeys, so that stored objects never hold them.
// Graph returns a certificate's key only on GET of a single object with
// $select=keyCredentials (learn.microsoft.com/graph/api/resources/
// keycredential: "Returned only on $select for a single object ... otherwise,
// it is always null"), and PATCH keyCredentials replaces the whole
// collection: a certificate left out is removed, and one kept must be sent
// again with its key (read it through that $select), which the stand-in
// requires (400 otherwise).
func (t *Tenant) takeKeysLocked(kcs []models.KeyCredentialable) *apiError {
	for _, k := range kcs {
		if k.GetKeyId() == nil {
			k.SetKeyId(ptr(uuid.New()))
		}
		if len(k.GetKey()) == 0 {
			return badRequest("Key credential %s has no key: PATCH keyCredentials replaces the collection, and each certificate must carry its key.", k.GetKeyId())
		}
		if str(k.GetTypeEscaped()) == "" {
			k.SetTypeEscaped(ptr("AsymmetricX509Cert"))
		}
		if str(k.GetUsage()) == "" {
			k.SetUsage(ptr("Verify"))
		}
		t.certKeys[k.GetKeyId().String()] = slices.Clone(k.GetKey())
		k.SetKey(nil)
	}
	return nil
}

// withKeys returns a stored object with the keys of its keyCredentials put
// back, for a GET of that single object with $select=keyCredentials.
func (t *Tenant) withKeys(setName string, raw []byte) []byte {
	obj, err := parse[absser.Parsable](raw, factoryFor(setName))
	if err != nil {
		return raw
	}
	kh, ok := obj.(interface {
		GetKeyCredentials() []models.KeyCredentialable
	})
	if !ok || len(kh.GetKeyCredentials()) == 0 {
		return raw
	}
	t.mu.RLock()
	for _, k := range kh.GetKeyCredentials() {
		if k.GetKeyId() != nil {
			k.SetKey(t.certKeys[k.GetKeyId().String()])
		}
	}
	t.mu.RUnlock()
	if b, err := marshal(obj); err == nil {
		return b
	}
	return raw
}

// selects reports whether a $select names the property.
func selects(selectParam, property string) bool {
	for p := range strings.SplitSeq(selectParam, ",") {
		if strings.EqualFold(strings.TrimSpace(p), property) {
			return true
		}
	}
	return false
}

// certificate makes a keyCredential with a certificate's worth of key
// bytes (random: nothing verifies them), its key kept in certKeys.
func (t *Tenant) certificateLocked(c Credential) models.KeyCredentialable {
	kc := keyCredential(c)
	b := make([]byte, 64)
	copy(b, uuid.New().String())
	t.certKeys[kc.GetKeyId().String()] = []byte(base64.StdEncoding.EncodeToString(b))
	return kc
}

// patchKeyCredentials pulls keyCredentials out of a PATCH body and checks
// them; it returns the body to merge (keyCredentials without keys).
func (t *Tenant) patchKeyCredentialsLocked(setName string, body []byte) ([]byte, *apiError) {
	var changes map[string]json.RawMessage
	if err := json.Unmarshal(body, &changes); err != nil {
		return nil, invalidBody(err)
	}
	if _, ok := changes["keyCredentials"]; !ok {
		return body, nil
	}
	obj, err := parse[absser.Parsable](body, factoryFor(setName))
	if err != nil {
		return nil, invalidBody(err)
	}
	kh, ok := obj.(interface {
		GetKeyCredentials() []models.KeyCredentialable
	})
	if !ok {
		return body, nil
	}
	kcs := kh.GetKeyCredentials()
	if aerr := t.takeKeysLocked(kcs); aerr != nil {
		return nil, aerr
	}
	items := make([]json.RawMessage, 0, len(kcs))
	for _, k := range kcs {
		items = append(items, mustMarshal(k))
	}
	changes["keyCredentials"], _ = json.Marshal(items)
	out, err := json.Marshal(changes)
	if err != nil {
		return nil, invalidBody(err)
	}
	return out, nil
}
