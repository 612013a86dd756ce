package sweep_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/inbox"
	"github.com/appwarden/appwarden/handler/store"
)

// TestFailedAppsGoPendingAndTheCursorMovesOn: with an inbox, an app Graph
// fails on is kept pending for the timer, and the sweep finishes the feed
// instead of redoing the page for ever.
func TestFailedAppsGoPendingAndTheCursorMovesOn(t *testing.T) {
	tenant, _, recent := tenantWith(0, 10)
	srv := serve(t, tenant, fakegraph.WithDeltaPageSize(3))
	c := client(t, srv)
	st := store.NewMemory()
	boom := errors.New("graph: 429 Too Many Requests")
	h := &handled{fail: map[string]error{recent[4].AppID: boom}} // on the second page
	s := newSweeper(c, st, h)
	pending := &inbox.Inbox{Store: st}
	s.Pending = pending

	if _, err := s.Sweep(context.Background(), quiet); err != nil {
		t.Fatalf("sweep failed although the failed app is pending: %v", err)
	}
	if _, baselined := cursorOf(t, st, appwarden.FeedApplications); !baselined {
		t.Error("the applications feed did not reach its end")
	}
	cursorOf(t, st, appwarden.FeedServicePrincipals)
	es, err := pending.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Signal.AppID != recent[4].AppID || es[0].State != inbox.Pending || es[0].Attempts != 1 || es[0].LastError != boom.Error() || !es[0].HandedOff {
		t.Fatalf("inbox %+v, want the failed app pending with its error, handed off to the timer", es)
	}
}

// TestNoPendingWhenTheInboxFails: if the inbox cannot take the app, the
// page fails as before, so it is swept again.
func TestNoPendingWhenTheInboxFails(t *testing.T) {
	tenant, _, recent := tenantWith(0, 4)
	srv := serve(t, tenant, fakegraph.WithDeltaPageSize(3))
	st := store.NewMemory()
	boom := errors.New("graph: 503")
	h := &handled{fail: map[string]error{recent[1].AppID: boom}}
	s := newSweeper(client(t, srv), st, h)
	s.Pending = &inbox.Inbox{Store: failingPuts{st}}
	if _, err := s.Sweep(context.Background(), quiet); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the handling error", err)
	}
	if _, found, _ := st.Get(context.Background(), appwarden.PartitionCursors, appwarden.FeedApplications); found {
		t.Error("the cursor moved past an app that is neither decided nor pending")
	}
}

type failingPuts struct{ appwarden.Store }

func (failingPuts) Put(context.Context, appwarden.Record) (bool, error) {
	return false, errors.New("state store unavailable")
}

// TestBudgetEndsMidPage: once the invocation's context has ended, the apps
// of the page not yet started are not handled, but they still go pending
// (as their failed handling would), and the sweep reports the context's end.
func TestBudgetEndsMidPage(t *testing.T) {
	tenant, _, recent := tenantWith(0, 6)
	srv := serve(t, tenant, fakegraph.WithDeltaPageSize(10))
	st := store.NewMemory()
	h := &handled{}
	s := newSweeper(client(t, srv), st, h)
	s.Parallel = 1
	pending := &inbox.Inbox{Store: st}
	s.Pending = pending
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inner := s.Handle
	s.Handle = func(ctx context.Context, log *slog.Logger, sig appwarden.Signal) error {
		cancel() // the budget runs out during the first app
		if err := inner(ctx, log, sig); err != nil {
			return err
		}
		return ctx.Err()
	}
	if _, err := s.Sweep(ctx, quiet); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if got := len(h.take()); got != 1 {
		t.Errorf("%d apps handled after the context ended, want only the first", got)
	}
	es, err := pending.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, r := range recent {
		want[r.AppID] = true
	}
	for _, e := range es {
		if e.State == inbox.Pending && e.HandedOff {
			delete(want, e.Signal.AppID)
		}
	}
	if len(want) != 0 {
		t.Errorf("%d of %d apps neither handled nor pending: %v", len(want), len(recent), want)
	}
}
