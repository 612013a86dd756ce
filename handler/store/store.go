// Package store holds the state store's adapters: Memory, the embedded
// default, and Table (Azure Table Storage; Azurite in tests). Both satisfy
// appwarden.Store, the domain's port, and pass the same contract suite
// (storetest).
package store
