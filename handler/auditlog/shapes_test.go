package auditlog_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/auditlog"
)

// Microsoft Graph's service principal as real grant records name it: the
// resource, listed first (otrf-03; FACTS.md §1).
const (
	graphAppID  = "00000003-0000-0000-c000-000000000000"
	graphSPID   = "401dd906-ea4f-4d41-b762-7e936d222368"
	graphSPNs   = "00000003-0000-0000-c000-000000000000/ags.windows.net;00000003-0000-0000-c000-000000000000;https://graph.microsoft.com;https://ags.windows.net"
	graphURIs   = "00000003-0000-0000-c000-000000000000/ags.windows.net;https://graph.microsoft.com;https://ags.windows.net"
	rmrwdRoleID = "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8" // RoleManagement.ReadWrite.Directory
	gaTemplate  = "62e90394-69f5-4237-9190-012177145e10" // Global Administrator
	gaRoleID    = "7c2e8e4b-1d9a-4f5e-b0c3-2a1b3c4d5e6f"
	auditTime   = "2026-11-24T09:30:00Z"
)

// enc JSON-encodes a modified property's value, as real records hold it.
func enc(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// prop is a modified property; newValue is JSON text, or nil for null.
func prop(name string, newValue any) any {
	return map[string]any{"displayName": name, "oldValue": nil, "newValue": newValue}
}

func tgt(id, displayName, typ string, props ...any) any {
	t := map[string]any{"id": id, "displayName": displayName, "type": typ, "modifiedProperties": append([]any{}, props...)}
	if displayName == "" {
		t["displayName"] = nil
	}
	return t
}

func kv(key, value string) any { return map[string]any{"key": key, "value": value} }

// graphRecord is a directoryAudit in Graph's shape.
func graphRecord(id, activity, category string, targets []any, details ...any) map[string]any {
	return map[string]any{
		"id": id, "category": category, "result": "success", "resultReason": "",
		"activityDisplayName": activity, "activityDateTime": auditTime, "loggedByService": "Core Directory",
		"initiatedBy":       map[string]any{"user": map[string]any{"id": devOneOID, "displayName": nil, "userPrincipalName": devOneUPN}},
		"targetResources":   targets,
		"additionalDetails": append([]any{kv("User-Agent", "Mozilla/5.0")}, details...),
	}
}

// toRow republishes a Graph-shaped record as a Log Analytics AuditLogs row,
// with the dynamic columns as JSON text, like the OTRF rows.
func toRow(rec map[string]any) map[string]any {
	return map[string]any{
		"TenantId": "00000000-0000-0000-0000-000000000000", "SourceSystem": "Azure AD", "TimeGenerated": rec["activityDateTime"],
		"OperationName": rec["activityDisplayName"], "ActivityDisplayName": rec["activityDisplayName"],
		"Category": rec["category"], "Id": rec["id"], "Result": rec["result"], "LoggedByService": "Core Directory",
		"ActivityDateTime": rec["activityDateTime"], "Type": "AuditLogs",
		"InitiatedBy": enc(rec["initiatedBy"]), "TargetResources": enc(rec["targetResources"]),
		"AdditionalDetails": enc(rec["additionalDetails"]),
	}
}

// toDiagnostic wraps a record as the Event Hub stream does, with the odd
// outer fields real streams have (durationMs as a string, no tenantId).
func toDiagnostic(rec map[string]any) map[string]any {
	return map[string]any{"records": []any{map[string]any{
		"time": rec["activityDateTime"], "resourceId": "/tenants/x/providers/Microsoft.aadiam",
		"operationName": rec["activityDisplayName"], "category": "AuditLogs", "durationMs": "0", "properties": rec,
	}}}
}

// shapes are every way one record arrives; each must decode alike.
var shapes = []struct {
	name string
	wrap func(map[string]any) any
}{
	{"graph", func(r map[string]any) any { return r }},
	{"diagnostic", func(r map[string]any) any { return toDiagnostic(r) }},
	{"la row", func(r map[string]any) any { return toRow(r) }},
	{"array of la rows", func(r map[string]any) any { return []any{toRow(r)} }},
	{"array of graph records", func(r map[string]any) any { return []any{r} }},
}

// want is the signal an activity case must decode to; the fields every case
// shares are filled in.
func want(t testing.TB, kind appwarden.SignalKind, id, activity, appID, objectID, objectType, name string, details map[string]string) appwarden.Signal {
	return appwarden.Signal{
		Kind: kind, AppID: appID, ObjectID: objectID, ObjectType: objectType, DisplayName: name,
		Initiator: devOne, Time: mustTime(t, auditTime), Source: appwarden.SourceEventHub,
		Activity: activity, DedupeKey: "audit:" + id, Details: details,
	}
}

type activityCase struct {
	rec  map[string]any
	want appwarden.Signal
}

// activityCases holds one relevant record of each activity the decoder
// knows, keyed by the activity as the table spells it.
func activityCases(t testing.TB) map[string]activityCase {
	c := map[string]activityCase{}
	add := func(key string, rec map[string]any, w appwarden.Signal) { c[key] = activityCase{rec, w} }

	add("add application", graphRecord("a1", "Add application", "ApplicationManagement", []any{
		tgt(payrollObjID, "Payroll Sync", "Application", prop("AppId", enc([]string{payrollAppID})))}),
		want(t, appwarden.AppCreated, "a1", "Add application", payrollAppID, payrollObjID, appwarden.ObjectApplication, "Payroll Sync", nil))

	add("add service principal", graphRecord("a2", "Add service principal", "ApplicationManagement", []any{
		tgt(payrollSPID, "Payroll Sync", "ServicePrincipal", prop("AppPrincipalId", enc([]string{payrollAppID})))},
		kv("ServicePrincipalProvisioningType", "Other")),
		want(t, appwarden.ServicePrincipalCreated, "a2", "Add service principal", payrollAppID, payrollSPID, appwarden.ObjectServicePrincipal, "Payroll Sync",
			map[string]string{"ServicePrincipalProvisioningType": "Other"}))

	// The service principal's own names hold its appId.
	add("add service principal credentials", graphRecord("a3", "Add service principal credentials", "ApplicationManagement", []any{
		tgt(payrollSPID, "Payroll Sync", "ServicePrincipal", prop("KeyDescription", enc([]string{"[KeyIdentifier=1,KeyType=Password]"})),
			prop("TargetId.ServicePrincipalNames", enc("api://payroll;"+strings.ToUpper(payrollAppID))))}),
		want(t, appwarden.CredentialAdded, "a3", "Add service principal credentials", payrollAppID, payrollSPID, appwarden.ObjectServicePrincipal, "Payroll Sync", nil))

	add("update service principal credentials", graphRecord("a4", "Update service principal credentials", "ApplicationManagement", []any{
		tgt(payrollSPID, "Payroll Sync", "ServicePrincipal")}, kv("AppId", payrollAppID)),
		want(t, appwarden.CredentialAdded, "a4", "Update service principal credentials", payrollAppID, payrollSPID, appwarden.ObjectServicePrincipal, "Payroll Sync", nil))

	// No AppId anywhere, as in otrf-01: Graph resolves from the object id.
	certs := "Update application \u2013 Certificates and secrets management "
	add("certificates and secrets management", graphRecord("a5", certs, "ApplicationManagement", []any{
		tgt(payrollObjID, "Payroll Sync", "Application", prop("KeyDescription", enc([]string{"[KeyIdentifier=1,KeyType=Password]"})))}),
		want(t, appwarden.CredentialAdded, "a5", certs, "", payrollObjID, appwarden.ObjectApplication, "Payroll Sync", nil))

	// The owner is listed first; its properties describe the owned app.
	add("add owner to application", graphRecord("a6", "Add owner to application", "ApplicationManagement", []any{
		tgt(devOneOID, "", "User", prop("Application.ObjectID", enc(payrollObjID)), prop("Application.AppId", enc(payrollAppID))),
		tgt(payrollObjID, "Payroll Sync", "Application")}),
		added(want(t, appwarden.OwnerAdded, "a6", "Add owner to application", payrollAppID, payrollObjID, appwarden.ObjectApplication, "Payroll Sync", nil), appwarden.Fact{Kind: appwarden.FactOwner, ID: devOneOID, On: appwarden.OnApplication}))

	add("add owner to service principal", graphRecord("a7", "Add owner to service principal", "ApplicationManagement", []any{
		tgt(devOneOID, "", "User", prop("ServicePrincipal.ObjectID", enc(payrollSPID)), prop("ServicePrincipal.AppId", enc(payrollAppID))),
		tgt(payrollSPID, "Payroll Sync", "ServicePrincipal")}),
		added(want(t, appwarden.OwnerAdded, "a7", "Add owner to service principal", payrollAppID, payrollSPID, appwarden.ObjectServicePrincipal, "Payroll Sync", nil), appwarden.Fact{Kind: appwarden.FactOwner, ID: devOneOID, On: appwarden.OnServicePrincipal}))

	add("consent to application", graphRecord("a8", "Consent to application", "ApplicationManagement", []any{
		tgt(payrollSPID, "Payroll Sync", "ServicePrincipal",
			prop("ConsentContext.IsAdminConsent", enc([]string{"True"})), prop("ConsentContext.IsAppOnly", enc([]string{"False"})),
			prop("ConsentAction.Permissions", enc("[] => [[Id: x, ClientId: "+payrollSPID+", PrincipalId: , ResourceId: "+graphSPID+", ConsentType: AllPrincipals, Scope:  User.Read Mail.Read, CreatedDateTime: , LastModifiedDateTime ]]; ")),
			prop("TargetId.ServicePrincipalNames", enc(payrollAppID)))}),
		added(want(t, appwarden.ConsentGranted, "a8", "Consent to application", payrollAppID, payrollSPID, appwarden.ObjectServicePrincipal, "Payroll Sync",
			map[string]string{"isAdminConsent": "True", "isAppOnly": "False", "resourceObjectId": graphSPID, "consentType": "AllPrincipals", "scope": "User.Read Mail.Read"}), granted("User.Read"), granted("Mail.Read")))

	// As otrf-03: the resource first, the grantee by ServicePrincipal.ObjectID
	// and as a second target with no name; ServicePrincipal.AppId null.
	add("add delegated permission grant", graphRecord("a9", "Add delegated permission grant", "ApplicationManagement", []any{
		tgt(graphSPID, "Microsoft Graph", "ServicePrincipal",
			map[string]any{"displayName": "DelegatedPermissionGrant.Scope", "oldValue": enc("User.Read"), "newValue": enc("User.Read Mail.ReadWrite")},
			prop("DelegatedPermissionGrant.ConsentType", enc("AllPrincipals")),
			prop("ServicePrincipal.ObjectID", enc(payrollSPID)), prop("ServicePrincipal.DisplayName", nil),
			prop("ServicePrincipal.AppId", nil), prop("TargetId.ServicePrincipalNames", enc(graphSPNs))),
		tgt(payrollSPID, "", "ServicePrincipal")}),
		added(want(t, appwarden.ConsentGranted, "a9", "Add delegated permission grant", "", payrollSPID, appwarden.ObjectServicePrincipal, "",
			map[string]string{"resourceObjectId": graphSPID, "resourceDisplayName": "Microsoft Graph", "resourceAppId": graphAppID,
				"scope": "User.Read Mail.ReadWrite", "scopeAdded": "Mail.ReadWrite", "consentType": "AllPrincipals"}), appwarden.Fact{Kind: appwarden.FactPermission, Name: "Mail.ReadWrite", State: appwarden.StateConsented, Detail: "Microsoft Graph " + appwarden.PermissionDelegated}))

	add("add app role assignment to service principal", graphRecord("a10", "Add app role assignment to service principal", "ApplicationManagement", []any{
		tgt(graphSPID, "Microsoft Graph", "ServicePrincipal",
			prop("AppRole.Id", enc(rmrwdRoleID)), prop("AppRole.Value", enc("RoleManagement.ReadWrite.Directory")),
			prop("ServicePrincipal.ObjectID", enc(payrollSPID)), prop("ServicePrincipal.DisplayName", enc("Payroll Sync")),
			prop("ServicePrincipal.AppId", enc(payrollAppID)), prop("TargetId.ServicePrincipalNames", enc(graphURIs))),
		tgt(payrollSPID, "Payroll Sync", "ServicePrincipal")}, kv("AppId", payrollAppID)),
		added(want(t, appwarden.AppRoleGranted, "a10", "Add app role assignment to service principal", payrollAppID, payrollSPID, appwarden.ObjectServicePrincipal, "Payroll Sync",
			map[string]string{"resourceObjectId": graphSPID, "resourceDisplayName": "Microsoft Graph",
				"appRoleId": rmrwdRoleID, "appRoleValue": "RoleManagement.ReadWrite.Directory"}), appwarden.Fact{Kind: appwarden.FactPermission, ID: rmrwdRoleID, Name: "RoleManagement.ReadWrite.Directory", State: appwarden.StateGranted}))

	add("update application", graphRecord("a11", "Update application", "ApplicationManagement", []any{
		tgt(payrollObjID, "Payroll Sync", "Application", prop("RequiredResourceAccess", enc("[]")))}, kv("AppId", payrollAppID)),
		want(t, appwarden.AppUpdated, "a11", "Update application", payrollAppID, payrollObjID, appwarden.ObjectApplication, "Payroll Sync", nil))

	add("update service principal", graphRecord("a12", "Update service principal", "ApplicationManagement", []any{
		tgt(payrollSPID, "Payroll Sync", "ServicePrincipal", prop("AccountEnabled", enc([]bool{true})))}, kv("AppId", payrollAppID)),
		want(t, appwarden.AppUpdated, "a12", "Update service principal", payrollAppID, payrollSPID, appwarden.ObjectServicePrincipal, "Payroll Sync", nil))

	add("add member to role", graphRecord("a13", "Add member to role", "RoleManagement", []any{
		tgt(payrollSPID, "Payroll Sync", "ServicePrincipal",
			prop("Role.ObjectID", enc(gaRoleID)), prop("Role.DisplayName", enc("Global Administrator")),
			prop("Role.TemplateId", enc(gaTemplate)), prop("Role.WellKnownObjectName", enc("CompanyAdministrator")))}),
		added(want(t, appwarden.DirectoryRoleGranted, "a13", "Add member to role", "", payrollSPID, appwarden.ObjectServicePrincipal, "Payroll Sync",
			map[string]string{"roleId": gaRoleID, "roleName": "Global Administrator", "roleTemplateId": gaTemplate}), appwarden.Fact{Kind: appwarden.FactDirectoryRole, ID: gaTemplate, Name: "Global Administrator"}))
	return c
}

// added is the signal with the facts its record says it added.
func added(sig appwarden.Signal, facts ...appwarden.Fact) appwarden.Signal {
	sig.Added = facts
	return sig
}

// granted is a delegated scope the record says was granted.
func granted(scope string) appwarden.Fact {
	return appwarden.Fact{Kind: appwarden.FactPermission, Name: scope, State: appwarden.StateConsented, Detail: appwarden.PermissionDelegated}
}

// TestEveryActivityInEveryShape decodes a relevant record of each activity
// the decoder knows, as Graph, diagnostic record, Log Analytics row and
// arrays of them, to the same signal.
func TestEveryActivityInEveryShape(t *testing.T) {
	cases := activityCases(t)
	for _, name := range auditlog.Activities() {
		if _, ok := cases[name]; !ok {
			t.Errorf("activity %q has no decoding case", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cases)) {
		for _, sh := range shapes {
			t.Run(name+"/"+sh.name, func(t *testing.T) {
				c := activityCases(t)[name]
				checkSignal(t, decodeOnly(t, sh.wrap(c.rec)), c.want)
			})
		}
	}
}

// otrfGrantee is the grantee of the delegated permission grant in otrf-03.
const otrfGrantee = "0d2f5969-011b-460d-ac74-3291d227d49f"

var otrfUser = appwarden.Initiator{UserID: "aead923d-498b-4f64-a66c-2af91447a8b6", UPN: "pgustavo@simulandlabs.com"}

// realRows are the OTRF rows (tests/testdata/real-records, MIT) and what
// each must decode to. None carries an AppId: the application rows yield the
// object id, the grant yields its grantee, never Microsoft Graph.
func realRows(t testing.TB) map[string]appwarden.Signal {
	return map[string]appwarden.Signal{
		"real-records/otrf-01-update-application-certs-and-secrets.la.json": {
			Kind: appwarden.CredentialAdded, ObjectID: "11b49e19-2326-4be6-93cb-7f37439bbd81", ObjectType: appwarden.ObjectApplication,
			DisplayName: "SimuLandApp", Initiator: otrfUser, Time: mustTime(t, "2021-08-02T13:29:25.983Z"), Source: appwarden.SourceEventHub,
			Activity:  "Update application \u2013 Certificates and secrets management ",
			DedupeKey: "audit:Directory_10065ffb-8199-48bc-8ff5-912cb5b8295a_AUMVX_13992832",
			// KeyDescription: old [] -> new [the SimuLandCreds secret].
			Added: []appwarden.Fact{{Kind: appwarden.FactCredential, ID: "59eaeebc-8a6b-44a6-9f24-7d55e64420c9", Name: "SimuLandCreds",
				State: appwarden.CredentialPassword, On: appwarden.OnApplication}},
		},
		"real-records/otrf-02-update-application.la.json": {
			Kind: appwarden.AppUpdated, ObjectID: "11b49e19-2326-4be6-93cb-7f37439bbd81", ObjectType: appwarden.ObjectApplication,
			DisplayName: "SimuLandApp", Initiator: otrfUser, Time: mustTime(t, "2021-08-02T13:25:12.246Z"), Source: appwarden.SourceEventHub,
			Activity: "Update application", DedupeKey: "audit:Directory_ae69aa7a-e9b7-4066-84f2-58582994d8cb_7H1JL_8584070",
		},
		"real-records/otrf-03-add-delegated-permission-grant.la.json": {
			Kind: appwarden.ConsentGranted, ObjectID: otrfGrantee, ObjectType: appwarden.ObjectServicePrincipal,
			Initiator: otrfUser, Time: mustTime(t, "2021-08-02T13:27:20.017Z"), Source: appwarden.SourceEventHub,
			Activity: "Add delegated permission grant", DedupeKey: "audit:Directory_630d7f0c-acc4-4596-85ab-7e5d839b4291_9VRQI_37762000",
			Details: map[string]string{
				"resourceObjectId": graphSPID, "resourceDisplayName": "Microsoft Graph", "resourceAppId": graphAppID,
				"scope": "User.Read Mail.ReadWrite", "scopeAdded": "Mail.ReadWrite", "consentType": "AllPrincipals",
			},
			// Only the scope the grant added, consented tenant-wide.
			Added: []appwarden.Fact{{Kind: appwarden.FactPermission, Name: "Mail.ReadWrite", State: appwarden.StateConsented, Detail: "Microsoft Graph " + appwarden.PermissionDelegated}},
		},
	}
}

func TestRealRows(t *testing.T) {
	rows := realRows(t)
	files := slices.Sorted(maps.Keys(rows))
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			row := fixtureObject(t, file)
			checkSignal(t, decodeOnly(t, row), rows[file])
			if !auditlog.Looks(row) {
				t.Error("Looks = false for a Log Analytics row")
			}
		})
		t.Run(file+"/columns as values", func(t *testing.T) {
			row := fixtureObject(t, file)
			for _, col := range []string{"InitiatedBy", "TargetResources", "AdditionalDetails"} {
				row[col] = decodeJSON(t, []byte(row[col].(string)))
			}
			checkSignal(t, decodeOnly(t, row), rows[file])
		})
		t.Run(file+"/OperationName and TimeGenerated only", func(t *testing.T) {
			row := fixtureObject(t, file)
			delete(row, "ActivityDisplayName")
			delete(row, "ActivityDateTime")
			checkSignal(t, decodeOnly(t, row), rows[file])
		})
	}
	t.Run("one array of all three rows", func(t *testing.T) {
		var list []any
		for _, file := range files {
			list = append(list, fixtureObject(t, file))
		}
		if !auditlog.Looks(list) {
			t.Error("Looks = false for an array of rows")
		}
		b := auditlog.Decode(list, path, appwarden.SourceEventHub)
		if len(b.Poison)+len(b.Ignored) != 0 || len(b.Signals) != len(files) {
			t.Fatalf("got signals %+v, ignored %q, poison %q", b.Signals, b.Ignored, errorTexts(b.Poison))
		}
		for i, file := range files {
			checkSignal(t, b.Signals[i], rows[file])
		}
	})
	t.Run("a poisoned row does not stop the others", func(t *testing.T) {
		bad := fixtureObject(t, files[2])
		bad["TargetResources"] = `[{"id": 5}]`
		b := auditlog.Decode([]any{fixtureObject(t, files[0]), bad}, path, appwarden.SourceEventHub)
		if got := errorTexts(b.Poison); len(b.Signals) != 1 || len(got) != 1 || got[0] != "Data[1].TargetResources[0].id: expected string, got number" {
			t.Errorf("signals %d, poison %q", len(b.Signals), got)
		}
	})
}

// TestEveryRealRowIsCovered keeps the real rows and their expectations in step.
func TestEveryRealRowIsCovered(t *testing.T) {
	rows := realRows(t)
	entries, err := os.ReadDir(filepath.Join(testdata, "real-records"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if name := e.Name(); strings.HasSuffix(name, ".json") {
			if _, ok := rows["real-records/"+name]; !ok {
				t.Errorf("real record %s has no expected result", name)
			}
		}
	}
}
