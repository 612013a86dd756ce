package e2e

// The fixture tenant the Graph stand-in serves, and Event Hub envelopes
// announcing its apps, in the shapes of tests/testdata.

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/functions/hostemu"
)

// Ids of tests/testdata (see its README): the tenant, "Payroll Sync", its
// creator, and the managed identity func-payroll-prod.
const (
	fixtureTenantID = "6f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"
	payrollObjectID = "a0847fad-c428-4478-bd58-d4ad0d9f48be"
	payrollSPID     = "8c907101-5831-45a1-b703-8a59f190e639"
	devOneID        = "30a6c29d-de7c-4830-815f-9b3bb366e975"
	miAppID         = "0d7e3f6b-8a9c-4b1d-9e2f-3a4b5c6d7e8f"
	miSPID          = "4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8"
	// selfAppID is AppWarden's own app (AZURE_CLIENT_ID); invented.
	selfAppID    = "7f3e9c2a-5b1d-4e8f-9a6c-0d2b4f6e8a1c"
	selfObjectID = "1c2d3e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5"
)

var devOne = fakegraph.Owner{ID: devOneID, DisplayName: "Dev One", UPN: "dev.one@contoso.example", Mail: "dev.one@contoso.example"}

// fixtureTenant is the tenant the fixtures describe: Microsoft Graph's
// service principal; "Payroll Sync", created by dev.one, requesting
// RoleManagement.ReadWrite.Directory (granted) and User.Read, open to other
// tenants; the managed identity func-payroll-prod; and AppWarden's own app,
// which holds what AppWarden needs (Application.ReadWrite.All: critical,
// were it anyone else's).
func fixtureTenant() *fakegraph.Tenant {
	t := fakegraph.NewTenant(fixtureTenantID)
	t.AddMicrosoftGraph()
	t.AddApp(fakegraph.AppSpec{
		AppID: payrollAppID, ApplicationID: payrollObjectID, ServicePrincipalID: payrollSPID,
		DisplayName: "Payroll Sync", SignInAudience: "AzureADMultipleOrgs", PublisherDomain: "contoso.example",
		Owners:    []fakegraph.Owner{devOne},
		Requested: []fakegraph.Permission{fakegraph.GraphRole("RoleManagement.ReadWrite.Directory"), fakegraph.GraphScope("User.Read")},
		Granted:   []fakegraph.Permission{fakegraph.GraphRole("RoleManagement.ReadWrite.Directory")},
	})
	t.AddServicePrincipal(fakegraph.SPSpec{
		AppID: miAppID, ID: miSPID, DisplayName: "func-payroll-prod", ServicePrincipalType: "ManagedIdentity",
	})
	t.AddApp(fakegraph.AppSpec{
		AppID: selfAppID, ApplicationID: selfObjectID, DisplayName: "AppWarden", PublisherDomain: "contoso.example",
		Owners:    []fakegraph.Owner{devOne},
		Requested: []fakegraph.Permission{fakegraph.GraphRole("Application.ReadWrite.All")},
		Granted:   []fakegraph.Permission{fakegraph.GraphRole("Application.ReadWrite.All")},
	})
	return t
}

// auditRecord is one Entra audit record announcing an app.
type auditRecord struct {
	ID       string // the audit record id: the signal's dedupe key
	Activity string // "Add application" or "Add service principal"
	// ObjectType is "Application" or "ServicePrincipal"; ObjectID its id.
	ObjectType, ObjectID string
	AppID, Name          string
	Time                 time.Time // zero: now
}

// addApplication announces an application object.
func addApplication(id, objectID, appID, name string) auditRecord {
	return auditRecord{ID: id, Activity: "Add application", ObjectType: "Application", ObjectID: objectID, AppID: appID, Name: name}
}

// addServicePrincipal announces a service principal.
func addServicePrincipal(id, spID, appID, name string) auditRecord {
	return auditRecord{ID: id, Activity: "Add service principal", ObjectType: "ServicePrincipal", ObjectID: spID, AppID: appID, Name: name}
}

// eventHubEnvelope is the host's OnAuditLogBatch request for one Event Hub
// message holding the records, as the Entra diagnostic setting streams them,
// encoded as the host encodes it (hostemu).
func eventHubEnvelope(t testing.TB, recs ...auditRecord) []byte {
	t.Helper()
	str := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	var diag []any
	for _, r := range recs {
		at := r.Time
		if at.IsZero() {
			at = time.Now()
		}
		when := at.UTC().Format("2006-01-02T15:04:05.0000000+00:00")
		appIDProp := "AppId"
		if r.ObjectType == "ServicePrincipal" {
			appIDProp = "AppPrincipalId"
		}
		props := map[string]any{
			"id": r.ID, "category": "ApplicationManagement", "correlationId": "7d1c0b9e-2a3f-4c5d-8e9f-0a1b2c3d4e5f",
			"result": "success", "resultReason": "", "activityDisplayName": r.Activity, "activityDateTime": when,
			"loggedByService": "Core Directory", "operationType": "Add",
			"initiatedBy": map[string]any{"user": map[string]any{
				"id": devOneID, "displayName": nil, "userPrincipalName": "dev.one@contoso.example", "ipAddress": "203.0.113.7",
			}},
			"targetResources": []any{map[string]any{
				"id": r.ObjectID, "displayName": r.Name, "type": r.ObjectType,
				"modifiedProperties": []any{
					map[string]any{"displayName": appIDProp, "oldValue": "[]", "newValue": str([]string{r.AppID})},
					map[string]any{"displayName": "DisplayName", "oldValue": "[]", "newValue": str([]string{r.Name})},
				},
			}},
			"additionalDetails": []any{map[string]any{"key": "AppId", "value": r.AppID}},
		}
		diag = append(diag, map[string]any{
			"time": when, "resourceId": "/tenants/" + fixtureTenantID + "/providers/Microsoft.aadiam",
			"operationName": r.Activity, "operationVersion": "1.0", "category": "AuditLogs", "tenantId": fixtureTenantID,
			"properties": props,
		})
	}
	return hostemu.EventHub(time.Now(), []byte(str(map[string]any{"records": diag})))
}
