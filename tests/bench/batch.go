package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/appwarden/appwarden/tests/harness"
)

// batchResult is one Event Hub invocation holding n risky apps, delivered
// with Teams webhooks configured (the owners' channel and the security
// channel), at Graph latency L.
type batchResult struct {
	L    time.Duration
	apps int
	// answered is delivery to the invocation's 200.
	answered time.Duration
	// contained are delivery to each app's service principal disabled.
	contained []time.Duration
	// firstPost is delivery to the first webhook post; lastContained
	// the latest containment, to compare with it.
	firstPost     time.Duration
	lastContained time.Duration
	posts         int
	problems      []string
}

// runBatch delivers one invocation of n "Add application" records, each a
// new app holding RoleManagement.ReadWrite.Directory, and measures when
// each is contained, when the invocation answers, and when the first
// notification goes out.
func runBatch(ctx context.Context, bin string, n int, l time.Duration, extra map[string]string) (*batchResult, error) {
	br := &batchResult{L: l, apps: n}
	tenant := harness.NewTenant()
	warm := addApps(tenant, "batchwarm", 1)
	apps := addApps(tenant, "batch", n)
	g, err := harness.StartGraph(tenant)
	if err != nil {
		return nil, err
	}
	defer g.Close()
	hook, err := harness.StartWebhook()
	if err != nil {
		return nil, err
	}
	defer hook.Close()
	env := handlerEnv(g, extra)
	env["APPWARDEN_TEAMS_WEBHOOK_URL"] = hook.URL + "/owners"
	env["APPWARDEN_SECURITY_WEBHOOK_URL"] = hook.URL + "/security"
	p, err := startHandler(ctx, bin, env)
	if err != nil {
		return nil, err
	}
	defer p.Stop()
	// A first event warms the token and permission cache, as in production.
	if r, err := p.Invoke(ctx, harness.FnEventHub, harness.EventHubAudits(harness.AuditFor(warm[0]))); err != nil || !r.OK() {
		return nil, fmt.Errorf("warm-up: %v %v", err, r.Status)
	}
	time.Sleep(time.Second) // let the warm-up's notifications go
	g.SetLatency(l)
	before := len(hook.Posts())

	audits := make([]harness.Audit, n)
	for i, ids := range apps {
		audits[i] = harness.AuditFor(ids)
	}
	body := harness.EventHubAudits(audits...)
	t0 := time.Now()
	r, err := p.Invoke(ctx, harness.FnEventHub, body)
	if err != nil {
		return nil, err
	}
	br.answered = time.Since(t0)
	if !r.OK() {
		br.problems = append(br.problems, fmt.Sprintf("batch of %d at L=%s: HTTP %d", n, l, r.Status))
	}
	// What the invocation left pending, the timer finishes; the figure is
	// what one invocation did, so the wait is short and shared.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, ids := range apps {
		at, err := g.WaitDisabled(wctx, ids.ServicePrincipalID)
		if err != nil {
			br.problems = append(br.problems, fmt.Sprintf("batch at L=%s: %s not contained", l, ids.AppID))
			continue
		}
		d := at.Sub(t0)
		br.contained = append(br.contained, d)
		br.lastContained = max(br.lastContained, d)
	}
	time.Sleep(500 * time.Millisecond)
	posts := hook.Posts()[before:]
	br.posts = len(posts)
	if len(posts) > 0 {
		br.firstPost = posts[0].At.Sub(t0)
		if br.firstPost < br.lastContained {
			br.problems = append(br.problems, fmt.Sprintf("batch at L=%s: a notification went out %s after delivery, before the last containment (%s)", l, ms(br.firstPost), ms(br.lastContained)))
		}
	}
	writes := harness.DisablingWrites(g.Server)
	for _, ids := range apps {
		if w := writes[ids.ServicePrincipalID]; w != 1 {
			br.problems = append(br.problems, fmt.Sprintf("batch at L=%s: %s has %d disabling writes, want 1", l, ids.ServicePrincipalID, w))
		}
	}
	slices.Sort(br.contained)
	return br, nil
}

// markdown is the batch's row in the results.
func (br *batchResult) row() string {
	if len(br.contained) == 0 {
		return fmt.Sprintf("| %s | %d | – | – | %s | %d |\n", ms(br.L), br.apps, ms(br.answered), br.posts)
	}
	return fmt.Sprintf("| %s | %d | %s / %s | %s | %s | %d (first %s after delivery) |\n", ms(br.L), br.apps,
		ms(percentile(br.contained, 0.5)), ms(br.lastContained), verdict(br.lastContained <= batchGoal(br.L)),
		ms(br.answered), br.posts, ms(br.firstPost))
}

// batchGoal is the goal for the last containment of a 100-app
// batch: 1 s at L = 0, 3 s at L = 50 ms.
func batchGoal(l time.Duration) time.Duration {
	if l >= 50*time.Millisecond {
		return 3 * time.Second
	}
	return time.Second
}
