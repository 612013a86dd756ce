package graph

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/appwarden/appwarden/handler/retry"
)

// gate holds back the process's reads while Graph has asked it to back off.
// Graph throttles per app and tenant, not per request: once one request is
// answered 429 (or 503) with Retry-After, the reads that other invocations
// send meanwhile are refused too, and each refusal spends one of their
// attempts. Waiting together turns a 429 storm into one pause. Writes are not
// held: a write is a containment, the one request that must not queue behind
// reads (a throttled write still waits for its own Retry-After).
type gate struct {
	until atomic.Int64 // UnixNano before which no read is sent
	max   time.Duration
}

// hold asks every read to wait d (at most max) from now.
func (g *gate) hold(d time.Duration) {
	t := time.Now().Add(min(d, g.max)).UnixNano()
	for {
		cur := g.until.Load()
		if t <= cur || g.until.CompareAndSwap(cur, t) {
			return
		}
	}
}

// wait blocks until the gate is open or ctx ends; reads call it.
func (g *gate) wait(ctx context.Context) error {
	d := time.Until(time.Unix(0, g.until.Load()))
	if d <= 0 {
		return nil
	}
	if err := retry.Sleep(ctx, d); err != nil {
		return fmt.Errorf("graph: reads held back by throttling: %w", err)
	}
	return nil
}

// gated is the transport side of the gate: it closes the gate when a whole
// request is throttled (a throttled item inside a $batch closes it from
// Client.batch). The reads wait in Client.sendBatch and Client.get, which
// know a read from a write.
type gated struct {
	next http.RoundTripper
	gate *gate
}

func (t *gated) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err == nil && throttled(resp.StatusCode) {
		if d, ok := retry.After(resp.Header.Get("Retry-After"), time.Now()); ok {
			t.gate.hold(d)
		}
	}
	return resp, err
}
