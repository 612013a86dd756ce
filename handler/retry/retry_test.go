package retry_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/retry"
)

func TestAfter(t *testing.T) {
	now := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		v    string
		want time.Duration
		ok   bool
	}{
		{"seconds", "120", 2 * time.Minute, true},
		{"zero", "0", 0, true},
		{"spaces", " 3 ", 3 * time.Second, true},
		{"huge seconds saturate", "99999999999999999999999", math.MaxInt64, true},
		{"future IMF-fixdate", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"future RFC 850", now.Add(time.Minute).Format(time.RFC850), time.Minute, true},
		{"future asctime", now.Add(time.Hour).Format(time.ANSIC), time.Hour, true},
		{"past date is now", now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"empty", "", 0, false},
		{"negative", "-5", 0, false},
		{"signed", "+5", 0, false},
		{"fraction", "1.5", 0, false},
		{"garbage", "soon", 0, false},
		{"date without zone", "2025-03-04 10:01:00", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := retry.After(tt.v, now)
			if got != tt.want || ok != tt.ok {
				t.Errorf("After(%q) = %v, %v; want %v, %v", tt.v, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestSleepWaits(t *testing.T) {
	start := time.Now()
	if err := retry.Sleep(context.Background(), 30*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 30*time.Millisecond {
		t.Errorf("returned after %v; want at least 30ms", el)
	}
	if err := retry.Sleep(context.Background(), 0); err != nil {
		t.Errorf("Sleep(0) = %v", err)
	}
}

func TestSleepCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	err := retry.Sleep(ctx, time.Hour)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v; want context.Canceled", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("waited %v on a cancelled context", el)
	}
	if err := retry.Sleep(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep(cancelled, 0) = %v; want context.Canceled", err)
	}
}

func TestSleepCancelledDuringWait(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	err := retry.Sleep(ctx, time.Hour)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v; want context.Canceled", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("waited %v after the cancellation", el)
	}
}

// A wait that would end after the deadline is not begun: it fails at once,
// leaving the invocation the rest of its time.
func TestSleepDoesNotBeginPastTheDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	err := retry.Sleep(ctx, 10*time.Second)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v; want context.DeadlineExceeded", err)
	}
	if el := time.Since(start); el > 500*time.Millisecond {
		t.Errorf("waited %v before giving up; want no wait at all", el)
	}
	if ctx.Err() != nil {
		t.Error("the context ended; Sleep should have returned well before")
	}
	// A wait that fits is done.
	if err := retry.Sleep(ctx, 10*time.Millisecond); err != nil {
		t.Errorf("Sleep within the deadline = %v", err)
	}
}

func TestOutlasts(t *testing.T) {
	if retry.Outlasts(context.Background(), 1000*time.Hour) {
		t.Error("a context without a deadline outlasts nothing")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if retry.Outlasts(ctx, time.Second) || !retry.Outlasts(ctx, 2*time.Minute) {
		t.Error("Outlasts disagrees with a one-minute deadline")
	}
}
