package expiry_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/expiry"
	"github.com/appwarden/appwarden/handler/store"
	"github.com/appwarden/appwarden/tests/azurite"
)

// TestPassTwoInstancesOnAzurite: two instances (two Passes, each with its
// own Table Storage client) tick at the same moments for 45 days over one
// Azurite table: each credential is reported once per threshold, by one of
// them, and only one instance runs each day's pass. A third Pass (a
// restart) over the same table reports nothing again.
func TestPassTwoInstancesOnAzurite(t *testing.T) {
	if testing.Short() {
		t.Skip("Azurite")
	}
	az := azurite.Start(t)
	ctx := context.Background()
	open := func() appwarden.Store {
		tbl, err := store.NewTableFromConnectionString(ctx, az.ConnectionString())
		if err != nil {
			t.Fatal(err)
		}
		return tbl
	}
	a, b := open(), open()
	var apps []*appwarden.App
	for i := range 24 {
		apps = append(apps, credApp(i, start.Add(time.Duration(i)*2*passDay+time.Hour)))
	}
	apps[5].Application.PasswordCredentials[0].EndDateTime = start.Add(-10 * passDay) // expired already
	record(t, a, apps...)

	c := &clock{t: start}
	h := &heard{}
	pa, pb := newPass(a, c, h), newPass(b, c, h)
	pa.Owner, pb.Owner = "instance-a", "instance-b"
	pa.Page, pb.Page = 7, 7
	runs := 0
	for d := range 50 {
		c.Set(start.Add(time.Duration(d) * passDay))
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, p := range []*expiry.Pass{pa, pb} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := p.RunStats(ctx, quiet)
				if err != nil {
					t.Errorf("day %d, %s: %v", d, p.Owner, err)
				}
				mu.Lock()
				if s.Ran {
					runs++
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	if runs != 50 {
		t.Errorf("%d runs over 50 days of two instances; want one a day", runs)
	}
	// Each app: the shortest threshold it is within when first seen, each
	// shorter one as it is crossed (a credential first seen 10 days before
	// its end is reported at 14d, not also at 30d), then expired.
	want := 0
	for i := range apps {
		left := time.Duration(i)*2*passDay + time.Hour
		if i == 5 {
			want++ // expired when first seen: only that
			continue
		}
		for _, th := range expiry.DefaultThresholds {
			if th < left {
				want++
			}
		}
		if left <= expiry.DefaultThresholds[0] {
			want++
		}
		want++ // expired
	}
	for k, n := range h.got {
		if n != 1 {
			t.Errorf("%s reported %d times; want once", k, n)
		}
	}
	if len(h.got) != want {
		t.Errorf("reported %d distinct warnings; want %d: %v", len(h.got), want, h.got)
	}

	// A restart: a new Pass, a new client, the cursor lost; nothing again.
	if err := a.Delete(ctx, appwarden.PartitionCursors, expiry.CursorKey); err != nil {
		t.Fatal(err)
	}
	before := h.total()
	if s, err := newPass(open(), c, h).RunStats(ctx, quiet); err != nil || !s.Finished || s.Reported != 0 {
		t.Fatalf("restart: %+v, %v", s, err)
	}
	if h.total() != before {
		t.Error("a restart reported a warning again")
	}
}
