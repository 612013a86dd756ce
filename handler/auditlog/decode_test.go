package auditlog_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/auditlog"
)

const path = "Data"

// The ids the fixtures share (tests/testdata/README.md).
const (
	devOneOID     = "30a6c29d-de7c-4830-815f-9b3bb366e975"
	devOneUPN     = "dev.one@contoso.example"
	tenantID      = "6f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"
	payrollAppID  = "5bee10b5-db93-4475-ae1a-3d87e059d287"
	payrollObjID  = "a0847fad-c428-4478-bd58-d4ad0d9f48be"
	payrollSPID   = "8c907101-5831-45a1-b703-8a59f190e639"
	miAppID       = "0d7e3f6b-8a9c-4b1d-9e2f-3a4b5c6d7e8f"
	miSPID        = "4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8"
	msiInitiator  = "b9814691-9ca1-4e55-a1ac-8ef5dd010ec0"
	addAppFixture = "eventhub/directoryaudit-add-application.json"
	addSPFixture  = "eventhub/directoryaudit-add-service-principal.json"
	batchFixture  = "eventhub/auditlogs-batch.json"
)

var devOne = appwarden.Initiator{UserID: devOneOID, UPN: devOneUPN}

// expected holds the signal each single-record fixture decodes to.
func expected(t testing.TB) map[string]appwarden.Signal {
	return map[string]appwarden.Signal{
		addAppFixture: {
			Kind: appwarden.AppCreated, AppID: payrollAppID, ObjectID: payrollObjID, ObjectType: appwarden.ObjectApplication,
			DisplayName: "Payroll Sync", Initiator: devOne, Time: mustTime(t, "2026-11-24T09:20:11.555Z"),
			Source: appwarden.SourceEventHub, Activity: "Add application",
			DedupeKey: "audit:Directory_7d1c0b9e-2a3f-4c5d-8e9f-0a1b2c3d4e5f_ABC12_100000001",
		},
		addSPFixture: {
			Kind: appwarden.ServicePrincipalCreated, AppID: payrollAppID, ObjectID: payrollSPID, ObjectType: appwarden.ObjectServicePrincipal,
			DisplayName: "Payroll Sync", Initiator: devOne, Time: mustTime(t, "2026-11-24T09:20:12.001Z"),
			Source: appwarden.SourceEventHub, Activity: "Add service principal",
			DedupeKey: "audit:Directory_7d1c0b9e-2a3f-4c5d-8e9f-0a1b2c3d4e5f_ABC12_100000002",
			Details:   map[string]string{"ServicePrincipalProvisioningType": "Other", "AppOwnerOrganizationId": tenantID},
		},
		"eventhub/directoryaudit-add-service-principal-managed-identity.json": {
			Kind: appwarden.ServicePrincipalCreated, AppID: miAppID, ObjectID: miSPID, ObjectType: appwarden.ObjectServicePrincipal,
			DisplayName: "func-payroll-prod",
			Initiator:   appwarden.Initiator{DisplayName: "Managed Service Identity", ServicePrincipalID: msiInitiator},
			Time:        mustTime(t, "2026-11-24T09:31:40Z"),
			Source:      appwarden.SourceEventHub, Activity: "Add service principal",
			DedupeKey: "audit:Directory_1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d_XYZ99_100000003",
			Details:   map[string]string{"ServicePrincipalProvisioningType": "ManagedServiceIdentity"},
		},
		"eventhub/directoryaudit-update-application-certificates-and-secrets.json": {
			Kind: appwarden.CredentialAdded, AppID: payrollAppID, ObjectID: payrollObjID, ObjectType: appwarden.ObjectApplication,
			DisplayName: "Payroll Sync", Initiator: devOne, Time: mustTime(t, "2026-11-24T09:22:05Z"),
			Source: appwarden.SourceEventHub, Activity: "Update application \u2013 Certificates and secrets management ",
			DedupeKey: "audit:Directory_7d1c0b9e-2a3f-4c5d-8e9f-0a1b2c3d4e5f_ABC12_100000004",
			// The one key in KeyDescription's new value that the old lacks.
			Added: []appwarden.Fact{{Kind: appwarden.FactCredential, ID: "c9c0b961-a80a-4a71-9c3a-b67b33edf874", Name: "ClientSecret1",
				State: appwarden.CredentialPassword, On: appwarden.OnApplication}},
		},
		"eventhub/directoryaudit-consent-to-application.json": {
			Kind: appwarden.ConsentGranted, AppID: payrollAppID, ObjectID: payrollSPID, ObjectType: appwarden.ObjectServicePrincipal,
			DisplayName: "Payroll Sync", Initiator: devOne, Time: mustTime(t, "2026-11-24T09:25:00Z"),
			Source: appwarden.SourceEventHub, Activity: "Consent to application",
			DedupeKey: "audit:Directory_2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e_QRS77_100000005",
			// The grant, read from ConsentContext.* and ConsentAction.Permissions.
			Details: map[string]string{
				"isAdminConsent": "True", "isAppOnly": "False", "consentType": "Principal",
				"scope": "User.Read Mail.Read offline_access", "resourceObjectId": "1d2e3f4a-5b6c-4d7e-8f9a-0b1c2d3e4f5a",
			},
			// One user's consent (ConsentType Principal): granted, not consented tenant-wide.
			Added: []appwarden.Fact{
				{Kind: appwarden.FactPermission, Name: "User.Read", State: appwarden.StateGranted, Detail: appwarden.PermissionDelegated},
				{Kind: appwarden.FactPermission, Name: "Mail.Read", State: appwarden.StateGranted, Detail: appwarden.PermissionDelegated},
				{Kind: appwarden.FactPermission, Name: "offline_access", State: appwarden.StateGranted, Detail: appwarden.PermissionDelegated},
			},
		},
	}
}

// batchOrder is the order of the records in auditlogs-batch.json.
var batchOrder = []string{
	addAppFixture,
	addSPFixture,
	"eventhub/directoryaudit-add-service-principal-managed-identity.json",
	"eventhub/directoryaudit-update-application-certificates-and-secrets.json",
	"eventhub/directoryaudit-consent-to-application.json",
}

func decodeOnly(t *testing.T, v any) appwarden.Signal {
	t.Helper()
	b := auditlog.Decode(v, path, appwarden.SourceEventHub)
	if len(b.Poison) > 0 || len(b.Ignored) > 0 || len(b.Signals) != 1 {
		t.Fatalf("got signals %+v, ignored %q, poison %q; want one signal", b.Signals, b.Ignored, errorTexts(b.Poison))
	}
	return b.Signals[0]
}

func TestSingleRecordFixtures(t *testing.T) {
	for file, want := range expected(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			checkSignal(t, decodeOnly(t, decodeJSON(t, fixture(t, file))), want)
		})
	}
}

func TestEveryEventHubFixtureIsCovered(t *testing.T) {
	want := expected(t)
	entries, err := os.ReadDir(filepath.Join(testdata, "eventhub"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		rel := "eventhub/" + e.Name()
		if _, ok := want[rel]; !ok && rel != batchFixture {
			t.Errorf("fixture %s has no expected result", rel)
		}
	}
}

func TestDiagnosticBatch(t *testing.T) {
	b := auditlog.Decode(decodeJSON(t, fixture(t, batchFixture)), path, appwarden.SourceEventHub)
	if len(b.Poison) > 0 || len(b.Ignored) > 0 {
		t.Fatalf("ignored %q, poison %q; want only signals", b.Ignored, errorTexts(b.Poison))
	}
	if len(b.Signals) != len(batchOrder) {
		t.Fatalf("got %d signals, want %d", len(b.Signals), len(batchOrder))
	}
	want := expected(t)
	for i, file := range batchOrder {
		t.Run(filepath.Base(file), func(t *testing.T) { checkSignal(t, b.Signals[i], want[file]) })
	}
}

// TestDiagnosticRecordAlone decodes one diagnostic record (the audit under
// "properties") outside the records envelope.
func TestDiagnosticRecordAlone(t *testing.T) {
	batch := fixtureObject(t, batchFixture)
	rec := batch["records"].([]any)[0]
	checkSignal(t, decodeOnly(t, rec), expected(t)[addAppFixture])
}

func TestSourceIsTheCallers(t *testing.T) {
	b := auditlog.Decode(decodeJSON(t, fixture(t, addAppFixture)), path, appwarden.SourceEventGrid)
	if len(b.Signals) != 1 || b.Signals[0].Source != appwarden.SourceEventGrid {
		t.Fatalf("got %+v, want one signal from eventgrid", b)
	}
}

// record is the add-application fixture, ready to be changed.
func record(t testing.TB) map[string]any { return fixtureObject(t, addAppFixture) }

func target(rec map[string]any) map[string]any {
	return rec["targetResources"].([]any)[0].(map[string]any)
}

func TestActivityNames(t *testing.T) {
	tests := []struct {
		activity string
		want     appwarden.SignalKind
	}{
		{"Add application", appwarden.AppCreated},
		{"ADD APPLICATION", appwarden.AppCreated},
		{"add application", appwarden.AppCreated},
		{"Add application ", appwarden.AppCreated},
		{" Add  application", appwarden.AppCreated},
		{"Add service principal", appwarden.ServicePrincipalCreated},
		{"Add service principal credentials", appwarden.CredentialAdded},
		{"Update service principal credentials", appwarden.CredentialAdded},
		{"Update application \u2013 Certificates and secrets management ", appwarden.CredentialAdded}, // EN DASH, trailing space
		{"Update application \u2014 Certificates and secrets management", appwarden.CredentialAdded},  // EM DASH
		{"Update application - Certificates and secrets management", appwarden.CredentialAdded},
		{"update application \u2013 certificates and secrets management", appwarden.CredentialAdded},
		{"Update Application \u2013 CERTIFICATES AND SECRETS MANAGEMENT  ", appwarden.CredentialAdded},
		{"Add owner to application", appwarden.OwnerAdded},
		{"Add owner to service principal", appwarden.OwnerAdded},
		{"Consent to application", appwarden.ConsentGranted},
		{"Add delegated permission grant", appwarden.ConsentGranted},
		{"Add app role assignment to service principal", appwarden.AppRoleGranted},
		{"Update application", appwarden.AppUpdated},
		{"Update service principal", appwarden.AppUpdated},
	}
	for _, tc := range tests {
		t.Run(tc.activity, func(t *testing.T) {
			rec := record(t)
			rec["activityDisplayName"] = tc.activity
			sig := decodeOnly(t, rec)
			if sig.Kind != tc.want {
				t.Errorf("kind = %s, want %s", sig.Kind, tc.want)
			}
			if sig.Activity != tc.activity {
				t.Errorf("activity = %q, want the raw name %q", sig.Activity, tc.activity)
			}
		})
	}
}

func TestEdgeCases(t *testing.T) {
	tests := []struct {
		name   string
		file   string
		change func(rec map[string]any)
		check  func(t *testing.T, sig appwarden.Signal)
	}{
		{"null target displayName", addAppFixture, func(rec map[string]any) {
			target(rec)["displayName"] = nil
		}, func(t *testing.T, sig appwarden.Signal) {
			if sig.DisplayName != "" || sig.ObjectID != payrollObjID || sig.AppID != payrollAppID {
				t.Errorf("got %+v", sig)
			}
		}},
		{"application without additionalDetails: appId from AppId", addAppFixture, func(rec map[string]any) {
			delete(rec, "additionalDetails")
		}, func(t *testing.T, sig appwarden.Signal) {
			if sig.AppID != payrollAppID {
				t.Errorf("appId = %q, want %q", sig.AppID, payrollAppID)
			}
		}},
		{"service principal without additionalDetails: appId from AppPrincipalId", addSPFixture, func(rec map[string]any) {
			rec["additionalDetails"] = nil
		}, func(t *testing.T, sig appwarden.Signal) {
			if sig.AppID != payrollAppID || sig.ObjectID != payrollSPID || sig.Details != nil {
				t.Errorf("got appId %q, objectId %q, details %v", sig.AppID, sig.ObjectID, sig.Details)
			}
		}},
		{"consent without additionalDetails: appId from TargetId.ServicePrincipalNames", "eventhub/directoryaudit-consent-to-application.json", func(rec map[string]any) {
			rec["additionalDetails"] = []any{}
		}, func(t *testing.T, sig appwarden.Signal) {
			if sig.AppID != payrollAppID {
				t.Errorf("appId = %q, want %q", sig.AppID, payrollAppID)
			}
		}},
		{"appId in upper case is folded", addAppFixture, func(rec map[string]any) {
			rec["additionalDetails"] = []any{map[string]any{"key": "AppId", "value": strings.ToUpper(payrollAppID)}}
		}, func(t *testing.T, sig appwarden.Signal) {
			if sig.AppID != payrollAppID {
				t.Errorf("appId = %q, want %q", sig.AppID, payrollAppID)
			}
		}},
		{"target type in another case", addAppFixture, func(rec map[string]any) {
			target(rec)["type"] = "application"
		}, func(t *testing.T, sig appwarden.Signal) {
			if sig.ObjectType != appwarden.ObjectApplication {
				t.Errorf("objectType = %q", sig.ObjectType)
			}
		}},
		{"a user target comes before the app", addAppFixture, func(rec map[string]any) {
			rec["targetResources"] = append([]any{map[string]any{"id": devOneOID, "type": "User"}}, rec["targetResources"].([]any)...)
		}, func(t *testing.T, sig appwarden.Signal) {
			if sig.ObjectID != payrollObjID {
				t.Errorf("objectId = %q, want the application %q", sig.ObjectID, payrollObjID)
			}
		}},
		{"initiated by an app", addAppFixture, func(rec map[string]any) {
			rec["initiatedBy"] = map[string]any{"user": nil, "app": map[string]any{
				"appId": "11111111-2222-4333-8444-555555555555", "displayName": "Deployer", "servicePrincipalId": "66666666-7777-4888-9999-000000000000"}}
		}, func(t *testing.T, sig appwarden.Signal) {
			want := appwarden.Initiator{AppID: "11111111-2222-4333-8444-555555555555", DisplayName: "Deployer", ServicePrincipalID: "66666666-7777-4888-9999-000000000000"}
			if sig.Initiator != want {
				t.Errorf("initiator = %+v, want %+v", sig.Initiator, want)
			}
		}},
		{"no activity time", addAppFixture, func(rec map[string]any) {
			delete(rec, "activityDateTime")
		}, func(t *testing.T, sig appwarden.Signal) {
			if !sig.Time.IsZero() {
				t.Errorf("time = %s, want zero (the host's time is used)", sig.Time)
			}
		}},
		{"result in another case", addAppFixture, func(rec map[string]any) {
			rec["result"] = "Success"
		}, func(t *testing.T, sig appwarden.Signal) {
			if sig.Kind != appwarden.AppCreated {
				t.Errorf("kind = %s", sig.Kind)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := fixtureObject(t, tc.file)
			tc.change(rec)
			tc.check(t, decodeOnly(t, rec))
		})
	}
}

func TestIgnoredRecords(t *testing.T) {
	tests := []struct {
		name   string
		value  func(t *testing.T) any
		reason string
	}{
		{"failure", func(t *testing.T) any {
			rec := record(t)
			rec["result"] = "failure"
			rec["resultReason"] = "Insufficient privileges"
			return rec
		}, `Data: "Add application" record Directory_7d1c0b9e-2a3f-4c5d-8e9f-0a1b2c3d4e5f_ABC12_100000001 has result "failure", not success`},
		{"Failure in another case", func(t *testing.T) any {
			rec := record(t)
			rec["result"] = "Failure"
			return rec
		}, `has result "Failure", not success`},
		{"unrelated activity", func(t *testing.T) any {
			rec := record(t)
			rec["activityDisplayName"] = "Add user"
			return rec
		}, `Data: activity "Add user" does not concern app registrations`},
		{"no application named", func(t *testing.T) any {
			rec := record(t)
			delete(rec, "targetResources")
			delete(rec, "additionalDetails")
			return rec
		}, `names no application or service principal`},
		{"diagnostic record of another category", func(t *testing.T) any {
			rec := fixtureObject(t, batchFixture)["records"].([]any)[0].(map[string]any)
			rec["category"] = "SignInLogs"
			return rec
		}, `Data: diagnostic category "SignInLogs" is not AuditLogs`},
		{"empty records envelope", func(*testing.T) any {
			return map[string]any{"records": []any{}}
		}, `Data.records: holds no records`},
		{"empty array", func(*testing.T) any { return []any{} }, `Data: an empty array holds no records`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := auditlog.Decode(tc.value(t), path, appwarden.SourceEventHub)
			if len(b.Signals)+len(b.Poison) != 0 || len(b.Ignored) != 1 {
				t.Fatalf("got signals %+v, ignored %q, poison %q; want one ignore reason", b.Signals, b.Ignored, errorTexts(b.Poison))
			}
			if !strings.HasPrefix(b.Ignored[0], path) || !strings.Contains(b.Ignored[0], tc.reason) {
				t.Errorf("reason %q, want it to contain %q", b.Ignored[0], tc.reason)
			}
		})
	}
}

func TestMalformedRecords(t *testing.T) {
	tests := []struct {
		name  string
		value func(t *testing.T) any
		want  string
	}{
		{"activityDisplayName is a number", func(t *testing.T) any {
			rec := record(t)
			rec["activityDisplayName"] = 3.0
			return rec
		}, "Data.activityDisplayName: expected string, got number"},
		{"id is missing", func(t *testing.T) any {
			rec := record(t)
			delete(rec, "id")
			return rec
		}, "Data.id: required string is missing"},
		{"targetResources is an object", func(t *testing.T) any {
			rec := record(t)
			rec["targetResources"] = map[string]any{}
			return rec
		}, "Data.targetResources: expected array, got object"},
		{"a target id is a number", func(t *testing.T) any {
			rec := record(t)
			target(rec)["id"] = 1.0
			return rec
		}, "Data.targetResources[0].id: expected string, got number"},
		{"a target is a string", func(t *testing.T) any {
			rec := record(t)
			rec["targetResources"] = []any{"Payroll Sync"}
			return rec
		}, "Data.targetResources[0]: expected object, got string"},
		{"a newValue is an array", func(t *testing.T) any {
			rec := record(t)
			target(rec)["modifiedProperties"].([]any)[1].(map[string]any)["newValue"] = []any{true}
			return rec
		}, "Data.targetResources[0].modifiedProperties[1].newValue: expected string, got array"},
		{"an additionalDetails value is a number", func(t *testing.T) any {
			rec := record(t)
			rec["additionalDetails"].([]any)[1].(map[string]any)["value"] = 5.0
			return rec
		}, "Data.additionalDetails[1].value: expected string, got number"},
		{"initiatedBy.user is a string", func(t *testing.T) any {
			rec := record(t)
			rec["initiatedBy"] = map[string]any{"user": devOneUPN}
			return rec
		}, "Data.initiatedBy.user: expected object, got string"},
		{"a diagnostic record's properties are malformed", func(t *testing.T) any {
			batch := fixtureObject(t, batchFixture)
			batch["records"].([]any)[0].(map[string]any)["properties"].(map[string]any)["result"] = false
			batch["records"] = batch["records"].([]any)[:1]
			return batch
		}, "Data.records[0].properties.result: expected string or number, got boolean"},
		{"properties is a string", func(t *testing.T) any {
			return map[string]any{"category": "AuditLogs", "properties": "{}"}
		}, "Data.properties: expected object, got string"},
		{"records is a number", func(*testing.T) any { return map[string]any{"records": 5.0} },
			"Data.records: expected array, got number"},
		{"an array of arrays", func(*testing.T) any { return []any{[]any{}} }, "Data[0]: expected an audit record object, got array"},
		{"null", func(*testing.T) any { return nil }, "Data: expected an audit record object or an array of them, got null"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := auditlog.Decode(tc.value(t), path, appwarden.SourceEventHub)
			if len(b.Signals) != 0 || len(b.Ignored) != 0 {
				t.Fatalf("signals %+v, ignored %q; want poison only", b.Signals, b.Ignored)
			}
			if got := errorTexts(b.Poison); len(got) != 1 || got[0] != tc.want {
				t.Errorf("poison %q\nwant [%q]", got, tc.want)
			}
		})
	}
}

// TestOneBadRecordIsPoisonTheRestDecode checks that a malformed record in a
// batch poisons only itself.
func TestOneBadRecordIsPoisonTheRestDecode(t *testing.T) {
	batch := fixtureObject(t, batchFixture)
	recs := batch["records"].([]any)
	recs[1] = 42.0
	recs[3].(map[string]any)["properties"].(map[string]any)["result"] = "failure"
	b := auditlog.Decode(batch, path, appwarden.SourceEventHub)
	if got := errorTexts(b.Poison); len(got) != 1 || got[0] != "Data.records[1]: expected object, got number" {
		t.Errorf("poison %q, want one for Data.records[1]", got)
	}
	if len(b.Ignored) != 1 || !strings.HasPrefix(b.Ignored[0], "Data.records[3].properties: ") {
		t.Errorf("ignored %q, want one for Data.records[3]", b.Ignored)
	}
	if len(b.Signals) != 3 {
		t.Fatalf("got %d signals, want 3", len(b.Signals))
	}
	want := expected(t)
	for i, file := range []string{batchOrder[0], batchOrder[2], batchOrder[4]} {
		checkSignal(t, b.Signals[i], want[file])
	}
}

func TestLooks(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want bool
	}{
		{"directoryAudit", record(t), true},
		{"records envelope", fixtureObject(t, batchFixture), true},
		{"diagnostic record", fixtureObject(t, batchFixture)["records"].([]any)[0], true},
		{"ARM event data", fixtureObject(t, "eventgrid/aad-register-action.eventgrid.json")["data"], false},
		{"properties without an activity", map[string]any{"properties": map[string]any{"x": 1.0}}, false},
		{"a string", "Add application", false},
		{"null", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := auditlog.Looks(tc.v); got != tc.want {
				t.Errorf("Looks = %v, want %v", got, tc.want)
			}
		})
	}
}
