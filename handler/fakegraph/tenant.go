package fakegraph

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"golang.org/x/sync/errgroup"

	"github.com/appwarden/appwarden/handler/snapshot"
)

// Tenant is the directory state the stand-in serves: applications, service
// principals, owners, app role assignments and delegated permission grants.
// Every object is kept as the kiota JSON serialization of its msgraph-sdk-go
// model (about 1 KB per object, so 100,000 apps fit comfortably), and every
// change gets a tenant-wide change sequence number that delta query reads.
// A Tenant is safe for concurrent use.
type Tenant struct {
	mu       sync.RWMutex
	tenantID string
	epoch    uint32 // part of every delta token; ExpireDeltaTokens changes it
	seq      int64

	apps entitySet
	sps  entitySet

	owners map[string][]*ownerRec // by owned object id

	assignments       map[string]*assignmentRec   // by id
	assignByPrincipal map[string][]*assignmentRec // by principal (service principal) id
	assignOrder       []*assignmentRec

	grants         map[string]*grantRec   // by id
	grantsByClient map[string][]*grantRec // by client service principal id
	grantOrder     []*grantRec

	// deletedItems are the deleted applications and service principals
	// still restorable (Graph keeps them 30 days), by object id: what
	// GET /directory/deletedItems serves.
	deletedItems map[string]*object

	fics     map[string][]*ficRec // federated identity credentials by application object id
	roles    map[string]*roleRec  // activated directory roles by template id
	certKeys map[string][]byte    // certificate bytes by keyId (never in stored objects)

	audit auditLog
}

type object struct {
	id, appID   string
	displayName string
	raw         []byte // kiota serialization of the model
	seq         int64  // change sequence of the last write
	deleted     bool
	// gone is the object as deleted items show it (with deletedDateTime),
	// set when it is deleted.
	gone []byte
}

type logEntry struct {
	seq int64
	obj *object
}

// entitySet is one of the two delta-tracked collections.
type entitySet struct {
	name    string // "applications" or "servicePrincipals"
	byID    map[string]*object
	byAppID map[string]*object
	order   []*object  // creation order (deleted objects stay, flagged)
	log     []logEntry // append-only, ascending seq; superseded entries stay
}

type ownerRec struct {
	id  string
	raw []byte
}

type assignmentRec struct {
	id, principalID, resourceID, appRoleID string
	raw                                    []byte
	deleted                                bool
}

type grantRec struct {
	id, clientID, resourceID, consentType, principalID, scope string
	raw                                                       []byte
	deleted                                                   bool
}

// NewTenant returns an empty tenant. An empty tenantID gets a random one.
func NewTenant(tenantID string) *Tenant {
	if tenantID == "" {
		tenantID = uuid.NewString()
	}
	t := &Tenant{
		tenantID:          tenantID,
		epoch:             randomEpoch(),
		apps:              entitySet{name: "applications", byID: map[string]*object{}, byAppID: map[string]*object{}},
		sps:               entitySet{name: "servicePrincipals", byID: map[string]*object{}, byAppID: map[string]*object{}},
		owners:            map[string][]*ownerRec{},
		assignments:       map[string]*assignmentRec{},
		assignByPrincipal: map[string][]*assignmentRec{},
		grants:            map[string]*grantRec{},
		grantsByClient:    map[string][]*grantRec{},
		deletedItems:      map[string]*object{},
		fics:              map[string][]*ficRec{},
		roles:             map[string]*roleRec{},
		certKeys:          map[string][]byte{},
	}
	t.audit.init()
	return t
}

func randomEpoch() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint32(b[:])
}

// TenantID returns the tenant id.
func (t *Tenant) TenantID() string { return t.tenantID }

// Seq returns the current change sequence number (it grows with every write).
func (t *Tenant) Seq() int64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.seq
}

// Counts returns the number of live applications and service principals.
func (t *Tenant) Counts() (applications, servicePrincipals int) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.apps.byID), len(t.sps.byID)
}

// ExpireDeltaTokens invalidates every delta and skip token handed out so far:
// following one then answers 400 syncStateNotFound, as Graph does for a token
// older than 7 days.
func (t *Tenant) ExpireDeltaTokens() {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.epoch
	for t.epoch == old {
		t.epoch = randomEpoch()
	}
}

// ---- low-level mutation (callers hold t.mu for writing) ----

func (t *Tenant) touch(set *entitySet, o *object) {
	t.seq++
	o.seq = t.seq
	set.log = append(set.log, logEntry{seq: t.seq, obj: o})
}

func (t *Tenant) insertLocked(set *entitySet, id, appID, displayName string, raw []byte) (*object, error) {
	if id == "" {
		return nil, fmt.Errorf("%s: object without id", set.name)
	}
	if _, dup := set.byID[id]; dup {
		return nil, fmt.Errorf("%s: duplicate id %s", set.name, id)
	}
	if appID != "" {
		if _, dup := set.byAppID[strings.ToLower(appID)]; dup {
			return nil, fmt.Errorf("%s: duplicate appId %s", set.name, appID)
		}
	}
	o := &object{id: id, appID: appID, displayName: displayName, raw: raw}
	delete(t.deletedItems, id) // an object put back is no longer among deleted items
	set.byID[id] = o
	if appID != "" {
		set.byAppID[strings.ToLower(appID)] = o
	}
	set.order = append(set.order, o)
	t.touch(set, o)
	return o, nil
}

func (t *Tenant) deleteLocked(set *entitySet, o *object) {
	delete(set.byID, o.id)
	if o.appID != "" {
		delete(set.byAppID, strings.ToLower(o.appID))
	}
	o.deleted = true
	o.gone = tombstone(set.name, o.raw)
	t.deletedItems[o.id] = o
	o.raw = nil
	t.touch(set, o)
	delete(t.owners, o.id)
	delete(t.fics, o.id)
	if set == &t.sps {
		for _, r := range t.roles {
			r.members = slices.DeleteFunc(r.members, func(m string) bool { return m == o.id })
		}
		for _, a := range t.assignByPrincipal[o.id] {
			a.deleted = true
			delete(t.assignments, a.id)
		}
		delete(t.assignByPrincipal, o.id)
		for _, g := range t.grantsByClient[o.id] {
			g.deleted = true
			delete(t.grants, g.id)
		}
		delete(t.grantsByClient, o.id)
	}
}

// lookup resolves an object by object id or appId.
func (set *entitySet) lookup(key string) *object {
	if o := set.byID[key]; o != nil {
		return o
	}
	return set.byAppID[strings.ToLower(key)]
}

// resolve resolves an object by the addressing form of a request.
func (set *entitySet) resolve(key string, byAppID bool) *object {
	if byAppID {
		return set.byAppID[strings.ToLower(key)]
	}
	return set.byID[key]
}

func (t *Tenant) putApplicationLocked(app models.Applicationable) (*object, error) {
	if app.GetId() == nil || *app.GetId() == "" {
		app.SetId(ptr(uuid.NewString()))
	}
	if app.GetAppId() == nil || *app.GetAppId() == "" {
		app.SetAppId(ptr(uuid.NewString()))
	}
	raw, err := marshal(app)
	if err != nil {
		return nil, err
	}
	return t.insertLocked(&t.apps, *app.GetId(), *app.GetAppId(), str(app.GetDisplayName()), raw)
}

func (t *Tenant) putServicePrincipalLocked(sp models.ServicePrincipalable) (*object, error) {
	if sp.GetId() == nil || *sp.GetId() == "" {
		sp.SetId(ptr(uuid.NewString()))
	}
	if sp.GetAppId() == nil || *sp.GetAppId() == "" {
		return nil, errors.New("servicePrincipals: object without appId")
	}
	raw, err := marshal(sp)
	if err != nil {
		return nil, err
	}
	return t.insertLocked(&t.sps, *sp.GetId(), *sp.GetAppId(), str(sp.GetDisplayName()), raw)
}

func (t *Tenant) putOwnerLocked(objectID string, owner models.DirectoryObjectable) error {
	if owner.GetId() == nil || *owner.GetId() == "" {
		return fmt.Errorf("owner of %s without id", objectID)
	}
	raw, err := marshal(owner)
	if err != nil {
		return err
	}
	for _, o := range t.owners[objectID] {
		if o.id == *owner.GetId() {
			o.raw = raw
			return nil
		}
	}
	t.owners[objectID] = append(t.owners[objectID], &ownerRec{id: *owner.GetId(), raw: raw})
	return nil
}

func (t *Tenant) putAssignmentLocked(a models.AppRoleAssignmentable) (*assignmentRec, error) {
	if a.GetId() == nil || *a.GetId() == "" {
		a.SetId(ptr(newGraphID()))
	}
	if a.GetPrincipalId() == nil || a.GetResourceId() == nil {
		return nil, fmt.Errorf("appRoleAssignment %s without principalId or resourceId", *a.GetId())
	}
	if _, dup := t.assignments[*a.GetId()]; dup {
		return nil, fmt.Errorf("duplicate appRoleAssignment id %s", *a.GetId())
	}
	raw, err := marshal(a)
	if err != nil {
		return nil, err
	}
	rec := &assignmentRec{id: *a.GetId(), principalID: a.GetPrincipalId().String(), resourceID: a.GetResourceId().String(), raw: raw}
	if a.GetAppRoleId() != nil {
		rec.appRoleID = a.GetAppRoleId().String()
	}
	t.assignments[rec.id] = rec
	t.assignByPrincipal[rec.principalID] = append(t.assignByPrincipal[rec.principalID], rec)
	t.assignOrder = append(t.assignOrder, rec)
	return rec, nil
}

func (t *Tenant) removeAssignmentLocked(rec *assignmentRec) {
	rec.deleted = true
	delete(t.assignments, rec.id)
	list := t.assignByPrincipal[rec.principalID]
	t.assignByPrincipal[rec.principalID] = slices.DeleteFunc(list, func(x *assignmentRec) bool { return x == rec })
}

func (t *Tenant) putGrantLocked(g models.OAuth2PermissionGrantable) (*grantRec, error) {
	if g.GetId() == nil || *g.GetId() == "" {
		g.SetId(ptr(newGraphID()))
	}
	if str(g.GetClientId()) == "" || str(g.GetResourceId()) == "" {
		return nil, fmt.Errorf("oauth2PermissionGrant %s without clientId or resourceId", *g.GetId())
	}
	if _, dup := t.grants[*g.GetId()]; dup {
		return nil, fmt.Errorf("duplicate oauth2PermissionGrant id %s", *g.GetId())
	}
	raw, err := marshal(g)
	if err != nil {
		return nil, err
	}
	rec := &grantRec{id: *g.GetId(), clientID: str(g.GetClientId()), resourceID: str(g.GetResourceId()),
		consentType: str(g.GetConsentType()), principalID: str(g.GetPrincipalId()), scope: str(g.GetScope()), raw: raw}
	t.grants[rec.id] = rec
	t.grantsByClient[rec.clientID] = append(t.grantsByClient[rec.clientID], rec)
	t.grantOrder = append(t.grantOrder, rec)
	return rec, nil
}

func (t *Tenant) removeGrantLocked(rec *grantRec) {
	rec.deleted = true
	delete(t.grants, rec.id)
	list := t.grantsByClient[rec.clientID]
	t.grantsByClient[rec.clientID] = slices.DeleteFunc(list, func(x *grantRec) bool { return x == rec })
}

// updateApplicationLocked parses the stored application, lets fn change it,
// stores the new serialization and bumps the change sequence.
func (t *Tenant) updateApplicationLocked(o *object, fn func(models.Applicationable) error) error {
	app, err := parse[models.Applicationable](o.raw, models.CreateApplicationFromDiscriminatorValue)
	if err != nil {
		return err
	}
	if err := fn(app); err != nil {
		return err
	}
	app.SetId(&o.id)
	app.SetAppId(&o.appID)
	raw, err := marshal(app)
	if err != nil {
		return err
	}
	o.raw, o.displayName = raw, str(app.GetDisplayName())
	t.touch(&t.apps, o)
	return nil
}

func (t *Tenant) updateServicePrincipalLocked(o *object, fn func(models.ServicePrincipalable) error) error {
	sp, err := parse[models.ServicePrincipalable](o.raw, models.CreateServicePrincipalFromDiscriminatorValue)
	if err != nil {
		return err
	}
	if err := fn(sp); err != nil {
		return err
	}
	sp.SetId(&o.id)
	sp.SetAppId(&o.appID)
	raw, err := marshal(sp)
	if err != nil {
		return err
	}
	o.raw, o.displayName = raw, str(sp.GetDisplayName())
	t.touch(&t.sps, o)
	return nil
}

// ---- public mutation helpers for tests ----

// UpdateApplication changes an application (by appId or object id) in place,
// as if someone edited it in the portal: the change is visible to delta query,
// and "Update application" is audited with the changed properties.
func (t *Tenant) UpdateApplication(key string, fn func(models.Applicationable)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.apps.lookup(key)
	if o == nil {
		return fmt.Errorf("fakegraph: no application %s", key)
	}
	before := o.raw
	if err := t.updateApplicationLocked(o, func(a models.Applicationable) error { fn(a); return nil }); err != nil {
		return err
	}
	t.auditUpdateLocked(setApplications, o, changedProps(before, o.raw))
	return nil
}

// UpdateServicePrincipal changes a service principal (by appId or object id) in place.
func (t *Tenant) UpdateServicePrincipal(key string, fn func(models.ServicePrincipalable)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.sps.lookup(key)
	if o == nil {
		return fmt.Errorf("fakegraph: no servicePrincipal %s", key)
	}
	before := o.raw
	if err := t.updateServicePrincipalLocked(o, func(s models.ServicePrincipalable) error { fn(s); return nil }); err != nil {
		return err
	}
	t.auditUpdateLocked(setServicePrincipals, o, changedProps(before, o.raw))
	return nil
}

// tombstone is a deleted object as GET /directory/deletedItems shows it: the
// object as it was, through its model, with deletedDateTime set.
func tombstone(setName string, raw []byte) []byte {
	obj, err := parse[absser.Parsable](raw, factoryFor(setName))
	if err != nil {
		return raw
	}
	if d, ok := obj.(interface{ SetDeletedDateTime(*time.Time) }); ok {
		at := now()
		d.SetDeletedDateTime(&at)
	}
	if b, err := marshal(obj); err == nil {
		return b
	}
	return raw
}

// DeleteApp deletes the application and the service principal of an appId
// (either may be absent), with the service principal's assignments, grants
// and owners. Delta query reports them as removed; both move to deleted
// items (GET /directory/deletedItems), as Graph's soft delete does.
func (t *Tenant) DeleteApp(appID string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	found := false
	if o := t.apps.byAppID[strings.ToLower(appID)]; o != nil {
		t.deleteLocked(&t.apps, o)
		found = true
	}
	if o := t.sps.byAppID[strings.ToLower(appID)]; o != nil {
		t.deleteLocked(&t.sps, o)
		found = true
	}
	if !found {
		return fmt.Errorf("fakegraph: no application or servicePrincipal with appId %s", appID)
	}
	return nil
}

// Purge removes an application or service principal (by appId or object
// id) from deleted items, as a permanent delete or the end of the 30 days
// does: it is then gone without a trace.
func (t *Tenant) Purge(key string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	found := false
	for id, o := range t.deletedItems {
		if id == key || strings.EqualFold(o.appID, key) {
			delete(t.deletedItems, id)
			found = true
		}
	}
	if !found {
		return fmt.Errorf("fakegraph: nothing deleted with id or appId %s", key)
	}
	return nil
}

// ---- accessors for assertions ----

// Application returns a copy of the application with that appId or object id.
// isDisabled is in its AdditionalData.
func (t *Tenant) Application(key string) (models.Applicationable, bool) {
	t.mu.RLock()
	o := t.apps.lookup(key)
	var raw []byte
	if o != nil {
		raw = o.raw
	}
	t.mu.RUnlock()
	if raw == nil {
		return nil, false
	}
	app, err := parse[models.Applicationable](raw, models.CreateApplicationFromDiscriminatorValue)
	return app, err == nil
}

// ServicePrincipal returns a copy of the service principal with that appId or object id.
func (t *Tenant) ServicePrincipal(key string) (models.ServicePrincipalable, bool) {
	t.mu.RLock()
	o := t.sps.lookup(key)
	var raw []byte
	if o != nil {
		raw = o.raw
	}
	t.mu.RUnlock()
	if raw == nil {
		return nil, false
	}
	sp, err := parse[models.ServicePrincipalable](raw, models.CreateServicePrincipalFromDiscriminatorValue)
	return sp, err == nil
}

// AppState is a flat view of an app for assertions.
type AppState struct {
	AppID              string
	ApplicationID      string // "" when there is no application object
	ServicePrincipalID string // "" when there is no service principal
	DisplayName        string
	IsDisabled         bool // application isDisabled
	AccountEnabled     bool // service principal accountEnabled
	Tags               []string
	Notes              string
	SPTags             []string
	PasswordKeyIDs     []string
	KeyCredentialIDs   []string
	Owners             []string // owner object ids of the application
	Assignments        []AssignmentState
	Grants             []GrantState
	// What escalations change.
	SPPasswordKeyIDs       []string // the service principal's own passwords
	SPKeyCredentialIDs     []string // the service principal's own certificates
	FederatedCredentialIDs []string
	DirectoryRoles         []string // role template ids the service principal holds
}

// AssignmentState is an app role assignment held by the app's service principal.
type AssignmentState struct {
	ID, AppRoleID, ResourceID string
}

// GrantState is a delegated permission grant whose client is the app's service principal.
type GrantState struct {
	ID, ResourceID, ConsentType, PrincipalID, Scope string
}

// AppState returns the state of the app with that appId (or the object id of
// its application or service principal).
func (t *Tenant) AppState(key string) (AppState, bool) {
	t.mu.RLock()
	var appRaw, spRaw []byte
	var st AppState
	ao := t.apps.lookup(key)
	so := t.sps.lookup(key)
	if ao != nil && so == nil {
		so = t.sps.byAppID[strings.ToLower(ao.appID)]
	}
	if so != nil && ao == nil {
		ao = t.apps.byAppID[strings.ToLower(so.appID)]
	}
	if ao != nil {
		appRaw = ao.raw
		for _, ow := range t.owners[ao.id] {
			st.Owners = append(st.Owners, ow.id)
		}
		for _, f := range t.fics[ao.id] {
			st.FederatedCredentialIDs = append(st.FederatedCredentialIDs, f.id)
		}
	}
	if so != nil {
		spRaw = so.raw
		for _, a := range t.assignByPrincipal[so.id] {
			st.Assignments = append(st.Assignments, AssignmentState{ID: a.id, AppRoleID: a.appRoleID, ResourceID: a.resourceID})
		}
		for _, g := range t.grantsByClient[so.id] {
			st.Grants = append(st.Grants, GrantState{ID: g.id, ResourceID: g.resourceID, ConsentType: g.consentType, PrincipalID: g.principalID, Scope: g.scope})
		}
		for tid, r := range t.roles {
			if slices.Contains(r.members, so.id) {
				st.DirectoryRoles = append(st.DirectoryRoles, tid)
			}
		}
		slices.Sort(st.DirectoryRoles)
	}
	t.mu.RUnlock()
	if appRaw == nil && spRaw == nil {
		return AppState{}, false
	}
	if appRaw != nil {
		app, err := parse[models.Applicationable](appRaw, models.CreateApplicationFromDiscriminatorValue)
		if err != nil {
			return AppState{}, false
		}
		st.AppID, st.ApplicationID, st.DisplayName = str(app.GetAppId()), str(app.GetId()), str(app.GetDisplayName())
		st.IsDisabled = isDisabled(app)
		st.Tags, st.Notes = app.GetTags(), str(app.GetNotes())
		for _, p := range app.GetPasswordCredentials() {
			if p.GetKeyId() != nil {
				st.PasswordKeyIDs = append(st.PasswordKeyIDs, p.GetKeyId().String())
			}
		}
		for _, k := range app.GetKeyCredentials() {
			if k.GetKeyId() != nil {
				st.KeyCredentialIDs = append(st.KeyCredentialIDs, k.GetKeyId().String())
			}
		}
	}
	if spRaw != nil {
		sp, err := parse[models.ServicePrincipalable](spRaw, models.CreateServicePrincipalFromDiscriminatorValue)
		if err != nil {
			return AppState{}, false
		}
		st.AppID, st.ServicePrincipalID = str(sp.GetAppId()), str(sp.GetId())
		if st.DisplayName == "" {
			st.DisplayName = str(sp.GetDisplayName())
		}
		st.AccountEnabled = sp.GetAccountEnabled() != nil && *sp.GetAccountEnabled()
		st.SPTags = sp.GetTags()
		for _, p := range sp.GetPasswordCredentials() {
			if p.GetKeyId() != nil {
				st.SPPasswordKeyIDs = append(st.SPPasswordKeyIDs, p.GetKeyId().String())
			}
		}
		for _, k := range sp.GetKeyCredentials() {
			if k.GetKeyId() != nil {
				st.SPKeyCredentialIDs = append(st.SPKeyCredentialIDs, k.GetKeyId().String())
			}
		}
	}
	return st, true
}

// isDisabled reads application.isDisabled, which msgraph-sdk-go v1.89 keeps in
// AdditionalData.
func isDisabled(app models.Applicationable) bool {
	switch v := app.GetAdditionalData()["isDisabled"].(type) {
	case *bool:
		return v != nil && *v
	case bool:
		return v
	}
	return false
}

// AppRoleAssignments returns copies of the app role assignments held by a
// service principal (by appId or object id).
func (t *Tenant) AppRoleAssignments(spKey string) []models.AppRoleAssignmentable {
	t.mu.RLock()
	var raws [][]byte
	if o := t.sps.lookup(spKey); o != nil {
		for _, a := range t.assignByPrincipal[o.id] {
			raws = append(raws, a.raw)
		}
	}
	t.mu.RUnlock()
	return parseAll[models.AppRoleAssignmentable](raws, models.CreateAppRoleAssignmentFromDiscriminatorValue)
}

// OAuth2PermissionGrants returns copies of the delegated grants whose client
// is a service principal (by appId or object id).
func (t *Tenant) OAuth2PermissionGrants(spKey string) []models.OAuth2PermissionGrantable {
	t.mu.RLock()
	var raws [][]byte
	if o := t.sps.lookup(spKey); o != nil {
		for _, g := range t.grantsByClient[o.id] {
			raws = append(raws, g.raw)
		}
	}
	t.mu.RUnlock()
	return parseAll[models.OAuth2PermissionGrantable](raws, models.CreateOAuth2PermissionGrantFromDiscriminatorValue)
}

func parseAll[T any](raws [][]byte, f absser.ParsableFactory) []T {
	out := make([]T, 0, len(raws))
	for _, r := range raws {
		if v, err := parse[T](r, f); err == nil {
			out = append(out, v)
		}
	}
	return out
}

// ---- snapshot ----

// Load reads a snapshot: {"tenantId", "applications", "servicePrincipals",
// "owners", "appRoleAssignments", "oauth2PermissionGrants"}, each object in
// Graph's JSON form (the format is package snapshot's). Objects are parsed
// through the msgraph-sdk-go models; missing object ids are generated. Objects enter the change log in file
// order, so a first delta round pages through them in that order.
func Load(r io.Reader) (*Tenant, error) {
	f, err := snapshot.Load(r)
	if err != nil {
		return nil, fmt.Errorf("fakegraph: reading snapshot: %w", err)
	}
	t := NewTenant(f.TenantID)
	apps, err := parseParallel[models.Applicationable](f.Applications, models.CreateApplicationFromDiscriminatorValue)
	if err != nil {
		return nil, fmt.Errorf("fakegraph: snapshot applications: %w", err)
	}
	sps, err := parseParallel[models.ServicePrincipalable](f.ServicePrincipals, models.CreateServicePrincipalFromDiscriminatorValue)
	if err != nil {
		return nil, fmt.Errorf("fakegraph: snapshot servicePrincipals: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, a := range apps {
		if _, err := t.putApplicationLocked(a); err != nil {
			return nil, fmt.Errorf("fakegraph: snapshot: %w", err)
		}
	}
	for _, s := range sps {
		if _, err := t.putServicePrincipalLocked(s); err != nil {
			return nil, fmt.Errorf("fakegraph: snapshot: %w", err)
		}
	}
	ownerKeys := make([]string, 0, len(f.Owners))
	for k := range f.Owners {
		ownerKeys = append(ownerKeys, k)
	}
	sort.Strings(ownerKeys)
	for _, k := range ownerKeys {
		for i, raw := range f.Owners[k] {
			o, err := parse[models.DirectoryObjectable](raw, models.CreateDirectoryObjectFromDiscriminatorValue)
			if err != nil {
				return nil, fmt.Errorf("fakegraph: snapshot owners[%s][%d]: %w", k, i, err)
			}
			if err := t.putOwnerLocked(k, o); err != nil {
				return nil, fmt.Errorf("fakegraph: snapshot: %w", err)
			}
		}
	}
	for i, raw := range f.AppRoleAssignments {
		a, err := parse[models.AppRoleAssignmentable](raw, models.CreateAppRoleAssignmentFromDiscriminatorValue)
		if err != nil {
			return nil, fmt.Errorf("fakegraph: snapshot appRoleAssignments[%d]: %w", i, err)
		}
		if _, err := t.putAssignmentLocked(a); err != nil {
			return nil, fmt.Errorf("fakegraph: snapshot: %w", err)
		}
	}
	for i, raw := range f.OAuth2PermissionGrants {
		g, err := parse[models.OAuth2PermissionGrantable](raw, models.CreateOAuth2PermissionGrantFromDiscriminatorValue)
		if err != nil {
			return nil, fmt.Errorf("fakegraph: snapshot oauth2PermissionGrants[%d]: %w", i, err)
		}
		if _, err := t.putGrantLocked(g); err != nil {
			return nil, fmt.Errorf("fakegraph: snapshot: %w", err)
		}
	}
	return t, nil
}

// parseParallel parses a large array of objects on a few goroutines; all of
// them have returned when it returns. The first malformed object stops the
// others (the snapshot is refused whole).
func parseParallel[T any](raws []json.RawMessage, f absser.ParsableFactory) ([]T, error) {
	out := make([]T, len(raws))
	workers := 4
	if len(raws) < 256 {
		workers = 1
	}
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(workers)
	chunk := (len(raws) + workers - 1) / workers
	for lo := 0; lo < len(raws); lo += chunk {
		hi := min(lo+chunk, len(raws))
		g.Go(func() error {
			for i := lo; i < hi && ctx.Err() == nil; i++ {
				v, err := parse[T](raws[i], f)
				if err != nil {
					return fmt.Errorf("[%d]: %w", i, err)
				}
				out[i] = v
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// Save writes the tenant as a snapshot Load reads back (through
// snapshot.Writer: Graph JSON, one object per line). Deleted objects are
// left out.
func (t *Tenant) Save(w io.Writer) error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	sw := snapshot.NewWriter(w, t.tenantID)
	defer sw.Discard()
	for _, o := range t.apps.order {
		if err := sw.Add(snapshot.Applications, o.raw); err != nil {
			return err
		}
	}
	for _, o := range t.sps.order {
		if err := sw.Add(snapshot.ServicePrincipals, o.raw); err != nil {
			return err
		}
	}
	keys := make([]string, 0, len(t.owners))
	for k, v := range t.owners {
		if len(v) > 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		raws := make([]json.RawMessage, len(t.owners[k]))
		for i, o := range t.owners[k] {
			raws[i] = o.raw
		}
		if err := sw.AddOwners(k, raws); err != nil {
			return err
		}
	}
	for _, a := range t.assignOrder {
		if !a.deleted {
			if err := sw.Add(snapshot.AppRoleAssignments, a.raw); err != nil {
				return err
			}
		}
	}
	for _, g := range t.grantOrder {
		if !g.deleted {
			if err := sw.Add(snapshot.OAuth2PermissionGrants, g.raw); err != nil {
				return err
			}
		}
	}
	return sw.Close()
}

// now is the time source for createdDateTime and similar stamps.
func now() time.Time { return time.Now().UTC().Truncate(time.Second) }
