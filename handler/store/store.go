// Package store holds the state store's adapters: Memory, the embedded
// default, and Table (Azure Table Storage; Azurite in tests). Both satisfy
// appwarden.Store, the domain's port, and pass the same contract suite
// (storetest).
package store

import "github.com/appwarden/appwarden/handler/appwarden"

// The domain's state types, named here too for the adapters' own code.
type (
	// Record is appwarden.Record.
	Record = appwarden.Record
	// Store is appwarden.Store.
	Store = appwarden.Store
)

// Record kinds and partitions, as the domain defines them.
const (
	KindSignal       = appwarden.KindSignal
	KindPoison       = appwarden.KindPoison
	KindDecision     = appwarden.KindDecision
	KindAction       = appwarden.KindAction
	KindRelease      = appwarden.KindRelease
	KindNotice       = appwarden.KindNotice
	KindCursor       = appwarden.KindCursor
	KindMarker       = appwarden.KindMarker
	KindInbox        = appwarden.KindInbox
	PartitionPoison  = appwarden.PartitionPoison
	PartitionCursors = appwarden.PartitionCursors
	PartitionDedupe  = appwarden.PartitionDedupe
	PartitionInbox   = appwarden.PartitionInbox
)

// The domain's errors.
var (
	ErrConflict = appwarden.ErrConflict
	ErrNotFound = appwarden.ErrNotFound
)
