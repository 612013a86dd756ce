package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/appwarden/appwarden/handler/appwarden"
	"slices"
	"sync"
	"testing"

	"github.com/appwarden/appwarden/handler/store"
)

var ctx = context.Background()

func rec(partition, key, data string) appwarden.Record {
	return appwarden.Record{Partition: partition, Key: key, Kind: appwarden.KindMarker, Data: json.RawMessage(data)}
}

func TestMemoryPutIfAbsent(t *testing.T) {
	m := store.NewMemory()
	if ok, err := m.Put(ctx, rec("p", "k", `1`)); !ok || err != nil {
		t.Fatalf("first Put = %v, %v; want true, nil", ok, err)
	}
	if ok, err := m.Put(ctx, rec("p", "k", `2`)); ok || err != nil {
		t.Fatalf("second Put = %v, %v; want false, nil", ok, err)
	}
	got, found, err := m.Get(ctx, "p", "k")
	if err != nil || !found || string(got.Data) != `1` || got.ETag == "" {
		t.Fatalf("Get = %+v, %v, %v; want the first record with an ETag", got, found, err)
	}
	if ok, _ := m.Put(ctx, rec("q", "k", `3`)); !ok {
		t.Error("the same key in another partition was not inserted")
	}
}

func TestMemoryReplaceChecksTheETag(t *testing.T) {
	m := store.NewMemory()
	if _, err := m.Put(ctx, rec("p", "k", `"v1"`)); err != nil {
		t.Fatal(err)
	}
	first, _, _ := m.Get(ctx, "p", "k")

	next := first
	next.Data = json.RawMessage(`"v2"`)
	tag, err := m.Replace(ctx, next)
	if err != nil || tag == "" || tag == first.ETag {
		t.Fatalf("Replace with the current ETag = %q, %v; want a new ETag", tag, err)
	}

	stale := first
	stale.Data = json.RawMessage(`"v3"`)
	if _, err := m.Replace(ctx, stale); !errors.Is(err, appwarden.ErrConflict) {
		t.Fatalf("Replace with a stale ETag = %v; want ErrConflict", err)
	}
	got, _, _ := m.Get(ctx, "p", "k")
	if string(got.Data) != `"v2"` || got.ETag != tag {
		t.Fatalf("after the conflict: %s (ETag %q); want \"v2\" (ETag %q)", got.Data, got.ETag, tag)
	}
}

func TestMemoryReplaceWithoutETagUpserts(t *testing.T) {
	m := store.NewMemory()
	if _, err := m.Replace(ctx, rec("p", "k", `1`)); err != nil {
		t.Fatalf("insert by Replace: %v", err)
	}
	if _, err := m.Replace(ctx, rec("p", "k", `2`)); err != nil {
		t.Fatalf("overwrite by Replace: %v", err)
	}
	if got, _, _ := m.Get(ctx, "p", "k"); string(got.Data) != `2` {
		t.Fatalf("got %s, want 2", got.Data)
	}
}

func TestMemoryReplaceOfAMissingRecordWithAnETag(t *testing.T) {
	m := store.NewMemory()
	r := rec("p", "gone", `1`)
	r.ETag = "7"
	if _, err := m.Replace(ctx, r); !errors.Is(err, appwarden.ErrNotFound) {
		t.Fatalf("Replace = %v, want ErrNotFound", err)
	}
	if _, found, _ := m.Get(ctx, "p", "gone"); found {
		t.Fatal("a failed Replace inserted the record")
	}
}

func TestMemoryListIsInKeyOrder(t *testing.T) {
	m := store.NewMemory()
	keys := []string{
		"2026-11-24T09:20:11.555000000Z|signal|b",
		"2026-11-24T09:20:11.555000000Z|decision|a",
		"2026-11-24T09:14:03.123456700Z|signal|a",
		"2026-11-24T10:00:00.000000000Z|action|x",
		"A", "_", "a",
	}
	for _, k := range keys {
		if _, err := m.Put(ctx, rec("app", k, `{}`)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Put(ctx, rec("other", "0", `{}`)); err != nil {
		t.Fatal(err)
	}
	got, err := m.List(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	var gotKeys []string
	for _, r := range got {
		if r.Partition != "app" {
			t.Errorf("List returned a record of partition %q", r.Partition)
		}
		gotKeys = append(gotKeys, r.Key)
	}
	want := slices.Clone(keys)
	slices.Sort(want)
	if !slices.Equal(gotKeys, want) {
		t.Fatalf("keys %q\nwant %q", gotKeys, want)
	}
	empty, err := m.List(ctx, "nothing")
	if err != nil || len(empty) != 0 {
		t.Fatalf("List of an empty partition = %v, %v", empty, err)
	}
}

func TestMemoryConcurrentPutOfOneKeyHasOneWinner(t *testing.T) {
	m := store.NewMemory()
	const writers = 64
	var wg sync.WaitGroup
	wins := make(chan string, writers)
	start := make(chan struct{})
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			data := fmt.Sprintf(`%d`, i)
			ok, err := m.Put(ctx, rec("_dedupe", "signal|audit:1", data))
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins <- data
			}
		}()
	}
	close(start)
	wg.Wait()
	close(wins)
	var winners []string
	for w := range wins {
		winners = append(winners, w)
	}
	if len(winners) != 1 {
		t.Fatalf("%d writers won, want exactly 1", len(winners))
	}
	got, _, _ := m.Get(ctx, "_dedupe", "signal|audit:1")
	if string(got.Data) != winners[0] {
		t.Fatalf("stored %s, but the winner wrote %s", got.Data, winners[0])
	}
}

func TestMemoryConcurrentReplaceWithOneETagHasOneWinner(t *testing.T) {
	m := store.NewMemory()
	if _, err := m.Put(ctx, rec("p", "cursor", `0`)); err != nil {
		t.Fatal(err)
	}
	cur, _, _ := m.Get(ctx, "p", "cursor")
	const writers = 32
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, conflicts := 0, 0
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := cur
			r.Data = json.RawMessage(fmt.Sprint(i + 1))
			_, err := m.Replace(ctx, r)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, appwarden.ErrConflict):
				conflicts++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || conflicts != writers-1 {
		t.Fatalf("%d wins, %d conflicts; want 1 and %d", wins, conflicts, writers-1)
	}
}

func TestMemoryDelete(t *testing.T) {
	m := store.NewMemory()
	if _, err := m.Put(ctx, rec("p", "k", `1`)); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(ctx, "p", "k"); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := m.Get(ctx, "p", "k"); found {
		t.Fatal("the record is still there")
	}
	if err := m.Delete(ctx, "p", "k"); err != nil {
		t.Fatalf("deleting what is absent: %v", err)
	}
	if err := m.Delete(ctx, "never", "k"); err != nil {
		t.Fatalf("deleting from an unknown partition: %v", err)
	}
	if ok, _ := m.Put(ctx, rec("p", "k", `2`)); !ok {
		t.Fatal("Put after Delete did not insert")
	}
}

// TestMemoryDoesNotShareData checks that the store keeps its own copy of a
// record's data, as Table Storage does: changing the caller's bytes after a
// write, or the bytes a read returned, must not change the stored record.
func TestMemoryDoesNotShareData(t *testing.T) {
	m := store.NewMemory()
	r := rec("p", "k", `{"a":1}`)
	if _, err := m.Put(ctx, r); err != nil {
		t.Fatal(err)
	}
	r.Data[5] = '9'
	got, _, _ := m.Get(ctx, "p", "k")
	if string(got.Data) != `{"a":1}` {
		t.Fatalf("after the caller changed its bytes the store holds %s", got.Data)
	}
	got.Data[5] = '8'
	list, _ := m.List(ctx, "p")
	if again, _, _ := m.Get(ctx, "p", "k"); string(again.Data) != `{"a":1}` || string(list[0].Data) != `{"a":1}` {
		t.Fatalf("after a reader changed its bytes the store holds %s", again.Data)
	}
}

// TestMemoryHistoryIsBounded: a bounded Memory forgets the oldest history
// records (signals, decisions, signal dedupe markers) and never a record that
// keeps AppWarden from acting twice or lets it undo.
func TestMemoryHistoryIsBounded(t *testing.T) {
	const limit = 10
	m := store.NewMemoryWithHistory(limit)
	kept := []appwarden.Record{
		{Partition: "app-0", Key: "action|fp|disable", Kind: appwarden.KindAction},
		{Partition: "app-0", Key: "release|fp", Kind: appwarden.KindRelease},
		{Partition: appwarden.PartitionCursors, Key: "applications", Kind: appwarden.KindCursor},
		{Partition: appwarden.PartitionPoison, Key: "p1", Kind: appwarden.KindPoison},
		{Partition: "_notified", Key: "n1", Kind: appwarden.KindMarker},
		{Partition: "_outbox", Key: "o1", Kind: appwarden.KindNotice},
	}
	for _, r := range kept {
		if _, err := m.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	const apps = 25
	for i := range apps {
		app := fmt.Sprintf("app-%d", i)
		for _, r := range []appwarden.Record{
			{Partition: appwarden.PartitionDedupe, Key: "signal|" + app, Kind: appwarden.KindMarker},
			{Partition: app, Key: "1|signal", Kind: appwarden.KindSignal},
			{Partition: app, Key: "2|decision", Kind: appwarden.KindDecision},
		} {
			if ok, err := m.Put(ctx, r); !ok || err != nil {
				t.Fatalf("Put %s/%s = %v, %v", r.Partition, r.Key, ok, err)
			}
		}
	}
	for _, r := range kept {
		if _, found, _ := m.Get(ctx, r.Partition, r.Key); !found {
			t.Errorf("%s record %s/%s was forgotten", r.Kind, r.Partition, r.Key)
		}
	}
	history := 0
	for i := range apps {
		app := fmt.Sprintf("app-%d", i)
		recs, _ := m.List(ctx, app)
		_, marker, _ := m.Get(ctx, appwarden.PartitionDedupe, "signal|"+app)
		n := 0
		for _, r := range recs {
			if store.IsHistory(r) {
				n++
			}
		}
		if marker {
			n++
		}
		history += n
		// The newest apps' stories are whole; the oldest are gone.
		if i >= apps-3 && n != 3 {
			t.Errorf("%s, one of the newest, keeps %d of its 3 history records", app, n)
		}
		if i < apps-4 && n != 0 {
			t.Errorf("%s, one of the oldest, still keeps %d history records", app, n)
		}
	}
	if history != limit {
		t.Errorf("%d history records kept, want the bound %d", history, limit)
	}
	if got, want := m.Forgotten(), int64(3*apps-limit); got != want {
		t.Errorf("Forgotten() = %d, want %d", got, want)
	}
	// An unbounded Memory forgets nothing.
	all := store.NewMemory()
	for i := range 3 * limit {
		_, _ = all.Put(ctx, appwarden.Record{Partition: "a", Key: fmt.Sprint(i), Kind: appwarden.KindDecision})
	}
	if recs, _ := all.List(ctx, "a"); len(recs) != 3*limit {
		t.Errorf("NewMemory kept %d of %d decisions", len(recs), 3*limit)
	}
}
