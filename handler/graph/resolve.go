package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/retry"
	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// Fields read for each object. keyCredentials is throttled separately by
// Graph (150/min per tenant); it is still needed for credential findings.
const (
	appSelect   = "id,appId,displayName,createdDateTime,signInAudience,publisherDomain,verifiedPublisher,requiredResourceAccess,passwordCredentials,keyCredentials,web,spa,publicClient,identifierUris,isDisabled,tags,notes"
	spSelect    = "id,appId,displayName,accountEnabled,appOwnerOrganizationId,servicePrincipalType,tags,passwordCredentials,keyCredentials"
	roleSelect  = "id,displayName,roleTemplateId"
	ownerSelect = "id,displayName,userPrincipalName,mail"
	resSelect   = "id,appId,displayName,appRoles,oauth2PermissionScopes"
	// ownerExpand brings the owners with the object they own, in the same
	// request. Graph's $expand on a directory object's relationship
	// returns at most 20 items and no nextLink
	// (learn.microsoft.com/graph/query-parameters, "expand parameter"):
	// a list of expandLimit owners may be cut, and is then read in full
	// from /owners (see followUp).
	ownerExpand = "&$expand=owners($select=" + ownerSelect + ")"
	// assignmentExpand brings a new app's service principal with its app
	// role assignments in one request (see readApp), within the same
	// expand limit: a full list is read from /appRoleAssignments.
	assignmentExpand = "&$expand=appRoleAssignments"
	expandLimit      = 20
)

// ErrNotYetVisible means Graph does not show the object yet (replication
// lag past the retry budget): the object is not among deleted items and the
// change is recent enough for lag to explain the 404, so the signal waits
// in the inbox for the timer (see appwarden.ErrNotYetVisible).
var ErrNotYetVisible = appwarden.ErrNotYetVisible

// Subject is what to resolve: an appId, or an object id with its type.
type Subject struct {
	AppID      string
	ObjectID   string
	ObjectType string // appwarden.ObjectApplication or ObjectServicePrincipal; "" for either
	// Since is when the change happened; a 404 long after it (or, when
	// Since is zero, past the retry budget) means deleted even when Graph
	// does not list the object among deleted items (it may be purged).
	Since   time.Time
	Creator appwarden.Initiator
	// Kind is the signal's kind: all but a creation's read the federated
	// credentials and directory roles too (see creation).
	Kind appwarden.SignalKind
	// Changed is when the change the signal reports happened, at the
	// latest (the signal's Time: an audit record's activity time, or when
	// the sweep's delta page arrived). A resolution already in flight for
	// the app is shared only if it started at or after it (see flight).
	// Zero shares any flight in progress.
	Changed time.Time
}

// What App.Read names.
const (
	ReadFederatedCredentials = appwarden.PartFederatedCredentials
	ReadDirectoryRoles       = appwarden.PartDirectoryRoles
	ReadOwners               = appwarden.PartOwners
	ReadDelegatedGrants      = appwarden.PartDelegatedGrants
)

// creation reports whether a signal of this kind announces a new app. Its
// resolution reads what containing it depends on and no more: the
// registration (with its owners) and the service principal (with its app
// role assignments), 2 requests. Not the federated credentials, directory
// roles, delegated grants, nor the service principal's own owners: no rule
// that acts depends on them for a new app (delegated grants only notify),
// and a later change that adds one comes with its own audit record and
// signal, which reads them all (the baseline treats parts not read as
// unknown, not empty). Under a burst, requests are what Graph throttles.
// Every other signal, a change to an app that may already hold power,
// reads every part.
func creation(k appwarden.SignalKind) bool {
	return k == appwarden.AppCreated || k == appwarden.ServicePrincipalCreated
}

// SubjectOf is the subject a signal names.
func SubjectOf(sig appwarden.Signal) Subject {
	s := Subject{AppID: sig.AppID, ObjectID: sig.ObjectID, ObjectType: sig.ObjectType, Since: sig.Time, Kind: sig.Kind, Changed: sig.Time}
	if creation(sig.Kind) {
		// Only a creation's initiator created the app. Whoever made a later
		// change is that change's initiator (App.Change), not the creator:
		// taking them for it would mention, and mail, an attacker on the
		// card about their own escalation.
		s.Creator = sig.Initiator
	}
	if sig.Source == appwarden.SourceSweep {
		// The sweep has just seen the object in the delta feed: a 404 that
		// outlasts the retry budget means it was deleted since.
		s.Since = time.Time{}
	}
	return s
}

// Resolve reads the current truth about an app: its application object and
// service principal (each with its own credentials and its owners,
// expanded), its app role assignments and delegated grants, every
// permission named, and the registration's federated identity credentials
// and the directory roles the service principal holds, all in one $batch
// of 6 requests. A new app's creation reads only what containing it needs
// (see creation): the application with its owners expanded and the service
// principal with its app role assignments expanded, one round trip of 2
// requests (and, for a service principal with no registration here, a
// second of its owners and delegated grants). Naming the permissions of
// resources not yet cached takes one more round trip (a cold cache; one
// request per resource), and so does an owner or assignment list that
// fills Graph's expand limit of 20 (read again in full).
//
// What the errors mean: a *PermanentError (errors.Is
// appwarden.ErrUnresolvable) when Graph refuses a read about the app with
// 400 or 403; ErrNotYetVisible when a recent object is still absent after
// the re-reads and is not among deleted items; anything else (throttling,
// 5xx, the context's end) is transient. An app that is gone is no error: it
// comes back with Deleted set.
func (c *Client) Resolve(ctx context.Context, s Subject) (*appwarden.App, error) {
	app, _, err := c.resolve(ctx, s)
	return app, err
}

// resolve is Resolve, and reports whether the app came from a resolution
// of the same app already in flight (see flight).
func (c *Client) resolve(ctx context.Context, s Subject) (*appwarden.App, bool, error) {
	lag := c.newLag(s)
	if s.AppID == "" {
		appID, deleted, err := c.appIDOf(ctx, s, lag)
		if err != nil {
			return nil, false, err
		}
		if deleted {
			// appID is known when deleted items still hold the object.
			return &appwarden.App{AppID: appID, Deleted: true, Creator: s.Creator, ResolvedAt: c.now().UTC()}, false, nil
		}
		s.AppID = appID
	}
	if s.AppID == "" {
		return nil, false, fmt.Errorf("graph: nothing to resolve: no appId and no object id")
	}
	return c.resolveShared(ctx, s, func(ctx context.Context) (*appwarden.App, error) {
		r, err := c.readApp(ctx, s, lag)
		if err != nil {
			return nil, err
		}
		if r.deleted {
			return &appwarden.App{AppID: s.AppID, Deleted: true, Creator: s.Creator, ResolvedAt: c.now().UTC()}, nil
		}
		if err := c.followUp(ctx, s.AppID, r); err != nil {
			return nil, err
		}
		return c.assemble(s, r), nil
	})
}

// raw is what the first batch read.
type raw struct {
	app         models.Applicationable
	sp          models.ServicePrincipalable
	appOwners   []models.DirectoryObjectable
	spOwners    []models.DirectoryObjectable
	assignments []models.AppRoleAssignmentable
	grants      []models.OAuth2PermissionGrantable
	fics        []models.FederatedIdentityCredentialable
	roles       []models.DirectoryRoleable
	deleted     bool
	// moreAppOwners and moreSPOwners: the expanded owners filled the
	// expand limit, so the list may be cut; followUp reads /owners.
	// moreAssignments: the same for a creation's expanded assignments.
	moreAppOwners, moreSPOwners, moreAssignments bool
	// leanSP: a creation's read of the service principal (assignments
	// expanded; no owners, no delegated grants).
	leanSP bool
	unread []string // parts Graph refused to show (403)
	read   []string // optional parts read (appwarden.Parts())
}

// extras are the optional reads: the registration's federated identity
// credentials (GET /applications(appId=..)/federatedIdentityCredentials,
// learn.microsoft.com/graph/api/application-list-federatedidentitycredentials)
// and the directory roles the service principal is a direct member of
// (GET /servicePrincipals(appId=..)/memberOf/microsoft.graph.directoryRole:
// learn.microsoft.com/graph/api/serviceprincipal-list-memberof says "OData
// cast is also enabled" and needs only Application.Read.All, and the
// servicePrincipal resource lists memberOf as "Roles that this service
// principal is a member of"). hasApp and hasSP leave out what cannot exist.
func extras(appID string, hasApp, hasSP bool) []request {
	key := url.PathEscape(strings.ReplaceAll(appID, "'", "''"))
	var reqs []request
	if hasApp {
		reqs = append(reqs, request{ID: "fics", Method: "GET", URL: "/applications(appId='" + key + "')/federatedIdentityCredentials"})
	}
	if hasSP {
		reqs = append(reqs, request{ID: "roles", Method: "GET", URL: "/servicePrincipals(appId='" + key + "')/memberOf/microsoft.graph.directoryRole?$select=" + roleSelect})
	}
	return reqs
}

// decodeExtras reads the answers to extras into r. A 404 is none (the
// registration or service principal is not there: an SP-only app has no
// federated credentials here); a 403 goes to Unread like owners.
func (c *Client) decodeExtras(ctx context.Context, got map[string]*response, r *raw) error {
	part := func(err error, what, name string) error {
		if err == nil {
			r.read = append(r.read, name)
		}
		return r.unreadable(err, what)
	}
	var err error
	if a, ok := got["fics"]; ok {
		if r.fics, err = collect[models.FederatedIdentityCredentialable](ctx, c, a, "federated identity credentials", models.CreateFederatedIdentityCredentialCollectionResponseFromDiscriminatorValue); part(err, "federated identity credentials", ReadFederatedCredentials) != nil {
			return err
		}
	} else if r.app == nil {
		r.read = append(r.read, ReadFederatedCredentials) // no registration here: none
	}
	if a, ok := got["roles"]; ok {
		if r.roles, err = collect[models.DirectoryRoleable](ctx, c, a, "directory roles", models.CreateDirectoryRoleCollectionResponseFromDiscriminatorValue); part(err, "directory roles", ReadDirectoryRoles) != nil {
			return err
		}
	} else if r.sp == nil {
		r.read = append(r.read, ReadDirectoryRoles) // no service principal: none
	}
	return nil
}

func (c *Client) readApp(ctx context.Context, s Subject, lag *lag) (*raw, error) {
	key := url.PathEscape(strings.ReplaceAll(s.AppID, "'", "''"))
	app := "/applications(appId='" + key + "')"
	sp := "/servicePrincipals(appId='" + key + "')"
	// Owners come expanded on the two objects (6 requests, not 8): who
	// owns the app decides ownerless-app and is who the notice names.
	reqs := []request{{ID: "app", Method: "GET", URL: app + "?$select=" + appSelect + ownerExpand}}
	full := !creation(s.Kind)
	if full {
		reqs = append(reqs,
			request{ID: "sp", Method: "GET", URL: sp + "?$select=" + spSelect + ownerExpand},
			request{ID: "spRoles", Method: "GET", URL: sp + "/appRoleAssignments"},
			request{ID: "spGrants", Method: "GET", URL: sp + "/oauth2PermissionGrants"})
		reqs = append(reqs, extras(s.AppID, true, true)...)
	} else {
		reqs = append(reqs, request{ID: "sp", Method: "GET", URL: sp + "?$select=" + spSelect + assignmentExpand})
	}
	for {
		got, err := c.batch(ctx, reqs)
		if err != nil {
			return nil, err
		}
		r, missing, err := c.decodeApp(ctx, got, s)
		if err != nil {
			return nil, err
		}
		if !missing {
			if full {
				if err := c.decodeExtras(ctx, got, r); err != nil {
					return nil, err
				}
			}
			return r, nil
		}
		deleted, _, err := lag.absent(ctx, s, "appId "+s.AppID)
		if err != nil {
			return nil, err
		}
		if deleted {
			return &raw{deleted: true}, nil
		}
	}
}

// lag paces the re-reads of what answered 404, for the whole of one
// resolution: backoff from LagFirst doubling to LagMax, within LagBudget in
// total and never past the context's deadline. A new object can answer 404
// for a while (replication lag), so a 404 alone does not mean deleted; once
// the re-reads are over, Graph's deleted items tell a deletion from lag.
type lag struct {
	c        *Client
	since    time.Time // when the change happened; zero when the sweep has just seen the object
	deadline time.Time
	next     time.Duration
	probed   bool // deleted items have been consulted (at most once per resolution)
}

func (c *Client) newLag(s Subject) *lag {
	return &lag{c: c, since: s.Since, deadline: c.now().Add(c.retry.LagBudget), next: c.retry.LagFirst}
}

// old reports whether the change is too old for replication lag to explain
// a 404 (or the sweep has just seen the object, so a 404 means it went since).
func (l *lag) old() bool {
	return l.since.IsZero() || l.c.now().Sub(l.since) > l.c.retry.DeletedAfter
}

// absent is called each time what s names answers 404. It sleeps before the
// next re-read and returns nothing, or decides: deleted (with the appId when
// deleted items still hold the object), or ErrNotYetVisible. An old change
// consults deleted items at once, so a deleted app costs one round trip,
// not the whole budget; a recent one only after the re-reads, since its 404
// is most likely lag. An old change still absent after the re-reads is
// deleted even if deleted items do not hold it (it may have been purged).
func (l *lag) absent(ctx context.Context, s Subject, what string) (deleted bool, appID string, err error) {
	c := l.c
	if l.old() && !l.probed {
		l.probed = true
		if appID, found, err := c.deletedItem(ctx, s); err != nil || found {
			return found, appID, err
		}
	}
	spent := c.now().Add(l.next).After(l.deadline)
	cut := !spent && retry.Outlasts(ctx, l.next) // the invocation ends before the budget does
	if !spent && !cut {
		if err := retry.Sleep(ctx, l.next); err != nil {
			return false, "", fmt.Errorf("graph: waiting for %s to appear: %w", what, err)
		}
		l.next = min(l.next*2, c.retry.LagMax)
		return false, "", nil
	}
	if l.old() {
		return true, "", nil
	}
	if !l.probed {
		l.probed = true
		if appID, found, err := c.deletedItem(ctx, s); err != nil || found {
			return found, appID, err
		}
	}
	if cut {
		return false, "", fmt.Errorf("%w: %s, not among deleted items, and the invocation's deadline ends the re-reads: %w", ErrNotYetVisible, what, context.DeadlineExceeded)
	}
	return false, "", fmt.Errorf("%w: %s after %s, and not among deleted items", ErrNotYetVisible, what, c.retry.LagBudget)
}

// deletedItem looks for the subject among Graph's deleted items, where a
// deleted application or service principal stays restorable for 30 days:
// GET /directory/deletedItems/{id} for an object id, otherwise the typed
// lists filtered by appId, GET /directory/deletedItems/microsoft.graph.
// application?$filter=appId eq '{appId}' and the same for
// microsoft.graph.servicePrincipal (learn.microsoft.com/graph/api/
// directory-deleteditems-get and directory-deleteditems-list: the list
// needs the type cast and takes that type's query parameters; both need
// only Application.Read.All for these types). found reports whether it is
// there, appID its appId. A 400 or 403 here tells nothing about the object
// and counts as not found, leaving the decision to the change's age; other
// failures are transient errors.
func (c *Client) deletedItem(ctx context.Context, s Subject) (appID string, found bool, err error) {
	var reqs []request
	if s.ObjectID != "" {
		// No $select: the entity set is typed directoryObject, which has no appId.
		reqs = append(reqs, request{ID: "id", Method: "GET", URL: "/directory/deletedItems/" + url.PathEscape(s.ObjectID)})
	} else {
		filter := strings.ReplaceAll(url.QueryEscape("appId eq '"+strings.ReplaceAll(s.AppID, "'", "''")+"'"), "+", "%20")
		for _, cast := range []string{"application", "servicePrincipal"} {
			reqs = append(reqs, request{ID: cast, Method: "GET", URL: "/directory/deletedItems/microsoft.graph." + cast + "?$filter=" + filter + "&$select=id,appId"})
		}
	}
	got, err := c.batch(ctx, reqs)
	if err != nil {
		return "", false, fmt.Errorf("graph: looking in deleted items: %w", err)
	}
	type item struct {
		AppID string `json:"appId"`
	}
	for _, q := range reqs {
		r := got[q.ID]
		switch {
		case r.Status == http.StatusNotFound, r.Status == http.StatusBadRequest, r.Status == http.StatusForbidden:
			continue
		case r.Status >= 300:
			return "", false, itemError(r, "deleted items")
		}
		if q.ID == "id" {
			var v item
			if err := json.Unmarshal(r.Body, &v); err != nil {
				return "", false, fmt.Errorf("graph: decoding a deleted item: %w", err)
			}
			return strings.ToLower(v.AppID), true, nil
		}
		var page struct {
			Value []item `json:"value"`
		}
		if err := json.Unmarshal(r.Body, &page); err != nil {
			return "", false, fmt.Errorf("graph: decoding deleted items: %w", err)
		}
		if len(page.Value) > 0 {
			return strings.ToLower(page.Value[0].AppID), true, nil
		}
	}
	return "", false, nil
}

// decodeApp reads the first batch's answers. missing is true when the object
// the subject names is not visible (404): replication lag, or deletion.
func (c *Client) decodeApp(ctx context.Context, got map[string]*response, s Subject) (*raw, bool, error) {
	r := &raw{}
	var err error
	if r.app, err = one[models.Applicationable](got["app"], "application", models.CreateApplicationFromDiscriminatorValue); err != nil {
		return nil, false, err
	}
	if r.sp, err = one[models.ServicePrincipalable](got["sp"], "service principal", models.CreateServicePrincipalFromDiscriminatorValue); err != nil {
		return nil, false, err
	}
	switch {
	case r.app == nil && r.sp == nil:
		return nil, true, nil
	case s.ObjectType == appwarden.ObjectApplication && r.app == nil:
		return nil, true, nil
	case s.ObjectType == appwarden.ObjectServicePrincipal && r.sp == nil:
		return nil, true, nil
	}
	if r.app != nil {
		r.appOwners = r.app.GetOwners()
		r.moreAppOwners = len(r.appOwners) >= expandLimit
	}
	_, full := got["spRoles"]
	switch {
	case r.sp == nil:
		// No service principal: no owners, assignments or grants of it.
		r.read = append(r.read, ReadOwners, ReadDelegatedGrants)
	case !full:
		// A creation's read (see creation): the assignments came
		// expanded; the service principal's owners and delegated grants
		// are read only when there is no registration (followUp).
		r.assignments = r.sp.GetAppRoleAssignments()
		r.moreAssignments = len(r.assignments) >= expandLimit
		r.leanSP = true
	default:
		// A 403 on one of the app's parts (assignments, grants) is a
		// permission AppWarden lacks, not a refusal of the app itself:
		// judge the app on what can be read and say what could not.
		r.spOwners = r.sp.GetOwners()
		r.moreSPOwners = len(r.spOwners) >= expandLimit
		if r.assignments, err = collect[models.AppRoleAssignmentable](ctx, c, got["spRoles"], "app role assignments", models.CreateAppRoleAssignmentCollectionResponseFromDiscriminatorValue); r.unreadable(err, "app role assignments") != nil {
			return nil, false, err
		}
		if r.grants, err = collect[models.OAuth2PermissionGrantable](ctx, c, got["spGrants"], "oauth2 permission grants", models.CreateOAuth2PermissionGrantCollectionResponseFromDiscriminatorValue); r.unreadable(err, "oauth2 permission grants") != nil {
			return nil, false, err
		}
		r.read = append(r.read, ReadOwners)
		if err == nil {
			r.read = append(r.read, ReadDelegatedGrants)
		}
	}
	return r, false, nil
}

// one decodes a single-object answer; a 404 gives nil, a 400 or 403 a
// *PermanentError.
func one[T any](r *response, what string, ctor func(p parseNode) (parsable, error)) (T, error) {
	var zero T
	if r == nil {
		return zero, fmt.Errorf("graph: no answer for %s", what)
	}
	if r.Status == 404 {
		return zero, nil
	}
	if r.Status >= 300 {
		return zero, permanent(itemError(r, what))
	}
	v, err := parse[parsable](r.Body, ctor)
	if err != nil {
		return zero, err
	}
	t, ok := v.(T)
	if !ok {
		return zero, fmt.Errorf("graph: %s: unexpected type %T", what, v)
	}
	return t, nil
}

// collection is what every msgraph collection response offers.
type collection[T any] interface {
	GetValue() []T
	GetOdataNextLink() *string
}

// collect decodes a collection answer and follows @odata.nextLink pages; a
// 404 (the parent is not there) gives nothing, a 400 or 403 a
// *PermanentError.
func collect[T any](ctx context.Context, c *Client, r *response, what string, ctor func(p parseNode) (parsable, error)) ([]T, error) {
	if r == nil || r.Status == 404 {
		return nil, nil
	}
	if r.Status >= 300 {
		return nil, permanent(itemError(r, what))
	}
	body := []byte(r.Body)
	var out []T
	for {
		v, err := parse[parsable](body, ctor)
		if err != nil {
			return nil, err
		}
		page, ok := v.(collection[T])
		if !ok {
			return nil, fmt.Errorf("graph: %s: unexpected type %T", what, v)
		}
		out = append(out, page.GetValue()...)
		next := str(page.GetOdataNextLink())
		if next == "" {
			return out, nil
		}
		if body, err = c.get(ctx, next); err != nil {
			return nil, permanent(fmt.Errorf("graph: %s: next page: %w", what, err))
		}
	}
}

// get fetches an absolute URL (a nextLink or deltaLink) through the SDK's
// adapter, so it gets the same auth, retries and counting.
func (c *Client) get(ctx context.Context, link string) ([]byte, error) {
	if err := c.gate.wait(ctx); err != nil {
		return nil, err
	}
	u, err := url.Parse(link)
	if err != nil {
		return nil, fmt.Errorf("bad link %q: %w", link, err)
	}
	info := abs.NewRequestInformation()
	info.Method = abs.GET
	info.SetUri(*u)
	info.Headers.Add("Accept", "application/json")
	return c.send(ctx, info)
}

// appIDOf finds the appId of an object named only by its id (one round
// trip), waiting out replication lag like the app's own reads. When the
// object is deleted, appID is its appId if deleted items still hold it.
func (c *Client) appIDOf(ctx context.Context, s Subject, lag *lag) (appID string, deleted bool, err error) {
	if s.ObjectID == "" {
		return "", false, nil
	}
	set := "/servicePrincipals/"
	if s.ObjectType == appwarden.ObjectApplication {
		set = "/applications/"
	}
	for {
		body, err := c.get(ctx, c.base+set+url.PathEscape(s.ObjectID)+"?$select=id,appId")
		var se *StatusError
		if errors.As(err, &se) && se.Status == http.StatusNotFound {
			deleted, appID, err := lag.absent(ctx, s, "object "+s.ObjectID)
			if err != nil || deleted {
				return appID, deleted, err
			}
			continue
		}
		if err != nil {
			return "", false, permanent(fmt.Errorf("graph: reading appId of %s: %w", s.ObjectID, err))
		}
		var v struct {
			AppID string `json:"appId"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return "", false, fmt.Errorf("graph: reading appId of %s: %w", s.ObjectID, err)
		}
		return strings.ToLower(v.AppID), false, nil
	}
}

// followUp reads the parts the first batch did not bring in full (see
// readParts; rare for an app with a registration), then, in one batch, the
// resource service principals whose permissions the app names and that are
// not cached yet.
func (c *Client) followUp(ctx context.Context, appID string, r *raw) error {
	var reqs []request
	key := url.PathEscape(strings.ReplaceAll(appID, "'", "''"))
	if r.app != nil && r.moreAppOwners {
		reqs = append(reqs, request{ID: "appOwners", Method: "GET", URL: "/applications(appId='" + key + "')/owners?$select=" + ownerSelect})
	}
	if r.sp != nil && r.moreSPOwners {
		reqs = append(reqs, request{ID: "spOwners", Method: "GET", URL: "/servicePrincipals(appId='" + key + "')/owners?$select=" + ownerSelect})
	}
	if r.leanSP && r.moreAssignments {
		reqs = append(reqs, request{ID: "spRoles", Method: "GET", URL: "/servicePrincipals(appId='" + key + "')/appRoleAssignments"})
	}
	if r.leanSP && r.app == nil {
		// A new service principal with no registration here (another
		// tenant's app, consented to): its owners are all it has, and
		// consent phishing is what its delegated grants show.
		reqs = append(reqs,
			request{ID: "spOwners", Method: "GET", URL: "/servicePrincipals(appId='" + key + "')/owners?$select=" + ownerSelect},
			request{ID: "spGrants", Method: "GET", URL: "/servicePrincipals(appId='" + key + "')/oauth2PermissionGrants"})
	}
	if len(reqs) > 0 {
		if err := c.readParts(ctx, reqs, r); err != nil {
			return err
		}
		reqs = nil
	}
	seen := map[string]bool{}
	want := func(reqID, url string) {
		if !seen[reqID] {
			seen[reqID] = true
			reqs = append(reqs, request{ID: reqID, Method: "GET", URL: url})
		}
	}
	if r.app != nil {
		for _, rra := range r.app.GetRequiredResourceAccess() {
			appID := strings.ToLower(str(rra.GetResourceAppId()))
			if _, ok := c.perms.lookup(appID, ""); !ok && appID != "" {
				want("a"+appID, "/servicePrincipals(appId='"+appID+"')?$select="+resSelect)
			}
		}
	}
	for _, a := range r.assignments {
		rid := strings.ToLower(id(a.GetResourceId()))
		if _, ok := c.perms.lookup("", rid); !ok && rid != "" {
			want("o"+rid, "/servicePrincipals/"+rid+"?$select="+resSelect)
		}
	}
	for _, g := range r.grants {
		rid := strings.ToLower(str(g.GetResourceId()))
		if _, ok := c.perms.lookup("", rid); !ok && rid != "" {
			want("o"+rid, "/servicePrincipals/"+rid+"?$select="+resSelect)
		}
	}
	for len(reqs) > 0 {
		chunk := reqs[:min(20, len(reqs))]
		reqs = reqs[len(chunk):]
		got, err := c.batch(ctx, chunk)
		if err != nil {
			return err
		}
		for _, q := range chunk {
			switch got[q.ID].Status {
			case http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound:
				// The resource cannot be named: its permissions stay visible
				// by id, and the app is still judged. Refusing to judge an
				// app because a resource is unreadable would let it pass.
				continue
			}
			sp, err := one[models.ServicePrincipalable](got[q.ID], "resource service principal", models.CreateServicePrincipalFromDiscriminatorValue)
			if err != nil {
				return err
			}
			if sp != nil {
				c.perms.add(toResource(sp))
			}
		}
	}
	return nil
}

// readParts reads, in one batch, parts of the app that the first batch did
// not bring in full: owners and assignments past the expand limit, and a
// new service principal's owners and delegated grants when it has no
// registration here.
func (c *Client) readParts(ctx context.Context, reqs []request, r *raw) error {
	got, err := c.batch(ctx, reqs)
	if err != nil {
		return err
	}
	for _, q := range reqs {
		switch q.ID {
		case "appOwners", "spOwners":
			if err := c.decodeOwners(ctx, got[q.ID], q.ID, r); err != nil {
				return err
			}
		case "spRoles":
			as, err := collect[models.AppRoleAssignmentable](ctx, c, got[q.ID], "app role assignments", models.CreateAppRoleAssignmentCollectionResponseFromDiscriminatorValue)
			if err := r.unreadable(err, "app role assignments"); err != nil {
				return err
			}
			if err == nil {
				r.assignments = as
			}
		case "spGrants":
			gs, err := collect[models.OAuth2PermissionGrantable](ctx, c, got[q.ID], "oauth2 permission grants", models.CreateOAuth2PermissionGrantCollectionResponseFromDiscriminatorValue)
			if err := r.unreadable(err, "oauth2 permission grants"); err != nil {
				return err
			}
			if err == nil {
				r.grants = gs
				r.read = append(r.read, ReadDelegatedGrants)
			}
		}
	}
	if r.leanSP && r.app == nil && !slices.ContainsFunc(r.unread, func(u string) bool { return strings.Contains(u, "owners") }) {
		r.read = append(r.read, ReadOwners)
	}
	return nil
}

// unreadable returns err, unless it is a 403 on one of the app's parts: a
// permission AppWarden lacks, noted in Unread so that the app is judged on
// what can be read.
func (r *raw) unreadable(err error, what string) error {
	var pe *PermanentError
	if errors.As(err, &pe) && pe.Status == http.StatusForbidden {
		r.unread = append(r.unread, what+": "+err.Error())
		return nil
	}
	return err
}

// decodeOwners reads a full /owners answer (see followUp) in place of the
// expanded list; a 403 goes to Unread, as for the app's other parts, and
// leaves the expanded owners in place.
func (c *Client) decodeOwners(ctx context.Context, resp *response, id string, r *raw) error {
	what := "application owners"
	if id == "spOwners" {
		what = "service principal owners"
	}
	owners, err := collect[models.DirectoryObjectable](ctx, c, resp, what, models.CreateDirectoryObjectCollectionResponseFromDiscriminatorValue)
	switch {
	case err != nil:
		return r.unreadable(err, what)
	case id == "spOwners":
		r.spOwners = owners
	default:
		r.appOwners = owners
	}
	return nil
}

// assemble builds the App from what was read.
func (c *Client) assemble(s Subject, r *raw) *appwarden.App {
	app := &appwarden.App{AppID: strings.ToLower(s.AppID), Creator: s.Creator, ResolvedAt: c.now().UTC(), Unread: r.unread, Read: r.read}
	for _, f := range r.fics {
		app.FederatedIdentityCredentials = append(app.FederatedIdentityCredentials, toFederatedCredential(f))
	}
	for _, role := range r.roles {
		app.DirectoryRoles = append(app.DirectoryRoles, toDirectoryRole(role))
	}
	if r.app != nil {
		app.Application = toApplication(r.app)
		app.DisplayName = app.Application.DisplayName
	}
	if r.sp != nil {
		sp := toServicePrincipal(r.sp)
		for _, a := range r.assignments {
			sp.AppRoleAssignments = append(sp.AppRoleAssignments, toAssignment(a))
		}
		for _, g := range r.grants {
			sp.OAuth2PermissionGrants = append(sp.OAuth2PermissionGrants, toGrant(g))
		}
		app.ServicePrincipals = []appwarden.ServicePrincipal{sp}
		if app.DisplayName == "" {
			app.DisplayName = sp.DisplayName
		}
		if r.app == nil {
			app.SPOnly, app.SPOnlyReason = true, spOnlyReason(sp)
		}
	}
	owners := map[string]bool{}
	for _, o := range append(append([]models.DirectoryObjectable{}, r.appOwners...), r.spOwners...) {
		p := toPrincipal(o)
		if !owners[p.ID] {
			owners[p.ID] = true
			app.Owners = append(app.Owners, p)
		}
	}
	sort.Slice(app.Owners, func(i, j int) bool { return app.Owners[i].ID < app.Owners[j].ID })
	app.Permissions = c.permissions(app)
	return app
}

// permissions lists every permission requested (requiredResourceAccess) or
// granted (app role assignments, delegated grants), named and rated.
func (c *Client) permissions(app *appwarden.App) []appwarden.Permission {
	byKey := map[string]*appwarden.Permission{}
	var order []string
	get := func(resAppID, resID, pid, kind string) *appwarden.Permission {
		var res *resource
		if resAppID != "" {
			res, _ = c.perms.lookup(resAppID, "")
		} else if resID != "" {
			res, _ = c.perms.lookup("", resID)
			if res != nil {
				resAppID = res.AppID
			}
		}
		k := resAppID + "|" + resID + "|" + kind + "|" + strings.ToLower(pid)
		if resAppID != "" {
			k = resAppID + "|" + kind + "|" + strings.ToLower(pid)
		}
		if p, ok := byKey[k]; ok {
			return p
		}
		p := c.perms.define(res, resAppID, pid, kind)
		byKey[k] = &p
		order = append(order, k)
		return &p
	}
	if a := app.Application; a != nil {
		for _, rr := range a.RequiredResourceAccess {
			for _, ra := range rr.ResourceAccess {
				kind := appwarden.PermissionDelegated
				if strings.EqualFold(ra.Type, "Role") {
					kind = appwarden.PermissionApplication
				}
				get(rr.ResourceAppID, "", ra.ID, kind).Requested = true
			}
		}
	}
	for _, sp := range app.ServicePrincipals {
		for _, as := range sp.AppRoleAssignments {
			if as.AppRoleID == "" || as.AppRoleID == "00000000-0000-0000-0000-000000000000" {
				continue // default access, not a permission
			}
			p := get("", strings.ToLower(as.ResourceID), as.AppRoleID, appwarden.PermissionApplication)
			p.Granted = true
			p.GrantIDs = append(p.GrantIDs, as.ID)
			if p.ResourceName == "" {
				p.ResourceName = as.ResourceDisplayName
			}
		}
		for _, g := range sp.OAuth2PermissionGrants {
			res, _ := c.perms.lookup("", g.ResourceID)
			resAppID := ""
			if res != nil {
				resAppID = res.AppID
			}
			for _, scope := range strings.Fields(g.Scope) {
				pid := c.perms.scopeID(res, resAppID, scope)
				if pid == "" {
					pid = scope // an unknown scope stays visible by its value
				}
				p := get(resAppID, strings.ToLower(g.ResourceID), pid, appwarden.PermissionDelegated)
				if p.Name == strings.ToLower(pid) && pid == scope {
					p.Name = scope
				}
				p.Granted = true
				p.GrantIDs = append(p.GrantIDs, g.ID)
				if strings.EqualFold(g.ConsentType, "AllPrincipals") {
					p.AdminConsent = true
				}
			}
		}
	}
	out := make([]appwarden.Permission, 0, len(order))
	for _, k := range order {
		p := byKey[k]
		sort.Strings(p.GrantIDs)
		p.GrantIDs = compact(p.GrantIDs)
		// A grant the registration here never requested: made straight to
		// the service principal, invisible on the API permissions page.
		// Without a registration in this tenant nothing is requested here,
		// so nothing is hidden.
		p.Hidden = app.Application != nil && p.Type == appwarden.PermissionApplication && p.Granted && !p.Requested
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.ResourceAppID != b.ResourceAppID {
			return a.ResourceAppID < b.ResourceAppID
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.Name < b.Name
	})
	return out
}

func compact(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// ResolveSignal resolves the app a signal names, and logs and counts the
// round trips it took.
func (c *Client) ResolveSignal(ctx context.Context, log *slog.Logger, sig appwarden.Signal) (*appwarden.App, error) {
	ctx, trips := WithTrips(ctx)
	app, shared, err := c.resolve(ctx, SubjectOf(sig))
	var pe *PermanentError
	if errors.As(err, &pe) {
		log.Warn("unresolvable in Graph", "event", "resolve", "roundTrips", trips.Count(), "status", pe.Status, "code", pe.Code, "error", err)
		return nil, err
	}
	if err != nil {
		log.Warn("resolution failed", "event", "resolve", "roundTrips", trips.Count(), "error", err)
		return nil, err
	}
	if len(app.Unread) > 0 {
		// A permission AppWarden lacks: loud, because the judgement is
		// made without these parts.
		log.Error("Graph refused parts of the app (403); judging it on the rest", "event", "resolve", "appId", app.AppID, "unread", app.Unread)
	}
	log.Info("resolved in Graph", "event", "resolve", "appId", app.AppID, "displayName", app.DisplayName,
		"roundTrips", trips.Count(), "shared", shared, "spOnly", app.SPOnly, "deleted", app.Deleted, "permissions", len(app.Permissions), "owners", len(app.Owners))
	return app, nil
}
