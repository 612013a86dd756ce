// Package eventgrid decodes what the Event Grid function receives: one event
// (or an array of them) in Event Grid or CloudEvents schema, as an object or
// a JSON-encoded string. ARM resource-provider registrations become
// ProviderRegistered signals; audit records republished on a custom topic
// are handed to the auditlog decoder. Decoders know nothing of Graph.
package eventgrid

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/messaging"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/eventgrid/azsystemevents"
	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/auditlog"
	"github.com/appwarden/appwarden/handler/shape"
)

// event is the schema-independent view of one event.
type event struct {
	id, typ, subject string
	time             time.Time
	data             []byte
	path             string // where data sits, for errors
}

var eventGridFields = shape.Fields{
	"id":          shape.String | shape.Required,
	"eventType":   shape.String | shape.Required,
	"subject":     shape.String,
	"eventTime":   shape.String,
	"topic":       shape.String,
	"dataVersion": shape.String,
	// metadataVersion is read by the SDK too; checking it here keeps the
	// error for a bad event the same on every decode.
	"metadataVersion": shape.String,
}

var cloudEventFields = shape.Fields{
	"id":          shape.String | shape.Required,
	"type":        shape.String | shape.Required,
	"source":      shape.String | shape.Required,
	"specversion": shape.String | shape.Required,
	"subject":     shape.String,
	"time":        shape.String,
	// read by the SDK too; checked here so that a bad event always gets the
	// same error (the SDK reports whichever bad field its map order meets first)
	"datacontenttype": shape.String,
	"dataschema":      shape.String,
	"data_base64":     shape.String,
}

// Decode turns the Event Grid binding value into signals. v is the value as
// decoded by encoding/json; path names it in errors ("Data.event").
func Decode(v any, path string) appwarden.Batch {
	switch val := v.(type) {
	case string:
		inner, err := shape.Decode([]byte(val), path+" (JSON-encoded string)")
		if err != nil {
			return appwarden.Batch{Poison: []error{err}}
		}
		if _, nested := inner.(string); nested {
			return appwarden.Batch{Poison: []error{&shape.Error{Path: path, Problem: "a JSON string that holds another JSON string, not an event"}}}
		}
		return Decode(inner, path)
	case []any:
		var b appwarden.Batch
		for i, el := range val {
			b.Add(Decode(el, fmt.Sprintf("%s[%d]", path, i)))
		}
		return b
	case map[string]any:
		return decodeEvent(val, path)
	}
	return appwarden.Batch{Poison: []error{&shape.Error{Path: path, Problem: "expected an event object, got " + shape.KindOf(v)}}}
}

func decodeEvent(obj map[string]any, path string) appwarden.Batch {
	ev, err := parse(obj, path)
	if err != nil {
		return appwarden.Batch{Poison: []error{err}}
	}
	if isARM(ev.typ) {
		return decodeARM(ev)
	}
	data, hasData := obj["data"]
	if hasData && auditlog.Looks(data) {
		return auditlog.Decode(data, ev.path, appwarden.SourceEventGrid)
	}
	return appwarden.Batch{Ignored: []string{fmt.Sprintf("%s: event type %q (id %s) is not one AppWarden handles", path, ev.typ, ev.id)}}
}

// parse reads the envelope with the Azure SDK's own types: CloudEvent when
// specversion is present, EventGridEvent otherwise.
func parse(obj map[string]any, path string) (event, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return event{}, &shape.Error{Path: path, Problem: err.Error()}
	}
	if _, ce := obj["specversion"]; ce {
		if err := shape.Check(obj, path, cloudEventFields); err != nil {
			return event{}, err
		}
		_, hasData := obj["data"]
		if _, hasBase64 := obj["data_base64"]; hasData && hasBase64 {
			return event{}, &shape.Error{Path: path, Problem: "a CloudEvent must not have both data and data_base64"}
		}
		if ts, ok := obj["time"].(string); ok {
			if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
				return event{}, &shape.Error{Path: path + ".time", Problem: fmt.Sprintf("%q is not an RFC 3339 time", ts)}
			}
		}
		var c messaging.CloudEvent
		if err := c.UnmarshalJSON(raw); err != nil {
			return event{}, &shape.Error{Path: path, Problem: "not a CloudEvent: " + err.Error()}
		}
		ev := event{id: c.ID, typ: c.Type, path: path + ".data"}
		if c.Subject != nil {
			ev.subject = *c.Subject
		}
		if c.Time != nil {
			ev.time = c.Time.UTC()
		}
		ev.data, _ = c.Data.([]byte)
		return ev, nil
	}
	if err := shape.Check(obj, path, eventGridFields); err != nil {
		return event{}, err
	}
	var g azsystemevents.EventGridEvent
	if err := g.UnmarshalJSON(raw); err != nil {
		return event{}, &shape.Error{Path: path, Problem: "not an Event Grid event: " + err.Error()}
	}
	ev := event{id: deref(g.ID), typ: deref(g.EventType), subject: deref(g.Subject), path: path + ".data"}
	if g.EventTime != nil {
		ev.time = g.EventTime.UTC()
	}
	ev.data, _ = g.Data.([]byte)
	return ev, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Signal kinds by event type are decided on the type prefix; the ARM data
// models of every ResourceAction*/ResourceWrite* type share the fields read.
func isARM(typ string) bool {
	return strings.HasPrefix(typ, "Microsoft.Resources.ResourceAction") || strings.HasPrefix(typ, "Microsoft.Resources.ResourceWrite")
}

var armFields = shape.Fields{
	"operationName":        shape.String | shape.Required,
	"status":               shape.String,
	"subscriptionId":       shape.String,
	"tenantId":             shape.String,
	"resourceProvider":     shape.String,
	"resourceUri":          shape.String,
	"correlationId":        shape.String,
	"claims":               shape.Object,
	"authorization":        shape.Object,
	"authorization.action": shape.String,
	"authorization.scope":  shape.String,
	"httpRequest":          shape.Object,
	// The rest are read by the SDK's data model; checking them here gives a
	// bad field its path, the same one on every decode.
	"resourceGroup":               shape.String,
	"authorization.evidence":      shape.Object,
	"httpRequest.clientIpAddress": shape.String,
	"httpRequest.clientRequestId": shape.String,
	"httpRequest.method":          shape.String,
	"httpRequest.url":             shape.String,
}

func decodeARM(ev event) appwarden.Batch {
	fail := func(err error) appwarden.Batch { return appwarden.Batch{Poison: []error{err}} }
	if len(ev.data) == 0 {
		return fail(&shape.Error{Path: ev.path, Problem: "required object is missing"})
	}
	v, err := shape.Decode(ev.data, ev.path)
	if err != nil {
		return fail(err)
	}
	if err := shape.Check(v, ev.path, armFields); err != nil {
		return fail(err)
	}
	obj := v.(map[string]any)
	if err := stringValues(obj["claims"], ev.path+".claims"); err != nil {
		return fail(err)
	}
	if auth, ok := obj["authorization"].(map[string]any); ok {
		if err := stringValues(auth["evidence"], ev.path+".authorization.evidence"); err != nil {
			return fail(err)
		}
	}
	var d azsystemevents.ResourceActionSuccessEventData
	if err := d.UnmarshalJSON(ev.data); err != nil {
		return fail(&shape.Error{Path: ev.path, Problem: err.Error()})
	}
	op := deref(d.OperationName)
	if !strings.HasSuffix(ev.typ, "Success") {
		return appwarden.Batch{Ignored: []string{fmt.Sprintf("%s: %s for %q did not succeed", ev.path, ev.typ, op)}}
	}
	if !strings.HasSuffix(strings.ToLower(op), "/register/action") {
		return appwarden.Batch{Ignored: []string{fmt.Sprintf("%s: operation %q is not a resource-provider registration", ev.path, op)}}
	}
	details := map[string]string{"operationName": op}
	for k, p := range map[string]*string{"subscriptionId": d.SubscriptionID, "tenantId": d.TenantID, "resourceProvider": d.ResourceProvider, "status": d.Status} {
		if p != nil && *p != "" {
			details[k] = *p
		}
	}
	if c := d.Claims["appid"]; c != nil && *c != "" {
		details["clientAppId"] = *c
	}
	t := ev.time
	return appwarden.Batch{Signals: []appwarden.Signal{{
		Kind:      appwarden.ProviderRegistered,
		Initiator: caller(d.Claims),
		Time:      t,
		Source:    appwarden.SourceEventGrid,
		Activity:  op,
		DedupeKey: "eventgrid:" + ev.id,
		Details:   details,
	}}}
}

// stringValues checks that every value of an object (the SDK reads claims
// and evidence as maps of strings) is a string or null, in key order so the
// error names the same key every time.
func stringValues(v any, at string) error {
	m, ok := v.(map[string]any)
	if !ok {
		return nil // absent; its kind is checked by armFields
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if c := m[k]; c != nil {
			if _, ok := c.(string); !ok {
				return &shape.Error{Path: at + "[" + k + "]", Problem: "expected string, got " + shape.KindOf(c)}
			}
		}
	}
	return nil
}

// Claim names in ARM events' claims (the token's claims, long form).
const (
	claimObjectID = "http://schemas.microsoft.com/identity/claims/objectidentifier"
	claimUPN      = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
	claimName     = "name"
	claimAppID    = "appid"
)

// caller reads who made the ARM call. A user token carries a UPN; without
// one the caller is a service principal, whose app id is the appid claim.
func caller(claims map[string]*string) appwarden.Initiator {
	get := func(keys ...string) string {
		for _, k := range keys {
			if v := claims[k]; v != nil && *v != "" {
				return *v
			}
		}
		return ""
	}
	oid := get(claimObjectID, "oid")
	upn := get(claimUPN, "upn", "unique_name")
	if upn != "" {
		return appwarden.Initiator{UserID: oid, UPN: upn, DisplayName: get(claimName)}
	}
	return appwarden.Initiator{ServicePrincipalID: oid, AppID: get(claimAppID), DisplayName: get(claimName)}
}
