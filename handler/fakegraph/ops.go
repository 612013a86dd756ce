package fakegraph

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/google/uuid"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// apiError is a Graph error answer.
type apiError struct {
	status        int
	code, message string
}

func notFound(key string) *apiError {
	return &apiError{http.StatusNotFound, "Request_ResourceNotFound",
		fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", key)}
}

// invalidID is Graph's answer to an object key that is not a GUID, such as
// a service principal name (".../ags.windows.net") taken for an appId.
func invalidID(key string) *apiError {
	return &apiError{http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("Invalid object identifier '%s'.", key)}
}

// validID reports whether key can name a directory object (a GUID).
func validID(key string) bool {
	_, err := uuid.Parse(key)
	return err == nil
}

// getDeleted answers GET /directory/deletedItems/{id}.
func (t *Tenant) getDeleted(id string) ([]byte, *apiError) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	o := t.deletedItems[id]
	if o == nil {
		return nil, notFound(id)
	}
	return o.gone, nil
}

// listDeleted answers GET /directory/deletedItems/microsoft.graph.{type}:
// the deleted objects of one set still restorable, in creation order,
// filtered by appId and id (case-insensitive).
func (t *Tenant) listDeleted(setName string, filter map[string]string) [][]byte {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out [][]byte
	for _, o := range t.set(setName).order {
		if t.deletedItems[o.id] != o {
			continue
		}
		if v, ok := filter["appId"]; ok && !strings.EqualFold(v, o.appID) {
			continue
		}
		if v, ok := filter["id"]; ok && !strings.EqualFold(v, o.id) {
			continue
		}
		out = append(out, o.gone)
	}
	return out
}

func badRequest(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf(format, args...)}
}

func invalidBody(err error) *apiError {
	return badRequest("Invalid request body: %v", err)
}

func (t *Tenant) set(name string) *entitySet {
	if name == setApplications {
		return &t.apps
	}
	return &t.sps
}

// objectKeys returns the object id and appId an entity address resolves to.
func (t *Tenant) objectKeys(setName, key string, byAppID bool) (id, appID string, ok bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	o := t.set(setName).resolve(key, byAppID)
	if o == nil {
		return "", "", false
	}
	return o.id, o.appID, true
}

func (t *Tenant) getRaw(setName, key string, byAppID bool) ([]byte, *apiError) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	o := t.set(setName).resolve(key, byAppID)
	if o == nil {
		return nil, notFound(key)
	}
	return o.raw, nil
}

func factoryFor(setName string) absser.ParsableFactory {
	if setName == setApplications {
		return models.CreateApplicationFromDiscriminatorValue
	}
	return models.CreateServicePrincipalFromDiscriminatorValue
}

// patch merges a PATCH body into the stored object: properties present in the
// body replace the stored ones (null clears them), the result is parsed back
// through the model and stored, and the change sequence is bumped.
func (t *Tenant) patch(setName, key string, byAppID bool, body []byte) *apiError {
	factory := factoryFor(setName)
	if _, err := parse[absser.Parsable](body, factory); err != nil {
		return invalidBody(err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	set := t.set(setName)
	o := set.resolve(key, byAppID)
	if o == nil {
		return notFound(key)
	}
	body, aerr := t.patchKeyCredentialsLocked(setName, body)
	if aerr != nil {
		return aerr
	}
	var changes map[string]json.RawMessage
	if err := json.Unmarshal(body, &changes); err != nil {
		return invalidBody(err)
	}
	var stored map[string]json.RawMessage
	if err := json.Unmarshal(o.raw, &stored); err != nil {
		return &apiError{http.StatusInternalServerError, "generalException", err.Error()}
	}
	for k, v := range changes {
		switch k {
		case "id", "appId", "@odata.type":
			continue
		}
		if string(v) == "null" {
			delete(stored, k)
		} else {
			stored[k] = v
		}
	}
	merged, err := json.Marshal(stored)
	if err != nil {
		return invalidBody(err)
	}
	obj, err := parse[absser.Parsable](merged, factory)
	if err != nil {
		return invalidBody(err)
	}
	raw, err := marshal(obj)
	if err != nil {
		return invalidBody(err)
	}
	o.raw = raw
	if dn, ok := changes["displayName"]; ok {
		_ = json.Unmarshal(dn, &o.displayName)
	}
	t.touch(set, o)
	return nil
}

func (t *Tenant) listOwners(setName, key string, byAppID bool) ([][]byte, *apiError) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	o := t.set(setName).resolve(key, byAppID)
	if o == nil {
		return nil, notFound(key)
	}
	list := t.owners[o.id]
	out := make([][]byte, len(list))
	for i, ow := range list {
		out[i] = ow.raw
	}
	return out, nil
}

func (t *Tenant) listAssignments(key string, byAppID bool) ([][]byte, *apiError) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	o := t.sps.resolve(key, byAppID)
	if o == nil {
		return nil, notFound(key)
	}
	list := t.assignByPrincipal[o.id]
	out := make([][]byte, len(list))
	for i, a := range list {
		out[i] = a.raw
	}
	return out, nil
}

func (t *Tenant) getAssignment(key string, byAppID bool, id string) ([]byte, *apiError) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	o := t.sps.resolve(key, byAppID)
	if o == nil {
		return nil, notFound(key)
	}
	a := t.assignments[id]
	if a == nil || a.principalID != o.id {
		return nil, notFound(id)
	}
	return a.raw, nil
}

func (t *Tenant) addAssignment(key string, byAppID bool, body []byte) ([]byte, *apiError) {
	a, err := parse[models.AppRoleAssignmentable](body, models.CreateAppRoleAssignmentFromDiscriminatorValue)
	if err != nil {
		return nil, invalidBody(err)
	}
	if a.GetPrincipalId() == nil || a.GetResourceId() == nil || a.GetAppRoleId() == nil {
		return nil, badRequest("principalId, resourceId and appRoleId are required.")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.sps.resolve(key, byAppID)
	if o == nil {
		return nil, notFound(key)
	}
	if a.GetPrincipalId().String() != o.id {
		return nil, badRequest("The principalId in the request body must be the service principal '%s'.", o.id)
	}
	res := t.sps.byID[a.GetResourceId().String()]
	if res == nil {
		return nil, notFound(a.GetResourceId().String())
	}
	if err := checkAppRole(res, a.GetAppRoleId().String()); err != nil {
		return nil, err
	}
	a.SetId(ptr(newGraphID()))
	a.SetPrincipalType(ptr("ServicePrincipal"))
	a.SetPrincipalDisplayName(ptr(o.displayName))
	a.SetResourceDisplayName(ptr(res.displayName))
	a.SetCreatedDateTime(ptr(now()))
	rec, perr := t.putAssignmentLocked(a)
	if perr != nil {
		return nil, badRequest("%v", perr)
	}
	t.touch(&t.sps, o)
	return rec.raw, nil
}

// checkAppRole requires the app role to be defined on the resource, when the
// resource defines any (the zero GUID is the default access role).
func checkAppRole(res *object, appRoleID string) *apiError {
	if appRoleID == uuid.Nil.String() {
		return nil
	}
	sp, err := parse[models.ServicePrincipalable](res.raw, models.CreateServicePrincipalFromDiscriminatorValue)
	if err != nil || len(sp.GetAppRoles()) == 0 {
		return nil
	}
	for _, r := range sp.GetAppRoles() {
		if r.GetId() != nil && strings.EqualFold(r.GetId().String(), appRoleID) {
			return nil
		}
	}
	return badRequest("Permission being assigned was not found on application '%s'.", res.appID)
}

func (t *Tenant) deleteAssignment(key string, byAppID bool, id string) *apiError {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.sps.resolve(key, byAppID)
	if o == nil {
		return notFound(key)
	}
	a := t.assignments[id]
	if a == nil || a.principalID != o.id {
		return notFound(id)
	}
	t.removeAssignmentLocked(a)
	t.touch(&t.sps, o)
	return nil
}

func (t *Tenant) listSPGrants(key string, byAppID bool) ([][]byte, *apiError) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	o := t.sps.resolve(key, byAppID)
	if o == nil {
		return nil, notFound(key)
	}
	list := t.grantsByClient[o.id]
	out := make([][]byte, len(list))
	for i, g := range list {
		out[i] = g.raw
	}
	return out, nil
}

// listGrants lists grants matching an equality filter on clientId,
// resourceId, consentType or principalId.
func (t *Tenant) listGrants(filter map[string]string) [][]byte {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var candidates []*grantRec
	if c, ok := filter["clientId"]; ok {
		candidates = t.grantsByClient[c]
	} else {
		for _, g := range t.grantOrder {
			if !g.deleted {
				candidates = append(candidates, g)
			}
		}
	}
	var out [][]byte
	for _, g := range candidates {
		if v, ok := filter["resourceId"]; ok && !strings.EqualFold(v, g.resourceID) {
			continue
		}
		if v, ok := filter["consentType"]; ok && !strings.EqualFold(v, g.consentType) {
			continue
		}
		if v, ok := filter["principalId"]; ok && !strings.EqualFold(v, g.principalID) {
			continue
		}
		out = append(out, g.raw)
	}
	return out
}

func (t *Tenant) getGrant(id string) ([]byte, *apiError) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	g := t.grants[id]
	if g == nil {
		return nil, notFound(id)
	}
	return g.raw, nil
}

func (t *Tenant) addGrant(body []byte) ([]byte, *apiError) {
	g, err := parse[models.OAuth2PermissionGrantable](body, models.CreateOAuth2PermissionGrantFromDiscriminatorValue)
	if err != nil {
		return nil, invalidBody(err)
	}
	clientID, resourceID, consent := str(g.GetClientId()), str(g.GetResourceId()), str(g.GetConsentType())
	if clientID == "" || resourceID == "" || consent == "" {
		return nil, badRequest("clientId, consentType and resourceId are required.")
	}
	switch consent {
	case "AllPrincipals":
		if str(g.GetPrincipalId()) != "" {
			return nil, badRequest("principalId must be null when consentType is AllPrincipals.")
		}
	case "Principal":
		if str(g.GetPrincipalId()) == "" {
			return nil, badRequest("principalId is required when consentType is Principal.")
		}
	default:
		return nil, badRequest("Invalid consentType '%s'.", consent)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	client := t.sps.byID[clientID]
	if client == nil {
		return nil, notFound(clientID)
	}
	if t.sps.byID[resourceID] == nil {
		return nil, notFound(resourceID)
	}
	g.SetId(ptr(newGraphID()))
	rec, perr := t.putGrantLocked(g)
	if perr != nil {
		return nil, badRequest("%v", perr)
	}
	t.touch(&t.sps, client)
	return rec.raw, nil
}

func (t *Tenant) deleteGrant(id string) *apiError {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.grants[id]
	if g == nil {
		return notFound(id)
	}
	t.removeGrantLocked(g)
	if client := t.sps.byID[g.clientID]; client != nil {
		t.touch(&t.sps, client)
	}
	return nil
}

// ---- delta ----

// deltaToken is the state a delta or skip token carries: which collection,
// the tenant epoch, the change sequence read up to, and for a first
// (initial) round the sequence it started at.
type deltaToken struct {
	set     string
	epoch   uint32
	cursor  int64
	initial bool
	start   int64
}

func (d deltaToken) encode() string {
	mode := "d"
	if d.initial {
		mode = "i"
	}
	s := fmt.Sprintf("%s.%d.%d.%s.%d", d.set, d.epoch, d.cursor, mode, d.start)
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

func decodeDeltaToken(s string) (deltaToken, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return deltaToken{}, err
	}
	parts := strings.Split(string(b), ".")
	if len(parts) != 5 {
		return deltaToken{}, errors.New("malformed token")
	}
	epoch, err1 := strconv.ParseUint(parts[1], 10, 32)
	cursor, err2 := strconv.ParseInt(parts[2], 10, 64)
	start, err3 := strconv.ParseInt(parts[4], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil || (parts[3] != "i" && parts[3] != "d") {
		return deltaToken{}, errors.New("malformed token")
	}
	return deltaToken{set: parts[0], epoch: uint32(epoch), cursor: cursor, initial: parts[3] == "i", start: start}, nil
}

var errSyncState = &apiError{http.StatusBadRequest, "syncStateNotFound",
	"The sync state generation is not found. The delta token is expired and data must be synchronized again."}

// deltaPage reads up to max changes after tok.cursor. A nil tok starts a
// first round; latest answers no objects and a token for "now". It returns
// the objects, and either the token for the next page (more) or the token
// for the next round.
func (t *Tenant) deltaPage(setName string, tok *deltaToken, latest bool, max int) (items [][]byte, next deltaToken, more bool, aerr *apiError) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	set := t.set(setName)
	if tok == nil {
		tok = &deltaToken{set: setName, epoch: t.epoch, cursor: 0, initial: true, start: t.seq}
		if latest {
			return nil, deltaToken{set: setName, epoch: t.epoch, cursor: t.seq}, false, nil
		}
	}
	if tok.epoch != t.epoch || tok.set != setName {
		return nil, deltaToken{}, false, errSyncState
	}
	i := sort.Search(len(set.log), func(i int) bool { return set.log[i].seq > tok.cursor })
	for ; i < len(set.log); i++ {
		e := set.log[i]
		if e.obj.seq != e.seq {
			continue // superseded by a later change
		}
		if e.obj.deleted {
			if tok.initial && e.seq <= tok.start {
				continue // deleted before the first round began
			}
			items = append(items, removedObject(setName, e.obj.id))
		} else {
			items = append(items, e.obj.raw)
		}
		if len(items) == max {
			if i+1 < len(set.log) {
				n := *tok
				n.cursor = e.seq
				return items, n, true, nil
			}
			break
		}
	}
	return items, deltaToken{set: setName, epoch: t.epoch, cursor: t.seq}, false, nil
}

// removedObject is a deleted object as delta reports it:
// {"id": ..., "@removed": {"reason": "changed"}}.
func removedObject(setName, id string) []byte {
	var m interface {
		absser.Parsable
		SetId(*string)
		GetAdditionalData() map[string]any
	}
	if setName == setApplications {
		m = models.NewApplication()
	} else {
		m = models.NewServicePrincipal()
	}
	m.SetId(&id)
	m.GetAdditionalData()["@removed"] = map[string]any{"reason": "changed"}
	return mustMarshal(m)
}
