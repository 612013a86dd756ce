package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// Fields read for each object. keyCredentials is throttled separately by
// Graph (150/min per tenant); it is still needed for credential findings.
const (
	appSelect   = "id,appId,displayName,createdDateTime,signInAudience,publisherDomain,verifiedPublisher,requiredResourceAccess,passwordCredentials,keyCredentials,web,spa,publicClient,identifierUris,isDisabled,tags,notes"
	spSelect    = "id,appId,displayName,accountEnabled,appOwnerOrganizationId,servicePrincipalType,tags"
	ownerSelect = "id,displayName,userPrincipalName,mail"
	resSelect   = "id,appId,displayName,appRoles,oauth2PermissionScopes"
)

// ErrNotYetVisible means Graph does not show the object yet (replication
// lag past the retry budget): the invocation should fail and be redelivered.
var ErrNotYetVisible = errors.New("graph: object not visible yet (replication lag); retry later")

// Subject is what to resolve: an appId, or an object id with its type.
type Subject struct {
	AppID      string
	ObjectID   string
	ObjectType string // appwarden.ObjectApplication or ObjectServicePrincipal; "" for either
	// Since is when the change happened; a 404 long after it (or, when
	// Since is zero, past the retry budget) means deleted.
	Since   time.Time
	Creator appwarden.Initiator
}

// SubjectOf is the subject a signal names.
func SubjectOf(sig appwarden.Signal) Subject {
	s := Subject{AppID: sig.AppID, ObjectID: sig.ObjectID, ObjectType: sig.ObjectType, Since: sig.Time, Creator: sig.Initiator}
	if sig.Source == appwarden.SourceSweep {
		// The sweep has just seen the object in the delta feed: a 404 that
		// outlasts the retry budget means it was deleted since.
		s.Since = time.Time{}
	}
	return s
}

// Resolve reads the current truth about an app: its application object,
// service principal, owners, grants and every permission named. The reads
// for one app go in one $batch; naming the permissions of resources not yet
// cached takes at most one more.
func (c *Client) Resolve(ctx context.Context, s Subject) (*appwarden.App, error) {
	lag := c.newLag(s)
	if s.AppID == "" {
		appID, deleted, err := c.appIDOf(ctx, s, lag)
		if err != nil {
			return nil, err
		}
		if deleted {
			return &appwarden.App{Deleted: true, Creator: s.Creator, ResolvedAt: c.now().UTC()}, nil
		}
		s.AppID = appID
	}
	if s.AppID == "" {
		return nil, fmt.Errorf("graph: nothing to resolve: no appId and no object id")
	}
	r, err := c.readApp(ctx, s, lag)
	if err != nil {
		return nil, err
	}
	if r.deleted {
		return &appwarden.App{AppID: s.AppID, Deleted: true, Creator: s.Creator, ResolvedAt: c.now().UTC()}, nil
	}
	if err := c.loadResources(ctx, r); err != nil {
		return nil, err
	}
	return c.assemble(s, r), nil
}

// raw is what the first batch read.
type raw struct {
	app         models.Applicationable
	sp          models.ServicePrincipalable
	appOwners   []models.DirectoryObjectable
	spOwners    []models.DirectoryObjectable
	assignments []models.AppRoleAssignmentable
	grants      []models.OAuth2PermissionGrantable
	deleted     bool
}

func (c *Client) readApp(ctx context.Context, s Subject, lag *lag) (*raw, error) {
	key := url.PathEscape(strings.ReplaceAll(s.AppID, "'", "''"))
	app := "/applications(appId='" + key + "')"
	sp := "/servicePrincipals(appId='" + key + "')"
	reqs := []request{
		{ID: "app", Method: "GET", URL: app + "?$select=" + appSelect},
		{ID: "appOwners", Method: "GET", URL: app + "/owners?$select=" + ownerSelect},
		{ID: "sp", Method: "GET", URL: sp + "?$select=" + spSelect},
		{ID: "spOwners", Method: "GET", URL: sp + "/owners?$select=" + ownerSelect},
		{ID: "spRoles", Method: "GET", URL: sp + "/appRoleAssignments"},
		{ID: "spGrants", Method: "GET", URL: sp + "/oauth2PermissionGrants"},
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
			return r, nil
		}
		deleted, err := lag.wait(ctx, "appId "+s.AppID)
		if err != nil {
			return nil, err
		}
		if deleted {
			return &raw{deleted: true}, nil
		}
	}
}

// lag paces the retries of a 404 on a fresh object (replication lag), for
// the whole of one resolution: backoff from LagFirst doubling to LagMax,
// within LagBudget in total.
type lag struct {
	c        *Client
	s        Subject
	deadline time.Time
	next     time.Duration
}

func (c *Client) newLag(s Subject) *lag {
	return &lag{c: c, s: s, deadline: c.now().Add(c.retry.LagBudget), next: c.retry.LagFirst}
}

// wait sleeps before the next try of what answered 404. When the budget is
// spent it reports deleted, if the change is old enough (or the sweep has
// just seen the object) for a 404 to mean that, and ErrNotYetVisible
// otherwise.
func (l *lag) wait(ctx context.Context, what string) (deleted bool, err error) {
	c := l.c
	if c.now().Add(l.next).After(l.deadline) {
		if l.s.Since.IsZero() || c.now().Sub(l.s.Since) > c.retry.DeletedAfter {
			return true, nil
		}
		return false, fmt.Errorf("%w: %s after %s", ErrNotYetVisible, what, c.retry.LagBudget)
	}
	if err := sleep(ctx, l.next); err != nil {
		return false, err
	}
	l.next = min(l.next*2, c.retry.LagMax)
	return false, nil
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
		if r.appOwners, err = collect[models.DirectoryObjectable](ctx, c, got["appOwners"], "application owners", models.CreateDirectoryObjectCollectionResponseFromDiscriminatorValue); err != nil {
			return nil, false, err
		}
	}
	if r.sp != nil {
		if r.spOwners, err = collect[models.DirectoryObjectable](ctx, c, got["spOwners"], "service principal owners", models.CreateDirectoryObjectCollectionResponseFromDiscriminatorValue); err != nil {
			return nil, false, err
		}
		if r.assignments, err = collect[models.AppRoleAssignmentable](ctx, c, got["spRoles"], "app role assignments", models.CreateAppRoleAssignmentCollectionResponseFromDiscriminatorValue); err != nil {
			return nil, false, err
		}
		if r.grants, err = collect[models.OAuth2PermissionGrantable](ctx, c, got["spGrants"], "oauth2 permission grants", models.CreateOAuth2PermissionGrantCollectionResponseFromDiscriminatorValue); err != nil {
			return nil, false, err
		}
	}
	return r, false, nil
}

// one decodes a single-object answer; a 404 gives nil.
func one[T any](r *response, what string, ctor func(p parseNode) (parsable, error)) (T, error) {
	var zero T
	if r == nil {
		return zero, fmt.Errorf("graph: no answer for %s", what)
	}
	if r.Status == 404 {
		return zero, nil
	}
	if r.Status >= 300 {
		return zero, itemError(r, what)
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
// 404 (the parent is not there) gives nothing.
func collect[T any](ctx context.Context, c *Client, r *response, what string, ctor func(p parseNode) (parsable, error)) ([]T, error) {
	if r == nil || r.Status == 404 {
		return nil, nil
	}
	if r.Status >= 300 {
		return nil, itemError(r, what)
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
			return nil, fmt.Errorf("graph: %s: next page: %w", what, err)
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
// trip), waiting out replication lag like the app's own reads.
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
		if errors.As(err, &se) && se.Status == 404 {
			deleted, err := lag.wait(ctx, "object "+s.ObjectID)
			if err != nil || deleted {
				return "", deleted, err
			}
			continue
		}
		if err != nil {
			return "", false, fmt.Errorf("graph: reading appId of %s: %w", s.ObjectID, err)
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

// loadResources reads, in one batch, the resource service principals whose
// permissions the app names and that are not cached yet.
func (c *Client) loadResources(ctx context.Context, r *raw) error {
	var reqs []request
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

// assemble builds the App from what was read.
func (c *Client) assemble(s Subject, r *raw) *appwarden.App {
	app := &appwarden.App{AppID: strings.ToLower(s.AppID), Creator: s.Creator, ResolvedAt: c.now().UTC()}
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
	app, err := c.Resolve(ctx, SubjectOf(sig))
	if err != nil {
		log.Warn("resolution failed", "event", "resolve", "roundTrips", trips.Count(), "error", err)
		return nil, err
	}
	log.Info("resolved in Graph", "event", "resolve", "appId", app.AppID, "displayName", app.DisplayName,
		"roundTrips", trips.Count(), "spOnly", app.SPOnly, "deleted", app.Deleted, "permissions", len(app.Permissions), "owners", len(app.Owners))
	return app, nil
}
