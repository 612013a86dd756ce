package harness

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/appwarden/appwarden/handler/functions/hostemu"
)

// Function names: the folders under function-app/, the routes the host POSTs to.
const (
	FnEventGrid = "OnEventGridEvent"
	FnEventHub  = "OnAuditLogBatch"
	FnTimer     = "SweepTimer"
)

// TenantID is the tenant the envelopes name by default (the fixtures' one).
const TenantID = "6f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"

// Audit describes one Entra audit record about an app.
type Audit struct {
	// ID is the directoryAudit id, the dedupe key; a new one when empty.
	// Redeliveries and duplicates reuse it.
	ID string
	// Activity defaults to "Add application" ("Add service principal"
	// when ServicePrincipal is set).
	Activity         string
	ServicePrincipal bool
	AppID            string
	// ObjectID is the target's object id (the application's, or the
	// service principal's when ServicePrincipal).
	ObjectID    string
	DisplayName string
	// Time of the activity (default now).
	Time time.Time
	// InitiatorUPN and InitiatorID name who did it (defaults: the fixtures' dev).
	InitiatorUPN, InitiatorID string
	// Tenant defaults to TenantID.
	Tenant string
}

func (a Audit) withDefaults() Audit {
	if a.ID == "" {
		a.ID = "Directory_" + uuid.NewString()
	}
	if a.Activity == "" {
		a.Activity = "Add application"
		if a.ServicePrincipal {
			a.Activity = "Add service principal"
		}
	}
	if a.Time.IsZero() {
		a.Time = time.Now().UTC()
	}
	if a.InitiatorUPN == "" {
		a.InitiatorUPN = "dev.one@contoso.example"
	}
	if a.InitiatorID == "" {
		a.InitiatorID = "30a6c29d-de7c-4830-815f-9b3bb366e975"
	}
	if a.Tenant == "" {
		a.Tenant = TenantID
	}
	if a.DisplayName == "" && len(a.AppID) >= 8 {
		a.DisplayName = "app-" + a.AppID[:8]
	}
	return a
}

// DirectoryAudit is the record in Graph's directoryAudit shape.
func DirectoryAudit(a Audit) map[string]any {
	a = a.withDefaults()
	typ, prop := "Application", "AppId"
	details := []map[string]any{{"key": "AppId", "value": a.AppID}}
	if a.ServicePrincipal {
		typ, prop = "ServicePrincipal", "AppPrincipalId"
		details = append(details, map[string]any{"key": "ServicePrincipalProvisioningType", "value": "Other"})
	}
	return map[string]any{
		"id": a.ID, "category": "ApplicationManagement", "correlationId": uuid.NewString(),
		"result": "success", "resultReason": "", "activityDisplayName": a.Activity,
		"activityDateTime": a.Time.Format(time.RFC3339Nano), "loggedByService": "Core Directory",
		"operationType": "Add",
		"initiatedBy": map[string]any{"user": map[string]any{
			"id": a.InitiatorID, "displayName": nil, "userPrincipalName": a.InitiatorUPN, "ipAddress": "203.0.113.7",
		}},
		"targetResources": []map[string]any{{
			"id": a.ObjectID, "displayName": a.DisplayName, "type": typ,
			"modifiedProperties": []map[string]any{{"displayName": prop, "oldValue": "[]", "newValue": `["` + a.AppID + `"]`}},
		}},
		"additionalDetails": details,
	}
}

// AuditRecord is the record as an Entra diagnostic setting streams it to
// Event Hub: the directoryAudit under "properties".
func AuditRecord(a Audit) map[string]any {
	a = a.withDefaults()
	return map[string]any{
		"time": a.Time.Format(time.RFC3339Nano), "resourceId": "/tenants/" + a.Tenant + "/providers/Microsoft.aadiam",
		"operationName": a.Activity, "operationVersion": "1.0", "category": "AuditLogs", "tenantId": a.Tenant,
		"resultSignature": "None", "durationMs": 0, "callerIpAddress": "203.0.113.7", "Level": 4,
		"properties": DirectoryAudit(a),
	}
}

// The envelopes below are built by hostemu, which encodes them exactly as the
// Functions host does (FACTS.md §2): the Event Grid event as text in a string
// in a string, an Event Hub batch as one string holding the array of message
// texts. Nothing here builds {"Data":...} by hand.

// mustJSON is v's JSON text; v is built here, so an error is a bug.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("harness: encoding: " + err.Error())
	}
	return b
}

// EventHubBatch is the Event Hub function's envelope for one message (as
// JSON text, dataType string) holding {"records":[...]}, the way the Entra
// diagnostic setting writes it.
func EventHubBatch(records ...map[string]any) []byte {
	return EventHubMessages(mustJSON(map[string]any{"records": records}))
}

// EventHubMessages is the Event Hub function's envelope for a batch of
// messages (cardinality many), each body the message's text.
func EventHubMessages(bodies ...[]byte) []byte {
	return hostemu.EventHub(time.Now(), bodies...)
}

// EventHubAudits is EventHubBatch of AuditRecord(a) for each a: the first
// try of AuditBatch(as...).
func EventHubAudits(as ...Audit) []byte {
	return AuditBatch(as...).Try(0, 0)
}

// HubBatch is one Event Hub batch as the host holds it: the same messages
// go to the first try and to every retry of the function's retry policy
// (DeliverEventHub).
type HubBatch struct {
	// Messages are the message bodies, each one message's text.
	Messages [][]byte
	// Enqueued is when the messages were enqueued; hostemu also makes it
	// the envelope's Metadata.sys.UtcNow.
	Enqueued time.Time
}

// AuditBatch is the batch of one message holding {"records":[...]}, the
// AuditRecord of each a, the way the Entra diagnostic setting writes it.
func AuditBatch(as ...Audit) HubBatch {
	recs := make([]map[string]any, len(as))
	for i, a := range as {
		recs[i] = AuditRecord(a)
	}
	return HubBatch{Messages: [][]byte{mustJSON(map[string]any{"records": recs})}, Enqueued: time.Now()}
}

// Try is the envelope of try n of the batch: 0 is the first try (no
// RetryContext), n > 0 retry n of a policy allowing maxRetries (the host's
// Metadata.RetryContext {RetryCount: n, MaxRetryCount: maxRetries}).
func (b HubBatch) Try(n, maxRetries int) []byte {
	if n == 0 {
		return hostemu.EventHub(b.Enqueued, b.Messages...)
	}
	return hostemu.EventHubRetry(b.Enqueued, n, maxRetries, b.Messages...)
}

// EventGridEnvelope is the Event Grid function's envelope for one event
// (Event Grid schema or CloudEvent, as an object).
func EventGridEnvelope(event any) []byte {
	return hostemu.EventGrid(mustJSON(event), time.Now())
}

// AuditCloudEvent is an audit record republished to an Event Grid custom
// topic as a CloudEvent.
func AuditCloudEvent(a Audit) map[string]any {
	a = a.withDefaults()
	return map[string]any{
		"specversion": "1.0", "type": "Microsoft.Entra.AuditLog",
		"source":  "/tenants/" + a.Tenant + "/providers/Microsoft.aadiam",
		"subject": "ApplicationManagement/" + a.Activity, "id": a.ID,
		"time": a.Time.Format(time.RFC3339Nano), "datacontenttype": "application/json",
		"data": DirectoryAudit(a),
	}
}

// RegisterActionEvent is the subscription topic's ResourceActionSuccess for
// Microsoft.AAD/register/action: a hint to sweep at once.
func RegisterActionEvent(id string, at time.Time) map[string]any {
	sub := "a1b2c3d4-e5f6-4789-9abc-def012345678"
	return map[string]any{
		"id": id, "eventType": "Microsoft.Resources.ResourceActionSuccess",
		"subject":   "/subscriptions/" + sub + "/providers/Microsoft.AAD",
		"eventTime": at.UTC().Format(time.RFC3339Nano), "dataVersion": "2", "metadataVersion": "1",
		"topic": "/subscriptions/" + sub,
		"data": map[string]any{
			"operationName": "Microsoft.AAD/register/action", "status": "Succeeded",
			"subscriptionId": sub, "tenantId": TenantID, "resourceProvider": "Microsoft.AAD",
			"resourceUri":   "/subscriptions/" + sub + "/providers/Microsoft.AAD",
			"authorization": map[string]any{"action": "Microsoft.AAD/register/action", "scope": "/subscriptions/" + sub},
			"httpRequest":   map[string]any{"method": "POST"},
		},
	}
}

// TimerEnvelope is the timer function's envelope for a tick whose next
// occurrence is next (the tick's identity: the same next is a redelivery of
// the same tick).
func TimerEnvelope(next time.Time) []byte {
	return hostemu.Tick(next, time.Now())
}

// MalformedEventGrid is an Event Grid event whose data.operationName is a
// number: poison, to be recorded and answered 200.
func MalformedEventGrid(id string) []byte {
	return EventGridEnvelope(map[string]any{
		"id": id, "eventType": "Microsoft.Resources.ResourceActionSuccess", "subject": "/subscriptions/x",
		"eventTime": time.Now().UTC().Format(time.RFC3339Nano), "dataVersion": "2",
		"data": map[string]any{"operationName": 42},
	})
}

// MalformedAuditRecord is an audit record whose activityDisplayName is a
// number: poison inside an otherwise good Event Hub batch.
func MalformedAuditRecord() map[string]any {
	r := AuditRecord(Audit{AppID: uuid.NewString(), ObjectID: uuid.NewString()})
	r["properties"].(map[string]any)["activityDisplayName"] = 42
	return r
}

// Short is a readable prefix of an id for messages.
func Short(id string) string {
	if i := strings.IndexByte(id, '-'); i > 0 {
		return id[:i]
	}
	return fmt.Sprint(id)
}
