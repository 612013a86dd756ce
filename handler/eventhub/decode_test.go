package eventhub_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/eventhub"
)

const path = "Data.records"

const (
	devOneOID    = "30a6c29d-de7c-4830-815f-9b3bb366e975"
	devOneUPN    = "dev.one@contoso.example"
	tenantID     = "6f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"
	payrollAppID = "5bee10b5-db93-4475-ae1a-3d87e059d287"
	batchFixture = "eventhub/auditlogs-batch.json"
)

var devOne = appwarden.Initiator{UserID: devOneOID, UPN: devOneUPN}

func appCreated(t testing.TB) appwarden.Signal {
	return appwarden.Signal{
		Kind: appwarden.AppCreated, AppID: payrollAppID, ObjectID: "a0847fad-c428-4478-bd58-d4ad0d9f48be",
		ObjectType: appwarden.ObjectApplication, DisplayName: "Payroll Sync", Initiator: devOne,
		Time: mustTime(t, "2026-11-24T09:20:11.555Z"), Source: appwarden.SourceEventHub, Activity: "Add application",
		DedupeKey: "audit:Directory_7d1c0b9e-2a3f-4c5d-8e9f-0a1b2c3d4e5f_ABC12_100000001",
	}
}

func servicePrincipalCreated(t testing.TB) appwarden.Signal {
	return appwarden.Signal{
		Kind: appwarden.ServicePrincipalCreated, AppID: payrollAppID, ObjectID: "8c907101-5831-45a1-b703-8a59f190e639",
		ObjectType: appwarden.ObjectServicePrincipal, DisplayName: "Payroll Sync", Initiator: devOne,
		Time: mustTime(t, "2026-11-24T09:20:12.001Z"), Source: appwarden.SourceEventHub, Activity: "Add service principal",
		DedupeKey: "audit:Directory_7d1c0b9e-2a3f-4c5d-8e9f-0a1b2c3d4e5f_ABC12_100000002",
		Details:   map[string]string{"ServicePrincipalProvisioningType": "Other", "AppOwnerOrganizationId": tenantID},
	}
}

// batchKinds are the kinds of the records in auditlogs-batch.json, in order.
var batchKinds = []appwarden.SignalKind{
	appwarden.AppCreated, appwarden.ServicePrincipalCreated, appwarden.ServicePrincipalCreated,
	appwarden.CredentialAdded, appwarden.ConsentGranted,
}

func checkBatchSignals(t *testing.T, b appwarden.Batch) {
	t.Helper()
	if len(b.Poison) > 0 || len(b.Ignored) > 0 {
		t.Fatalf("ignored %q, poison %q; want only signals", b.Ignored, errorTexts(b.Poison))
	}
	if len(b.Signals) != len(batchKinds) {
		t.Fatalf("got %d signals, want %d", len(b.Signals), len(batchKinds))
	}
	for i, k := range batchKinds {
		if b.Signals[i].Kind != k {
			t.Errorf("signal %d kind = %s, want %s", i, b.Signals[i].Kind, k)
		}
	}
	checkSignal(t, b.Signals[0], appCreated(t))
	checkSignal(t, b.Signals[1], servicePrincipalCreated(t))
	mi := b.Signals[2]
	if mi.Details["ServicePrincipalProvisioningType"] != "ManagedServiceIdentity" || mi.Initiator.DisplayName != "Managed Service Identity" {
		t.Errorf("managed identity signal = %+v", mi)
	}
}

func TestHostEnvelopeFixture(t *testing.T) {
	b := eventhub.Decode(binding(t, "functions-host/invocation-eventhub-many.json", "records"), path)
	if len(b.Poison) > 0 || len(b.Ignored) > 0 || len(b.Signals) != 2 {
		t.Fatalf("got signals %+v, ignored %q, poison %q; want two signals", b.Signals, b.Ignored, errorTexts(b.Poison))
	}
	checkSignal(t, b.Signals[0], appCreated(t))
	checkSignal(t, b.Signals[1], servicePrincipalCreated(t))
}

// TestMessageEncodings sends the diagnostic batch as one message in each way
// the host may hand it over.
func TestMessageEncodings(t *testing.T) {
	text := string(fixture(t, batchFixture))
	// Shift the text until its URL-safe encoding differs from the standard
	// one (it holds - or _), so that the URL-safe case means something.
	urlEncoded := ""
	for pad := ""; len(pad) < 3 && !strings.ContainsAny(urlEncoded, "-_"); pad += " " {
		urlEncoded = base64.URLEncoding.EncodeToString([]byte(pad + text))
	}
	if !strings.ContainsAny(urlEncoded, "-_") {
		t.Fatal("no URL-safe encoding of the fixture differs from the standard one")
	}
	tests := []struct {
		name    string
		message any
	}{
		{"object", decodeJSON(t, []byte(text))},
		{"JSON text", text},
		{"JSON text with surrounding white space", "\n  " + text + "\n"},
		{"base64", base64.StdEncoding.EncodeToString([]byte(text))},
		{"base64 without padding", base64.RawStdEncoding.EncodeToString([]byte(text + " "))},
		{"URL-safe base64", urlEncoded},
		{"URL-safe base64 without padding", base64.RawURLEncoding.EncodeToString([]byte(text + " "))},
	}
	for _, tc := range tests {
		t.Run(tc.name+" in a batch", func(t *testing.T) {
			checkBatchSignals(t, eventhub.Decode([]any{tc.message}, path))
		})
		t.Run(tc.name+" alone", func(t *testing.T) {
			checkBatchSignals(t, eventhub.Decode(tc.message, path))
		})
	}
}

func TestSingleRecordMessages(t *testing.T) {
	msgs := []any{
		decodeJSON(t, fixture(t, "eventhub/directoryaudit-add-application.json")),
		string(fixture(t, "eventhub/directoryaudit-add-service-principal.json")),
	}
	b := eventhub.Decode(msgs, path)
	if len(b.Signals) != 2 || len(b.Ignored)+len(b.Poison) != 0 {
		t.Fatalf("got %+v, want two signals", b)
	}
	checkSignal(t, b.Signals[0], appCreated(t))
	checkSignal(t, b.Signals[1], servicePrincipalCreated(t))
}

// TestMixedBatch checks that malformed messages are poison, each naming its
// index, while the others still decode.
func TestMixedBatch(t *testing.T) {
	good := string(fixture(t, "eventhub/directoryaudit-add-application.json"))
	msgs := []any{
		"!!! neither JSON nor base64",
		good,
		base64.StdEncoding.EncodeToString([]byte("hello")),
		base64.StdEncoding.EncodeToString([]byte(`"a JSON string"`)),
		`{"records": [`,
		7.0,
		decodeJSON(t, fixture(t, "eventhub/directoryaudit-add-service-principal.json")),
		"",
		[]any{good},
	}
	b := eventhub.Decode(msgs, path)
	want := []string{
		"Data.records[0]: a message that is neither JSON text nor base64 of JSON",
		"Data.records[2] (base64): not valid JSON: invalid character 'h' looking for beginning of value (at byte 1)",
		"Data.records[3]: a message that encodes another string, not a record",
		"Data.records[4]: not valid JSON: unexpected end of JSON input (at byte 13)",
		"Data.records[5]: expected an audit record object or an array of them, got number",
		"Data.records[7] (base64): not valid JSON: unexpected end of JSON input (at byte 0)",
		// an array of records is a Logic App's batch of rows; here its one
		// element is text nobody decoded: only the functions layer unwraps
		"Data.records[8][0]: expected an audit record object, got string",
	}
	got := errorTexts(b.Poison)
	if len(got) != len(want) {
		t.Fatalf("poison %q\nwant %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("poison %d = %q\nwant %q", i, got[i], want[i])
		}
	}
	if len(b.Ignored) != 0 || len(b.Signals) != 2 {
		t.Fatalf("signals %+v, ignored %q; want two signals", b.Signals, b.Ignored)
	}
	checkSignal(t, b.Signals[0], appCreated(t))
	checkSignal(t, b.Signals[1], servicePrincipalCreated(t))
}

func TestFailureRecordInAMessageIsIgnored(t *testing.T) {
	rec := fixtureObject(t, "eventhub/directoryaudit-add-application.json")
	rec["result"] = "failure"
	b := eventhub.Decode([]any{rec}, path)
	if len(b.Ignored) != 1 || len(b.Signals)+len(b.Poison) != 0 {
		t.Fatalf("got %+v, want one ignore reason", b)
	}
	if !strings.HasPrefix(b.Ignored[0], "Data.records[0]: ") || !strings.Contains(b.Ignored[0], `has result "failure"`) {
		t.Errorf("reason %q", b.Ignored[0])
	}
}

func TestEmptyBatchHoldsNothing(t *testing.T) {
	b := eventhub.Decode([]any{}, path)
	if len(b.Signals)+len(b.Ignored)+len(b.Poison) != 0 {
		t.Fatalf("got %+v, want an empty batch", b)
	}
}

func TestEmptyRecordsMessageIsIgnored(t *testing.T) {
	b := eventhub.Decode([]any{`{"records": []}`}, path)
	if len(b.Ignored) != 1 || b.Ignored[0] != "Data.records[0].records: holds no records" {
		t.Fatalf("got %+v, want one ignore reason", b)
	}
}
