package remediate_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/store"
)

// budgetDeleteFails is a store whose deletes of blast-radius budget records
// fail while failing is set.
type budgetDeleteFails struct {
	appwarden.Store
	failing atomic.Bool
}

func (s *budgetDeleteFails) Delete(ctx context.Context, partition, key string) error {
	if partition == "_budget" && s.failing.Load() {
		return errors.New("injected: delete refused")
	}
	return s.Store.Delete(ctx, partition, key)
}

// TestLimitDeleteFailures: a refused reservation that cannot be given back
// is logged, and a reset that cannot delete the budget records says so and
// leaves the flag set (cleared over stale records, the limit would trip
// again at once); once the store works, the reset finishes it.
func TestLimitDeleteFailures(t *testing.T) {
	st := &budgetDeleteFails{Store: store.NewMemory()}
	w := newWorld(t, st)
	w.rem.MaxPerHour = 1
	pol := criticalPolicy(t, appwarden.ActionDisableServicePrincipal)
	act := func(name string) appwarden.Outcome {
		ids := w.tenant.AddApp(simpleRiskyApp(name))
		app := w.resolve(ids.AppID)
		return w.mustAct(app, w.decide(pol, app, appwarden.ModeEnforce))
	}
	if out := act("Risky 1"); out.Mode != appwarden.ModeEnforce {
		t.Fatalf("first app: %s %q, want enforced", out.Mode, out.Skipped)
	}
	st.failing.Store(true)
	if out := act("Risky 2"); out.Mode != appwarden.ModeAudit {
		t.Fatalf("second app: %s, want audit-only (the limit)", out.Mode)
	}
	if !strings.Contains(w.logs.String(), "could not give back a refused blast-radius budget reservation") {
		t.Errorf("the failed give-back is not logged:\n%s", w.logs.String())
	}

	was, err := w.rem.ResetLimit(bg, "ops@contoso.example")
	if err == nil || was || !strings.Contains(err.Error(), "flag stays set") || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("ResetLimit with failing deletes = %v, %v; want an error saying the flag stays set", was, err)
	}
	if out := act("Risky 3"); out.Mode != appwarden.ModeAudit {
		t.Errorf("after a failed reset: %s, want still audit-only", out.Mode)
	}

	st.failing.Store(false)
	if was, err := w.rem.ResetLimit(bg, "ops@contoso.example"); err != nil || !was {
		t.Fatalf("ResetLimit = %v, %v; want true", was, err)
	}
	recs, err := st.List(bg, "_budget")
	if err != nil || len(recs) != 0 {
		t.Fatalf("budget after the reset: %d records, %v; want none", len(recs), err)
	}
	if out := act("Risky 4"); out.Mode != appwarden.ModeEnforce {
		t.Errorf("after the reset: %s %q, want enforced", out.Mode, out.Skipped)
	}
}
