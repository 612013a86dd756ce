package auditlog

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/shape"
)

// Looks reports whether v has the shape of anything Decode accepts, so that a
// caller holding an event of unknown type (an Event Grid custom-topic event's
// data) can tell audit records from an unrelated event. An array looks like
// records when any element does (a Logic App may send several rows as one
// message); Decode then reports each element on its own.
func Looks(v any) bool {
	switch x := v.(type) {
	case []any:
		return slices.ContainsFunc(x, func(el any) bool {
			_, isList := el.([]any)
			return !isList && Looks(el)
		})
	case map[string]any:
		if _, ok := x["records"]; ok {
			return true
		}
		if props, ok := x["properties"].(map[string]any); ok {
			_, ok = props["activityDisplayName"]
			return ok
		}
		if has(x, "activityDisplayName") || has(x, "ActivityDisplayName") {
			return true
		}
		// A Log Analytics row projected without ActivityDisplayName.
		return has(x, "OperationName") && has(x, "TargetResources")
	}
	return false
}

func has(m map[string]any, key string) bool {
	_, ok := m[key]
	return ok
}

// Decode turns a decoded JSON value holding audit records, in any of the
// accepted shapes, into signals. path names v in errors. Each record ends as
// exactly one signal, ignore reason or poison error: a record about an
// activity AppWarden does not handle is ignored whatever its other fields
// hold; a malformed relevant record is poison; the others still decode.
func Decode(v any, path string, source appwarden.Source) appwarden.Batch {
	switch x := v.(type) {
	case []any:
		if len(x) == 0 {
			return ignored("%s: an empty array holds no records", path)
		}
		var b appwarden.Batch
		for i, el := range x {
			at := fmt.Sprintf("%s[%d]", path, i)
			if obj, ok := el.(map[string]any); ok {
				b.Add(decodeObject(obj, at, source))
				continue
			}
			b.Add(poison(&shape.Error{Path: at, Problem: "expected an audit record object, got " + shape.KindOf(el)}))
		}
		return b
	case map[string]any:
		return decodeObject(x, path, source)
	}
	return poison(&shape.Error{Path: path, Problem: "expected an audit record object or an array of them, got " + shape.KindOf(v)})
}

// decodeObject decodes a {"records":[...]} envelope or a single record.
func decodeObject(obj map[string]any, path string, source appwarden.Source) appwarden.Batch {
	recs, present := obj["records"]
	if !present {
		return decodeOne(obj, path, source)
	}
	list, ok := recs.([]any)
	if !ok {
		return poison(&shape.Error{Path: path + ".records", Problem: "expected array, got " + shape.KindOf(recs)})
	}
	if len(list) == 0 {
		return ignored("%s.records: holds no records", path)
	}
	var b appwarden.Batch
	for i, r := range list {
		b.Add(decodeOne(r, fmt.Sprintf("%s.records[%d]", path, i), source))
	}
	return b
}

// decodeOne decodes a single record: a diagnostic record (the audit under
// "properties"), a directoryAudit in Graph's shape, or a Log Analytics row.
// It decides relevance from the activity name alone before it checks any
// other field, so that an unrelated record with odd field types (Microsoft's
// 2018 schema sample has "result": 0, "durationMs" as a string, "initiatedBy":
// {}; FACTS.md §1) is ignored, never poisoned.
func decodeOne(v any, path string, source appwarden.Source) appwarden.Batch {
	obj, ok := v.(map[string]any)
	if !ok {
		return poison(&shape.Error{Path: path, Problem: "expected object, got " + shape.KindOf(v)})
	}
	n := graphNames
	if !has(obj, graphNames.activity) && (has(obj, rowNames.activity) || has(obj, rowNames.operation)) {
		n = rowNames
	}
	// The diagnostic record's operationName is the activity too: it decides
	// relevance when the properties cannot be read or name no activity.
	outerOp := ""
	if props, present := obj["properties"]; present && n == graphNames && !has(obj, graphNames.activity) {
		if cat, _ := obj["category"].(string); cat != "" && !strings.EqualFold(cat, "AuditLogs") {
			return ignored("%s: diagnostic category %q is not AuditLogs", path, cat)
		}
		outerOp, _ = obj["operationName"].(string)
		inner, ok := props.(map[string]any)
		if !ok {
			if _, known := activityOf(outerOp); outerOp != "" && !known {
				return ignored("%s: activity %q does not concern app registrations", path, outerOp)
			}
			return poison(&shape.Error{Path: path + ".properties", Problem: "expected object, got " + shape.KindOf(props)})
		}
		obj, path = inner, path+".properties"
	}
	name, err := activityName(obj, n, path)
	if err != nil && obj[n.activity] == nil && strings.TrimSpace(outerOp) != "" {
		name, err = outerOp, nil
	}
	if err != nil {
		return poison(err)
	}
	act, known := activityOf(name)
	if !known {
		return ignored("%s: activity %q does not concern app registrations", path, name)
	}
	if n.encoded {
		if obj, err = unwrapColumns(obj, n, path); err != nil {
			return poison(err)
		}
	}
	if err := shape.Check(obj, path, n.fields()); err != nil {
		return poison(err)
	}
	succeeded, result, err := readResult(obj, n, path)
	if err != nil {
		return poison(err)
	}
	r := read(obj, n, name)
	if !succeeded {
		return ignored("%s: %q record %s has result %s, not success", path, strings.TrimSpace(name), r.ID, result)
	}
	return toSignal(r, act, path, source)
}

// activityName reads the activity: ActivityDisplayName, else OperationName,
// in a Log Analytics row. A record with no readable activity cannot be judged
// relevant or not, so it is poison rather than silently dropped.
func activityName(obj map[string]any, n names, path string) (string, error) {
	var typeErr error
	for _, key := range []string{n.activity, n.operation} {
		if key == "" {
			continue
		}
		switch v := obj[key].(type) {
		case nil:
		case string:
			if strings.TrimSpace(v) != "" {
				return v, nil
			}
		default:
			if typeErr == nil {
				typeErr = &shape.Error{Path: path + "." + key, Problem: "expected string, got " + shape.KindOf(v)}
			}
		}
	}
	if typeErr != nil {
		return "", typeErr
	}
	return "", &shape.Error{Path: path + "." + n.activity, Problem: "required string is missing: no activity to judge the record by"}
}

// unwrapColumns returns a copy of a Log Analytics row whose InitiatedBy,
// TargetResources and AdditionalDetails hold JSON values instead of JSON
// text (all three OTRF rows hold text; some exports hold the values, which
// are kept as they are). The caller's value is never changed.
func unwrapColumns(row map[string]any, n names, path string) (map[string]any, error) {
	out := maps.Clone(row)
	for _, col := range []string{n.initiatedBy, n.targets, n.details} {
		s, ok := out[col].(string)
		if !ok {
			continue
		}
		if strings.TrimSpace(s) == "" {
			delete(out, col)
			continue
		}
		v, err := shape.Decode([]byte(s), path+"."+col+" (JSON-encoded string)")
		if err != nil {
			return nil, err
		}
		out[col] = v
	}
	return out, nil
}

// readResult reports whether the record's result is success, and the result
// as written, for the ignore reason. Graph's operationResult enum is
// success, failure, timeout, unknownFutureValue; Microsoft's 2018 schema
// sample wrote it as its number (FACTS.md §1), so 0 is success and any other
// number is not. A missing result is not success: nothing says it happened.
// A boolean, object or array cannot be read either way and is poison.
func readResult(obj map[string]any, n names, path string) (bool, string, error) {
	switch v := obj[n.result].(type) {
	case nil:
		return false, `""`, nil
	case string:
		return strings.EqualFold(strings.TrimSpace(v), "success"), fmt.Sprintf("%q", v), nil
	case float64:
		return v == 0, fmt.Sprint(v), nil
	default:
		return false, "", &shape.Error{Path: path + "." + n.result, Problem: "expected string or number, got " + shape.KindOf(v)}
	}
}

// toSignal makes the signal of a successful record of a known activity.
func toSignal(r *record, act activity, path string, source appwarden.Source) appwarden.Batch {
	sig := appwarden.Signal{
		Kind:      act.kind,
		Time:      r.Time,
		Source:    source,
		Activity:  r.Activity,
		DedupeKey: "audit:" + r.ID,
		Initiator: initiator(r),
		Details:   map[string]string{},
	}
	switch act.rule {
	case byGrantee:
		grantee(r, &sig)
	case byConsent:
		consent(r, &sig)
	case byRoleMember:
		if !roleMember(r, &sig) {
			return ignored("%s: %q record %s adds no service principal to a role", path, strings.TrimSpace(r.Activity), r.ID)
		}
	default:
		subject(r, &sig)
	}
	for _, key := range []string{"ServicePrincipalProvisioningType", "AppOwnerOrganizationId"} {
		if v := r.detail(key); v != "" {
			sig.Details[key] = v
		}
	}
	added(r, &sig)
	if len(sig.Details) == 0 {
		sig.Details = nil
	}
	if sig.AppID == "" && sig.ObjectID == "" {
		return ignored("%s: %q record %s names no application or service principal it can resolve", path, strings.TrimSpace(r.Activity), r.ID)
	}
	return appwarden.Batch{Signals: []appwarden.Signal{sig}}
}

// setObject makes the signal about a target, when the target's id is a GUID.
func setObject(sig *appwarden.Signal, t *target) {
	if t == nil {
		return
	}
	if sig.ObjectID = guid(t.ID); sig.ObjectID == "" {
		return
	}
	if t.isType(appwarden.ObjectApplication) {
		sig.ObjectType = appwarden.ObjectApplication
	} else {
		sig.ObjectType = appwarden.ObjectServicePrincipal
	}
	sig.DisplayName = t.DisplayName
}

// subject fills the signal for a record about the app itself: the first
// Application or ServicePrincipal target. Its appId is additionalDetails
// AppId, else its own AppId (Application) or AppPrincipalId
// (ServicePrincipal) property, else, for a service principal, the appId
// among its own service principal names.
func subject(r *record, sig *appwarden.Signal) {
	i := slices.IndexFunc(r.Targets, func(t target) bool {
		return t.isType(appwarden.ObjectApplication) || t.isType(appwarden.ObjectServicePrincipal)
	})
	if i < 0 {
		sig.AppID = guid(r.detail("AppId"))
		return
	}
	t := &r.Targets[i]
	setObject(sig, t)
	sig.AppID = firstGUID(r.detail("AppId"), t.first("AppId"), t.first("AppPrincipalId"))
	if sig.AppID == "" && t.isType(appwarden.ObjectServicePrincipal) {
		sig.AppID = t.spnGUID()
	}
	if sig.AppID != "" || sig.ObjectID == "" {
		return
	}
	// "Add owner to ..." describes the owned object on the owner's target
	// (Application.ObjectID, Application.AppId, or ServicePrincipal.*): take
	// its appId only where its object id is the subject's.
	prefix := sig.ObjectType + "."
	for _, o := range r.Targets {
		if guid(o.first(prefix+"ObjectID")) == sig.ObjectID {
			if sig.AppID = guid(o.first(prefix + "AppId")); sig.AppID != "" {
				return
			}
		}
	}
}

// grantee fills the signal for "Add app role assignment to service
// principal" and "Add delegated permission grant". Real records name the
// resource first (Microsoft Graph in otrf-03) and the grantee in that
// target's ServicePrincipal.ObjectID and ServicePrincipal.AppId properties,
// usually also as the second target (FACTS.md §1). Judging the first target
// would judge Microsoft Graph and miss the app that got the grant.
func grantee(r *record, sig *appwarden.Signal) {
	var sps []*target
	for i := range r.Targets {
		if r.Targets[i].isType(appwarden.ObjectServicePrincipal) {
			sps = append(sps, &r.Targets[i])
		}
	}
	if len(sps) == 0 {
		sig.AppID = guid(r.detail("AppId"))
		return
	}
	// The resource is the target that carries the grantee's properties, else
	// the first one.
	resource := sps[0]
	if i := slices.IndexFunc(sps, func(t *target) bool { return t.prop("ServicePrincipal.ObjectID") != nil }); i >= 0 {
		resource = sps[i]
	}
	grantFacts(resource, sig)
	objectID := guid(resource.first("ServicePrincipal.ObjectID"))
	// The grantee's own target, when listed: the one with that object id,
	// else (no ServicePrincipal.ObjectID) the service principal after the
	// resource. A record that names only the resource yields no object.
	if i := slices.IndexFunc(sps, func(t *target) bool {
		return t != resource && (objectID == "" || guid(t.ID) == objectID)
	}); i >= 0 {
		setObject(sig, sps[i])
	}
	if objectID != "" {
		sig.ObjectID, sig.ObjectType = objectID, appwarden.ObjectServicePrincipal
	}
	if name := resource.first("ServicePrincipal.DisplayName"); name != "" {
		sig.DisplayName = name
	}
	// additionalDetails AppId, when present, is the grantee's (FACTS.md §1).
	sig.AppID = firstGUID(resource.first("ServicePrincipal.AppId"), r.detail("AppId"))
}

// grantFacts copies what was granted, and on which resource, into the
// signal's details.
func grantFacts(resource *target, sig *appwarden.Signal) {
	setDetail(sig, "resourceObjectId", guid(resource.ID))
	setDetail(sig, "resourceDisplayName", resource.DisplayName)
	// The resource's own names hold its appId (Microsoft Graph's in otrf-03):
	// the resource's, never the grantee's.
	setDetail(sig, "resourceAppId", resource.spnGUID())
	setDetail(sig, "appRoleId", guid(resource.first("AppRole.Id")))
	setDetail(sig, "appRoleValue", resource.first("AppRole.Value"))
	setDetail(sig, "consentType", resource.first("DelegatedPermissionGrant.ConsentType"))
	if p := resource.prop("DelegatedPermissionGrant.Scope"); p != nil {
		scope := strings.Fields(firstString(p.New))
		setDetail(sig, "scope", strings.Join(scope, " "))
		old := strings.Fields(firstString(p.Old))
		added := slices.DeleteFunc(scope, func(s string) bool { return slices.Contains(old, s) })
		setDetail(sig, "scopeAdded", strings.Join(added, " "))
	}
}

// consent fills the signal for "Consent to application". Its first
// ServicePrincipal target is the client that was consented to, and its names
// are the client's own; a record carrying the grant's ServicePrincipal.*
// properties is read like a grant instead.
func consent(r *record, sig *appwarden.Signal) {
	for i := range r.Targets {
		if r.Targets[i].prop("ServicePrincipal.ObjectID") != nil {
			grantee(r, sig)
			return
		}
	}
	i := slices.IndexFunc(r.Targets, func(t target) bool { return t.isType(appwarden.ObjectServicePrincipal) })
	if i < 0 {
		sig.AppID = guid(r.detail("AppId"))
		return
	}
	t := &r.Targets[i]
	setObject(sig, t)
	sig.AppID = firstGUID(r.detail("AppId"), t.spnGUID())
	setDetail(sig, "isAdminConsent", t.first("ConsentContext.IsAdminConsent"))
	setDetail(sig, "isAppOnly", t.first("ConsentContext.IsAppOnly"))
	if p := t.prop("ConsentAction.Permissions"); p != nil {
		// "[old grants] => [[Id: ..., ClientId: ..., ResourceId: <guid>,
		// ConsentType: Principal, Scope:  User.Read Mail.Read, ...]]": the
		// new grants follow the last "=>".
		text := firstString(p.New)
		if i := strings.LastIndex(text, "=>"); i >= 0 {
			text = text[i+2:]
		}
		setDetail(sig, "resourceObjectId", joinMatches(resourceIDRe, text, guid))
		setDetail(sig, "consentType", joinMatches(consentTypeRe, text, strings.TrimSpace))
		setDetail(sig, "scope", joinMatches(scopeRe, text, strings.TrimSpace))
	}
}

var (
	resourceIDRe  = regexp.MustCompile(`ResourceId:\s*([0-9A-Fa-f-]{36})`)
	consentTypeRe = regexp.MustCompile(`ConsentType:\s*(\w+)`)
	scopeRe       = regexp.MustCompile(`Scope:\s*([^,\]]*)`)
)

// joinMatches joins the distinct non-empty first groups of re in text, each
// cleaned by clean, with spaces: one grant's value, or every grant's.
func joinMatches(re *regexp.Regexp, text string, clean func(string) string) string {
	var out []string
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		for f := range strings.FieldsSeq(clean(m[1])) {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return strings.Join(out, " ")
}

// roleMember fills the signal for "Add member to role" when the member is a
// service principal (FACTS.md §1: category RoleManagement, targets the role
// and the service principal), and reports false for any other member.
func roleMember(r *record, sig *appwarden.Signal) bool {
	i := slices.IndexFunc(r.Targets, func(t target) bool { return t.isType(appwarden.ObjectServicePrincipal) })
	if i < 0 {
		return false
	}
	setObject(sig, &r.Targets[i])
	for _, t := range r.Targets {
		if t.isType("Role") || t.isType("DirectoryRole") {
			setDetail(sig, "roleId", guid(t.ID))
			setDetail(sig, "roleName", t.DisplayName)
		}
		setDetail(sig, "roleId", guid(t.first("Role.ObjectID")))
		setDetail(sig, "roleName", t.first("Role.DisplayName"))
		setDetail(sig, "roleTemplateId", guid(t.first("Role.TemplateId")))
	}
	return true
}

// setDetail records a fact once, keeping the first value found.
func setDetail(sig *appwarden.Signal, key, value string) {
	if value == "" || sig.Details[key] != "" {
		return
	}
	sig.Details[key] = value
}

// firstGUID is the first of the candidates that is a GUID, in lower case.
func firstGUID(candidates ...string) string {
	for _, c := range candidates {
		if id := guid(c); id != "" {
			return id
		}
	}
	return ""
}

func initiator(r *record) appwarden.Initiator {
	var i appwarden.Initiator
	if u := r.User; u != nil {
		i.UserID, i.UPN, i.DisplayName = u.ID, u.UPN, u.DisplayName
	}
	if a := r.App; a != nil && i.UserID == "" {
		i.AppID, i.ServicePrincipalID, i.DisplayName = a.AppID, a.ServicePrincipalID, a.DisplayName
	}
	return i
}

func poison(err error) appwarden.Batch { return appwarden.Batch{Poison: []error{err}} }

func ignored(format string, args ...any) appwarden.Batch {
	return appwarden.Batch{Ignored: []string{fmt.Sprintf(format, args...)}}
}
