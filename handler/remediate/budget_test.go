package remediate_test

import (
	"context"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/remediate"
)

// TestBudgetCutLeavesNoClaim: when the invocation's budget ends while a
// write is in flight, the claim is given up all the same (Table Storage
// refuses a cancelled context), so the retry from the inbox acts at once
// instead of waiting for the claim's lease to run out.
func TestBudgetCutLeavesNoClaim(t *testing.T) {
	for _, sk := range stores(t) {
		t.Run(sk.name, func(t *testing.T) {
			w := newWorld(t, sk.open(t))
			ids := w.tenant.AddApp(simpleRiskyApp("Payroll Sync"))
			app := w.resolve(ids.AppID)
			d := w.decide(criticalPolicy(t, appwarden.ActionDisableServicePrincipal), app, appwarden.ModeEnforce)

			w.srv.SetLatency(5 * time.Second)
			ctx, cancel := context.WithTimeout(bg, 300*time.Millisecond)
			_, err := w.rem.Act(ctx, w.log, app, d)
			cancel()
			if err == nil {
				t.Fatal("Act succeeded although its budget ended before the write was answered")
			}
			for _, a := range w.actions(ids.AppID) {
				if a.Status == remediate.StatusClaimed {
					t.Fatalf("a claim outlived the cut-off invocation: %+v", a)
				}
			}

			w.srv.SetLatency(0)
			mark := w.srv.Mark()
			if _, err := w.rem.Act(bg, w.log, app, d); err != nil {
				t.Fatalf("the retry: %v", err)
			}
			if got := len(w.okWrites(mark)); got != 1 {
				t.Errorf("the retry applied %d writes, want 1", got)
			}
			if st := w.state(ids.AppID); st.AccountEnabled {
				t.Error("the service principal is still enabled after the retry")
			}
		})
	}
}
