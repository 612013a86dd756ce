package harness

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/fakegraph"
)

func TestDisablingTargets(t *testing.T) {
	batch := `{"requests":[
		{"id":"1","method":"GET","url":"/servicePrincipals(appId='x')"},
		{"id":"2","method":"PATCH","url":"/servicePrincipals/AbC","body":{"accountEnabled":false},"headers":{"Content-Type":"application/json"}},
		{"id":"3","method":"PATCH","url":"/servicePrincipals/def","body":{"accountEnabled":true}},
		{"id":"4","method":"PATCH","url":"/applications/ghi","body":{"isDisabled":true}}]}`
	r := httptest.NewRequest(http.MethodPost, "/v1.0/$batch", nil)
	sps, write := disablingTargets(r, []byte(batch))
	if !write || !reflect.DeepEqual(sps, []string{"abc"}) {
		t.Errorf("batch: %v %v, want [abc] true", sps, write)
	}
	r = httptest.NewRequest(http.MethodPatch, "/v1.0/servicePrincipals/xyz", nil)
	if sps, write := disablingTargets(r, []byte(`{"accountEnabled":false}`)); !write || !reflect.DeepEqual(sps, []string{"xyz"}) {
		t.Errorf("top-level: %v %v", sps, write)
	}
	r = httptest.NewRequest(http.MethodPost, "/v1.0/$batch", nil)
	if sps, write := disablingTargets(r, []byte(`{"requests":[{"id":"1","method":"GET","url":"/applications/x"}]}`)); write || len(sps) > 0 {
		t.Errorf("reads only: %v %v", sps, write)
	}
}

func TestCountTrips(t *testing.T) {
	calls := []fakegraph.Call{
		{Method: "GET", Route: fakegraph.RouteApplicationByAppID, Inner: true, BatchID: 1},
		{Method: "GET", Route: fakegraph.RouteServicePrincipalByAppID, Inner: true, BatchID: 1},
		{Method: "POST", Route: fakegraph.RouteBatch, BatchID: 1},
		{Method: "GET", Route: fakegraph.RouteServicePrincipal, Inner: true, BatchID: 2},
		{Method: "POST", Route: fakegraph.RouteBatch, BatchID: 2},
		{Method: "PATCH", Route: fakegraph.RoutePatchServicePrincipal, Inner: true, BatchID: 3},
		{Method: "POST", Route: fakegraph.RouteBatch, BatchID: 3},
		{Method: "GET", Route: fakegraph.RouteApplicationOwners},
	}
	got := CountTrips(calls)
	want := Trips{Resolve: 3, Act: 1, ResolveInner: 3, ActInner: 1}
	if got != want {
		t.Errorf("CountTrips = %+v, want %+v", got, want)
	}
}

func TestLineLog(t *testing.T) {
	l := &lineLog{keep: true}
	for _, chunk := range []string{`{"a":`, `1}` + "\n" + `{"b":2}` + "\n{", `"c":3}` + "\n"} {
		_, _ = l.Write([]byte(chunk))
	}
	want := []string{`{"a":1}`, `{"b":2}`, `{"c":3}`}
	if got := l.Lines(); !reflect.DeepEqual(got, want) || l.Count() != 3 {
		t.Errorf("lines %q (count %d), want %q", got, l.Count(), want)
	}
	d := &lineLog{}
	_, _ = d.Write([]byte("x\ny\nz"))
	if d.Count() != 2 || len(d.Lines()) != 0 {
		t.Errorf("discarding log kept %q, counted %d", d.Lines(), d.Count())
	}
}

// The envelopes are encoded as the host sends them: Data.<binding>, and an
// Event Hub batch as one string holding the array of message texts, one of
// which holds {"records":[...]}.
func TestEnvelopes(t *testing.T) {
	a := Audit{AppID: "5bee10b5-db93-4475-ae1a-3d87e059d287", ObjectID: "a0847fad-c428-4478-bd58-d4ad0d9f48be"}
	var env struct {
		Data struct {
			Records string `json:"records"`
		}
		Metadata struct{ Sys struct{ MethodName string } }
	}
	if err := json.Unmarshal(EventHubAudits(a), &env); err != nil || env.Metadata.Sys.MethodName != FnEventHub {
		t.Fatalf("event hub envelope: %v %+v", err, env)
	}
	var messages []string
	if err := json.Unmarshal([]byte(env.Data.Records), &messages); err != nil || len(messages) != 1 {
		t.Fatalf("Data.records is not a string holding an array of one message: %v %q", err, env.Data.Records)
	}
	var msg struct {
		Records []struct {
			Category   string `json:"category"`
			Properties struct {
				ActivityDisplayName string `json:"activityDisplayName"`
				AdditionalDetails   []struct{ Key, Value string }
			} `json:"properties"`
		} `json:"records"`
	}
	if err := json.Unmarshal([]byte(messages[0]), &msg); err != nil || len(msg.Records) != 1 {
		t.Fatalf("message: %v", err)
	}
	r := msg.Records[0]
	if r.Category != "AuditLogs" || r.Properties.ActivityDisplayName != "Add application" ||
		len(r.Properties.AdditionalDetails) == 0 || r.Properties.AdditionalDetails[0].Value != a.AppID {
		t.Errorf("record: %+v", r)
	}
	var tick struct {
		Data struct {
			Timer struct{ ScheduleStatus struct{ Next string } }
		}
	}
	if err := json.Unmarshal(TimerEnvelope(fakeNow), &tick); err != nil || !strings.HasPrefix(tick.Data.Timer.ScheduleStatus.Next, "2026-11-24T09:14:05") {
		t.Errorf("timer envelope: %v %+v", err, tick)
	}
	var grid struct {
		Data struct{ Event string }
	}
	if err := json.Unmarshal(MalformedEventGrid("e1"), &grid); err != nil {
		t.Fatal(err)
	}
	var text string
	if err := json.Unmarshal([]byte(grid.Data.Event), &text); err != nil || !strings.Contains(text, `"operationName": 42`) {
		t.Errorf("Data.event is not a string holding the event's indented text as a string: %v %q", err, grid.Data.Event)
	}
}

var fakeNow = mustTime("2026-11-24T09:14:05Z")

func mustTime(s string) (t time.Time) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}
