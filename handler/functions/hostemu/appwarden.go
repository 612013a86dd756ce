package hostemu

import (
	"strconv"
	"time"
)

// AppWarden's functions, as function-app/<Name>/function.json declares them
// (a test holds these against those files).

// OnEventGridEvent is the Event Grid function.
func OnEventGridEvent() Function {
	return Function{Name: "OnEventGridEvent", Trigger: Binding{Type: EventGridTrigger, Name: "event"}}
}

// OnAuditLogBatch is the Event Hub function: batches of message strings.
func OnAuditLogBatch() Function {
	return Function{Name: "OnAuditLogBatch", Trigger: Binding{Type: EventHubTrigger, Name: "records", DataType: "string", Cardinality: "many"}}
}

// SweepTimer is the timer function.
func SweepTimer() Function {
	return Function{Name: "SweepTimer", Trigger: Binding{Type: TimerTrigger, Name: "timer"}}
}

// EventGrid is OnEventGridEvent's body for one event (its JSON).
func EventGrid(event []byte, now time.Time) []byte {
	return MustEncode(OnEventGridEvent(), Invocation{Event: event, Now: now})
}

// EventHub is OnAuditLogBatch's body for a batch of message bodies,
// enqueued at now.
func EventHub(now time.Time, bodies ...[]byte) []byte {
	return MustEncode(OnAuditLogBatch(), Invocation{Messages: Messages(now, bodies...), Now: now})
}

// EventHubRetry is EventHub as the host sends it on retry number retry of
// a policy that allows maxRetries.
func EventHubRetry(now time.Time, retry, maxRetries int, bodies ...[]byte) []byte {
	return MustEncode(OnAuditLogBatch(), Invocation{
		Messages: Messages(now, bodies...), Now: now,
		Retry: &RetryContext{RetryCount: retry, MaxRetryCount: maxRetries, Exception: map[string]any{"Message": "Exception while executing function: Functions.OnAuditLogBatch"}},
	})
}

// Messages wraps bodies as consecutive messages of one partition.
func Messages(now time.Time, bodies ...[]byte) []Message {
	ms := make([]Message, len(bodies))
	for i, b := range bodies {
		seq := int64(4711 + i)
		ms[i] = Message{Body: b, EnqueuedTime: now, SequenceNumber: seq, Offset: strconv.FormatInt(seq*1024, 10)}
	}
	return ms
}

// Tick is SweepTimer's body for the occurrence due at next (its identity:
// the same next is the same tick), sent at now.
func Tick(next, now time.Time) []byte {
	return MustEncode(SweepTimer(), Invocation{
		Timer: &Timer{Last: next.Add(-30 * time.Second), Next: next, LastUpdated: next.Add(-30 * time.Second)},
		Now:   now,
	})
}
