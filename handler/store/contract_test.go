package store_test

import (
	"context"
	"github.com/appwarden/appwarden/handler/appwarden"
	"testing"

	"github.com/appwarden/appwarden/handler/store"
	"github.com/appwarden/appwarden/handler/store/storetest"
	"github.com/appwarden/appwarden/tests/azurite"
)

func TestMemoryContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) appwarden.Store { return store.NewMemory() })
}

// TestTableContract runs the same contract against Table Storage, as Azurite
// serves it.
func TestTableContract(t *testing.T) {
	az := azurite.Start(t)
	tbl, err := store.NewTableFromConnectionString(context.Background(), az.ConnectionString())
	if err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, func(*testing.T) appwarden.Store { return tbl })
}

// TestBoundedMemoryContract: a bound on history changes nothing else.
func TestBoundedMemoryContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) appwarden.Store { return store.NewMemoryWithHistory(store.DefaultMemoryHistory) })
}
