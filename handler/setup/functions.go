package setup

import (
	"encoding/json"
	"io"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/eventgrid"
	"github.com/appwarden/appwarden/handler/eventhub"
	"github.com/appwarden/appwarden/handler/functions"
	"github.com/appwarden/appwarden/handler/timer"
)

// Function names are the folder names under function-app/, and so the
// routes the host POSTs to. A test checks both sides agree.
const (
	FnEventGrid = "OnEventGridEvent"
	FnEventHub  = "OnAuditLogBatch"
	FnTimer     = "SweepTimer"
)

// Functions lists the functions the custom handler serves.
func Functions() []functions.Function {
	return []functions.Function{
		{
			Name: FnEventGrid, Binding: "event", Trigger: "eventGridTrigger",
			// One event is at most 1 MB, and the host sends it twice (Data and
			// Metadata.data), JSON-escaped when dataType is string.
			MaxBody: 4 << 20,
			Decode:  func(v any, path string, _ time.Time) appwarden.Batch { return eventgrid.Decode(v, path) },
		},
		{
			Name: FnEventHub, Binding: "records", Trigger: "eventHubTrigger",
			// A batch holds up to maxEventBatchSize messages of up to 1 MB.
			MaxBody: 256 << 20,
			Decode:  func(v any, path string, _ time.Time) appwarden.Batch { return eventhub.Decode(v, path) },
		},
		{
			Name: FnTimer, Binding: "timer", Trigger: "timerTrigger",
			MaxBody: 64 << 10,
			Decode:  timer.Decode,
		},
	}
}

// PrintFunctions writes the function set as JSON, so tests and tooling can
// check it against function-app/*/function.json and infra/.
func PrintFunctions(w io.Writer) error {
	type fn struct {
		Name    string `json:"name"`
		Binding string `json:"binding"`
		Trigger string `json:"trigger"`
		MaxBody int64  `json:"maxBody"`
	}
	var out []fn
	for _, f := range Functions() {
		out = append(out, fn{f.Name, f.Binding, f.Trigger, f.MaxBody})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
