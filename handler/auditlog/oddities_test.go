package auditlog_test

import (
	"strings"
	"testing"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/auditlog"
)

// sample2018 is a diagnostic batch in the form of Microsoft's 2018 audit
// schema sample (FACTS.md §1): "result" a number, "durationMs" a string, no
// tenantId, "initiatedBy" {}, newValue null; here also a target id that is a
// number and additionalDetails that is not an array.
func sample2018(activity string) map[string]any {
	return map[string]any{"records": []any{map[string]any{
		"time": "2018-04-24T09:37:39.2880216Z", "resourceId": "/tenants/x/providers/Microsoft.aadiam",
		"operationName": activity, "operationVersion": "1.0", "category": "AuditLogs", "resultSignature": "None",
		"durationMs": "0", "callerIpAddress": "<null>", "level": "Informational",
		"properties": map[string]any{
			"id": "Directory_2018", "category": "GroupManagement", "result": 0.0, "resultReason": "",
			"activityDisplayName": activity, "activityDateTime": "2018-04-24T09:37:39.2880216+00:00",
			"loggedByService": "Core Directory", "operationType": "Assign", "initiatedBy": map[string]any{},
			"targetResources": []any{map[string]any{"id": 5.0, "type": "Group", "modifiedProperties": []any{
				map[string]any{"displayName": "Group.ObjectID", "oldValue": nil, "newValue": nil}}}},
			"additionalDetails": "none",
		},
	}}}
}

// TestUnrelatedRecordsWithOddTypesAreIgnored checks that relevance is
// decided before field types: whatever an unrelated record holds, it is
// ignored, never poison.
func TestUnrelatedRecordsWithOddTypesAreIgnored(t *testing.T) {
	tests := []struct {
		name string
		v    any
	}{
		{"Microsoft's 2018 sample", sample2018("Add member to group")},
		{"Graph shape", map[string]any{"id": 7.0, "activityDisplayName": "Add user", "result": true, "targetResources": map[string]any{}, "initiatedBy": "x"}},
		{"Log Analytics row", map[string]any{"Id": 7.0, "OperationName": "Update user", "Result": 1.0, "TargetResources": "not JSON", "InitiatedBy": 3.0}},
		{"diagnostic record whose properties are text", map[string]any{"category": "AuditLogs", "operationName": "Add user", "properties": "{"}},
		{"unrelated row in an array", []any{map[string]any{"Id": "x", "ActivityDisplayName": "Reset password", "AdditionalDetails": "["}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := auditlog.Decode(tc.v, path, appwarden.SourceEventHub)
			if len(b.Signals)+len(b.Poison) != 0 || len(b.Ignored) != 1 || !strings.Contains(b.Ignored[0], "does not concern app registrations") {
				t.Errorf("signals %+v, ignored %q, poison %q; want ignored", b.Signals, b.Ignored, errorTexts(b.Poison))
			}
		})
	}
}

// TestRelevantRecordsWithTolerableOddities checks that a relevant record
// with an oddity real data has still decodes. Decision: a number result is
// Graph's operationResult enum (success, failure, timeout,
// unknownFutureValue), so 0 is success and any other number is not.
func TestRelevantRecordsWithTolerableOddities(t *testing.T) {
	t.Run("2018 sample of a relevant activity: result 0 is success", func(t *testing.T) {
		v := sample2018("Add service principal")
		props := v["records"].([]any)[0].(map[string]any)["properties"].(map[string]any)
		props["targetResources"] = []any{tgt(payrollSPID, "Payroll Sync", "ServicePrincipal",
			prop("AppPrincipalId", enc([]string{payrollAppID})), prop("Credential", nil))}
		props["additionalDetails"] = []any{}
		sig := decodeOnly(t, v)
		if sig.Kind != appwarden.ServicePrincipalCreated || sig.AppID != payrollAppID || sig.ObjectID != payrollSPID || !sig.Initiator.IsZero() {
			t.Errorf("got %+v", sig)
		}
	})
	base := func() map[string]any {
		return graphRecord("o1", "Add application", "ApplicationManagement", []any{
			tgt(payrollObjID, "Payroll Sync", "Application", prop("AppId", enc([]string{payrollAppID})))})
	}
	tests := []struct {
		name   string
		change func(rec map[string]any)
		check  func(t *testing.T, sig appwarden.Signal)
	}{
		{"result 0", func(rec map[string]any) { rec["result"] = 0.0 }, func(t *testing.T, sig appwarden.Signal) {}},
		{"initiatedBy {}", func(rec map[string]any) { rec["initiatedBy"] = map[string]any{} }, func(t *testing.T, sig appwarden.Signal) {
			if !sig.Initiator.IsZero() {
				t.Errorf("initiator %+v", sig.Initiator)
			}
		}},
		{"newValue null", func(rec map[string]any) {
			rec["targetResources"] = []any{tgt(payrollObjID, "Payroll Sync", "Application", prop("AppId", nil))}
		}, func(t *testing.T, sig appwarden.Signal) {
			if sig.AppID != "" || sig.ObjectID != payrollObjID {
				t.Errorf("appId %q, objectId %q", sig.AppID, sig.ObjectID)
			}
		}},
		{"activityDateTime a number: the host's time is used", func(rec map[string]any) { rec["activityDateTime"] = 1.0 }, func(t *testing.T, sig appwarden.Signal) {
			if !sig.Time.IsZero() {
				t.Errorf("time %s", sig.Time)
			}
		}},
		{"category and loggedByService missing", func(rec map[string]any) {
			delete(rec, "category")
			delete(rec, "loggedByService")
		}, func(t *testing.T, sig appwarden.Signal) {}},
	}
	for _, tc := range tests {
		for _, sh := range shapes {
			t.Run(tc.name+"/"+sh.name, func(t *testing.T) {
				rec := base()
				tc.change(rec)
				sig := decodeOnly(t, sh.wrap(rec))
				if sig.Kind != appwarden.AppCreated || sig.ObjectID != payrollObjID {
					t.Errorf("got %+v", sig)
				}
				tc.check(t, sig)
			})
		}
	}
	t.Run("result 1 is not success", func(t *testing.T) {
		rec := base()
		rec["result"] = 1.0
		b := auditlog.Decode(toRow(rec), path, appwarden.SourceEventHub)
		if len(b.Ignored) != 1 || !strings.Contains(b.Ignored[0], `record o1 has result 1, not success`) {
			t.Errorf("ignored %q, signals %+v, poison %q", b.Ignored, b.Signals, errorTexts(b.Poison))
		}
	})
}

// TestRelevantButUnreadable checks that what truly cannot be read is poison
// with its path and problem.
func TestRelevantButUnreadable(t *testing.T) {
	rec := func() map[string]any {
		return graphRecord("u1", "Add application", "ApplicationManagement", []any{tgt(payrollObjID, "Payroll Sync", "Application")})
	}
	tests := []struct {
		name string
		v    func() any
		want string
	}{
		{"target id a number, in an array of envelopes", func() any {
			r := rec()
			r["targetResources"].([]any)[0].(map[string]any)["id"] = 1.0
			return []any{toDiagnostic(rec()), map[string]any{"records": []any{toDiagnostic(rec())["records"].([]any)[0], toDiagnostic(r)["records"].([]any)[0]}}}
		}, "Data[1].records[1].properties.targetResources[0].id: expected string, got number"},
		{"row whose TargetResources is not JSON", func() any {
			row := toRow(rec())
			row["TargetResources"] = "[{"
			return row
		}, "Data.TargetResources (JSON-encoded string): not valid JSON: "},
		{"row whose TargetResources holds an object", func() any {
			row := toRow(rec())
			row["TargetResources"] = `{"id":"x"}`
			return row
		}, "Data.TargetResources: expected array, got object"},
		{"row whose Result is a boolean", func() any {
			row := toRow(rec())
			row["Result"] = true
			return row
		}, "Data.Result: expected string or number, got boolean"},
		{"row without Id", func() any {
			row := toRow(rec())
			delete(row, "Id")
			return row
		}, "Data.Id: required string is missing"},
		{"no activity at all", func() any {
			r := rec()
			delete(r, "activityDisplayName")
			return r
		}, "Data.activityDisplayName: required string is missing: no activity to judge the record by"},
		{"diagnostic record of a relevant operation whose properties are text", func() any {
			return map[string]any{"category": "AuditLogs", "operationName": "Add application", "properties": "{}"}
		}, "Data.properties: expected object, got string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := auditlog.Decode(tc.v(), path, appwarden.SourceEventHub)
			got := errorTexts(b.Poison)
			if len(got) != 1 || !strings.HasPrefix(got[0], tc.want) {
				t.Errorf("poison %q, want one starting %q (ignored %q)", got, tc.want, b.Ignored)
			}
		})
	}
}

func TestLooksAtRowsAndArrays(t *testing.T) {
	row := fixtureObject(t, "real-records/otrf-03-add-delegated-permission-grant.la.json")
	projected := fixtureObject(t, "real-records/otrf-02-update-application.la.json")
	delete(projected, "ActivityDisplayName")
	tests := []struct {
		name string
		v    any
		want bool
	}{
		{"Log Analytics row", row, true},
		{"row projected without ActivityDisplayName", projected, true},
		{"array of rows", []any{row, row}, true},
		{"array of Graph records", []any{record(t)}, true},
		{"array holding one record among other values", []any{1.0, record(t)}, true},
		{"empty array", []any{}, false},
		{"array of numbers", []any{1.0, "x"}, false},
		{"array of arrays", []any{[]any{row}}, false},
		{"an AzureActivity row (OperationName, no TargetResources)", map[string]any{"OperationName": "Create or Update Virtual Machine", "Category": "Administrative"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := auditlog.Looks(tc.v); got != tc.want {
				t.Errorf("Looks = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestDiagnosticOperationNameStandsIn checks that a diagnostic record whose
// properties name no activity is judged by its operationName.
func TestDiagnosticOperationNameStandsIn(t *testing.T) {
	rec := record(t)
	delete(rec, "activityDisplayName")
	sig := decodeOnly(t, map[string]any{"category": "AuditLogs", "operationName": "Add application", "properties": rec})
	if sig.Kind != appwarden.AppCreated || sig.Activity != "Add application" || sig.AppID != payrollAppID {
		t.Errorf("got %+v", sig)
	}
	rec["activityDisplayName"] = nil
	b := auditlog.Decode(map[string]any{"category": "AuditLogs", "operationName": "Add user", "properties": rec}, path, appwarden.SourceEventHub)
	if len(b.Ignored) != 1 || !strings.Contains(b.Ignored[0], `Data.properties: activity "Add user" does not concern`) {
		t.Errorf("ignored %q, signals %+v, poison %q", b.Ignored, b.Signals, errorTexts(b.Poison))
	}
}
