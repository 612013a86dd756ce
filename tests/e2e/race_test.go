package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/functions/hostemu"
	"github.com/appwarden/appwarden/tests/harness"
)

// TestEventRacingTheSweepResolvesOnce: a new risky app is announced on
// Event Hub while a timer tick's sweep finds it in the delta feed, the two
// at once, with Graph slow enough for them to overlap. Whichever comes
// second finds the first's decision: the app is read in Graph once and
// contained once. Both orders are tried (the event first, then the tick
// first).
func TestEventRacingTheSweepResolvesOnce(t *testing.T) {
	for _, eventFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("event first %v", eventFirst), func(t *testing.T) {
			tenant := oldTenant()
			g, p, tk := baseline(t, tenant, nil, enforceEnv(nil, map[string]string{"APPWARDEN_AUDIT_PULL": "false"}))
			ids := tenant.AddApp(fakegraph.AppSpec{DisplayName: "Racer", Owners: []fakegraph.Owner{devOne},
				Requested: []fakegraph.Permission{fakegraph.GraphRole("RoleManagement.ReadWrite.Directory")},
				Granted:   []fakegraph.Permission{fakegraph.GraphRole("RoleManagement.ReadWrite.Directory")}})
			g.SetLatency(150 * time.Millisecond)
			mark := g.Mark()

			event := func() {
				body := harness.EventHubAudits(harness.AuditFor(ids))
				r, err := p.send(http.MethodPost, "/OnAuditLogBatch", body, "e2e-race-event")
				if err != nil || r.Status != http.StatusOK {
					t.Errorf("event: %v %d", err, r.Status)
				}
			}
			tick := func() {
				now := time.Now()
				r, err := p.send(http.MethodPost, "/SweepTimer", hostemu.Tick(now.Add(30*time.Second), now), "e2e-race-tick")
				if err != nil || r.Status != http.StatusOK {
					t.Errorf("tick: %v %d", err, r.Status)
				}
			}
			first, second := event, tick
			if !eventFirst {
				first, second = tick, event
			}
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); first() }()
			time.Sleep(20 * time.Millisecond)
			go func() { defer wg.Done(); second() }()
			wg.Wait()
			_ = tk

			reads := 0
			for _, c := range g.CallsSince(mark) {
				if c.Route == fakegraph.RouteApplicationByAppID && strings.Contains(c.Path, ids.AppID) {
					reads++
				}
			}
			if reads != 1 {
				t.Errorf("the app was read %d times in Graph, want once", reads)
			}
			if w := harness.DisablingWrites(g)[strings.ToLower(ids.ServicePrincipalID)]; w != 1 {
				t.Errorf("%d disabling writes, want 1", w)
			}
		})
	}
}
