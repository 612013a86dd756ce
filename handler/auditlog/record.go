// Package auditlog decodes Entra directoryAudit records into signals. It
// accepts every shape a record arrives in: Graph's own shape (as republished
// on an Event Grid custom topic or pulled from /auditLogs/directoryAudits),
// the diagnostic-setting record (the audit fields under "properties"), the
// Event Hub stream's {"records":[...]} envelope around diagnostic records, a
// Log Analytics AuditLogs row (as a SIEM or Logic App republishes it), and a
// JSON array of any of those.
package auditlog

import (
	"strings"
	"time"

	"github.com/appwarden/appwarden/handler/shape"
)

// names are one shape's spellings of the record fields decoding reads.
// Below the top level both shapes use Graph's camelCase names: the OTRF rows
// hold "user", "id", "modifiedProperties"... inside InitiatedBy and
// TargetResources.
type names struct {
	id, activity, operation, result, time, timeGenerated string
	initiatedBy, targets, details                        string
	// encoded: InitiatedBy, TargetResources and AdditionalDetails may hold
	// JSON text rather than JSON values (Log Analytics dynamic columns as
	// exported; all three OTRF rows).
	encoded bool
}

// graphNames are the directoryAudit's own field names (Graph, and the
// diagnostic record's "properties").
var graphNames = names{
	id: "id", activity: "activityDisplayName", result: "result", time: "activityDateTime",
	initiatedBy: "initiatedBy", targets: "targetResources", details: "additionalDetails",
}

// rowNames are the Log Analytics AuditLogs columns (FACTS.md §1; the OTRF
// rows in tests/testdata/real-records). OperationName stands in when a
// projection dropped ActivityDisplayName; TimeGenerated when it dropped
// ActivityDateTime.
var rowNames = names{
	id: "Id", activity: "ActivityDisplayName", operation: "OperationName", result: "Result",
	time: "ActivityDateTime", timeGenerated: "TimeGenerated",
	initiatedBy: "InitiatedBy", targets: "TargetResources", details: "AdditionalDetails", encoded: true,
}

// fields are the types decoding relies on, checked only once a record is
// known to be about an activity AppWarden handles. The result and the times
// are read by hand: a number result and an unreadable time are tolerated.
func (n names) fields() shape.Fields {
	f := shape.Fields{n.id: shape.String | shape.Required}
	for path, kind := range map[string]shape.Kind{
		"": shape.Object, ".user": shape.Object, ".user.id": shape.String, ".user.displayName": shape.String,
		".user.userPrincipalName": shape.String, ".app": shape.Object, ".app.appId": shape.String,
		".app.displayName": shape.String, ".app.servicePrincipalId": shape.String,
	} {
		f[n.initiatedBy+path] = kind
	}
	for path, kind := range map[string]shape.Kind{
		"": shape.Array, "[].id": shape.String, "[].displayName": shape.String, "[].type": shape.String,
		"[].modifiedProperties": shape.Array, "[].modifiedProperties[].displayName": shape.String,
		"[].modifiedProperties[].newValue": shape.String, "[].modifiedProperties[].oldValue": shape.String,
	} {
		f[n.targets+path] = kind
	}
	for path, kind := range map[string]shape.Kind{"": shape.Array, "[].key": shape.String, "[].value": shape.String} {
		f[n.details+path] = kind
	}
	return f
}

// record is the part of a directoryAudit that AppWarden reads, taken from a
// value whose types n.fields() has already checked.
type record struct {
	ID       string
	Activity string
	Time     time.Time
	User     *principal
	App      *principal
	Targets  []target
	Details  []keyValue
}

// principal is initiatedBy.user or initiatedBy.app.
type principal struct {
	ID, DisplayName, UPN, AppID, ServicePrincipalID string
}

type target struct {
	ID, DisplayName, Type string
	Props                 []modifiedProperty
}

// modifiedProperty values are JSON-encoded strings ("[\"5bee10b5-...\"]",
// "\"User.Read Mail.ReadWrite\"") or null (FACTS.md §1; otrf-03).
type modifiedProperty struct {
	Name, New, Old string
}

type keyValue struct{ Key, Value string }

// read builds the record from a checked value.
func read(m map[string]any, n names, activity string) *record {
	r := &record{ID: str(m, n.id), Activity: activity, Time: parseTime(str(m, n.time))}
	if r.Time.IsZero() && n.timeGenerated != "" {
		r.Time = parseTime(str(m, n.timeGenerated))
	}
	if by, ok := m[n.initiatedBy].(map[string]any); ok {
		if u, ok := by["user"].(map[string]any); ok {
			r.User = &principal{ID: str(u, "id"), DisplayName: str(u, "displayName"), UPN: str(u, "userPrincipalName")}
		}
		if a, ok := by["app"].(map[string]any); ok {
			r.App = &principal{AppID: str(a, "appId"), DisplayName: str(a, "displayName"), ServicePrincipalID: str(a, "servicePrincipalId")}
		}
	}
	for _, t := range objects(m, n.targets) {
		tr := target{ID: str(t, "id"), DisplayName: str(t, "displayName"), Type: str(t, "type")}
		for _, p := range objects(t, "modifiedProperties") {
			tr.Props = append(tr.Props, modifiedProperty{Name: str(p, "displayName"), New: str(p, "newValue"), Old: str(p, "oldValue")})
		}
		r.Targets = append(r.Targets, tr)
	}
	for _, kv := range objects(m, n.details) {
		r.Details = append(r.Details, keyValue{Key: str(kv, "key"), Value: str(kv, "value")})
	}
	return r
}

// str is m[key] when it is a string; the shape check has ruled out other types.
func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func objects(m map[string]any, key string) []map[string]any {
	list, _ := m[key].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, v := range list {
		if o, ok := v.(map[string]any); ok {
			out = append(out, o)
		}
	}
	return out
}

// parseTime reads an audit time; an unreadable one is zero, and the host's
// time is used instead (the time is informational, not worth a poison).
func parseTime(s string) time.Time {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.9999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// detail is an additionalDetails value, "" when absent.
func (r *record) detail(key string) string {
	for _, kv := range r.Details {
		if kv.Key == key {
			return kv.Value
		}
	}
	return ""
}

// prop returns the named modified property, or nil.
func (t *target) prop(name string) *modifiedProperty {
	for i := range t.Props {
		if t.Props[i].Name == name {
			return &t.Props[i]
		}
	}
	return nil
}

// first returns the first string inside a modified property's new value:
// `["x"]` and `"x"` both give x; null, absent or unreadable give "".
func (t *target) first(name string) string {
	p := t.prop(name)
	if p == nil {
		return ""
	}
	return firstString(p.New)
}

func firstString(encoded string) string {
	v, err := shape.Decode([]byte(encoded), "")
	if err != nil {
		return ""
	}
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case []any:
		for _, el := range x {
			if s, ok := el.(string); ok && strings.TrimSpace(s) != "" {
				return strings.TrimSpace(s)
			}
		}
	}
	return ""
}

// isType reports whether a target is of the given object type, in any case.
func (t *target) isType(objectType string) bool { return strings.EqualFold(t.Type, objectType) }

// guid returns s in lower case when it is a GUID, else "". Nothing else is
// ever used as an appId or object id: a resource's
// TargetId.ServicePrincipalNames hold SPN URIs such as
// "00000003-0000-0000-c000-000000000000/ags.windows.net" (otrf-03), which
// Graph cannot resolve.
func guid(s string) string {
	s = strings.TrimSpace(s)
	if len(s) != 36 {
		return ""
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return ""
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return ""
		}
	}
	return strings.ToLower(s)
}

// spnGUID returns the first bare GUID among a target's
// TargetId.ServicePrincipalNames (";"-separated, in a JSON string or list).
// A service principal's names include its appId, so this is the appId of
// the service principal the target names, and must only be used as the
// appId of that same service principal, never of another one.
func (t *target) spnGUID() string {
	p := t.prop("TargetId.ServicePrincipalNames")
	if p == nil {
		return ""
	}
	v, err := shape.Decode([]byte(p.New), "")
	if err != nil {
		return ""
	}
	var all []string
	switch x := v.(type) {
	case string:
		all = []string{x}
	case []any:
		for _, el := range x {
			if s, ok := el.(string); ok {
				all = append(all, s)
			}
		}
	}
	for _, s := range all {
		for name := range strings.SplitSeq(s, ";") {
			if id := guid(name); id != "" {
				return id
			}
		}
	}
	return ""
}
