// Package hostemu builds custom-handler invocation bodies exactly as the
// Azure Functions host encodes them, so that tests, the benchmark and the
// demo drive AppWarden the way production does. The host itself cannot run
// here; its rules are in FACTS.md §2, from its source:
//
//   - The requested .NET type of a trigger value comes from function.json
//     (azure-functions-host GeneralScriptBindingProvider.GetRequestedType):
//     dataType string → string, binary → byte[], none → object; cardinality
//     many → an array of it.
//   - The extension then picks the type it converts to (azure-webjobs-sdk
//     TriggerAdapterBindingProvider.GetDefaultType): the Event Grid
//     extension converts an event only to its indented JSON text (string);
//     an Event Hub message converts to byte[] first, or to string when
//     asked for one; a timer's TimerInfo is an object.
//   - Every Data and Metadata value then goes through
//     ScriptInvocationContextExtensions.GetHttpScriptInvocationContextValue:
//     byte[] → base64, DateTime → the date, what serializes to a JSON object
//     → that object, anything else → JsonConvert.SerializeObject(value),
//     JSON text that the envelope carries as a JSON string.
//
// tests/testdata/functions-host/ holds envelopes in this encoding; a
// contract test holds this package's output against them.
package hostemu

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// Binding is a function.json trigger binding: what decides the encoding.
type Binding struct {
	Type        string `json:"type"`
	Name        string `json:"name"`
	DataType    string `json:"dataType,omitempty"`
	Cardinality string `json:"cardinality,omitempty"`
}

// Function is one function: its folder name (the route) and its trigger.
type Function struct {
	Name    string
	Trigger Binding
}

// The trigger types this package encodes.
const (
	EventGridTrigger = "eventGridTrigger"
	EventHubTrigger  = "eventHubTrigger"
	TimerTrigger     = "timerTrigger"
)

// ParseFunctionJSON reads a function.json and returns its trigger binding.
func ParseFunctionJSON(name string, raw []byte) (Function, error) {
	var doc struct {
		Bindings []struct {
			Binding
			Direction string `json:"direction"`
		} `json:"bindings"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return Function{}, fmt.Errorf("hostemu: %s/function.json: %w", name, err)
	}
	for _, b := range doc.Bindings {
		if b.Direction == "in" && (b.Type == EventGridTrigger || b.Type == EventHubTrigger || b.Type == TimerTrigger) {
			return Function{Name: name, Trigger: b.Binding}, nil
		}
	}
	return Function{}, fmt.Errorf("hostemu: %s/function.json: no eventGrid, eventHub or timer trigger binding", name)
}

// Message is one Event Hub message with the system properties the host
// reports for it.
type Message struct {
	Body           []byte
	EnqueuedTime   time.Time
	SequenceNumber int64
	Offset         string
	PartitionKey   *string
}

// PartitionContext names the Event Hub partition a batch came from.
type PartitionContext struct {
	ConsumerGroup           string `json:"ConsumerGroup"`
	EventHubName            string `json:"EventHubName"`
	FullyQualifiedNamespace string `json:"FullyQualifiedNamespace"`
	PartitionID             string `json:"PartitionId"`
}

// RetryContext is what the host adds to Metadata when it runs an invocation
// again under the function's retry policy.
type RetryContext struct {
	RetryCount    int            `json:"RetryCount"`
	MaxRetryCount int            `json:"MaxRetryCount"`
	Exception     map[string]any `json:"Exception"`
}

// Timer is the TimerInfo a timer trigger receives.
type Timer struct {
	Last, Next, LastUpdated time.Time
	IsPastDue               bool
}

// Invocation is what one call carries. Set the field of the function's
// trigger: Event for Event Grid, Messages for Event Hub (exactly one with
// cardinality one), Timer for a timer.
type Invocation struct {
	// Event is the event's JSON as Event Grid delivered it (key order is
	// kept, as the extension keeps it).
	Event    []byte
	Messages []Message
	Timer    *Timer
	// Partition is the Event Hub partition (defaults are filled in).
	Partition PartitionContext
	// Now is Metadata.sys.UtcNow; RandGuid is Metadata.sys.RandGuid.
	Now      time.Time
	RandGuid string
	// Retry is set on a retry under the function's retry policy.
	Retry *RetryContext
}

// Encode returns the request body the host POSTs to /<Function.Name>.
func Encode(f Function, inv Invocation) ([]byte, error) {
	data, meta, err := values(f, inv)
	if err != nil {
		return nil, err
	}
	randGUID := inv.RandGuid
	if randGUID == "" {
		randGUID = "c0ffee00-1234-4abc-8def-001122334455"
	}
	now := inv.Now
	if now.IsZero() {
		now = time.Now()
	}
	meta["sys"] = map[string]any{"MethodName": f.Name, "UtcNow": now.UTC().Format(sysTime), "RandGuid": randGUID}
	if inv.Retry != nil {
		meta["RetryContext"] = inv.Retry
	}
	return marshal(map[string]any{"Data": map[string]any{f.Trigger.Name: data}, "Metadata": meta})
}

// MustEncode is Encode for callers whose input is fixed (tests, the demo):
// an error is a bug in the caller.
func MustEncode(f Function, inv Invocation) []byte {
	b, err := Encode(f, inv)
	if err != nil {
		panic(err)
	}
	return b
}

// sysTime is how the host writes UtcNow (.NET's round-trip "O" format).
const sysTime = "2006-01-02T15:04:05.0000000Z"

// dotnetTime is how Json.NET writes a DateTime inside serialized text:
// seven fractional digits at most, trailing zeros dropped.
const dotnetTime = "2006-01-02T15:04:05.9999999"

// timerTime is how TimerInfo's schedule status times arrive.
const timerTime = "2006-01-02T15:04:05.0000000-07:00"

// values converts the trigger value and its metadata by the host's rules.
func values(f Function, inv Invocation) (data any, meta map[string]any, err error) {
	meta = map[string]any{}
	switch f.Trigger.Type {
	case EventGridTrigger:
		if f.Trigger.Cardinality == "many" {
			return nil, nil, fmt.Errorf("hostemu: %s: an Event Grid trigger takes one event per invocation", f.Name)
		}
		if len(inv.Event) == 0 {
			return nil, nil, fmt.Errorf("hostemu: %s: Invocation.Event is empty", f.Name)
		}
		// The extension turns the event into its indented text (a
		// string, whatever dataType says), and a string is serialized.
		var indented bytes.Buffer
		if err := json.Indent(&indented, inv.Event, "", "  "); err != nil {
			return nil, nil, fmt.Errorf("hostemu: %s: event is not JSON: %w", f.Name, err)
		}
		if data, err = serialized(indented.String()); err != nil {
			return nil, nil, err
		}
		// Metadata.data is the event's data, a JToken object: sent as is.
		var ev struct {
			Data json.RawMessage `json:"data"`
		}
		if json.Unmarshal(inv.Event, &ev) == nil && len(ev.Data) > 0 && ev.Data[0] == '{' {
			meta["data"] = ev.Data
		}
		return data, meta, nil
	case EventHubTrigger:
		return eventHub(f, inv, meta)
	case TimerTrigger:
		t := inv.Timer
		if t == nil {
			return nil, nil, fmt.Errorf("hostemu: %s: Invocation.Timer is nil", f.Name)
		}
		// TimerInfo serializes to an object: sent as is.
		return map[string]any{
			"Schedule": map[string]any{"AdjustForDST": true},
			"ScheduleStatus": map[string]any{
				"Last": t.Last.UTC().Format(timerTime), "Next": t.Next.UTC().Format(timerTime),
				"LastUpdated": t.LastUpdated.UTC().Format(timerTime),
			},
			"IsPastDue": t.IsPastDue,
		}, meta, nil
	}
	return nil, nil, fmt.Errorf("hostemu: %s: trigger type %q is not one AppWarden uses", f.Name, f.Trigger.Type)
}

// eventHub converts a batch: each body is a string (dataType string) or
// byte[] (binary, or no dataType: byte[] is the first type an EventData
// converts to); many → an array of them, which is not an object and so is
// serialized into a string, as are the per-message metadata arrays.
func eventHub(f Function, inv Invocation, meta map[string]any) (any, map[string]any, error) {
	if len(inv.Messages) == 0 {
		return nil, nil, fmt.Errorf("hostemu: %s: Invocation.Messages is empty", f.Name)
	}
	asString := f.Trigger.DataType == "string"
	element := func(m Message) any {
		if asString {
			return string(m.Body)
		}
		return base64.StdEncoding.EncodeToString(m.Body) // Json.NET writes byte[] as base64
	}
	pc := inv.Partition
	if pc == (PartitionContext{}) {
		pc = PartitionContext{ConsumerGroup: "$Default", EventHubName: "insights-logs-auditlogs", FullyQualifiedNamespace: "ehns-appwarden.servicebus.windows.net", PartitionID: "0"}
	}
	meta["PartitionContext"] = pc
	sys := func(m Message) map[string]any {
		return map[string]any{
			"x-opt-sequence-number": m.SequenceNumber, "x-opt-offset": m.Offset,
			"x-opt-enqueued-time": m.EnqueuedTime.UTC().Format(dotnetTime + "+00:00"),
		}
	}
	if f.Trigger.Cardinality != "many" {
		if len(inv.Messages) != 1 {
			return nil, nil, fmt.Errorf("hostemu: %s: cardinality one takes exactly one message, got %d", f.Name, len(inv.Messages))
		}
		m := inv.Messages[0]
		var data any = element(m)
		if asString {
			var err error
			if data, err = serialized(data); err != nil {
				return nil, nil, err
			}
		}
		// DateTime → the date; a long, a string and null are serialized;
		// dictionaries are objects.
		meta["EnqueuedTimeUtc"] = m.EnqueuedTime.UTC().Format(dotnetTime + "Z")
		for k, v := range map[string]any{"SequenceNumber": m.SequenceNumber, "Offset": m.Offset, "PartitionKey": m.PartitionKey} {
			s, err := serialized(v)
			if err != nil {
				return nil, nil, err
			}
			meta[k] = s
		}
		meta["Properties"] = map[string]any{}
		meta["SystemProperties"] = sys(m)
		return data, meta, nil
	}
	bodies := make([]any, len(inv.Messages))
	arrays := map[string][]any{}
	for i, m := range inv.Messages {
		bodies[i] = element(m)
		arrays["EnqueuedTimeUtcArray"] = append(arrays["EnqueuedTimeUtcArray"], m.EnqueuedTime.UTC().Format(dotnetTime))
		arrays["SequenceNumberArray"] = append(arrays["SequenceNumberArray"], m.SequenceNumber)
		arrays["OffsetArray"] = append(arrays["OffsetArray"], m.Offset)
		arrays["PartitionKeyArray"] = append(arrays["PartitionKeyArray"], m.PartitionKey)
		arrays["PropertiesArray"] = append(arrays["PropertiesArray"], map[string]any{})
		arrays["SystemPropertiesArray"] = append(arrays["SystemPropertiesArray"], sys(m))
	}
	for k, v := range arrays {
		s, err := serialized(v)
		if err != nil {
			return nil, nil, err
		}
		meta[k] = s
	}
	data, err := serialized(bodies)
	if err != nil {
		return nil, nil, err
	}
	return data, meta, nil
}

// serialized is JsonConvert.SerializeObject(v): JSON text, which the
// envelope then carries as a JSON string.
func serialized(v any) (string, error) {
	b, err := marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// marshal writes compact JSON without Go's HTML escaping, which neither
// Json.NET nor the host applies.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("hostemu: encoding: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
