package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/graph"
)

// auditTenant is a tenant whose audit log holds, a minute apart from 09:00,
// five app changes and a role grant, plus a user change in another
// category; since is 09:01, so the first app change is too old.
func auditTenant(t *testing.T) (*fakegraph.Tenant, time.Time, []string) {
	t.Helper()
	tenant := fakegraph.NewTenant(tenantID)
	tenant.AddMicrosoftGraph()
	ids := typicalApp(tenant, "payroll")
	tenant.ClearAuditLog()
	var mu sync.Mutex
	clock := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	tenant.SetAuditClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return clock })
	tick := func() { mu.Lock(); clock = clock.Add(time.Minute); mu.Unlock() }
	for range 5 {
		tenant.AddApplicationPassword(ids.AppID, "secret")
		tick()
	}
	tenant.AssignDirectoryRole(ids.AppID, fakegraph.RoleGlobalAdministrator)
	tick()
	if _, err := tenant.AddAuditRecord([]byte(`{"id":"Directory_user","category":"UserManagement","activityDisplayName":"Add user","activityDateTime":"2026-11-24T09:04:30Z","result":"success"}`)); err != nil {
		t.Fatal(err)
	}
	var want []string // newest first, as Graph answers
	for i, r := range tenant.AuditLog() {
		var v struct{ ID, Category string }
		_ = json.Unmarshal(r, &v)
		if i >= 1 && v.Category != "UserManagement" {
			want = append([]string{v.ID}, want...)
		}
	}
	return tenant, time.Date(2026, 11, 24, 9, 1, 0, 0, time.UTC), want
}

func ids(pages [][]json.RawMessage) []string {
	var out []string
	for _, p := range pages {
		for _, r := range p {
			var v struct{ ID string }
			_ = json.Unmarshal(r, &v)
			out = append(out, v.ID)
		}
	}
	return out
}

// DirectoryAudits filters by time and categories, follows nextLink, and
// rides out a 429 on a page in the middle.
func TestDirectoryAudits(t *testing.T) {
	tenant, since, want := auditTenant(t)
	srv := serve(t, tenant, fakegraph.WithPageSize(2))
	c := client(t, srv, fastRetry)
	var pages [][]json.RawMessage
	err := c.DirectoryAudits(context.Background(), since, []string{appwarden.CategoryApplicationManagement, appwarden.CategoryRoleManagement}, func(p []json.RawMessage) error {
		if len(pages) == 0 {
			srv.ThrottleNext(1, 0, fakegraph.OnRoute(fakegraph.RouteDirectoryAudits))
		}
		pages = append(pages, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(pages); !slices.Equal(got, want) || len(pages) != 3 {
		t.Errorf("read %v in %d pages, want %v in 3", got, len(pages), want)
	}
	settle(t, srv)
	var throttled, reads int
	for _, call := range srv.Calls() {
		if call.Route != fakegraph.RouteDirectoryAudits {
			t.Errorf("unexpected call %s %s", call.Method, call.Path)
			continue
		}
		reads++
		if call.Status == 429 {
			throttled++
		}
		if i := strings.Index(call.Path, "$filter="); i >= 0 {
			f, _ := url.QueryUnescape(call.Path[i+len("$filter="):])
			if !strings.HasPrefix(f, "activityDateTime ge 2026-11-24T09:01:00Z and (category eq 'ApplicationManagement' or category eq 'RoleManagement')") {
				t.Errorf("filter %q", f)
			}
		}
	}
	if throttled != 1 || reads != 4 {
		t.Errorf("%d reads, %d throttled; want 4 and 1", reads, throttled)
	}
	noRejects(t, srv)

	// No categories: every category.
	pages = nil
	if err := c.DirectoryAudits(context.Background(), since, nil, func(p []json.RawMessage) error { pages = append(pages, p); return nil }); err != nil {
		t.Fatal(err)
	}
	if got := ids(pages); len(got) != len(want)+1 || got[1] != "Directory_user" { // the role at 09:05, the user at 09:04:30
		t.Errorf("without categories: %v", got)
	}
}

// An error from fn stops the read; throttling past the attempts is an
// error naming the 429.
func TestDirectoryAuditsStops(t *testing.T) {
	tenant, since, _ := auditTenant(t)
	srv := serve(t, tenant, fakegraph.WithPageSize(2))
	retry := fastRetry
	retry.Attempts = 2
	c := client(t, srv, retry)
	stop := errors.New("stop")
	n := 0
	err := c.DirectoryAudits(context.Background(), since, nil, func([]json.RawMessage) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("err %v after %d pages, want stop after 1", err, n)
	}
	srv.ThrottleNext(1000, 0, fakegraph.OnRoute(fakegraph.RouteDirectoryAudits))
	err = c.DirectoryAudits(context.Background(), since, nil, func([]json.RawMessage) error { return nil })
	var se *graph.StatusError
	if !errors.As(err, &se) || se.Status != 429 {
		t.Errorf("err = %v, want a StatusError 429", err)
	}
}
