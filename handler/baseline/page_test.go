package baseline_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/baseline"
)

// TestPageReadsEveryRecordOnce: Page walks the facts of every app in appId
// order, with what the expiry pass needs besides the facts (the profile),
// a first sweep's record marked partial, and a corrupt record reported
// without stopping the walk.
func TestPageReadsEveryRecordOnce(t *testing.T) {
	ctx := context.Background()
	k := keeper(t)
	full := backupApp()
	full.DisplayName = "Backup"
	full.ServicePrincipals = []appwarden.ServicePrincipal{{ID: "5e000000-0000-4000-8000-000000000005", AppID: appID, ServicePrincipalType: "Application", AppOwnerOrganizationID: "c0c0c0c0-0000-4000-8000-00000000000c"}}
	if err := k.Record(ctx, full); err != nil {
		t.Fatal(err)
	}
	const oldApp = "0000aaaa-0000-4000-8000-000000000001"
	old := backupApp().Application
	old.ID, old.AppID, old.DisplayName = "0b000000-0000-4000-8000-00000000000b", oldApp, "Old"
	if err := k.RecordDelta(ctx, oldApp, old); err != nil {
		t.Fatal(err)
	}
	const corrupt = "ffff0000-0000-4000-8000-000000000001"
	if _, err := k.Store.Put(ctx, appwarden.Record{Partition: baseline.PartitionFacts, Key: corrupt, Kind: "facts", Data: json.RawMessage(`{"facts":7}`)}); err != nil {
		t.Fatal(err)
	}

	first, next, err := baseline.Ledger{Store: k.Store}.Page(ctx, "", 2)
	if err != nil || len(first) != 2 || next != appID {
		t.Fatalf("first page = %d records, next %q, %v", len(first), next, err)
	}
	o, f := first[0], first[1]
	if o.AppID != oldApp || !o.Partial || o.OwnersKnown() || o.DisplayName != "Old" || o.ObjectID != old.ID || len(o.Facts) == 0 {
		t.Errorf("first sweep's record = %+v", o)
	}
	if f.AppID != appID || f.Partial || !f.OwnersKnown() || f.SPType != "Application" || f.OwnerOrg == "" || f.SPObjectID == "" || f.ObjectID == "" || f.DisplayName != "Backup" {
		t.Errorf("decision's record = %+v", f)
	}
	var until bool
	for _, fact := range f.Facts {
		until = until || fact.Kind == appwarden.FactCredential && !fact.Until.IsZero()
	}
	if !until {
		t.Errorf("the credential's end was not kept: %+v", f.Facts)
	}
	rest, next, err := baseline.Ledger{Store: k.Store}.Page(ctx, next, 2)
	if err != nil || len(rest) != 1 || rest[0].AppID != corrupt || rest[0].Err == nil || next != corrupt {
		t.Fatalf("second page = %+v, next %q, %v", rest, next, err)
	}
	if end, next2, err := (baseline.Ledger{Store: k.Store}).Page(ctx, next, 2); err != nil || len(end) != 0 || next2 != next {
		t.Fatalf("past the end = %+v, %q, %v", end, next2, err)
	}
}
