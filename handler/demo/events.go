package demo

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/appwarden/appwarden/handler/functions/hostemu"
)

// Delivery is one POST the demo makes, as the Functions host would.
type Delivery struct {
	What     string // shown to the reader
	Function string
	Body     []byte
}

// creator is who registered the demo apps (the fixtures' user).
var creator = map[string]any{"user": map[string]any{
	"id": dev.ID, "displayName": nil, "userPrincipalName": dev.UPN, "ipAddress": "203.0.113.7",
}}

// auditRecord is an Entra directoryAudit, wrapped as the diagnostic setting
// streams it.
func auditRecord(a App, i int, at time.Time) map[string]any {
	activity, typ, appIDProp, target := "Add application", "Application", "AppId", a.ObjectID
	details := []map[string]any{{"key": "AppId", "value": a.AppID}}
	if a.SPOnly {
		activity, typ, appIDProp, target = "Add service principal", "ServicePrincipal", "AppPrincipalId", a.SPID
		kind := "Other"
		if a.Name == "func-payroll-prod" {
			kind = "ManagedServiceIdentity"
		}
		details = append(details, map[string]any{"key": "ServicePrincipalProvisioningType", "value": kind})
	}
	id := fmt.Sprintf("Directory_demo_%04d", i)
	props := map[string]any{
		"id": id, "category": "ApplicationManagement", "correlationId": fmt.Sprintf("demo-%04d", i),
		"result": "success", "activityDisplayName": activity, "activityDateTime": at.Format(time.RFC3339Nano),
		"loggedByService": "Core Directory", "operationType": "Add", "initiatedBy": creator,
		"targetResources": []map[string]any{{
			"id": target, "displayName": a.Name, "type": typ,
			"modifiedProperties": []map[string]any{{"displayName": appIDProp, "oldValue": "[]", "newValue": `["` + a.AppID + `"]`}},
		}},
		"additionalDetails": details,
	}
	return map[string]any{
		"time": at.Format(time.RFC3339Nano), "resourceId": "/tenants/" + TenantID + "/providers/Microsoft.aadiam",
		"operationName": activity, "category": "AuditLogs", "tenantId": TenantID, "properties": props,
	}
}

// Deliveries are the inputs the demo drives through the real HTTP path, in
// order: the audit stream announcing every app (one message holding the
// records), a resource-provider registration from the subscription topic,
// the sweep timer, a malformed event, and the audit batch again (a duplicate).
// Every body is encoded as the Functions host encodes it (hostemu), the
// malformed event included: the host delivers a bad event like any other.
func Deliveries(apps []App, now time.Time) []Delivery {
	var recs []map[string]any
	for i, a := range apps {
		recs = append(recs, auditRecord(a, i, now.Add(-time.Minute)))
	}
	audit := hostemu.EventHub(now, mustJSON(map[string]any{"records": recs}))
	register := map[string]any{
		"id": "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e", "eventType": "Microsoft.Resources.ResourceActionSuccess",
		"subject":   "/subscriptions/a1b2c3d4-e5f6-4789-9abc-def012345678/providers/Microsoft.AAD",
		"eventTime": now.Format(time.RFC3339Nano), "dataVersion": "2", "metadataVersion": "1",
		"topic": "/subscriptions/a1b2c3d4-e5f6-4789-9abc-def012345678",
		"data": map[string]any{
			"operationName": "Microsoft.AAD/register/action", "status": "Succeeded",
			"subscriptionId": "a1b2c3d4-e5f6-4789-9abc-def012345678", "tenantId": TenantID,
			"resourceProvider": "Microsoft.AAD", "resourceUri": "/subscriptions/a1b2c3d4-e5f6-4789-9abc-def012345678/providers/Microsoft.AAD",
			"authorization": map[string]any{"action": "Microsoft.AAD/register/action", "scope": "/subscriptions/a1b2c3d4-e5f6-4789-9abc-def012345678", "evidence": map[string]any{"role": "Contributor"}},
			"claims": map[string]any{
				"http://schemas.microsoft.com/identity/claims/objectidentifier": dev.ID,
				"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn":     dev.UPN, "name": dev.DisplayName,
			},
			"httpRequest": map[string]any{"method": "POST"},
		},
	}
	bad := map[string]any{"id": "not-an-event", "eventType": "Microsoft.Resources.ResourceActionSuccess", "data": map[string]any{"operationName": 42}}
	return []Delivery{
		{"Entra audit stream (Event Hub): one batch announcing every app", "OnAuditLogBatch", audit},
		{"Subscription topic (Event Grid): Microsoft.AAD/register/action, a hint to sweep at once", "OnEventGridEvent", hostemu.EventGrid(mustJSON(register), now)},
		{"Sweep timer: the Graph delta sweep", "SweepTimer", hostemu.Tick(now.Add(30*time.Second), now)},
		{"A malformed event (recorded as poison, answered 200)", "OnEventGridEvent", hostemu.EventGrid(mustJSON(bad), now)},
		{"The audit batch again (a duplicate: Event Hubs delivers at least once, e.g. after a restart before the checkpoint): nothing is done twice", "OnAuditLogBatch", audit},
	}
}

// mustJSON is v's JSON text; the demo's values are fixed, so an error is a
// bug.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("demo: " + err.Error())
	}
	return b
}
