package fakegraph

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

const (
	setApplications      = "applications"
	setServicePrincipals = "servicePrincipals"
)

// Route names, as used by Stats.Routes, Call.Route and OnRoute: the method
// and the path template under /v1.0.
const (
	RouteBatch                       = "POST /$batch"
	RouteApplicationByAppID          = "GET /applications(appId='{appId}')"
	RouteApplication                 = "GET /applications/{id}"
	RoutePatchApplication            = "PATCH /applications/{id}"
	RouteApplicationOwners           = "GET /applications/{id}/owners"
	RouteApplicationDelta            = "GET /applications/delta"
	RouteRemovePassword              = "POST /applications/{id}/removePassword"
	RouteAddPassword                 = "POST /applications/{id}/addPassword"
	RouteServicePrincipalByAppID     = "GET /servicePrincipals(appId='{appId}')"
	RouteServicePrincipal            = "GET /servicePrincipals/{id}"
	RoutePatchServicePrincipal       = "PATCH /servicePrincipals/{id}"
	RouteServicePrincipalOwners      = "GET /servicePrincipals/{id}/owners"
	RouteServicePrincipalDelta       = "GET /servicePrincipals/delta"
	RouteAppRoleAssignments          = "GET /servicePrincipals/{id}/appRoleAssignments"
	RouteAddAppRoleAssignment        = "POST /servicePrincipals/{id}/appRoleAssignments"
	RouteDeleteAppRoleAssignment     = "DELETE /servicePrincipals/{id}/appRoleAssignments/{assignmentId}"
	RouteServicePrincipalGrants      = "GET /servicePrincipals/{id}/oauth2PermissionGrants"
	RouteOAuth2PermissionGrants      = "GET /oauth2PermissionGrants"
	RouteAddOAuth2PermissionGrant    = "POST /oauth2PermissionGrants"
	RouteDeleteOAuth2PermissionGrant = "DELETE /oauth2PermissionGrants/{id}"
	RouteSendMail                    = "POST /users/{id}/sendMail"
	RouteApplications                = "GET /applications"
	RouteServicePrincipals           = "GET /servicePrincipals"
	RouteOrganization                = "GET /organization"
	RouteDeletedItem                 = "GET /directory/deletedItems/{id}"
	RouteDeletedItems                = "GET /directory/deletedItems/{type}"

	RouteFederatedCredentials      = "GET /applications/{id}/federatedIdentityCredentials"
	RouteAddFederatedCredential    = "POST /applications/{id}/federatedIdentityCredentials"
	RouteFederatedCredential       = "GET /applications/{id}/federatedIdentityCredentials/{ficId}"
	RouteDeleteFederatedCredential = "DELETE /applications/{id}/federatedIdentityCredentials/{ficId}"
	RouteSPAddPassword             = "POST /servicePrincipals/{id}/addPassword"
	RouteSPRemovePassword          = "POST /servicePrincipals/{id}/removePassword"
	RouteMemberOf                  = "GET /servicePrincipals/{id}/memberOf"
	RouteMemberOfDirectoryRoles    = "GET /servicePrincipals/{id}/memberOf/microsoft.graph.directoryRole"
	RouteDirectoryRoles            = "GET /directoryRoles"
	// The appId forms graph.Resolve reads.
	RouteFederatedCredentialsByAppID   = "GET /applications(appId='{appId}')/federatedIdentityCredentials"
	RouteMemberOfDirectoryRolesByAppID = "GET /servicePrincipals(appId='{appId}')/memberOf/microsoft.graph.directoryRole"
	RouteDirectoryAudits               = "GET /auditLogs/directoryAudits"
)

type routeKind int

const (
	kindNone routeKind = iota
	kindBatch
	kindDelta
	kindEntity
	kindOwners
	kindRemovePassword
	kindAddPassword
	kindAssignments
	kindAssignment
	kindSPGrants
	kindGrants
	kindGrant
	kindSendMail
	kindList
	kindOrganization
	kindDeletedItem
	kindDeletedList
	kindFICs
	kindFIC
	kindMemberOf
	kindDirectoryRoles
	kindAudits
)

var allowed = map[routeKind][]string{
	kindBatch:          {http.MethodPost},
	kindDelta:          {http.MethodGet},
	kindEntity:         {http.MethodGet, http.MethodPatch},
	kindOwners:         {http.MethodGet},
	kindRemovePassword: {http.MethodPost},
	kindAddPassword:    {http.MethodPost},
	kindAssignments:    {http.MethodGet, http.MethodPost},
	kindAssignment:     {http.MethodGet, http.MethodDelete},
	kindSPGrants:       {http.MethodGet},
	kindGrants:         {http.MethodGet, http.MethodPost},
	kindGrant:          {http.MethodGet, http.MethodDelete},
	kindSendMail:       {http.MethodPost},
	kindList:           {http.MethodGet},
	kindOrganization:   {http.MethodGet},
	kindDeletedItem:    {http.MethodGet},
	kindDeletedList:    {http.MethodGet},
	kindFICs:           {http.MethodGet, http.MethodPost},
	kindFIC:            {http.MethodGet, http.MethodDelete},
	kindMemberOf:       {http.MethodGet},
	kindDirectoryRoles: {http.MethodGet},
	kindAudits:         {http.MethodGet},
}

// routeMatch is where a request goes.
type routeMatch struct {
	kind     routeKind
	template string // path template under /v1.0, e.g. "/applications(appId='{appId}')/owners"
	set      string // applications or servicePrincipals, for entity routes
	byAppID  bool   // addressed as (appId='...')
	key      string // object id or appId
	sub      string // assignment id, grant id, user id or upn
	err      *apiError
}

// op is one Graph request: a top-level HTTP request or one inside a $batch.
type op struct {
	method, path, rawURL string
	query                url.Values
	header               http.Header
	body                 []byte
	base                 string
	reqID, clientID      string
	encoding             string
	inner                bool
	batchID              int64
	match                routeMatch
}

func (o *op) route() string {
	if o.match.template == "" {
		return ""
	}
	return o.method + " " + o.match.template
}

func segmentNotFound(seg string) *apiError {
	return &apiError{http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", seg)}
}

func unsupported(what string) *apiError {
	return &apiError{http.StatusBadRequest, "BadRequest", "The Graph stand-in does not serve " + what + "."}
}

// splitKey splits "applications(appId='x')" into its name and alternate key.
func splitKey(seg string) (name, key string, hasKey bool, err *apiError) {
	i := strings.IndexByte(seg, '(')
	if i < 0 {
		return seg, "", false, nil
	}
	name, inner := seg[:i], seg[i+1:]
	inner, ok := strings.CutSuffix(inner, ")")
	prop, val, found := strings.Cut(inner, "=")
	if !ok || !found || !strings.EqualFold(strings.TrimSpace(prop), "appId") {
		return name, "", true, segmentNotFound(seg)
	}
	val = strings.TrimSpace(val)
	if len(val) < 2 || val[0] != '\'' || val[len(val)-1] != '\'' {
		return name, "", true, segmentNotFound(seg)
	}
	return name, val[1 : len(val)-1], true, nil
}

// isCast reports whether seg is the OData cast to a type: Graph takes the
// namespace as "microsoft.graph." or its alias "graph." (msgraph-sdk-go
// sends the alias, e.g. /memberOf/graph.directoryRole).
func isCast(seg, typeName string) bool {
	for _, ns := range []string{"microsoft.graph.", "graph."} {
		if rest, ok := strings.CutPrefix(seg, ns); ok && strings.EqualFold(rest, typeName) {
			return true
		}
	}
	return false
}

func action(seg, name string) bool {
	return strings.EqualFold(strings.TrimPrefix(seg, "microsoft.graph."), name)
}

// match routes a method and a path under /v1.0, as sent (escaped): the path
// is split into segments before they are decoded, so a key holding an
// escaped "/" (a service principal name taken for an appId) stays one key.
func match(method, path string) routeMatch {
	m := matchPath(path)
	if m.err != nil {
		return m
	}
	if !slices.Contains(allowed[m.kind], method) {
		m.err = &apiError{http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request target."}
	}
	return m
}

func matchPath(path string) routeMatch {
	trimmed := strings.Trim(path, "/")
	if trimmed == "" {
		return routeMatch{err: unsupported("the service root")}
	}
	segs := strings.Split(trimmed, "/")
	for i, seg := range segs {
		dec, err := url.PathUnescape(seg)
		if err != nil {
			return routeMatch{err: segmentNotFound(seg)}
		}
		segs[i] = dec
	}
	name, key, hasKey, kerr := splitKey(segs[0])
	if kerr != nil {
		return routeMatch{err: kerr}
	}
	switch strings.ToLower(name) {
	case "$batch":
		if len(segs) == 1 && !hasKey {
			return routeMatch{kind: kindBatch, template: "/$batch"}
		}
	case "applications":
		return matchEntity(setApplications, segs, key, hasKey)
	case "serviceprincipals":
		return matchEntity(setServicePrincipals, segs, key, hasKey)
	case "oauth2permissiongrants":
		if hasKey {
			break
		}
		switch len(segs) {
		case 1:
			return routeMatch{kind: kindGrants, template: "/oauth2PermissionGrants"}
		case 2:
			return routeMatch{kind: kindGrant, template: "/oauth2PermissionGrants/{id}", sub: segs[1]}
		}
	case "directory":
		if !hasKey && len(segs) == 3 && strings.EqualFold(segs[1], "deletedItems") {
			return matchDeleted(segs[2])
		}
		if !hasKey {
			return routeMatch{err: unsupported("/" + trimmed)}
		}
	case "directoryroles":
		if len(segs) == 1 && !hasKey {
			return routeMatch{kind: kindDirectoryRoles, template: "/directoryRoles"}
		}
	case "auditlogs":
		if len(segs) == 2 && !hasKey && strings.EqualFold(segs[1], "directoryAudits") {
			return routeMatch{kind: kindAudits, template: "/auditLogs/directoryAudits"}
		}
		if !hasKey {
			return routeMatch{err: unsupported("/" + trimmed)}
		}
	case "organization":
		if len(segs) == 1 && !hasKey {
			return routeMatch{kind: kindOrganization, template: "/organization"}
		}
	case "users":
		if !hasKey && len(segs) == 3 && action(segs[2], "sendMail") {
			return routeMatch{kind: kindSendMail, template: "/users/{id}/sendMail", sub: segs[1]}
		}
		if !hasKey {
			return routeMatch{err: unsupported("/" + trimmed)}
		}
	default:
		return routeMatch{err: segmentNotFound(segs[0])}
	}
	return routeMatch{err: segmentNotFound(segs[len(segs)-1])}
}

// matchDeleted routes /directory/deletedItems/{id} and the typed lists
// /directory/deletedItems/microsoft.graph.{application|servicePrincipal}
// (Graph requires the cast to list; other types are not served).
func matchDeleted(seg string) routeMatch {
	cast, ok := strings.CutPrefix(seg, "microsoft.graph.")
	if !ok {
		return routeMatch{kind: kindDeletedItem, template: "/directory/deletedItems/{id}", key: seg}
	}
	for _, set := range []string{setApplications, setServicePrincipals} {
		if strings.EqualFold(cast, strings.TrimSuffix(set, "s")) {
			return routeMatch{kind: kindDeletedList, template: "/directory/deletedItems/{type}", set: set}
		}
	}
	return routeMatch{err: unsupported("deleted items of type " + cast)}
}

func matchEntity(set string, segs []string, key string, hasKey bool) routeMatch {
	m := routeMatch{set: set}
	var rest []string
	switch {
	case hasKey:
		m.byAppID, m.key, m.template = true, key, "/"+set+"(appId='{appId}')"
		rest = segs[1:]
	case len(segs) == 1:
		return routeMatch{kind: kindList, set: set, template: "/" + set}
	case len(segs) == 2 && (action(segs[1], "delta") || action(segs[1], "delta()")):
		return routeMatch{kind: kindDelta, set: set, template: "/" + set + "/delta"}
	default:
		m.key, m.template = segs[1], "/"+set+"/{id}"
		rest = segs[2:]
	}
	switch {
	case len(rest) == 0:
		m.kind = kindEntity
	case len(rest) == 1 && strings.EqualFold(rest[0], "owners"):
		m.kind, m.template = kindOwners, m.template+"/owners"
	case len(rest) == 1 && action(rest[0], "removePassword"):
		m.kind, m.template = kindRemovePassword, m.template+"/removePassword"
	case len(rest) == 1 && action(rest[0], "addPassword"):
		m.kind, m.template = kindAddPassword, m.template+"/addPassword"
	case set == setApplications && len(rest) == 1 && strings.EqualFold(rest[0], "federatedIdentityCredentials"):
		m.kind, m.template = kindFICs, m.template+"/federatedIdentityCredentials"
	case set == setApplications && len(rest) == 2 && strings.EqualFold(rest[0], "federatedIdentityCredentials"):
		m.kind, m.template, m.sub = kindFIC, m.template+"/federatedIdentityCredentials/{ficId}", rest[1]
	case set == setServicePrincipals && len(rest) == 1 && strings.EqualFold(rest[0], "memberOf"):
		m.kind, m.template = kindMemberOf, m.template+"/memberOf"
	case set == setServicePrincipals && len(rest) == 2 && strings.EqualFold(rest[0], "memberOf") && isCast(rest[1], "directoryRole"):
		m.kind, m.template = kindMemberOf, m.template+"/memberOf/microsoft.graph.directoryRole"
	case set == setServicePrincipals && len(rest) == 1 && strings.EqualFold(rest[0], "appRoleAssignments"):
		m.kind, m.template = kindAssignments, m.template+"/appRoleAssignments"
	case set == setServicePrincipals && len(rest) == 2 && strings.EqualFold(rest[0], "appRoleAssignments"):
		m.kind, m.template, m.sub = kindAssignment, m.template+"/appRoleAssignments/{assignmentId}", rest[1]
	case set == setServicePrincipals && len(rest) == 1 && strings.EqualFold(rest[0], "oauth2PermissionGrants"):
		m.kind, m.template = kindSPGrants, m.template+"/oauth2PermissionGrants"
	default:
		return routeMatch{err: segmentNotFound(rest[len(rest)-1])}
	}
	return m
}

// handle answers a routed request whose faults have been decided.
func (s *Server) handle(op *op) response {
	m := op.match
	t := s.tenant
	_, pageSize, deltaPageSize := s.settings()
	ctx := func(name string) string { return op.base + "/v1.0/$metadata#" + name }
	fromErr := func(aerr *apiError, ok response) response {
		if aerr != nil {
			r := s.errorResponse(op, aerr)
			r.rejected = aerr.status != http.StatusNotFound && aerr.code != errSyncState.code
			return r
		}
		return ok
	}
	if m.key != "" && !validID(m.key) {
		// Every key served here (an object id or an appId) is a GUID.
		return s.errorResponse(op, invalidID(m.key))
	}
	switch m.kind {
	case kindBatch:
		r := s.errorResponse(op, badRequest("Nested batch requests are not supported."))
		r.rejected = true
		return r
	case kindDelta:
		return s.delta(op, deltaPageSize)
	case kindEntity:
		if op.method == http.MethodPatch {
			return fromErr(t.patch(m.set, m.key, m.byAppID, op.body), response{status: http.StatusNoContent})
		}
		raw, aerr := t.getRaw(m.set, m.key, m.byAppID)
		if aerr == nil && selects(op.query.Get("$select"), "keyCredentials") {
			raw = t.withKeys(m.set, raw)
		}
		if aerr == nil && op.query.Get("$expand") != "" {
			raw, aerr = t.expand(m.set, m.key, m.byAppID, raw, op.query.Get("$expand"))
		}
		return fromErr(aerr, jsonResponse(http.StatusOK, raw))
	case kindOwners:
		items, aerr := t.listOwners(m.set, m.key, m.byAppID)
		if aerr != nil {
			return fromErr(aerr, response{})
		}
		return s.page(op, items, pageSize, ctx("directoryObjects"))
	case kindRemovePassword:
		return fromErr(t.removePassword(m.set, m.key, m.byAppID, op.body), response{status: http.StatusNoContent})
	case kindAddPassword:
		raw, aerr := t.addPassword(m.set, m.key, m.byAppID, op.body)
		return fromErr(aerr, jsonResponse(http.StatusOK, raw))
	case kindFICs:
		if op.method == http.MethodPost {
			raw, aerr := t.addFIC(m.key, m.byAppID, op.body)
			return fromErr(aerr, jsonResponse(http.StatusCreated, raw))
		}
		items, aerr := t.listFICs(m.key, m.byAppID)
		if aerr != nil {
			return fromErr(aerr, response{})
		}
		return s.page(op, items, pageSize, ctx("applications('"+m.key+"')/federatedIdentityCredentials"))
	case kindFIC:
		if op.method == http.MethodDelete {
			return fromErr(t.deleteFIC(m.key, m.byAppID, m.sub), response{status: http.StatusNoContent})
		}
		raw, aerr := t.getFIC(m.key, m.byAppID, m.sub)
		return fromErr(aerr, jsonResponse(http.StatusOK, raw))
	case kindMemberOf:
		items, aerr := t.listMemberOf(m.key, m.byAppID)
		if aerr != nil {
			return fromErr(aerr, response{})
		}
		return s.page(op, items, pageSize, ctx("directoryObjects"))
	case kindDirectoryRoles:
		return s.page(op, t.listRoles(), pageSize, ctx("directoryRoles"))
	case kindAudits:
		return s.listAudits(op, pageSize)
	case kindAssignments:
		if op.method == http.MethodPost {
			raw, aerr := t.addAssignment(m.key, m.byAppID, op.body)
			return fromErr(aerr, jsonResponse(http.StatusCreated, raw))
		}
		items, aerr := t.listAssignments(m.key, m.byAppID)
		if aerr != nil {
			return fromErr(aerr, response{})
		}
		return s.page(op, items, pageSize, ctx("appRoleAssignments"))
	case kindAssignment:
		if op.method == http.MethodDelete {
			return fromErr(t.deleteAssignment(m.key, m.byAppID, m.sub), response{status: http.StatusNoContent})
		}
		raw, aerr := t.getAssignment(m.key, m.byAppID, m.sub)
		return fromErr(aerr, jsonResponse(http.StatusOK, raw))
	case kindSPGrants:
		items, aerr := t.listSPGrants(m.key, m.byAppID)
		if aerr != nil {
			return fromErr(aerr, response{})
		}
		return s.page(op, items, pageSize, ctx("oauth2PermissionGrants"))
	case kindGrants:
		if op.method == http.MethodPost {
			raw, aerr := t.addGrant(op.body)
			return fromErr(aerr, jsonResponse(http.StatusCreated, raw))
		}
		filter, aerr := parseFilter(op.query.Get("$filter"), grantClause)
		if aerr != nil {
			return fromErr(aerr, response{})
		}
		return s.page(op, t.listGrants(filter), pageSize, ctx("oauth2PermissionGrants"))
	case kindGrant:
		if op.method == http.MethodDelete {
			return fromErr(t.deleteGrant(m.sub), response{status: http.StatusNoContent})
		}
		raw, aerr := t.getGrant(m.sub)
		return fromErr(aerr, jsonResponse(http.StatusOK, raw))
	case kindSendMail:
		return fromErr(s.sendMail(op), response{status: http.StatusAccepted})
	case kindList:
		return s.page(op, t.listSet(m.set), pageSize, ctx(m.set))
	case kindOrganization:
		return jsonResponse(http.StatusOK, collectionPage(ctx("organization"), [][]byte{t.organization()}, ""))
	case kindDeletedItem:
		raw, aerr := t.getDeleted(m.key)
		return fromErr(aerr, jsonResponse(http.StatusOK, raw))
	case kindDeletedList:
		filter, aerr := parseFilter(op.query.Get("$filter"), deletedClause)
		if aerr != nil {
			return fromErr(aerr, response{})
		}
		return s.page(op, t.listDeleted(m.set, filter), pageSize, ctx(m.set))
	}
	return fromErr(unsupported(op.method+" "+op.path), response{})
}

var (
	grantClause   = regexp.MustCompile(`^\s*(clientId|resourceId|consentType|principalId)\s+eq\s+'([^']*)'\s*$`)
	deletedClause = regexp.MustCompile(`^\s*(appId|id)\s+eq\s+'([^']*)'\s*$`)
)

// parseFilter understands "prop eq 'value'" clauses joined by "and", for
// the properties filterClause names.
func parseFilter(f string, filterClause *regexp.Regexp) (map[string]string, *apiError) {
	out := map[string]string{}
	if strings.TrimSpace(f) == "" {
		return out, nil
	}
	for _, clause := range regexp.MustCompile(`(?i)\s+and\s+`).Split(f, -1) {
		m := filterClause.FindStringSubmatch(clause)
		if m == nil {
			return nil, &apiError{http.StatusBadRequest, "Request_UnsupportedQuery", fmt.Sprintf("Unsupported or invalid query filter clause specified: '%s'.", clause)}
		}
		out[m[1]] = m[2]
	}
	return out, nil
}

// page answers one page of a collection, paged with $skiptoken (and $top).
func (s *Server) page(op *op, items [][]byte, pageSize int, context string) response {
	size := pageSize
	if v := op.query.Get("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			r := s.errorResponse(op, &apiError{http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("Invalid $top value '%s'.", v)})
			r.rejected = true
			return r
		}
		size = min(n, 999)
	}
	off := 0
	if v := op.query.Get("$skiptoken"); v != "" {
		n, err := decodeSkip(v)
		if err != nil {
			r := s.errorResponse(op, &apiError{http.StatusBadRequest, "Request_BadRequest", "Invalid $skiptoken."})
			r.rejected = true
			return r
		}
		off = min(n, len(items))
	}
	end := min(len(items), off+size)
	next := ""
	if end < len(items) {
		next = op.base + "/v1.0" + op.path + "?" + linkQuery(op.query, "$skiptoken", encodeSkip(end))
	}
	return jsonResponse(http.StatusOK, collectionPage(context, items[off:end], next))
}

// linkQuery rebuilds a query string for a link, keeping OData's literal "$".
func linkQuery(q url.Values, key, value string) string {
	var parts []string
	keys := make([]string, 0, len(q))
	for k := range q {
		if k != key {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range q[k] {
			parts = append(parts, k+"="+url.QueryEscape(v))
		}
	}
	parts = append(parts, key+"="+url.QueryEscape(value))
	return strings.Join(parts, "&")
}

func encodeSkip(n int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o." + strconv.Itoa(n)))
}

func decodeSkip(s string) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, err
	}
	v, ok := strings.CutPrefix(string(b), "o.")
	if !ok {
		return 0, errors.New("malformed skip token")
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, errors.New("malformed skip token")
	}
	return n, nil
}

// delta answers /applications/delta and /servicePrincipals/delta.
func (s *Server) delta(op *op, pageSize int) response {
	set := op.match.set
	if n := preferMaxPageSize(op.header); n > 0 {
		pageSize = n
	}
	var tok *deltaToken
	latest := false
	bad := func() response {
		r := s.errorResponse(op, badRequest("Invalid delta or skip token."))
		r.rejected = true
		return r
	}
	if v := op.query.Get("$skiptoken"); v != "" {
		d, err := decodeDeltaToken(v)
		if err != nil {
			return bad()
		}
		tok = &d
	} else if v := op.query.Get("$deltatoken"); v != "" {
		if strings.EqualFold(v, "latest") {
			latest = true
		} else {
			d, err := decodeDeltaToken(v)
			if err != nil || d.initial {
				return bad()
			}
			tok = &d
		}
	}
	items, next, more, aerr := s.tenant.deltaPage(set, tok, latest, pageSize)
	if aerr != nil {
		return s.errorResponse(op, aerr)
	}
	link := op.base + "/v1.0/" + set + "/delta?"
	var nextLink, deltaLink string
	if more {
		nextLink = link + "$skiptoken=" + next.encode()
	} else {
		deltaLink = link + "$deltatoken=" + next.encode()
	}
	return jsonResponse(http.StatusOK, deltaPage(op.base+"/v1.0/$metadata#"+set, items, nextLink, deltaLink))
}

// preferMaxPageSize reads Prefer: odata.maxpagesize=N.
func preferMaxPageSize(h http.Header) int {
	for _, v := range h.Values("Prefer") {
		for _, p := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "odata.maxpagesize") {
				if n, err := strconv.Atoi(strings.TrimSpace(val)); err == nil && n > 0 {
					return n
				}
			}
		}
	}
	return 0
}

// Mail is a message sent through POST /users/{id}/sendMail.
type Mail struct {
	From            string // the {id | userPrincipalName} of the URL
	Subject         string
	To, Cc, Bcc     []string
	ContentType     string // "text" or "html"
	Body            string
	SaveToSentItems bool
	Message         models.Messageable
}

func (s *Server) sendMail(op *op) *apiError {
	// Graph's action parameters are case-insensitive: the documented body is
	// {"message":...,"saveToSentItems":...}, while the SDK's generated model
	// reads "Message" and "SaveToSentItems". Accept both.
	body := op.body
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) == nil {
		fixed := map[string]json.RawMessage{}
		for k, v := range top {
			switch strings.ToLower(k) {
			case "message":
				k = "Message"
			case "savetosentitems":
				k = "SaveToSentItems"
			}
			fixed[k] = v
		}
		body, _ = json.Marshal(fixed)
	}
	req, err := parse[users.ItemSendMailPostRequestBodyable](body, users.CreateItemSendMailPostRequestBodyFromDiscriminatorValue)
	if err != nil {
		return invalidBody(err)
	}
	msg := req.GetMessage()
	if msg == nil {
		return &apiError{http.StatusBadRequest, "ErrorInvalidRequest", "The message is missing."}
	}
	addrs := func(rs []models.Recipientable) []string {
		var out []string
		for _, r := range rs {
			if r.GetEmailAddress() != nil && str(r.GetEmailAddress().GetAddress()) != "" {
				out = append(out, str(r.GetEmailAddress().GetAddress()))
			}
		}
		return out
	}
	mail := Mail{
		From:            op.match.sub,
		Subject:         str(msg.GetSubject()),
		To:              addrs(msg.GetToRecipients()),
		Cc:              addrs(msg.GetCcRecipients()),
		Bcc:             addrs(msg.GetBccRecipients()),
		SaveToSentItems: req.GetSaveToSentItems() == nil || *req.GetSaveToSentItems(),
		Message:         msg,
	}
	if len(mail.To)+len(mail.Cc)+len(mail.Bcc) == 0 {
		return &apiError{http.StatusBadRequest, "ErrorInvalidRecipients", "At least one recipient isn't valid."}
	}
	if b := msg.GetBody(); b != nil {
		mail.Body = str(b.GetContent())
		if b.GetContentType() != nil {
			mail.ContentType = b.GetContentType().String()
		}
	}
	s.mu.Lock()
	s.rec.mails = append(s.rec.mails, mail)
	s.mu.Unlock()
	return nil
}
