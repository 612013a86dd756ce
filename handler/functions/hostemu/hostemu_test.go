package hostemu_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden/appwardentest"
	"github.com/appwarden/appwarden/handler/functions/hostemu"
)

// layered turns a decoded envelope into a tree in which every string that
// holds JSON text is replaced by {"(json text)": what it holds}, so that two
// envelopes compare equal only if they encode each value in the same layers
// and hold the same values (whitespace inside the text aside).
func layered(v any) any {
	switch x := v.(type) {
	case string:
		t := strings.TrimSpace(x)
		if t != "" && strings.ContainsRune(`{["`, rune(t[0])) {
			var inner any
			if json.Unmarshal([]byte(t), &inner) == nil {
				return map[string]any{"(json text)": layered(inner)}
			}
		}
		return x
	case map[string]any:
		out := map[string]any{}
		for k, el := range x {
			out[k] = layered(el)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, el := range x {
			out[i] = layered(el)
		}
		return out
	}
	return v
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, b)
	}
	return v
}

// text unwraps a JSON string layer.
func text(t *testing.T, v any) string {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		t.Fatalf("expected a JSON string, got %T", v)
	}
	var inner any
	if err := json.Unmarshal([]byte(s), &inner); err != nil {
		t.Fatalf("string does not hold JSON text: %v", err)
	}
	if in, ok := inner.(string); ok {
		return in
	}
	return s
}

func sys(t *testing.T, env map[string]any) (time.Time, string) {
	t.Helper()
	s := env["Metadata"].(map[string]any)["sys"].(map[string]any)
	at, err := time.Parse(time.RFC3339Nano, s["UtcNow"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return at, s["RandGuid"].(string)
}

// check compares the emulator's body with the fixture's, layer by layer.
func check(t *testing.T, fixture, got []byte) {
	t.Helper()
	want, have := layered(decode(t, fixture)), layered(decode(t, got))
	if !reflect.DeepEqual(want, have) {
		w, _ := json.MarshalIndent(want, "", "  ")
		h, _ := json.MarshalIndent(have, "", "  ")
		t.Fatalf("emulator output differs from the host fixture\n--- fixture\n%s\n--- emulator\n%s", w, h)
	}
}

func TestReproducesEventGridFixture(t *testing.T) {
	fixture := appwardentest.Fixture(t, "functions-host/invocation-eventgrid.json")
	env := decode(t, fixture)
	// Data.event: a JSON string holding a JSON string holding the indented event.
	indented := text(t, env["Data"].(map[string]any)["event"])
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(indented)); err != nil {
		t.Fatal(err)
	}
	now, guid := sys(t, env)
	got, err := hostemu.Encode(hostemu.OnEventGridEvent(), hostemu.Invocation{Event: compact.Bytes(), Now: now, RandGuid: guid})
	if err != nil {
		t.Fatal(err)
	}
	check(t, fixture, got)
	// The event text is indented exactly as Json.NET's Formatting.Indented.
	if gotText := text(t, decode(t, got)["Data"].(map[string]any)["event"]); gotText != indented {
		t.Errorf("event text differs:\n%s\nwant\n%s", gotText, indented)
	}
}

func TestReproducesEventHubFixture(t *testing.T) {
	fixture := appwardentest.Fixture(t, "functions-host/invocation-eventhub-many.json")
	env := decode(t, fixture)
	var bodies []string
	if err := json.Unmarshal([]byte(env["Data"].(map[string]any)["records"].(string)), &bodies); err != nil {
		t.Fatalf("Data.records is not a string holding an array of strings: %v", err)
	}
	meta := env["Metadata"].(map[string]any)
	arr := func(name string) []any {
		var v []any
		if err := json.Unmarshal([]byte(meta[name].(string)), &v); err != nil {
			t.Fatalf("Metadata.%s: %v", name, err)
		}
		return v
	}
	enq, seqs, offs := arr("EnqueuedTimeUtcArray"), arr("SequenceNumberArray"), arr("OffsetArray")
	msgs := make([]hostemu.Message, len(bodies))
	for i, b := range bodies {
		at, err := time.Parse("2006-01-02T15:04:05.9999999", enq[i].(string))
		if err != nil {
			t.Fatal(err)
		}
		msgs[i] = hostemu.Message{Body: []byte(b), EnqueuedTime: at, SequenceNumber: int64(seqs[i].(float64)), Offset: offs[i].(string)}
	}
	var pc hostemu.PartitionContext
	raw, _ := json.Marshal(meta["PartitionContext"])
	if err := json.Unmarshal(raw, &pc); err != nil {
		t.Fatal(err)
	}
	now, guid := sys(t, env)
	got, err := hostemu.Encode(hostemu.OnAuditLogBatch(), hostemu.Invocation{Messages: msgs, Partition: pc, Now: now, RandGuid: guid})
	if err != nil {
		t.Fatal(err)
	}
	check(t, fixture, got)
}

func TestReproducesTimerFixture(t *testing.T) {
	fixture := appwardentest.Fixture(t, "functions-host/invocation-timer.json")
	env := decode(t, fixture)
	st := env["Data"].(map[string]any)["timer"].(map[string]any)["ScheduleStatus"].(map[string]any)
	at := func(k string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, st[k].(string))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	now, guid := sys(t, env)
	got, err := hostemu.Encode(hostemu.SweepTimer(), hostemu.Invocation{
		Timer: &hostemu.Timer{Last: at("Last"), Next: at("Next"), LastUpdated: at("LastUpdated")}, Now: now, RandGuid: guid,
	})
	if err != nil {
		t.Fatal(err)
	}
	check(t, fixture, got)
}

// TestOneMessageIsDoubleEncoded: with cardinality one a message is a
// string, which the host serializes again (FACTS.md §2).
func TestOneMessageIsDoubleEncoded(t *testing.T) {
	f := hostemu.OnAuditLogBatch()
	f.Trigger.Cardinality = "one"
	body := `{"records":[]}`
	got := decode(t, hostemu.MustEncode(f, hostemu.Invocation{Messages: hostemu.Messages(time.Now(), []byte(body))}))
	if s := text(t, got["Data"].(map[string]any)["records"]); s != body {
		t.Errorf("Data.records holds %q, want the message text %q in a JSON string in a JSON string", s, body)
	}
	meta := got["Metadata"].(map[string]any)
	if meta["SequenceNumber"] != "4711" || meta["PartitionKey"] != "null" {
		t.Errorf("a long and a null are serialized into strings: SequenceNumber %#v, PartitionKey %#v", meta["SequenceNumber"], meta["PartitionKey"])
	}
}

// TestBinaryMessagesAreBase64: dataType binary (or none) gives byte[],
// which Json.NET writes as base64, inside the serialized array.
func TestBinaryMessagesAreBase64(t *testing.T) {
	for _, dt := range []string{"binary", ""} {
		f := hostemu.OnAuditLogBatch()
		f.Trigger.DataType = dt
		got := decode(t, hostemu.MustEncode(f, hostemu.Invocation{Messages: hostemu.Messages(time.Now(), []byte(`{"a":1}`))}))
		var list []string
		if err := json.Unmarshal([]byte(got["Data"].(map[string]any)["records"].(string)), &list); err != nil {
			t.Fatalf("dataType %q: Data.records is not a string holding an array of strings: %v", dt, err)
		}
		if len(list) != 1 || list[0] != "eyJhIjoxfQ==" {
			t.Errorf("dataType %q: messages %q, want base64 of the body", dt, list)
		}
	}
}

func TestRetryContextInMetadata(t *testing.T) {
	got := decode(t, hostemu.EventHubRetry(time.Now(), 2, 5, []byte(`{"records":[]}`)))
	rc, ok := got["Metadata"].(map[string]any)["RetryContext"].(map[string]any)
	if !ok || rc["RetryCount"] != 2.0 || rc["MaxRetryCount"] != 5.0 {
		t.Errorf("Metadata.RetryContext = %#v, want an object with RetryCount 2 and MaxRetryCount 5", rc)
	}
}

// TestFunctionsMatchFunctionJSON holds the emulator's view of AppWarden's
// functions against function-app/*/function.json, which the host reads.
func TestFunctionsMatchFunctionJSON(t *testing.T) {
	for _, want := range []hostemu.Function{hostemu.OnEventGridEvent(), hostemu.OnAuditLogBatch(), hostemu.SweepTimer()} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "..", "function-app", want.Name, "function.json"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := hostemu.ParseFunctionJSON(want.Name, raw)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("function-app/%s/function.json trigger %+v, emulator has %+v", want.Name, got.Trigger, want.Trigger)
		}
	}
}
