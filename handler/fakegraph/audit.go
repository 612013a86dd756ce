package fakegraph

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// The Entra audit log as GET /auditLogs/directoryAudits serves it. Every
// Tenant helper that simulates a person (or an attacker) changing the
// tenant appends the record Entra writes for it, in Graph's directoryAudit
// shape (serialized through models.DirectoryAudit): activityDisplayName as
// Entra spells it, modifiedProperties whose oldValue/newValue are
// JSON-encoded strings, grants naming the resource first (FACTS.md §1 and
// the real rows OTRF published, testdata/real-records).

// Actor is who a Tenant change is made by: a user (UserID set) or an app
// (AppID set); it becomes the record's initiatedBy.
type Actor struct {
	UserID, UPN, DisplayName, IPAddress string
	AppID, ServicePrincipalID           string
}

// DefaultActor initiates changes until SetActor names another.
var DefaultActor = Actor{
	UserID: "3f2c9b1e-7d4a-4c5e-9a8b-1c2d3e4f5a6b", UPN: "admin@contoso.example",
	DisplayName: "Contoso Admin", IPAddress: "203.0.113.10",
}

// Audit categories and the service that logs app changes.
const (
	CategoryApplicationManagement = "ApplicationManagement"
	CategoryRoleManagement        = "RoleManagement"
	loggedByCoreDirectory         = "Core Directory"
)

// Activity names, spelled as Entra writes them (the certificates one with
// an EN DASH and a trailing space: OTRF row otrf-01, FACTS.md §1).
const (
	ActivityAddApplication         = "Add application"
	ActivityUpdateApplication      = "Update application"
	ActivityCertificatesAndSecrets = "Update application \u2013 Certificates and secrets management "
	ActivityAddServicePrincipal    = "Add service principal"
	ActivityUpdateServicePrincipal = "Update service principal"
	ActivityAddSPCredentials       = "Add service principal credentials"
	ActivityAddOwnerToApplication  = "Add owner to application"
	ActivityAddOwnerToSP           = "Add owner to service principal"
	ActivityAddAppRoleAssignment   = "Add app role assignment to service principal"
	ActivityAddDelegatedGrant      = "Add delegated permission grant"
	ActivityConsentToApplication   = "Consent to application"
	ActivityAddMemberToRole        = "Add member to role"
)

type auditRec struct {
	id       string
	seq      int64
	at       time.Time // activityDateTime
	visible  time.Time // when GET starts to list it (audit lag)
	category string
	activity string
	corrID   string
	raw      []byte
}

type auditLog struct {
	recs  []*auditRec
	seq   int64
	actor Actor
	lag   time.Duration
	clock func() time.Time
}

func (l *auditLog) init() { *l = auditLog{actor: DefaultActor, clock: time.Now} }

// SetActor makes later changes initiated by a (the zero Actor restores
// DefaultActor) and returns the previous actor.
func (t *Tenant) SetActor(a Actor) Actor {
	if a == (Actor{}) {
		a = DefaultActor
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	prev := t.audit.actor
	t.audit.actor = a
	return prev
}

// SetAuditLag makes records appended from now on visible only d after their
// activityDateTime (Entra's audit latency is about 2 min p95, FACTS.md §1).
func (t *Tenant) SetAuditLag(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.audit.lag = d
}

// SetAuditClock sets the clock that stamps activityDateTime and decides
// which records are visible yet (default time.Now).
func (t *Tenant) SetAuditClock(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.audit.clock = now
}

// SetAuditDelay makes the record with that id visible only d after its
// activityDateTime.
func (t *Tenant) SetAuditDelay(id string, d time.Duration) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range t.audit.recs {
		if r.id == id {
			r.visible = r.at.Add(d)
			return nil
		}
	}
	return fmt.Errorf("fakegraph: no audit record %s", id)
}

// AddAuditRecord appends a record as given (a JSON object in Graph's
// directoryAudit shape, any oddities kept). It needs an id; activityDateTime
// defaults to now and is read for filtering and ordering, as is category.
func (t *Tenant) AddAuditRecord(raw []byte) (id string, err error) {
	var head struct {
		ID       string `json:"id"`
		At       string `json:"activityDateTime"`
		Category string `json:"category"`
		Activity string `json:"activityDisplayName"`
		CorrID   string `json:"correlationId"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return "", fmt.Errorf("fakegraph: audit record: %w", err)
	}
	if head.ID == "" {
		return "", fmt.Errorf("fakegraph: audit record without id")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	at := t.audit.clock().UTC()
	if head.At != "" {
		if at, err = time.Parse(time.RFC3339Nano, head.At); err != nil {
			return "", fmt.Errorf("fakegraph: audit record activityDateTime: %w", err)
		}
	}
	t.pushAuditLocked(&auditRec{id: head.ID, at: at.UTC(), category: head.Category, activity: head.Activity, corrID: head.CorrID, raw: append([]byte(nil), raw...)})
	return head.ID, nil
}

// AuditLog returns every record, oldest first, visible yet or not.
func (t *Tenant) AuditLog() []json.RawMessage {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]json.RawMessage, len(t.audit.recs))
	for i, r := range t.audit.recs {
		out[i] = r.raw
	}
	return out
}

// ClearAuditLog forgets every record (a test that built its baseline with
// AddApp and wants to see only what follows).
func (t *Tenant) ClearAuditLog() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.audit.recs = nil
}

func (t *Tenant) pushAuditLocked(r *auditRec) {
	t.audit.seq++
	r.seq = t.audit.seq
	if r.visible.IsZero() {
		r.visible = r.at.Add(t.audit.lag)
	}
	t.audit.recs = append(t.audit.recs, r)
}

// ---- building records ----

// auditTarget is one targetResources entry.
type auditTarget struct {
	id, displayName, typ, upn string
	props                     []auditProp
}

// auditProp is one modifiedProperties entry; old and new are JSON text
// (jsonList, jsonString) or nil for null.
type auditProp struct {
	name     string
	old, new *string
}

func prop(name string, old, new *string) auditProp { return auditProp{name: name, old: old, new: new} }

// jsonList is the JSON text of a list of strings: ["a","b"].
func jsonList(vals ...string) *string {
	if vals == nil {
		vals = []string{}
	}
	b, _ := json.Marshal(vals)
	return ptr(string(b))
}

// jsonString is the JSON text of one string: "a".
func jsonString(v string) *string {
	b, _ := json.Marshal(v)
	return ptr(string(b))
}

type auditEntry struct {
	activity, category, operationType string
	correlationID                     string
	targets                           []auditTarget
	details                           [][2]string
}

// appendAuditLocked writes the record through models.DirectoryAudit and
// returns its id, in Entra's form Directory_{correlationId}_{5}_{n}.
func (t *Tenant) appendAuditLocked(e auditEntry) string {
	if e.correlationID == "" {
		e.correlationID = uuid.NewString()
	}
	at := t.audit.clock().UTC()
	id := fmt.Sprintf("Directory_%s_%s_%d", e.correlationID, randomUpper(5), 100000000+t.audit.seq+1)
	a := models.NewDirectoryAudit()
	a.SetId(&id)
	a.SetCategory(ptr(e.category))
	a.SetCorrelationId(ptr(e.correlationID))
	a.SetActivityDisplayName(ptr(e.activity))
	a.SetActivityDateTime(&at)
	a.SetLoggedByService(ptr(loggedByCoreDirectory))
	a.SetOperationType(ptr(e.operationType))
	res := models.SUCCESS_OPERATIONRESULT
	a.SetResult(&res)
	a.SetResultReason(ptr(""))
	a.SetInitiatedBy(initiator(t.audit.actor))
	targets := make([]models.TargetResourceable, 0, len(e.targets))
	for _, tg := range e.targets {
		tr := models.NewTargetResource()
		tr.SetId(ptr(tg.id))
		if tg.displayName != "" {
			tr.SetDisplayName(ptr(tg.displayName))
		}
		tr.SetTypeEscaped(ptr(tg.typ))
		if tg.upn != "" {
			tr.SetUserPrincipalName(ptr(tg.upn))
		}
		mps := make([]models.ModifiedPropertyable, 0, len(tg.props))
		for _, p := range tg.props {
			mp := models.NewModifiedProperty()
			mp.SetDisplayName(ptr(p.name))
			mp.SetOldValue(p.old)
			mp.SetNewValue(p.new)
			mps = append(mps, mp)
		}
		tr.SetModifiedProperties(mps)
		targets = append(targets, tr)
	}
	a.SetTargetResources(targets)
	details := []models.KeyValueable{}
	for _, d := range append([][2]string{{"User-Agent", "fakegraph"}}, e.details...) {
		kv := models.NewKeyValue()
		kv.SetKey(ptr(d[0]))
		kv.SetValue(ptr(d[1]))
		details = append(details, kv)
	}
	a.SetAdditionalDetails(details)
	t.pushAuditLocked(&auditRec{id: id, at: at, category: e.category, activity: e.activity, corrID: e.correlationID, raw: mustMarshal(a)})
	return id
}

func initiator(a Actor) models.AuditActivityInitiatorable {
	in := models.NewAuditActivityInitiator()
	if a.UserID != "" || a.AppID == "" {
		u := models.NewUserIdentity()
		u.SetId(ptr(a.UserID))
		if a.DisplayName != "" {
			u.SetDisplayName(ptr(a.DisplayName))
		}
		if a.UPN != "" {
			u.SetUserPrincipalName(ptr(a.UPN))
		}
		if a.IPAddress != "" {
			u.SetIpAddress(ptr(a.IPAddress))
		}
		in.SetUser(u)
		return in
	}
	app := models.NewAppIdentity()
	app.SetAppId(ptr(a.AppID))
	if a.DisplayName != "" {
		app.SetDisplayName(ptr(a.DisplayName))
	}
	if a.ServicePrincipalID != "" {
		app.SetServicePrincipalId(ptr(a.ServicePrincipalID))
	}
	in.SetApp(app)
	return in
}

func randomUpper(n int) string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		v, _ := rand.Int(rand.Reader, big.NewInt(int64(len(letters))))
		b[i] = letters[v.Int64()]
	}
	return string(b)
}

// keyDescription is a credential as KeyDescription lists it:
// [KeyIdentifier=..,KeyType=Password,KeyUsage=Verify,DisplayName=..]
// (otrf-01).
func keyDescription(keyID, keyType, usage, name string) string {
	return fmt.Sprintf("[KeyIdentifier=%s,KeyType=%s,KeyUsage=%s,DisplayName=%s]", keyID, keyType, usage, name)
}

// credentialDescriptions lists an object's credentials as KeyDescription does.
func credentialDescriptions(pcs []models.PasswordCredentialable, kcs []models.KeyCredentialable) []string {
	var out []string
	for _, k := range kcs {
		out = append(out, keyDescription(idStr(k.GetKeyId()), str(k.GetTypeEscaped()), str(k.GetUsage()), str(k.GetDisplayName())))
	}
	for _, p := range pcs {
		out = append(out, keyDescription(idStr(p.GetKeyId()), "Password", "Verify", str(p.GetDisplayName())))
	}
	return out
}

func idStr(u *uuid.UUID) string {
	if u == nil {
		return ""
	}
	return u.String()
}

// ---- serving ----

// listAudits answers GET /auditLogs/directoryAudits: $filter on
// activityDateTime (eq, ge, le), category, activityDisplayName,
// correlationId and id (eq), joined by and/or with parentheses; $orderby
// activityDateTime (asc or desc); $top; paged by @odata.nextLink
// (learn.microsoft.com/graph/api/directoryaudit-list: "$filter (eq, ge, le,
// startswith), $top, $orderby, and skiptoken"; resources/directoryaudit:
// activityDateTime "Supports $filter (eq, ge, le) and $orderby"). Without
// $orderby the newest come first, as Graph answers. A record is listed only
// once its audit lag has passed. A page's nextLink pins the records that
// were visible when the first page was read, so that later records do not
// shift the pages.
func (s *Server) listAudits(op *op, pageSize int) response {
	t := s.tenant
	reject := func(code, msg string) response {
		r := s.errorResponse(op, &apiError{http.StatusBadRequest, code, msg})
		r.rejected = true
		return r
	}
	pred, aerr := parseAuditFilter(op.query.Get("$filter"))
	if aerr != nil {
		r := s.errorResponse(op, aerr)
		r.rejected = true
		return r
	}
	asc := false
	switch ob := strings.Join(strings.Fields(strings.ToLower(op.query.Get("$orderby"))), " "); ob {
	case "", "activitydatetime desc":
	case "activitydatetime", "activitydatetime asc":
		asc = true
	default:
		return reject("Request_UnsupportedQuery", fmt.Sprintf("Unsupported $orderby '%s'.", op.query.Get("$orderby")))
	}
	size := pageSize
	if v := op.query.Get("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return reject("Request_BadRequest", fmt.Sprintf("Invalid $top value '%s'.", v))
		}
		size = min(n, 999)
	}
	t.mu.RLock()
	off, pin, asOf := 0, t.audit.seq, t.audit.clock()
	t.mu.RUnlock()
	if v := op.query.Get("$skiptoken"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		parts := strings.Split(string(b), ".")
		if err != nil || len(parts) != 4 || parts[0] != "a" {
			return reject("Request_BadRequest", "Invalid $skiptoken.")
		}
		o, err1 := strconv.Atoi(parts[1])
		p, err2 := strconv.ParseInt(parts[2], 10, 64)
		ns, err3 := strconv.ParseInt(parts[3], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || o < 0 {
			return reject("Request_BadRequest", "Invalid $skiptoken.")
		}
		off, pin, asOf = o, p, time.Unix(0, ns)
	}
	t.mu.RLock()
	var recs []*auditRec
	for _, r := range t.audit.recs {
		if r.seq <= pin && !r.visible.After(asOf) && pred(r) {
			recs = append(recs, r)
		}
	}
	t.mu.RUnlock()
	slices.SortStableFunc(recs, func(a, b *auditRec) int {
		c := a.at.Compare(b.at)
		if c == 0 {
			c = int(a.seq - b.seq)
		}
		if !asc {
			c = -c
		}
		return c
	})
	off = min(off, len(recs))
	end := min(len(recs), off+size)
	items := make([][]byte, 0, end-off)
	for _, r := range recs[off:end] {
		items = append(items, r.raw)
	}
	next := ""
	if end < len(recs) {
		tok := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("a.%d.%d.%d", end, pin, asOf.UnixNano())))
		next = op.base + "/v1.0" + op.path + "?" + linkQuery(op.query, "$skiptoken", tok)
	}
	return jsonResponse(http.StatusOK, collectionPage(op.base+"/v1.0/$metadata#auditLogs/directoryAudits", items, next))
}

// ---- $filter ----

type auditPred func(*auditRec) bool

type filterParser struct {
	toks []string
	pos  int
}

func unsupportedFilter(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "Request_UnsupportedQuery", "Invalid filter clause: " + fmt.Sprintf(format, args...)}
}

func parseAuditFilter(f string) (auditPred, *apiError) {
	if strings.TrimSpace(f) == "" {
		return func(*auditRec) bool { return true }, nil
	}
	toks, aerr := tokenizeFilter(f)
	if aerr != nil {
		return nil, aerr
	}
	p := &filterParser{toks: toks}
	pred, aerr := p.or()
	if aerr != nil {
		return nil, aerr
	}
	if p.pos != len(p.toks) {
		return nil, unsupportedFilter("unexpected '%s'", p.toks[p.pos])
	}
	return pred, nil
}

// tokenizeFilter splits a filter into parentheses, quoted literals (kept
// with their quotes, ” unescaped) and words.
func tokenizeFilter(f string) ([]string, *apiError) {
	var toks []string
	for i := 0; i < len(f); {
		c := f[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '(' || c == ')':
			toks = append(toks, string(c))
			i++
		case c == '\'':
			var b strings.Builder
			b.WriteByte('\'')
			j := i + 1
			for ; j < len(f); j++ {
				if f[j] == '\'' {
					if j+1 < len(f) && f[j+1] == '\'' {
						b.WriteByte('\'')
						j++
						continue
					}
					break
				}
				b.WriteByte(f[j])
			}
			if j >= len(f) {
				return nil, unsupportedFilter("unterminated string literal")
			}
			b.WriteByte('\'')
			toks = append(toks, b.String())
			i = j + 1
		default:
			j := i
			for j < len(f) && f[j] != ' ' && f[j] != '\t' && f[j] != '(' && f[j] != ')' {
				j++
			}
			toks = append(toks, f[i:j])
			i = j
		}
	}
	return toks, nil
}

func (p *filterParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *filterParser) next() string {
	t := p.peek()
	p.pos++
	return t
}

func (p *filterParser) or() (auditPred, *apiError) {
	left, aerr := p.and()
	if aerr != nil {
		return nil, aerr
	}
	for strings.EqualFold(p.peek(), "or") {
		p.next()
		right, aerr := p.and()
		if aerr != nil {
			return nil, aerr
		}
		l := left
		left = func(r *auditRec) bool { return l(r) || right(r) }
	}
	return left, nil
}

func (p *filterParser) and() (auditPred, *apiError) {
	left, aerr := p.primary()
	if aerr != nil {
		return nil, aerr
	}
	for strings.EqualFold(p.peek(), "and") {
		p.next()
		right, aerr := p.primary()
		if aerr != nil {
			return nil, aerr
		}
		l := left
		left = func(r *auditRec) bool { return l(r) && right(r) }
	}
	return left, nil
}

func (p *filterParser) primary() (auditPred, *apiError) {
	if p.peek() == "(" {
		p.next()
		pred, aerr := p.or()
		if aerr != nil {
			return nil, aerr
		}
		if p.next() != ")" {
			return nil, unsupportedFilter("missing ')'")
		}
		return pred, nil
	}
	field, operator, value := p.next(), strings.ToLower(p.next()), p.next()
	if field == "" || operator == "" || value == "" {
		return nil, unsupportedFilter("incomplete comparison")
	}
	if strings.EqualFold(field, "activityDateTime") {
		at, err := time.Parse(time.RFC3339Nano, strings.Trim(value, "'"))
		if err != nil {
			return nil, unsupportedFilter("'%s' is not a DateTimeOffset", value)
		}
		switch operator {
		case "eq":
			return func(r *auditRec) bool { return r.at.Equal(at) }, nil
		case "ge":
			return func(r *auditRec) bool { return !r.at.Before(at) }, nil
		case "le":
			return func(r *auditRec) bool { return !r.at.After(at) }, nil
		}
		// gt and lt are not among the operators Graph documents for
		// activityDateTime (eq, ge, le).
		return nil, unsupportedFilter("operator '%s' is not supported on activityDateTime", operator)
	}
	if operator != "eq" {
		return nil, unsupportedFilter("operator '%s' is not supported on %s", operator, field)
	}
	if len(value) < 2 || value[0] != '\'' || value[len(value)-1] != '\'' {
		return nil, unsupportedFilter("'%s' is not a string literal", value)
	}
	v := value[1 : len(value)-1]
	switch strings.ToLower(field) {
	case "category":
		return func(r *auditRec) bool { return strings.EqualFold(r.category, v) }, nil
	case "activitydisplayname":
		return func(r *auditRec) bool { return r.activity == v }, nil
	case "id":
		return func(r *auditRec) bool { return r.id == v }, nil
	case "correlationid":
		return func(r *auditRec) bool { return strings.EqualFold(r.corrID, v) }, nil
	}
	return nil, unsupportedFilter("property '%s' is not filterable here", field)
}
