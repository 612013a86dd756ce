package appwarden

// The state store's port (benbjohnson/wtf: the domain owns the interfaces
// its stages need). Every write that guards against doing something twice
// is conditional: Put inserts only if absent, Replace only if the ETag
// still matches. handler/store holds the adapters: the in-memory store (the
// embedded default) and Table Storage, which pass one contract suite.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Record is one stored entity. Partition groups records that are read
// together (an app's history, the poison list); Key orders them inside it.
type Record struct {
	Partition string          `json:"partition"`
	Key       string          `json:"key"`
	Kind      string          `json:"kind"`
	Time      time.Time       `json:"time"`
	Data      json.RawMessage `json:"data,omitempty"`
	// ETag is set by the store on read and checked by Replace.
	ETag string `json:"-"`
}

// Record kinds.
const (
	KindSignal   = "signal"
	KindPoison   = "poison"
	KindDecision = "decision"
	KindAction   = "action"
	KindRelease  = "release"
	KindNotice   = "notification"
	KindCursor   = "cursor"
	KindMarker   = "marker"
	// KindInbox is a signal saved before work on it starts, until it is
	// decided (then deleted) or expires (then kept, with the reason).
	KindInbox = "inbox"
)

// ErrConflict is returned by Replace when the record changed since it was read.
var ErrConflict = errors.New("state store: record changed since it was read (ETag mismatch)")

// ErrNotFound is returned by Replace when there is nothing to replace.
var ErrNotFound = errors.New("state store: record not found")

// Store is the state store's contract.
type Store interface {
	// Put inserts rec unless a record with the same Partition and Key exists.
	// It reports whether it inserted.
	Put(ctx context.Context, rec Record) (bool, error)
	// Get reads one record.
	Get(ctx context.Context, partition, key string) (Record, bool, error)
	// Replace overwrites a record if its ETag still matches (an empty ETag
	// inserts or overwrites unconditionally). It returns the new ETag.
	Replace(ctx context.Context, rec Record) (string, error)
	// List returns a partition's records in key order.
	List(ctx context.Context, partition string) ([]Record, error)
	// ListAfter returns, in key order, at most limit of a partition's
	// records whose key sorts after the key after ("" starts at the
	// beginning): a page of a partition too large to hold at once (every
	// app's facts). The next page starts after the last key returned; a
	// page shorter than limit is the last. Records written meanwhile may
	// or may not be seen, but none is seen twice.
	ListAfter(ctx context.Context, partition, after string, limit int) ([]Record, error)
	// Delete removes a record; deleting what is absent is not an error.
	Delete(ctx context.Context, partition, key string) error
}

// Partitions that are not an appId.
const (
	PartitionPoison  = "_poison"
	PartitionCursors = "_cursors"
	// PartitionDedupe holds one marker per signal's dedupe key.
	PartitionDedupe = "_dedupe"
	// PartitionInbox holds the signals not yet decided (`history --app _inbox`).
	PartitionInbox = "_inbox"
)

// Claim writes next over the record last read with the ETag prev (found
// false: there was none) only if nobody wrote it since: a conditional
// Replace, or, for a record not there yet, an insert-if-absent Put read
// back for its ETag and checked to hold next's Data. Of instances that read
// the same record and each write their own claim (a lease naming its
// holder), exactly one claims it; the others get claimed == false and no
// error. etag is the claimed record's, for a later conditional write.
func Claim(ctx context.Context, st Store, next Record, prev string, found bool) (etag string, claimed bool, err error) {
	if found {
		next.ETag = prev
		etag, err := st.Replace(ctx, next)
		if errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) {
			return "", false, nil
		}
		if err != nil {
			return "", false, err
		}
		return etag, true, nil
	}
	inserted, err := st.Put(ctx, next)
	if err != nil || !inserted {
		return "", false, err
	}
	// Put returns no ETag: read it back, and check it is this claim.
	got, ok, err := st.Get(ctx, next.Partition, next.Key)
	if err != nil || !ok {
		return "", false, errors.Join(fmt.Errorf("state store: reading %s/%s back after inserting it", next.Partition, next.Key), err)
	}
	if string(got.Data) != string(next.Data) {
		return "", false, nil
	}
	return got.ETag, true, nil
}
