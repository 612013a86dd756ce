package eventgrid_test

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/eventgrid"
)

const path = "Data.event"

// The ids the fixtures share (tests/testdata/README.md).
const (
	devOneOID    = "30a6c29d-de7c-4830-815f-9b3bb366e975"
	devOneUPN    = "dev.one@contoso.example"
	payrollAppID = "5bee10b5-db93-4475-ae1a-3d87e059d287"
	payrollObjID = "a0847fad-c428-4478-bd58-d4ad0d9f48be"
	armEventID   = "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e"
	auditID      = "Directory_7d1c0b9e-2a3f-4c5d-8e9f-0a1b2c3d4e5f_ABC12_100000001"
)

const (
	armEventGridFixture  = "eventgrid/aad-register-action.eventgrid.json"
	armCloudEventFixture = "eventgrid/aad-register-action.cloudevent.json"
	auditCloudEvent      = "eventgrid/audit-add-application.cloudevent.json"
)

func providerRegistered(t testing.TB) appwarden.Signal {
	return appwarden.Signal{
		Kind:      appwarden.ProviderRegistered,
		Initiator: appwarden.Initiator{UserID: devOneOID, UPN: devOneUPN, DisplayName: "Dev One"},
		Time:      mustTime(t, "2026-11-24T09:14:03.1234567Z"),
		Source:    appwarden.SourceEventGrid,
		Activity:  "Microsoft.AAD/register/action",
		DedupeKey: "eventgrid:" + armEventID,
		Details: map[string]string{
			"operationName":    "Microsoft.AAD/register/action",
			"subscriptionId":   "a1b2c3d4-e5f6-4789-9abc-def012345678",
			"tenantId":         "6f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b",
			"resourceProvider": "Microsoft.AAD",
			"status":           "Succeeded",
			"clientAppId":      "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
		},
	}
}

func appCreatedOnCustomTopic(t testing.TB) appwarden.Signal {
	return appwarden.Signal{
		Kind:        appwarden.AppCreated,
		AppID:       payrollAppID,
		ObjectID:    payrollObjID,
		ObjectType:  appwarden.ObjectApplication,
		DisplayName: "Payroll Sync",
		Initiator:   appwarden.Initiator{UserID: devOneOID, UPN: devOneUPN},
		Time:        mustTime(t, "2026-11-24T09:20:11.555Z"),
		Source:      appwarden.SourceEventGrid,
		Activity:    "Add application",
		DedupeKey:   "audit:" + auditID,
	}
}

// fixtureCases is every Event Grid input among the fixtures, with the one
// signal it must decode to.
func fixtureCases(t testing.TB) []struct {
	name  string
	files []string // the fixture files this case covers
	value any
	want  appwarden.Signal
} {
	return []struct {
		name  string
		files []string
		value any
		want  appwarden.Signal
	}{
		{"register action, Event Grid schema", []string{armEventGridFixture}, decodeJSON(t, fixture(t, armEventGridFixture)), providerRegistered(t)},
		{"register action, CloudEvent schema", []string{armCloudEventFixture}, decodeJSON(t, fixture(t, armCloudEventFixture)), providerRegistered(t)},
		{"register action, host envelope with an object", nil, binding(t, "functions-host/plain-eventgrid-object.json", "event"), providerRegistered(t)},
		{"register action, host envelope with a JSON string", nil, binding(t, "functions-host/plain-eventgrid-string.json", "event"), providerRegistered(t)},
		{"audit record as CloudEvent on a custom topic", []string{auditCloudEvent}, decodeJSON(t, fixture(t, auditCloudEvent)), appCreatedOnCustomTopic(t)},
	}
}

func TestFixturesDecodeToTheirSignal(t *testing.T) {
	for _, tc := range fixtureCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			b := eventgrid.Decode(tc.value, path)
			if len(b.Poison) > 0 || len(b.Ignored) > 0 {
				t.Fatalf("poison %q, ignored %q; want one signal", errorTexts(b.Poison), b.Ignored)
			}
			if len(b.Signals) != 1 {
				t.Fatalf("got %d signals, want 1", len(b.Signals))
			}
			checkSignal(t, b.Signals[0], tc.want)
		})
	}
}

func TestEveryEventGridFixtureIsCovered(t *testing.T) {
	covered := map[string]bool{}
	for _, tc := range fixtureCases(t) {
		for _, f := range tc.files {
			covered[f] = true
		}
	}
	entries, err := os.ReadDir(filepath.Join(testdata, "eventgrid"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if rel := "eventgrid/" + e.Name(); !covered[rel] {
			t.Errorf("fixture %s has no expected result in fixtureCases", rel)
		}
	}
}

// armEvent is the Event Grid schema register action, ready to be changed.
func armEvent(t testing.TB) map[string]any { return fixtureObject(t, armEventGridFixture) }

func armData(ev map[string]any) map[string]any { return ev["data"].(map[string]any) }

func TestProviderRegistrationVariants(t *testing.T) {
	t.Run("another provider's registration", func(t *testing.T) {
		ev := armEvent(t)
		armData(ev)["operationName"] = "Microsoft.Storage/register/action"
		armData(ev)["resourceProvider"] = "Microsoft.Storage"
		b := eventgrid.Decode(ev, path)
		if len(b.Signals) != 1 {
			t.Fatalf("got %d signals (ignored %q, poison %q), want 1", len(b.Signals), b.Ignored, errorTexts(b.Poison))
		}
		want := providerRegistered(t)
		want.Activity = "Microsoft.Storage/register/action"
		want.Details["operationName"] = "Microsoft.Storage/register/action"
		want.Details["resourceProvider"] = "Microsoft.Storage"
		checkSignal(t, b.Signals[0], want)
	})
	t.Run("operation name in another case", func(t *testing.T) {
		ev := armEvent(t)
		armData(ev)["operationName"] = "microsoft.aad/REGISTER/Action"
		b := eventgrid.Decode(ev, path)
		if len(b.Signals) != 1 || b.Signals[0].Kind != appwarden.ProviderRegistered {
			t.Fatalf("got %+v, want one ProviderRegistered", b)
		}
	})
	t.Run("a service principal calls ARM", func(t *testing.T) {
		ev := armEvent(t)
		armData(ev)["claims"] = map[string]any{
			"appid": "11111111-2222-4333-8444-555555555555",
			"http://schemas.microsoft.com/identity/claims/objectidentifier": "66666666-7777-4888-9999-000000000000",
		}
		b := eventgrid.Decode(ev, path)
		if len(b.Signals) != 1 {
			t.Fatalf("got %+v, want one signal", b)
		}
		got := b.Signals[0].Initiator
		want := appwarden.Initiator{AppID: "11111111-2222-4333-8444-555555555555", ServicePrincipalID: "66666666-7777-4888-9999-000000000000"}
		if got != want {
			t.Errorf("initiator = %+v, want %+v", got, want)
		}
	})
}

func TestIgnoredEvents(t *testing.T) {
	tests := []struct {
		name   string
		change func(ev map[string]any)
		reason string // a part of the ignore reason
	}{
		{"failed register action", func(ev map[string]any) {
			ev["eventType"] = "Microsoft.Resources.ResourceActionFailure"
			armData(ev)["status"] = "Failed"
		}, `Microsoft.Resources.ResourceActionFailure for "Microsoft.AAD/register/action" did not succeed`},
		{"cancelled register action", func(ev map[string]any) {
			ev["eventType"] = "Microsoft.Resources.ResourceActionCancel"
		}, "did not succeed"},
		{"another action", func(ev map[string]any) {
			armData(ev)["operationName"] = "Microsoft.Compute/virtualMachines/restart/action"
		}, `operation "Microsoft.Compute/virtualMachines/restart/action" is not a resource-provider registration`},
		{"resource write", func(ev map[string]any) {
			ev["eventType"] = "Microsoft.Resources.ResourceWriteSuccess"
			armData(ev)["operationName"] = "Microsoft.Storage/storageAccounts/write"
		}, `operation "Microsoft.Storage/storageAccounts/write" is not a resource-provider registration`},
		{"resource delete", func(ev map[string]any) {
			ev["eventType"] = "Microsoft.Resources.ResourceDeleteSuccess"
		}, `event type "Microsoft.Resources.ResourceDeleteSuccess" (id ` + armEventID + `) is not one AppWarden handles`},
		{"unknown event type", func(ev map[string]any) {
			ev["eventType"] = "Microsoft.Storage.BlobCreated"
			ev["data"] = map[string]any{"url": "https://example.blob.core.windows.net/c/b"}
		}, `event type "Microsoft.Storage.BlobCreated"`},
		{"unknown event type without data", func(ev map[string]any) {
			ev["eventType"] = "Contoso.Something"
			delete(ev, "data")
		}, `event type "Contoso.Something"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := armEvent(t)
			tc.change(ev)
			b := eventgrid.Decode(ev, path)
			if len(b.Signals) != 0 || len(b.Poison) != 0 {
				t.Fatalf("signals %+v, poison %q; want only an ignore reason", b.Signals, errorTexts(b.Poison))
			}
			if len(b.Ignored) != 1 {
				t.Fatalf("ignored %q, want one reason", b.Ignored)
			}
			if !strings.HasPrefix(b.Ignored[0], path) || !strings.Contains(b.Ignored[0], tc.reason) {
				t.Errorf("reason %q, want it to start with %q and contain %q", b.Ignored[0], path, tc.reason)
			}
		})
	}
}

func TestUnknownCloudEventTypeIsIgnored(t *testing.T) {
	ev := fixtureObject(t, armCloudEventFixture)
	ev["type"] = "Contoso.Orders.Created"
	ev["data"] = map[string]any{"orderId": 7}
	b := eventgrid.Decode(ev, path)
	if len(b.Ignored) != 1 || len(b.Signals)+len(b.Poison) != 0 {
		t.Fatalf("got %+v, want one ignore reason", b)
	}
	if want := `event type "Contoso.Orders.Created"`; !strings.Contains(b.Ignored[0], want) {
		t.Errorf("reason %q does not contain %q", b.Ignored[0], want)
	}
}

func TestAuditFailureOnCustomTopicIsIgnored(t *testing.T) {
	ev := fixtureObject(t, auditCloudEvent)
	ev["data"].(map[string]any)["result"] = "failure"
	b := eventgrid.Decode(ev, path)
	if len(b.Ignored) != 1 || len(b.Signals)+len(b.Poison) != 0 {
		t.Fatalf("got %+v, want one ignore reason", b)
	}
	if want := `has result "failure", not success`; !strings.Contains(b.Ignored[0], want) {
		t.Errorf("reason %q does not contain %q", b.Ignored[0], want)
	}
}

func TestArrayOfEvents(t *testing.T) {
	unknown := armEvent(t)
	unknown["eventType"] = "Microsoft.Storage.BlobCreated"
	v := []any{armEvent(t), fixtureObject(t, auditCloudEvent), unknown, 42.0}
	b := eventgrid.Decode(v, path)
	if len(b.Signals) != 2 {
		t.Fatalf("got %d signals, want 2: %+v", len(b.Signals), b)
	}
	checkSignal(t, b.Signals[0], providerRegistered(t))
	checkSignal(t, b.Signals[1], appCreatedOnCustomTopic(t))
	if len(b.Ignored) != 1 || !strings.HasPrefix(b.Ignored[0], "Data.event[2]: ") {
		t.Errorf("ignored %q, want one reason for Data.event[2]", b.Ignored)
	}
	if got := errorTexts(b.Poison); len(got) != 1 || got[0] != "Data.event[3]: expected an event object, got number" {
		t.Errorf("poison %q, want one for Data.event[3]", got)
	}
}

func TestJSONStringHoldingAnArray(t *testing.T) {
	raw, err := json.Marshal([]any{armEvent(t), armEvent(t)})
	if err != nil {
		t.Fatal(err)
	}
	b := eventgrid.Decode(string(raw), path)
	if len(b.Signals) != 2 || len(b.Ignored)+len(b.Poison) != 0 {
		t.Fatalf("got %+v, want two signals", b)
	}
}

func TestEmptyArrayHoldsNothing(t *testing.T) {
	b := eventgrid.Decode([]any{}, path)
	if len(b.Signals)+len(b.Ignored)+len(b.Poison) != 0 {
		t.Fatalf("got %+v, want an empty batch", b)
	}
}

// TestMalformedInput checks that each malformed input is poison whose error
// names the exact path and problem.
func TestMalformedInput(t *testing.T) {
	tests := []struct {
		name  string
		value func(t *testing.T) any
		want  string
	}{
		{"operationName is a number", func(t *testing.T) any {
			ev := armEvent(t)
			armData(ev)["operationName"] = 7.0
			return ev
		}, "Data.event.data.operationName: expected string, got number"},
		{"operationName is missing", func(t *testing.T) any {
			ev := armEvent(t)
			delete(armData(ev), "operationName")
			return ev
		}, "Data.event.data.operationName: required string is missing"},
		{"operationName is a number in a CloudEvent", func(t *testing.T) any {
			ev := fixtureObject(t, armCloudEventFixture)
			ev["data"].(map[string]any)["operationName"] = 7.0
			return ev
		}, "Data.event.data.operationName: expected string, got number"},
		{"operationName is a number inside a JSON string", func(t *testing.T) any {
			ev := armEvent(t)
			armData(ev)["operationName"] = 7.0
			raw, _ := json.Marshal(ev)
			return string(raw)
		}, "Data.event.data.operationName: expected string, got number"},
		{"data is missing", func(t *testing.T) any {
			ev := armEvent(t)
			delete(ev, "data")
			return ev
		}, "Data.event.data: required object is missing"},
		{"data is a string", func(t *testing.T) any {
			ev := armEvent(t)
			ev["data"] = "Microsoft.AAD/register/action"
			return ev
		}, "Data.event.data: expected object, got string"},
		{"data is null", func(t *testing.T) any {
			ev := armEvent(t)
			ev["data"] = nil
			return ev
		}, "Data.event.data: expected object, got null"},
		{"claims is an array", func(t *testing.T) any {
			ev := armEvent(t)
			armData(ev)["claims"] = []any{"x"}
			return ev
		}, "Data.event.data.claims: expected object, got array"},
		{"a claim is a number", func(t *testing.T) any {
			ev := armEvent(t)
			armData(ev)["claims"].(map[string]any)["appidacr"] = 0.0
			return ev
		}, "Data.event.data.claims[appidacr]: expected string, got number"},
		{"authorization.action is a boolean", func(t *testing.T) any {
			ev := armEvent(t)
			armData(ev)["authorization"].(map[string]any)["action"] = true
			return ev
		}, "Data.event.data.authorization.action: expected string, got boolean"},
		{"id is missing", func(t *testing.T) any {
			ev := armEvent(t)
			delete(ev, "id")
			return ev
		}, "Data.event.id: required string is missing"},
		{"eventType is a number", func(t *testing.T) any {
			ev := armEvent(t)
			ev["eventType"] = 1.0
			return ev
		}, "Data.event.eventType: expected string, got number"},
		{"CloudEvent without source", func(t *testing.T) any {
			ev := fixtureObject(t, armCloudEventFixture)
			delete(ev, "source")
			return ev
		}, "Data.event.source: required string is missing"},
		{"CloudEvent with a null type", func(t *testing.T) any {
			ev := fixtureObject(t, armCloudEventFixture)
			ev["type"] = nil
			return ev
		}, "Data.event.type: required string is missing"}, // null counts as absent
		{"a number", func(*testing.T) any { return 3.0 }, "Data.event: expected an event object, got number"},
		{"null", func(*testing.T) any { return nil }, "Data.event: expected an event object, got null"},
		{"a boolean", func(*testing.T) any { return true }, "Data.event: expected an event object, got boolean"},
		{"a string that is not JSON", func(*testing.T) any { return "hello" },
			"Data.event (JSON-encoded string): not valid JSON: invalid character 'h' looking for beginning of value (at byte 1)"},
		{"a string that holds a string", func(*testing.T) any { return `"{}"` },
			"Data.event: a JSON string that holds another JSON string, not an event"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := eventgrid.Decode(tc.value(t), path)
			if len(b.Signals) != 0 || len(b.Ignored) != 0 {
				t.Fatalf("signals %+v, ignored %q; want poison only", b.Signals, b.Ignored)
			}
			if got := errorTexts(b.Poison); len(got) != 1 || got[0] != tc.want {
				t.Errorf("poison %q\nwant [%q]", got, tc.want)
			}
		})
	}
}

// TestMalformedCloudEventFields checks CloudEvent fields that the SDK would
// otherwise reject with an error that depends on map order.
func TestMalformedCloudEventFields(t *testing.T) {
	tests := []struct {
		name   string
		change func(ev map[string]any)
		want   string
	}{
		{"time is not a time", func(ev map[string]any) { ev["time"] = "yesterday" },
			`Data.event.time: "yesterday" is not an RFC 3339 time`},
		{"datacontenttype is a number", func(ev map[string]any) { ev["datacontenttype"] = 1.0 },
			"Data.event.datacontenttype: expected string, got number"},
		{"both data and data_base64", func(ev map[string]any) { ev["data_base64"] = "e30=" },
			"Data.event: a CloudEvent must not have both data and data_base64"},
		{"both data (null) and data_base64", func(ev map[string]any) { ev["data"] = nil; ev["data_base64"] = "e30=" },
			"Data.event: a CloudEvent must not have both data and data_base64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := fixtureObject(t, armCloudEventFixture)
			tc.change(ev)
			b := eventgrid.Decode(ev, path)
			if got := errorTexts(b.Poison); len(got) != 1 || got[0] != tc.want || len(b.Signals)+len(b.Ignored) != 0 {
				t.Errorf("got %+v\nwant poison [%q]", b, tc.want)
			}
		})
	}
}

func TestCloudEventWithBase64Data(t *testing.T) {
	ev := fixtureObject(t, armCloudEventFixture)
	raw, err := json.Marshal(ev["data"])
	if err != nil {
		t.Fatal(err)
	}
	delete(ev, "data")
	ev["data_base64"] = base64.StdEncoding.EncodeToString(raw)
	b := eventgrid.Decode(ev, path)
	if len(b.Signals) != 1 {
		t.Fatalf("got %+v, want one signal", b)
	}
	checkSignal(t, b.Signals[0], providerRegistered(t))
}

func TestMalformedEvidenceNamesTheKey(t *testing.T) {
	ev := armEvent(t)
	evidence := armData(ev)["authorization"].(map[string]any)["evidence"].(map[string]any)
	evidence["role"] = []any{}
	evidence["principalType"] = 1.0
	b := eventgrid.Decode(ev, path)
	// the first bad key in key order, every time
	want := "Data.event.data.authorization.evidence[principalType]: expected string, got number"
	if got := errorTexts(b.Poison); len(got) != 1 || got[0] != want {
		t.Errorf("poison %q, want [%q]", got, want)
	}
}
