package graph

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// One resolution per app at a time, per client (so per instance): a
// resolution that starts while another of the same app is in flight shares
// its read instead of reading Graph again, when that read can show what the
// later signal is about. A flight is keyed by appId (a signal naming only
// an object id learns its appId first, which is not shared).
//
// When a signal may share a flight (covers):
//   - the flight started at or after the signal's change (Subject.Changed):
//     a read that began before the change may not show it, so a signal
//     whose change came later waits for the flight to end and then reads
//     again (or shares a newer flight). An event's change time is the
//     audit record's, minutes before its delivery, so an event almost
//     always shares; the sweep's is when its delta page arrived (the page
//     shows changes up to then), so the sweep shares a flight that began
//     after it read the page;
//   - the flight reads at least what the signal needs: a creation reads
//     neither federated credentials nor directory roles, so a change's
//     signal never shares a creation's flight (the reverse is fine);
//   - the flight was for the same object type (or the signal names none):
//     what counts as "not visible yet" depends on it.
//
// golang.org/x/sync/singleflight shares every call made while one is in
// flight, whatever it started after; the first rule needs the flight's
// start, so this is its own small group. A joiner waits for the flight
// within its own context. When the flight failed because its leader's
// context ended, a joiner whose context is alive reads for itself.
type flight struct {
	start      time.Time
	extras     bool   // reads federated credentials and directory roles
	objectType string // the leader's Subject.ObjectType
	done       chan struct{}
	joiners    int    // under flights.mu, while the flight is in the map
	app        []byte // the leader's App in JSON, for joiners, each of which decodes its own copy
	err        error
}

type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

func (f *flight) covers(s Subject) bool {
	return (f.extras || creation(s.Kind)) &&
		(s.ObjectType == "" || s.ObjectType == f.objectType) &&
		!s.Changed.After(f.start)
}

// resolveShared runs read for s.AppID as a flight, or shares the flight in
// progress. shared reports that the app came from another resolution's read.
func (c *Client) resolveShared(ctx context.Context, s Subject, read func(context.Context) (*appwarden.App, error)) (app *appwarden.App, shared bool, err error) {
	key := strings.ToLower(s.AppID)
	for {
		c.flights.mu.Lock()
		if c.flights.m == nil {
			c.flights.m = map[string]*flight{}
		}
		f := c.flights.m[key]
		if f == nil {
			f = &flight{start: c.now(), extras: !creation(s.Kind), objectType: s.ObjectType, done: make(chan struct{})}
			c.flights.m[key] = f
			c.flights.mu.Unlock()
			var app *appwarden.App
			func() {
				defer func() {
					c.flights.mu.Lock()
					delete(c.flights.m, key)
					n := f.joiners
					c.flights.mu.Unlock()
					if n > 0 && f.err == nil {
						// Encoded before the leader gets its App, which it
						// may change: joiners never share its memory.
						f.app, f.err = json.Marshal(app)
					}
					close(f.done)
				}()
				app, f.err = read(ctx)
			}()
			return app, false, f.err
		}
		join := f.covers(s)
		if join {
			f.joiners++
		}
		c.flights.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
		if !join {
			continue // one at a time: read again now that it is over
		}
		if f.err != nil {
			if (errors.Is(f.err, context.Canceled) || errors.Is(f.err, context.DeadlineExceeded)) && ctx.Err() == nil {
				continue // the leader's context ended, not this one's
			}
			return nil, true, f.err
		}
		app := &appwarden.App{}
		if err := json.Unmarshal(f.app, app); err != nil {
			return nil, true, err
		}
		// Only the creator is the signal's own (see SubjectOf).
		app.Creator = s.Creator
		return app, true, nil
	}
}
