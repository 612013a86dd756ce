package teams

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestWebhookPace: concurrent posters to one webhook never get a fifth post
// into a one-second window, and are not starved either.
func TestWebhookPace(t *testing.T) {
	lim := newLimiter()
	const n = 9
	var mu sync.Mutex
	var at []time.Time
	var wg sync.WaitGroup
	start := time.Now()
	for range n {
		wg.Go(func() {
			if err := lim.Wait(context.Background()); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			at = append(at, time.Now())
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(at) != n {
		t.Fatalf("%d posts allowed, want %d", len(at), n)
	}
	for i := range at {
		in := 0
		for j := range at {
			if d := at[j].Sub(at[i]); d >= 0 && d < time.Second {
				in++
			}
		}
		if in > PostsPerWindow {
			t.Errorf("%d posts within a second of post %d; want at most %d", in, i, PostsPerWindow)
		}
	}
	// Eight intervals of window/4 (2.1 s), with slack for a slow machine.
	if el := time.Since(start); el > 4*time.Second {
		t.Errorf("%d posts took %v", n, el)
	}
}

// TestWebhookPaceRespectsTheDeadline: a slot past the deadline is refused
// at once rather than waited for.
func TestWebhookPaceRespectsTheDeadline(t *testing.T) {
	lim := newLimiter()
	if err := lim.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := lim.Wait(ctx); err == nil {
		t.Error("a slot 262 ms away was granted within a 50 ms budget")
	}
	if el := time.Since(start); el > 40*time.Millisecond {
		t.Errorf("refused after %v; want at once", el)
	}
}
