package harness

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"
)

func TestFunctionRetryPolicy(t *testing.T) {
	p := MustRetryPolicy(t, FnEventHub)
	want := RetryPolicy{Strategy: "exponentialBackoff", MaxRetryCount: 5, MinimumInterval: 5 * time.Second, MaximumInterval: time.Minute}
	if p != want {
		t.Errorf("%s's policy = %+v, want %+v (function-app/%s/function.json changed? then check the tests that compress it)", FnEventHub, p, want, FnEventHub)
	}
	var waits []time.Duration
	for i := 1; i <= p.MaxRetryCount; i++ {
		waits = append(waits, p.Delay(i))
	}
	if want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute}; !reflect.DeepEqual(waits, want) {
		t.Errorf("waits %v, want %v", waits, want)
	}
	if c := p.Compress(50); c.MinimumInterval != 100*time.Millisecond || c.MaximumInterval != 1200*time.Millisecond || c.MaxRetryCount != 5 {
		t.Errorf("compressed by 50: %+v", c)
	}
	for _, fn := range []string{FnEventGrid, FnTimer} {
		if p := MustRetryPolicy(t, fn); p != (RetryPolicy{}) {
			t.Errorf("%s has a retry policy %+v; the harness plays Event Grid's redelivery and the timer's schedule instead", fn, p)
		}
	}
}

func TestParseTimeSpan(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"00:00:05": 5 * time.Second, "00:05:00": 5 * time.Minute, "1.02:00:00": 26 * time.Hour, "00:00:00.5": 500 * time.Millisecond,
	} {
		if got, err := parseTimeSpan(in); err != nil || got != want {
			t.Errorf("parseTimeSpan(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "5s", "00:05", "x:00:00"} {
		if _, err := parseTimeSpan(in); err == nil {
			t.Errorf("parseTimeSpan(%q) accepted", in)
		}
	}
}

// hostTry is what an Event Hub invocation body says about its try.
type hostTry struct {
	retry, maxRetries int
	isRetry           bool
	messages          []string
}

func readTry(t *testing.T, body []byte) hostTry {
	t.Helper()
	var env map[string]map[string]json.RawMessage
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	var out hostTry
	var text string
	if err := json.Unmarshal(env["Data"]["records"], &text); err != nil {
		t.Fatalf("records: %v", err)
	}
	if err := json.Unmarshal([]byte(text), &out.messages); err != nil {
		t.Fatalf("records: %v", err)
	}
	if raw, ok := env["Metadata"]["RetryContext"]; ok {
		var rc struct{ RetryCount, MaxRetryCount int }
		if err := json.Unmarshal(raw, &rc); err != nil {
			t.Fatal(err)
		}
		out.retry, out.maxRetries, out.isRetry = rc.RetryCount, rc.MaxRetryCount, true
	}
	return out
}

func TestDeliverEventHubFollowsThePolicy(t *testing.T) {
	policy := RetryPolicy{Strategy: "exponentialBackoff", MaxRetryCount: 3, MinimumInterval: 10 * time.Millisecond, MaximumInterval: 30 * time.Millisecond}
	batch := AuditBatch(Audit{AppID: "11111111-2222-3333-4444-555555555555", ObjectID: "o"})
	cases := []struct {
		name string
		// answer is the status for a try (0: the first).
		answer    func(try int) int
		from      int
		wantTries []int
		wantErr   bool
		lastRetry bool
	}{
		{"first try succeeds", func(int) int { return 200 }, 0, []int{0}, false, false},
		{"second retry succeeds", func(try int) int { return map[bool]int{true: 200, false: 500}[try == 2] }, 0, []int{0, 1, 2}, false, false},
		{"acknowledged on the last retry", func(try int) int { return map[bool]int{true: 200, false: 500}[try == 3] }, 0, []int{0, 1, 2, 3}, false, true},
		{"lost after the last retry", func(int) int { return 500 }, 0, []int{0, 1, 2, 3}, true, true},
		{"first try made elsewhere", func(int) int { return 500 }, 1, []int{1, 2, 3}, true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var tries []int
			var at []time.Time
			to := InvokerFunc(func(_ context.Context, fn string, body []byte) (Reply, error) {
				if fn != FnEventHub {
					t.Errorf("invoked %s", fn)
				}
				tr := readTry(t, body)
				if len(tr.messages) != 1 || len(batch.Messages) != 1 || tr.messages[0] != string(batch.Messages[0]) {
					t.Errorf("try %d carries other messages than the batch's", tr.retry)
				}
				if tr.isRetry != (tr.retry > 0) || tr.isRetry && tr.maxRetries != policy.MaxRetryCount {
					t.Errorf("RetryContext %+v on a try", tr)
				}
				tries, at = append(tries, tr.retry), append(at, time.Now())
				return Reply{Status: c.answer(tr.retry)}, nil
			})
			res, err := DeliverEventHub(context.Background(), to, batch, HubRetries{Policy: policy, From: c.from})
			if !reflect.DeepEqual(tries, c.wantTries) || res.Tries != len(c.wantTries) {
				t.Errorf("tries %v (%d counted), want %v", tries, res.Tries, c.wantTries)
			}
			if (err != nil) != c.wantErr || err != nil && !errors.Is(err, ErrBatchLost) {
				t.Errorf("error %v, want one: %v", err, c.wantErr)
			}
			if res.LastRetry != c.lastRetry || res.Last.OK() == c.wantErr {
				t.Errorf("result %+v", res)
			}
			for i := 1; i < len(at); i++ {
				if gap := at[i].Sub(at[i-1]); gap < policy.Delay(tries[i]) {
					t.Errorf("retry %d came %s after the try before, want at least %s", tries[i], gap, policy.Delay(tries[i]))
				}
			}
		})
	}
}

func TestDeliverEventGridRedeliversTheSameBody(t *testing.T) {
	body := EventGridEnvelope(map[string]any{"id": "e1"})
	n := 0
	to := InvokerFunc(func(_ context.Context, _ string, b []byte) (Reply, error) {
		n++
		if string(b) != string(body) {
			t.Error("a redelivery differs from the delivery")
		}
		return Reply{Status: map[bool]int{true: 200, false: 500}[n == 4]}, nil
	})
	if _, attempts, err := DeliverEventGrid(context.Background(), to, FnEventGrid, body, Redelivery{Backoff: time.Millisecond}); err != nil || attempts != 4 {
		t.Errorf("%d attempts, %v; want 4, nil", attempts, err)
	}
}

func TestTimerPlayer(t *testing.T) {
	var mu sync.Mutex
	var nexts []time.Time
	inFlight := 0
	to := InvokerFunc(func(_ context.Context, fn string, body []byte) (Reply, error) {
		mu.Lock()
		inFlight++
		if inFlight > 1 {
			t.Error("two ticks at once")
		}
		mu.Unlock()
		var env map[string]map[string]struct {
			ScheduleStatus struct{ Next time.Time }
		}
		if err := json.Unmarshal(body, &env); err != nil || fn != FnTimer {
			t.Errorf("%s: %v", fn, err)
		}
		time.Sleep(15 * time.Millisecond) // longer than the interval: the next occurrence is skipped
		mu.Lock()
		nexts = append(nexts, env["Data"]["timer"].ScheduleStatus.Next)
		inFlight--
		n := len(nexts)
		mu.Unlock()
		return Reply{Status: map[bool]int{true: http.StatusInternalServerError, false: http.StatusOK}[n == 2]}, nil
	})
	tp := PlayTimer(to, 10*time.Millisecond, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tp.Await(ctx, 5); err != nil {
		t.Fatal(err)
	}
	tp.Stop()
	tp.Stop()
	ticks, ok := tp.Ticks()
	mu.Lock()
	defer mu.Unlock()
	if ticks != len(nexts) || ticks < 5 || ok != ticks-1 {
		t.Errorf("%d ticks, %d succeeded, %d invocations", ticks, ok, len(nexts))
	}
	for i := 1; i < len(nexts); i++ {
		if !nexts[i].After(nexts[i-1]) {
			t.Errorf("tick %d's Next %s is not after the one before, %s", i, nexts[i], nexts[i-1])
		}
	}
	if err := tp.Await(ctx, 1); err == nil {
		t.Error("Await after Stop returned no error")
	}
}
