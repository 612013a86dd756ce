package appwarden_test

import (
	"context"
	"testing"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/store"
)

// Of two instances that read the same record (or found none) and each
// write their own claim, exactly one claims it; the other is told so, with
// no error; and the winner's ETag guards its next write.
func TestClaim(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	claim := func(holder, prev string, found bool) (string, bool) {
		t.Helper()
		rec := appwarden.Record{Partition: appwarden.PartitionCursors, Key: "lease", Kind: appwarden.KindCursor, Data: []byte(`{"holder":"` + holder + `"}`)}
		etag, ok, err := appwarden.Claim(ctx, st, rec, prev, found)
		if err != nil {
			t.Fatalf("%s: %v", holder, err)
		}
		return etag, ok
	}
	// Both found nothing.
	etagA, okA := claim("a", "", false)
	if _, okB := claim("b", "", false); !okA || okB || etagA == "" {
		t.Fatalf("first claims: a %v (etag %q), b %v; want a alone, with an ETag", okA, etagA, okB)
	}
	// Both read a's record.
	etagC, okC := claim("c", etagA, true)
	if _, okD := claim("d", etagA, true); !okC || okD {
		t.Fatalf("claims over a's record: c %v, d %v; want c alone", okC, okD)
	}
	got, _, _ := st.Get(ctx, appwarden.PartitionCursors, "lease")
	if string(got.Data) != `{"holder":"c"}` || got.ETag != etagC {
		t.Errorf("record %s (etag %q), want c's claim with its ETag %q", got.Data, got.ETag, etagC)
	}
	if _, ok := claim("e", "", true); !ok {
		t.Error("an empty ETag over a found record overwrites, as Replace does")
	}
}
