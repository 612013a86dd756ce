package auditlog

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/shape"
)

// recordFields are the fields decoding relies on, with their JSON types.
var recordFields = shape.Fields{
	"id":                                   shape.String | shape.Required,
	"activityDisplayName":                  shape.String | shape.Required,
	"result":                               shape.String,
	"resultReason":                         shape.String,
	"category":                             shape.String,
	"activityDateTime":                     shape.String,
	"initiatedBy":                          shape.Object,
	"initiatedBy.user":                     shape.Object,
	"initiatedBy.user.id":                  shape.String,
	"initiatedBy.user.displayName":         shape.String,
	"initiatedBy.user.userPrincipalName":   shape.String,
	"initiatedBy.app":                      shape.Object,
	"initiatedBy.app.appId":                shape.String,
	"initiatedBy.app.displayName":          shape.String,
	"initiatedBy.app.servicePrincipalId":   shape.String,
	"targetResources":                      shape.Array,
	"targetResources[].id":                 shape.String,
	"targetResources[].displayName":        shape.String,
	"targetResources[].type":               shape.String,
	"targetResources[].modifiedProperties": shape.Array,
	"targetResources[].modifiedProperties[].displayName": shape.String,
	"targetResources[].modifiedProperties[].newValue":    shape.String,
	"additionalDetails":         shape.Array,
	"additionalDetails[].key":   shape.String,
	"additionalDetails[].value": shape.String,
}

// Looks reports whether v has the shape of anything Decode accepts, so that a
// caller holding an event of unknown type can tell an audit record from an
// unrelated event.
func Looks(v any) bool {
	obj, ok := v.(map[string]any)
	if !ok {
		return false
	}
	if _, ok := obj["records"]; ok {
		return true
	}
	if props, ok := obj["properties"].(map[string]any); ok {
		_, ok = props["activityDisplayName"]
		return ok
	}
	_, ok = obj["activityDisplayName"]
	return ok
}

// Decode turns a decoded JSON value holding audit records, in any of the
// accepted shapes, into signals. path names v in errors. A record that is
// malformed becomes a poison error in the batch; the others still decode.
func Decode(v any, path string, source appwarden.Source) appwarden.Batch {
	obj, ok := v.(map[string]any)
	if !ok {
		return poison(&shape.Error{Path: path, Problem: "expected an audit record object, got " + shape.KindOf(v)})
	}
	if recs, present := obj["records"]; present {
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
	return decodeOne(v, path, source)
}

// decodeOne decodes a single record: a diagnostic record (the audit under
// "properties") or a directoryAudit in Graph's shape.
func decodeOne(v any, path string, source appwarden.Source) appwarden.Batch {
	obj, ok := v.(map[string]any)
	if !ok {
		return poison(&shape.Error{Path: path, Problem: "expected object, got " + shape.KindOf(v)})
	}
	if props, present := obj["properties"]; present && obj["activityDisplayName"] == nil {
		if cat, _ := obj["category"].(string); cat != "" && !strings.EqualFold(cat, "AuditLogs") {
			return appwarden.Batch{Ignored: []string{fmt.Sprintf("%s: diagnostic category %q is not AuditLogs", path, cat)}}
		}
		v, path = props, path+".properties"
	}
	if err := shape.Check(v, path, recordFields); err != nil {
		return poison(err)
	}
	var r record
	raw, _ := json.Marshal(v)
	if err := json.Unmarshal(raw, &r); err != nil {
		return poison(fmt.Errorf("%s: %w", path, err))
	}
	return toSignals(&r, path, source)
}

func toSignals(r *record, path string, source appwarden.Source) appwarden.Batch {
	kind, ok := kindOf(r.ActivityDisplayName)
	if !ok {
		return ignored("%s: activity %q does not concern app registrations", path, r.ActivityDisplayName)
	}
	if !strings.EqualFold(strings.TrimSpace(r.Result), "success") {
		return ignored("%s: %q record %s has result %q, not success", path, strings.TrimSpace(r.ActivityDisplayName), r.ID, r.Result)
	}
	sig := appwarden.Signal{
		Kind:      kind,
		Time:      r.time(),
		Source:    source,
		Activity:  r.ActivityDisplayName,
		DedupeKey: "audit:" + r.ID,
		Initiator: initiator(r),
	}
	target := pickTarget(r)
	if target != nil {
		sig.ObjectID = target.ID
		sig.ObjectType = target.Type
		sig.DisplayName = target.DisplayName
	}
	sig.AppID = appID(r, target)
	for _, key := range []string{"ServicePrincipalProvisioningType", "AppOwnerOrganizationId"} {
		if v := r.detail(key); v != "" {
			if sig.Details == nil {
				sig.Details = map[string]string{}
			}
			sig.Details[key] = v
		}
	}
	if sig.AppID == "" && sig.ObjectID == "" {
		return ignored("%s: %q record %s names no application or service principal", path, r.ActivityDisplayName, r.ID)
	}
	return appwarden.Batch{Signals: []appwarden.Signal{sig}}
}

// pickTarget chooses the target resource the signal is about: the first
// Application or ServicePrincipal. For an app role assignment the first
// service principal is the one that received the role.
func pickTarget(r *record) *targetResource {
	for i := range r.TargetResources {
		t := &r.TargetResources[i]
		if strings.EqualFold(t.Type, appwarden.ObjectApplication) || strings.EqualFold(t.Type, appwarden.ObjectServicePrincipal) {
			if strings.EqualFold(t.Type, appwarden.ObjectApplication) {
				t.Type = appwarden.ObjectApplication
			} else {
				t.Type = appwarden.ObjectServicePrincipal
			}
			return t
		}
	}
	return nil
}

// appID finds the target's appId: additionalDetails "AppId", else the
// modified properties AppId (Application) or AppPrincipalId (ServicePrincipal),
// else TargetId.ServicePrincipalNames.
func appID(r *record, t *targetResource) string {
	if v := r.detail("AppId"); v != "" {
		return strings.ToLower(v)
	}
	if t == nil {
		return ""
	}
	for _, name := range []string{"AppId", "AppPrincipalId", "TargetId.ServicePrincipalNames"} {
		if v := t.first(name); v != "" {
			v, _, _ = strings.Cut(v, ";")
			return strings.ToLower(strings.TrimSpace(v))
		}
	}
	return ""
}

func initiator(r *record) appwarden.Initiator {
	var i appwarden.Initiator
	if u := r.InitiatedBy.User; u != nil {
		i.UserID, i.UPN, i.DisplayName = u.ID, u.UserPrincipalName, u.DisplayName
	}
	if a := r.InitiatedBy.App; a != nil && i.UserID == "" {
		i.AppID, i.ServicePrincipalID, i.DisplayName = a.AppID, a.ServicePrincipalID, a.DisplayName
	}
	return i
}

func poison(err error) appwarden.Batch { return appwarden.Batch{Poison: []error{err}} }

func ignored(format string, args ...any) appwarden.Batch {
	return appwarden.Batch{Ignored: []string{fmt.Sprintf(format, args...)}}
}
