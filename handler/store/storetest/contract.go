// Package storetest is the contract every appwarden.Store must pass: the
// in-memory store and the Table Storage store (against Azurite) run the same
// suite, so the embedded default cannot drift from production.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/appwarden/appwarden/handler/appwarden"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Run runs the contract against stores made by open; each test gets a fresh,
// empty store (or a fresh partition namespace on a shared one).
func Run(t *testing.T, open func(t *testing.T) appwarden.Store) {
	ctx := context.Background()
	ns := func(t *testing.T) string { return strings.ReplaceAll(t.Name(), "/", "_") }

	t.Run("PutInsertsOnce", func(t *testing.T) {
		s, p := open(t), ns(t)
		rec := appwarden.Record{Partition: p, Key: "k1", Kind: appwarden.KindSignal, Time: time.Unix(1700000000, 0).UTC(), Data: json.RawMessage(`{"a":1}`)}
		ok, err := s.Put(ctx, rec)
		if err != nil || !ok {
			t.Fatalf("first Put = %v, %v; want true, nil", ok, err)
		}
		rec.Data = json.RawMessage(`{"a":2}`)
		ok, err = s.Put(ctx, rec)
		if err != nil || ok {
			t.Fatalf("second Put = %v, %v; want false, nil", ok, err)
		}
		got, found, err := s.Get(ctx, p, "k1")
		if err != nil || !found {
			t.Fatalf("Get = %v, %v", found, err)
		}
		if string(got.Data) != `{"a":1}` || got.Kind != appwarden.KindSignal || !got.Time.Equal(rec.Time) {
			t.Fatalf("Get returned %+v; the first write must win", got)
		}
		if got.ETag == "" {
			t.Fatal("Get returned no ETag")
		}
	})

	t.Run("GetMissing", func(t *testing.T) {
		s, p := open(t), ns(t)
		if _, found, err := s.Get(ctx, p, "nope"); err != nil || found {
			t.Fatalf("Get of a missing record = %v, %v; want false, nil", found, err)
		}
	})

	t.Run("ReplaceChecksETag", func(t *testing.T) {
		s, p := open(t), ns(t)
		if _, err := s.Replace(ctx, appwarden.Record{Partition: p, Key: "c", Kind: appwarden.KindCursor, Data: json.RawMessage(`"v1"`)}); err != nil {
			t.Fatalf("unconditional Replace: %v", err)
		}
		cur, _, err := s.Get(ctx, p, "c")
		if err != nil {
			t.Fatal(err)
		}
		stale := cur
		cur.Data = json.RawMessage(`"v2"`)
		tag, err := s.Replace(ctx, cur)
		if err != nil || tag == "" || tag == stale.ETag {
			t.Fatalf("Replace with the current ETag = %q, %v", tag, err)
		}
		stale.Data = json.RawMessage(`"v3"`)
		if _, err := s.Replace(ctx, stale); !errors.Is(err, appwarden.ErrConflict) {
			t.Fatalf("Replace with a stale ETag = %v; want ErrConflict", err)
		}
		got, _, _ := s.Get(ctx, p, "c")
		if string(got.Data) != `"v2"` {
			t.Fatalf("after a conflict the record is %s; want \"v2\"", got.Data)
		}
		if _, err := s.Replace(ctx, appwarden.Record{Partition: p, Key: "absent", ETag: got.ETag}); !errors.Is(err, appwarden.ErrNotFound) && !errors.Is(err, appwarden.ErrConflict) {
			t.Fatalf("conditional Replace of a missing record = %v; want ErrNotFound", err)
		}
	})

	t.Run("ListInKeyOrder", func(t *testing.T) {
		s, p := open(t), ns(t)
		for _, k := range []string{"2026-01-03|b", "2026-01-01|a", "2026-01-02|c"} {
			if _, err := s.Put(ctx, appwarden.Record{Partition: p, Key: k, Kind: appwarden.KindDecision}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Put(ctx, appwarden.Record{Partition: p + "other", Key: "x"}); err != nil {
			t.Fatal(err)
		}
		recs, err := s.List(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, r := range recs {
			keys = append(keys, r.Key)
		}
		if got := strings.Join(keys, ","); got != "2026-01-01|a,2026-01-02|c,2026-01-03|b" {
			t.Fatalf("List keys = %s", got)
		}
	})

	t.Run("ListAfterPages", func(t *testing.T) {
		s, p := open(t), ns(t)
		if recs, err := s.ListAfter(ctx, p, "", 10); err != nil || len(recs) != 0 {
			t.Fatalf("ListAfter of an empty partition = %d records, %v", len(recs), err)
		}
		// More than a small partition holds in order, in a scrambled
		// insertion order, with a neighbouring partition that must not leak in.
		var want []string
		for i := range 37 {
			want = append(want, fmt.Sprintf("%08x-app", (i*7919)%1000003))
		}
		for _, i := range []int{5, 36, 0, 17, 2} {
			want[i], want[36-i] = want[36-i], want[i]
		}
		for _, k := range want {
			if _, err := s.Put(ctx, appwarden.Record{Partition: p, Key: k, Kind: appwarden.KindMarker, Data: json.RawMessage(`{"k":"` + k + `"}`)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Put(ctx, appwarden.Record{Partition: p + "x", Key: "00000000"}); err != nil {
			t.Fatal(err)
		}
		all, err := s.List(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		after, pages := "", 0
		for {
			recs, err := s.ListAfter(ctx, p, after, 10)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, r := range recs {
				if string(r.Data) != `{"k":"`+r.Key+`"}` || r.Kind != appwarden.KindMarker {
					t.Fatalf("ListAfter returned %s = %s (%s)", r.Key, r.Data, r.Kind)
				}
				got = append(got, r.Key)
			}
			if len(recs) < 10 {
				break
			}
			after = recs[len(recs)-1].Key
		}
		var listed []string
		for _, r := range all {
			listed = append(listed, r.Key)
		}
		if strings.Join(got, ",") != strings.Join(listed, ",") || len(got) != 37 {
			t.Fatalf("pages gave %d keys %v; List gives %v", len(got), got, listed)
		}
		if pages != 4 {
			t.Fatalf("37 records in pages of 10 took %d pages; want 4", pages)
		}
		// After a key that is not stored: the next keys after it.
		recs, err := s.ListAfter(ctx, p, listed[3]+"!", 2)
		if err != nil || len(recs) != 2 || recs[0].Key != listed[4] || recs[1].Key != listed[5] {
			t.Fatalf("ListAfter(%q, 2) = %v, %v; want %s, %s", listed[3]+"!", recs, err, listed[4], listed[5])
		}
		if recs, err := s.ListAfter(ctx, p, listed[36], 10); err != nil || len(recs) != 0 {
			t.Fatalf("ListAfter the last key = %d records, %v", len(recs), err)
		}
	})

	t.Run("LargeData", func(t *testing.T) {
		s, p := open(t), ns(t)
		big := json.RawMessage(`"` + strings.Repeat("x", 100_000) + `"`)
		if _, err := s.Put(ctx, appwarden.Record{Partition: p, Key: "big", Data: big}); err != nil {
			t.Fatal(err)
		}
		got, _, err := s.Get(ctx, p, "big")
		if err != nil || string(got.Data) != string(big) {
			t.Fatalf("large data did not round-trip (len %d, err %v)", len(got.Data), err)
		}
	})

	t.Run("AwkwardKeys", func(t *testing.T) {
		s, p := open(t), ns(t)
		key := "audit:Directory_7d1c/0b9e#x?y\\z"
		if ok, err := s.Put(ctx, appwarden.Record{Partition: p + "/x", Key: key}); err != nil || !ok {
			t.Fatalf("Put awkward key = %v, %v", ok, err)
		}
		if _, found, err := s.Get(ctx, p+"/x", key); err != nil || !found {
			t.Fatalf("Get awkward key = %v, %v", found, err)
		}
	})

	t.Run("ConcurrentPutOneWins", func(t *testing.T) {
		s, p := open(t), ns(t)
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				ok, err := s.Put(ctx, appwarden.Record{Partition: p, Key: "once", Data: json.RawMessage(fmt.Sprint(i))})
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins.Add(1)
				}
			}(i)
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d concurrent Puts of one key succeeded; want exactly 1", wins.Load())
		}
	})

	t.Run("Delete", func(t *testing.T) {
		s, p := open(t), ns(t)
		_, _ = s.Put(ctx, appwarden.Record{Partition: p, Key: "d"})
		if err := s.Delete(ctx, p, "d"); err != nil {
			t.Fatal(err)
		}
		if _, found, _ := s.Get(ctx, p, "d"); found {
			t.Fatal("record still there after Delete")
		}
		if err := s.Delete(ctx, p, "d"); err != nil {
			t.Fatalf("deleting an absent record: %v", err)
		}
	})
}
