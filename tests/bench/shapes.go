package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/tests/harness"
)

// shape is what one decision cost in Graph round trips (and requests inside
// the $batch requests), warm permission cache.
type shape struct {
	name  string
	trips harness.Trips
	done  string // what AppWarden did, checked in the stand-in
}

// measureShapes counts the round trips of one decision for each kind of app
// the README's budget names: a plain new app, a privileged new app, and an
// escalation (a secret added to a privileged app that existed before
// AppWarden, delivered as Entra's own audit record), which reads the
// federated credentials and roles in the same $batch and removes just that
// secret.
func measureShapes(ctx context.Context, bin string, o options) ([]shape, error) {
	tenant := harness.NewTenant()
	warm := harness.AddBenignApp(tenant, "shape-warm")
	plain := harness.AddBenignApp(tenant, "shape-plain")
	priv := harness.AddRiskyApp(tenant, "shape-privileged")
	files := fakegraph.GraphRole("Files.ReadWrite.All")
	backup := tenant.AddApp(fakegraph.AppSpec{DisplayName: "shape-backup", CreatedDateTime: time.Now().AddDate(-1, 0, 0),
		Owners: []fakegraph.Owner{harness.Owner}, Requested: []fakegraph.Permission{files}, Granted: []fakegraph.Permission{files}})
	g, err := harness.StartGraph(tenant)
	if err != nil {
		return nil, err
	}
	defer g.Close()
	p, err := startHandler(ctx, bin, handlerEnv(g, o.handlerEnv))
	if err != nil {
		return nil, err
	}
	defer p.Stop()

	deliver := func(body []byte) (harness.Trips, error) {
		mark := g.Mark()
		r, err := p.Invoke(ctx, harness.FnEventHub, body)
		if err != nil {
			return harness.Trips{}, err
		}
		if !r.OK() {
			return harness.Trips{}, fmt.Errorf("HTTP %d: %q", r.Status, r.Logs)
		}
		return harness.CountTrips(g.CallsSince(mark)), nil
	}
	// The first event of the process warms the token and permission cache.
	if _, err := deliver(harness.EventHubAudits(harness.AuditFor(warm))); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	var out []shape
	t, err := deliver(harness.EventHubAudits(harness.AuditFor(plain)))
	if err != nil {
		return nil, fmt.Errorf("plain app: %w", err)
	}
	out = append(out, shape{"a new plain app (delegated User.Read)", t, "nothing, as it should"})

	t, err = deliver(harness.EventHubAudits(harness.AuditFor(priv)))
	if err != nil {
		return nil, fmt.Errorf("privileged app: %w", err)
	}
	if _, ok := g.DisabledAt(priv.ServicePrincipalID); !ok {
		return nil, fmt.Errorf("privileged app %s not disabled", priv.AppID)
	}
	out = append(out, shape{"a new privileged app (RoleManagement.ReadWrite.Directory)", t, "service principal disabled"})

	keyID := tenant.AddApplicationPassword(backup.AppID, "sneaky")
	log := tenant.AuditLog()
	var rec map[string]any
	if err := json.Unmarshal(log[len(log)-1], &rec); err != nil {
		return nil, err
	}
	// As the Entra diagnostic setting streams it: the directoryAudit under
	// "properties" (FACTS.md §1).
	msg, _ := json.Marshal(map[string]any{"records": []map[string]any{{
		"time": rec["activityDateTime"], "operationName": rec["activityDisplayName"], "category": "AuditLogs",
		"tenantId": harness.TenantID, "properties": rec,
	}}})
	t, err = deliver(harness.EventHubMessages(msg))
	if err != nil {
		return nil, fmt.Errorf("escalation: %w", err)
	}
	st, _ := tenant.AppState(backup.AppID)
	if slices.Contains(st.PasswordKeyIDs, keyID) {
		return nil, fmt.Errorf("escalation: the added secret %s is still on %s", keyID, backup.AppID)
	}
	out = append(out, shape{"a secret added to a privileged app that predates AppWarden", t, "that secret removed, nothing else"})
	return out, nil
}
