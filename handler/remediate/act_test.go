package remediate_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/appwarden/appwarden/handler/setup"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/pipeline"
	"github.com/appwarden/appwarden/handler/remediate"
	"github.com/appwarden/appwarden/handler/store"
	"github.com/appwarden/appwarden/handler/trail"
)

var roleManagementID = fakegraph.GraphAppRoles["RoleManagement.ReadWrite.Directory"]

// criticalRoles are the application permissions criticalPolicy finds.
var criticalRoles = []string{"RoleManagement.ReadWrite.Directory", "Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All", "Directory.ReadWrite.All"}

// criticalRoleIDs are their app role ids, lower-cased.
var criticalRoleIDs = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range criticalRoles {
		m[strings.ToLower(fakegraph.GraphAppRoles[n])] = true
	}
	return m
}()

// actionCase says how one action shows in the tenant and how its release does.
type actionCase struct {
	kind appwarden.ActionKind
	// acted checks the change Act made; orig is the state before it.
	acted func(t *testing.T, orig, now fakegraph.AppState)
	// restored checks the state after Release.
	restored func(t *testing.T, orig, now fakegraph.AppState)
	// lost is how many things Release must say cannot come back.
	lost int
}

var actionCases = []actionCase{
	{
		kind: appwarden.ActionDisableServicePrincipal,
		acted: func(t *testing.T, _, now fakegraph.AppState) {
			if now.AccountEnabled {
				t.Error("the service principal is still enabled")
			}
		},
		restored: func(t *testing.T, _, now fakegraph.AppState) {
			if !now.AccountEnabled {
				t.Error("the service principal is still disabled after the release")
			}
		},
	},
	{
		kind: appwarden.ActionDeactivateApplication,
		acted: func(t *testing.T, _, now fakegraph.AppState) {
			if !now.IsDisabled {
				t.Error("the application is not deactivated (isDisabled false)")
			}
		},
		restored: func(t *testing.T, _, now fakegraph.AppState) {
			if now.IsDisabled {
				t.Error("the application is still deactivated after the release")
			}
		},
	},
	{
		kind: appwarden.ActionRemovePasswords,
		acted: func(t *testing.T, orig, now fakegraph.AppState) {
			if len(orig.PasswordKeyIDs) == 0 {
				t.Fatal("the test app has no secret to remove")
			}
			if len(now.PasswordKeyIDs) != 0 {
				t.Errorf("secrets left: %v", now.PasswordKeyIDs)
			}
		},
		restored: func(t *testing.T, _, now fakegraph.AppState) {
			if len(now.PasswordKeyIDs) != 0 {
				t.Errorf("secrets appeared after the release: %v", now.PasswordKeyIDs)
			}
		},
		lost: 2,
	},
	{
		kind: appwarden.ActionRemoveCriticalAppRoles,
		acted: func(t *testing.T, orig, now fakegraph.AppState) {
			if !hasRole(orig.Assignments, roleManagementID) {
				t.Fatal("the test app does not hold RoleManagement.ReadWrite.Directory")
			}
			// The critical assignments go, and only they.
			for _, a := range orig.Assignments {
				kept := slices.Contains(now.Assignments, a)
				switch {
				case criticalRoleIDs[strings.ToLower(a.AppRoleID)] && kept:
					t.Errorf("the critical assignment %+v is still there", a)
				case !criticalRoleIDs[strings.ToLower(a.AppRoleID)] && !kept:
					t.Errorf("the ordinary assignment %+v was removed too", a)
				}
			}
		},
		restored: func(t *testing.T, orig, now fakegraph.AppState) {
			for _, a := range orig.Assignments {
				if !slices.ContainsFunc(now.Assignments, func(b fakegraph.AssignmentState) bool {
					return strings.EqualFold(a.AppRoleID, b.AppRoleID) && strings.EqualFold(a.ResourceID, b.ResourceID)
				}) {
					t.Errorf("assignment of role %s on %s not re-created: %+v", a.AppRoleID, a.ResourceID, now.Assignments)
				}
			}
		},
	},
	{
		kind: appwarden.ActionRevokeOAuth2Grants,
		acted: func(t *testing.T, orig, now fakegraph.AppState) {
			if len(orig.Grants) == 0 {
				t.Fatal("the test app has no delegated grant")
			}
			if len(now.Grants) != 0 {
				t.Errorf("grants left: %+v", now.Grants)
			}
		},
		restored: func(t *testing.T, orig, now fakegraph.AppState) {
			for _, g := range orig.Grants {
				if !slices.ContainsFunc(now.Grants, func(h fakegraph.GrantState) bool {
					return g.ResourceID == h.ResourceID && g.ConsentType == h.ConsentType && g.PrincipalID == h.PrincipalID && g.Scope == h.Scope
				}) {
					t.Errorf("grant %+v not re-created: %+v", g, now.Grants)
				}
			}
		},
	},
	{
		kind: appwarden.ActionMarkQuarantined,
		acted: func(t *testing.T, orig, now fakegraph.AppState) {
			if !slices.Contains(now.Tags, remediate.QuarantineTag) {
				t.Errorf("tags %v lack %s", now.Tags, remediate.QuarantineTag)
			}
			for _, tag := range orig.Tags {
				if !slices.Contains(now.Tags, tag) {
					t.Errorf("the app's own tag %q was dropped: %v", tag, now.Tags)
				}
			}
			if !strings.HasPrefix(now.Notes, orig.Notes) || !strings.Contains(now.Notes, "Quarantined") || !strings.Contains(now.Notes, "appwarden release --app") {
				t.Errorf("notes %q do not keep the app's notes and add the quarantine line", now.Notes)
			}
		},
		restored: func(t *testing.T, orig, now fakegraph.AppState) {
			if !slices.Equal(now.Tags, orig.Tags) {
				t.Errorf("tags %v after the release, want %v", now.Tags, orig.Tags)
			}
			if now.Notes != orig.Notes {
				t.Errorf("notes %q after the release, want %q", now.Notes, orig.Notes)
			}
		},
	},
}

func hasRole(as []fakegraph.AssignmentState, roleID string) bool {
	return slices.ContainsFunc(as, func(a fakegraph.AssignmentState) bool { return strings.EqualFold(a.AppRoleID, roleID) })
}

// TestEachActionAndItsRelease applies each action alone to a risky app and
// releases it: Act makes exactly one write per planned step and records the
// exact before-state; Release restores it (or says what cannot come back);
// a released app with the same findings is left alone; once the app changes
// (a new critical permission) it is acted on again.
func TestEachActionAndItsRelease(t *testing.T) {
	for _, sk := range stores(t) {
		t.Run(sk.name, func(t *testing.T) {
			for _, tc := range actionCases {
				t.Run(string(tc.kind), func(t *testing.T) {
					w := newWorld(t, sk.open(t))
					ids := w.tenant.AddApp(riskyApp("Payroll Sync"))
					pol := criticalPolicy(t, tc.kind, appwarden.ActionNotify)
					orig := w.state(ids.AppID)

					// Act.
					app := w.resolve(ids.AppID)
					d := w.decide(pol, app, appwarden.ModeEnforce)
					if d.Mode != appwarden.ModeEnforce || !slices.Contains(d.Actions, tc.kind) {
						t.Fatalf("the policy decided %s %v, want enforce with %s", d.Mode, d.Actions, tc.kind)
					}
					steps := remediate.Plan(app, d, time.Now())
					if len(steps) == 0 {
						t.Fatal("nothing planned")
					}
					mark := w.srv.Mark()
					out := w.mustAct(app, d)
					if out.Mode != appwarden.ModeEnforce || out.Skipped != "" {
						t.Errorf("outcome mode %s skipped %q, want enforce", out.Mode, out.Skipped)
					}
					if len(out.Actions) != len(steps) {
						t.Errorf("outcome reports %d actions, want %d", len(out.Actions), len(steps))
					}
					if got, want := callKeys(w.allWrites(mark)), stepKeys(steps); !slices.Equal(got, want) {
						t.Errorf("writes %q\nwant exactly one per step %q", got, want)
					}
					acted := w.state(ids.AppID)
					tc.acted(t, orig, acted)
					w.checkRecorded(ids.AppID, steps, remediate.StatusDone)

					// Release.
					mark = w.srv.Mark()
					rel, err := w.rem.Release(bg, ids.AppID, "approved by CAB-1234", "alice@contoso.example")
					if err != nil {
						t.Fatalf("Release: %v (%+v)", err, rel)
					}
					undoable := 0
					for _, s := range steps {
						if s.Undo != nil {
							undoable++
						}
					}
					if len(rel.Restored) != undoable || len(rel.Failed) != 0 {
						t.Errorf("release restored %q, failed %q; want %d restored", rel.Restored, rel.Failed, undoable)
					}
					if got := len(w.allWrites(mark)); got != undoable {
						t.Errorf("release made %d writes, want %d", got, undoable)
					}
					if len(rel.Lost) != tc.lost {
						t.Errorf("release says %d things are lost (%q), want %d", len(rel.Lost), rel.Lost, tc.lost)
					}
					for _, l := range rel.Lost {
						if !strings.Contains(l, "cannot come back") {
							t.Errorf("lost item %q does not say it cannot come back", l)
						}
					}
					tc.restored(t, orig, w.state(ids.AppID))
					w.checkRecorded(ids.AppID, steps, remediate.StatusReleased)
					if rel.By != "alice@contoso.example" || rel.Reason != "approved by CAB-1234" || len(rel.Fingerprints) != 1 {
						t.Errorf("release record %+v", rel)
					}

					// The same findings again: not re-quarantined.
					app = w.resolve(ids.AppID)
					d2 := w.decide(pol, app, appwarden.ModeEnforce)
					if remediate.Fingerprint(app.AppID, d2) != remediate.Fingerprint(app.AppID, d) {
						t.Fatalf("the findings changed after the release: %+v", d2.Findings)
					}
					mark = w.srv.Mark()
					out = w.mustAct(app, d2)
					if n := len(w.allWrites(mark)); n != 0 {
						t.Errorf("a released app with the same findings got %d writes", n)
					}
					if out.Mode != appwarden.ModeAudit || !strings.Contains(out.Skipped, "released by alice@contoso.example") {
						t.Errorf("outcome %s skipped %q, want audit, released by alice@contoso.example", out.Mode, out.Skipped)
					}

					// The app changes: a new critical permission (and, for
					// the secrets, a new secret). It is acted on again.
					if _, _, err := w.tenant.Grant(ids.ServicePrincipalID, fakegraph.GraphRole("Application.ReadWrite.All")); err != nil {
						t.Fatal(err)
					}
					if tc.kind == appwarden.ActionRemovePasswords {
						res, err := w.rem.Graph.Apply(bg, []appwarden.Write{{Method: "POST", Path: "/applications/" + ids.ApplicationID + "/addPassword",
							Body: map[string]any{"passwordCredential": map[string]any{"displayName": "new"}}}})
						if err != nil || res[0].Err != nil {
							t.Fatalf("adding a secret: %v %v", err, res)
						}
					}
					before := w.state(ids.AppID)
					app = w.resolve(ids.AppID)
					d3 := w.decide(pol, app, appwarden.ModeEnforce)
					if remediate.Fingerprint(app.AppID, d3) == remediate.Fingerprint(app.AppID, d) {
						t.Fatal("a new critical permission did not change the findings")
					}
					steps = remediate.Plan(app, d3, time.Now())
					mark = w.srv.Mark()
					out = w.mustAct(app, d3)
					if out.Mode != appwarden.ModeEnforce {
						t.Errorf("the changed app got outcome %s (%s), want enforce", out.Mode, out.Skipped)
					}
					if got, want := callKeys(w.allWrites(mark)), stepKeys(steps); len(want) == 0 || !slices.Equal(got, want) {
						t.Errorf("writes after the change %q, want one per step %q", got, want)
					}
					tc.acted(t, before, w.state(ids.AppID))
				})
			}
		})
	}
}

// TestEveryActionAtOnce applies all actions in one $batch and releases them
// together.
func TestEveryActionAtOnce(t *testing.T) {
	for _, sk := range stores(t) {
		t.Run(sk.name, func(t *testing.T) {
			w := newWorld(t, sk.open(t))
			ids := w.tenant.AddApp(riskyApp("Payroll Sync"))
			pol := criticalPolicy(t, appwarden.ActionKinds...)
			orig := w.state(ids.AppID)
			app := w.resolve(ids.AppID)
			d := w.decide(pol, app, appwarden.ModeEnforce)
			steps := remediate.Plan(app, d, time.Now())
			mark := w.srv.Mark()
			w.mustAct(app, d)
			if got, want := callKeys(w.allWrites(mark)), stepKeys(steps); !slices.Equal(got, want) {
				t.Errorf("writes %q\nwant %q", got, want)
			}
			now := w.state(ids.AppID)
			for _, tc := range actionCases {
				tc.acted(t, orig, now)
			}
			w.checkRecorded(ids.AppID, steps, remediate.StatusDone)
			rel, err := w.rem.Release(bg, ids.AppID, "false positive", "alice@contoso.example")
			if err != nil {
				t.Fatalf("Release: %v", err)
			}
			if len(rel.Lost) != 2 {
				t.Errorf("lost %q, want the two secrets", rel.Lost)
			}
			now = w.state(ids.AppID)
			for _, tc := range actionCases {
				tc.restored(t, orig, now)
			}
		})
	}
}

// TestPartialFailureThenRedelivery makes one write of the batch fail: Act
// fails (so the invocation is redelivered), the other steps are recorded as
// done, and the retry applies only the missing step.
func TestPartialFailureThenRedelivery(t *testing.T) {
	for _, sk := range stores(t) {
		for _, fresh := range []bool{true, false} {
			name := sk.name + "/fresh-resolution"
			if !fresh {
				name = sk.name + "/same-resolution"
			}
			t.Run(name, func(t *testing.T) {
				w := newWorld(t, sk.open(t))
				ids := w.tenant.AddApp(riskyApp("Payroll Sync"))
				pol := criticalPolicy(t, appwarden.ActionMarkQuarantined, appwarden.ActionDisableServicePrincipal, appwarden.ActionDeactivateApplication)
				app := w.resolve(ids.AppID)
				d := w.decide(pol, app, appwarden.ModeEnforce)
				steps := remediate.Plan(app, d, time.Now())
				if len(steps) != 3 {
					t.Fatalf("planned %d steps, want 3", len(steps))
				}

				w.srv.FailNext(1, 500, fakegraph.OnRoute(fakegraph.RoutePatchServicePrincipal), fakegraph.InnerOnly())
				mark := w.srv.Mark()
				if _, err := w.rem.Act(bg, w.log, app, d); err == nil {
					t.Fatal("Act succeeded although a write failed")
				}
				if got := len(w.okWrites(mark)); got != 2 {
					t.Errorf("%d writes applied, want 2", got)
				}
				st := w.state(ids.AppID)
				if !st.AccountEnabled || !st.IsDisabled || !slices.Contains(st.Tags, remediate.QuarantineTag) {
					t.Fatalf("after the partial failure: %+v", st)
				}
				recs := w.actions(ids.AppID)
				done := 0
				for _, r := range recs {
					switch {
					case r.Kind == appwarden.ActionDisableServicePrincipal:
						t.Errorf("the failed step is recorded: %+v", r)
					case r.Status == remediate.StatusDone:
						done++
					}
				}
				if done != 2 {
					t.Errorf("%d steps recorded as done, want 2: %+v", done, recs)
				}

				// The redelivery.
				if fresh {
					app = w.resolve(ids.AppID)
					d = w.decide(pol, app, appwarden.ModeEnforce)
				}
				mark = w.srv.Mark()
				out := w.mustAct(app, d)
				writes := w.allWrites(mark)
				if len(writes) != 1 || writeKey(writes[0].Method, writes[0].Path) != "PATCH /servicePrincipals/"+ids.ServicePrincipalID {
					t.Errorf("the retry wrote %q, want only the missing PATCH /servicePrincipals/%s", callKeys(writes), ids.ServicePrincipalID)
				}
				if w.state(ids.AppID).AccountEnabled {
					t.Error("the service principal is still enabled after the retry")
				}
				if len(out.Actions) != 3 {
					t.Errorf("the retry reports %d actions, want all 3 done", len(out.Actions))
				}
				w.checkRecorded(ids.AppID, steps, remediate.StatusDone)
			})
		}
	}
}

// decisionEntry is a decision record as the trail keeps it.
type decisionEntry struct {
	Signal   string              `json:"signal"`
	Decision *appwarden.Decision `json:"decision"`
	Outcome  *appwarden.Outcome  `json:"outcome"`
}

// TestDuplicatesActOnce processes the same signal three times through the
// pipeline (each a fresh resolution, as a redelivery is): every action is
// applied once, the signal is recorded once, and every decision tells the
// same story.
func TestDuplicatesActOnce(t *testing.T) {
	for _, sk := range stores(t) {
		t.Run(sk.name, func(t *testing.T) {
			st := sk.open(t)
			w := newWorld(t, st)
			ids := w.tenant.AddApp(simpleRiskyApp("Payroll Sync"))
			pol := criticalPolicy(t, appwarden.ActionMarkQuarantined, appwarden.ActionDisableServicePrincipal, appwarden.ActionNotify)
			tr := trail.New(st)
			p := &pipeline.Pipeline{
				Trail: tr, Resolver: w.graph, Policy: setup.Evaluator{Policy: pol, Mode: appwarden.ModeEnforce},
				Actor: w.rem, Decisions: tr,
			}
			sig := appwarden.Signal{
				Kind: appwarden.AppCreated, AppID: ids.AppID, ObjectID: ids.ApplicationID, ObjectType: appwarden.ObjectApplication,
				DisplayName: "Payroll Sync", Time: time.Now().UTC(), Source: appwarden.SourceEventHub, Activity: "Add application",
				DedupeKey: "audit:Directory_" + ids.AppID + "_1",
			}
			steps := remediate.Plan(w.resolve(ids.AppID), w.decide(pol, w.resolve(ids.AppID), appwarden.ModeEnforce), time.Now())
			mark := w.srv.Mark()
			for i := range 3 {
				if err := p.Process(bg, w.log, sig); err != nil {
					t.Fatalf("delivery %d: %v", i+1, err)
				}
			}
			if got, want := callKeys(w.allWrites(mark)), stepKeys(steps); !slices.Equal(got, want) {
				t.Errorf("writes %q\nwant one per step %q", got, want)
			}
			w.checkRecorded(ids.AppID, steps, remediate.StatusDone)

			hist, err := tr.History(bg, ids.AppID)
			if err != nil {
				t.Fatal(err)
			}
			var signals int
			var decisions []decisionEntry
			for _, e := range hist {
				switch e.Kind {
				case appwarden.KindSignal:
					signals++
				case appwarden.KindDecision:
					var de decisionEntry
					if err := json.Unmarshal(e.Data, &de); err != nil {
						t.Fatal(err)
					}
					decisions = append(decisions, de)
				}
			}
			if signals != 1 {
				t.Errorf("%d signal records, want 1", signals)
			}
			if len(decisions) == 0 {
				t.Fatal("no decision recorded")
			}
			first := decisions[0]
			for i, de := range decisions {
				if de.Signal != sig.DedupeKey || de.Decision == nil || de.Outcome == nil {
					t.Fatalf("decision %d: %+v", i, de)
				}
				if remediate.Fingerprint(ids.AppID, *de.Decision) != remediate.Fingerprint(ids.AppID, *first.Decision) ||
					de.Decision.Mode != first.Decision.Mode || !slices.Equal(de.Decision.Actions, first.Decision.Actions) {
					t.Errorf("decision %d differs from the first: %+v vs %+v", i, de.Decision, first.Decision)
				}
				if !sameActions(de.Outcome.Actions, first.Outcome.Actions) || de.Outcome.Mode != appwarden.ModeEnforce {
					t.Errorf("outcome %d tells another story: %+v vs %+v", i, de.Outcome, first.Outcome)
				}
				if len(de.Outcome.Actions) != len(steps) {
					t.Errorf("outcome %d reports %d actions, want %d", i, len(de.Outcome.Actions), len(steps))
				}
			}
		})
	}
}

func sameActions(a, b []appwarden.Action) bool {
	key := func(as []appwarden.Action) []string {
		var out []string
		for _, x := range as {
			out = append(out, fmt.Sprintf("%s|%s|%v|%s", x.Kind, x.Target, x.DryRun, x.At.UTC().Format(time.RFC3339Nano)))
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(key(a), key(b))
}

// TestConcurrentDuplicatesActOnce runs the same decision on the same
// resolution from several goroutines at once: through one Remediator (one
// process, concurrent invocations) and through several (instances sharing
// the store). Each step is written once.
func TestConcurrentDuplicatesActOnce(t *testing.T) {
	for _, sk := range stores(t) {
		for _, shared := range []bool{true, false} {
			name := sk.name + "/one-instance"
			if !shared {
				name = sk.name + "/three-instances"
			}
			t.Run(name, func(t *testing.T) {
				w := newWorld(t, sk.open(t))
				ids := w.tenant.AddApp(riskyApp("Payroll Sync"))
				pol := criticalPolicy(t, appwarden.ActionKinds...)
				app := w.resolve(ids.AppID)
				d := w.decide(pol, app, appwarden.ModeEnforce)
				steps := remediate.Plan(app, d, time.Now())
				mark := w.srv.Mark()
				var wg sync.WaitGroup
				errs := make(chan error, 3)
				start := make(chan struct{})
				for i := range 3 {
					rem := w.rem
					if !shared {
						r := *w.rem
						r.Owner = fmt.Sprintf("instance-%d", i)
						rem = &r
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						_, err := rem.Act(bg, w.log, app, d)
						errs <- err
					}()
				}
				close(start)
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						t.Errorf("Act: %v", err)
					}
				}
				if got, want := callKeys(w.allWrites(mark)), stepKeys(steps); !slices.Equal(got, want) {
					t.Errorf("writes %q\nwant one per step %q", got, want)
				}
				w.checkRecorded(ids.AppID, steps, remediate.StatusDone)
			})
		}
	}
}

// TestBlastRadiusLimit sets the limit to 2 actions an hour and finds five
// risky apps: two are contained, the rest are recorded as audit-only, one
// ERROR line and one alert say why, and after ResetLimit enforcement
// resumes.
func TestBlastRadiusLimit(t *testing.T) {
	for _, sk := range stores(t) {
		t.Run(sk.name, func(t *testing.T) {
			w := newWorld(t, sk.open(t))
			alerts := &countingAlerter{}
			w.rem.MaxPerHour, w.rem.Alerter = 2, alerts
			pol := criticalPolicy(t, appwarden.ActionDisableServicePrincipal, appwarden.ActionNotify)
			var apps []fakegraph.IDs
			for i := range 5 {
				apps = append(apps, w.tenant.AddApp(simpleRiskyApp(fmt.Sprintf("Risky %d", i+1))))
			}
			mark := w.srv.Mark()
			var outs []appwarden.Outcome
			for _, ids := range apps {
				app := w.resolve(ids.AppID)
				outs = append(outs, w.mustAct(app, w.decide(pol, app, appwarden.ModeEnforce)))
			}
			if n := len(w.allWrites(mark)); n != 2 {
				t.Errorf("%d writes, want at most 2 (the limit)", n)
			}
			for i, ids := range apps {
				out, st := outs[i], w.state(ids.AppID)
				if i < 2 {
					if out.Mode != appwarden.ModeEnforce || st.AccountEnabled {
						t.Errorf("app %d: outcome %s, enabled %v; want contained", i+1, out.Mode, st.AccountEnabled)
					}
					continue
				}
				if out.Mode != appwarden.ModeAudit || !strings.Contains(out.Skipped, "blast-radius limit") || !st.AccountEnabled {
					t.Errorf("app %d: outcome %s %q, enabled %v; want audit-only", i+1, out.Mode, out.Skipped, st.AccountEnabled)
				}
				if len(out.Actions) != 1 || !out.Actions[0].DryRun {
					t.Errorf("app %d: outcome actions %+v, want one would-do action", i+1, out.Actions)
				}
				for _, r := range w.actions(ids.AppID) {
					if r.Status != remediate.StatusWouldDo {
						t.Errorf("app %d: action recorded as %s, want %s", i+1, r.Status, remediate.StatusWouldDo)
					}
				}
			}
			if !strings.Contains(w.logs.String(), "level=ERROR") || !strings.Contains(w.logs.String(), "blast-radius limit reached") {
				t.Errorf("no ERROR line about the limit:\n%s", w.logs.String())
			}
			if got := alerts.Messages(); len(got) != 1 || !strings.Contains(got[0], "appwarden limit reset") {
				t.Errorf("alerts %q, want exactly one naming appwarden limit reset", got)
			}

			was, err := w.rem.ResetLimit(bg, "x")
			if err != nil || !was {
				t.Fatalf("ResetLimit = %v, %v; want true", was, err)
			}
			mark = w.srv.Mark()
			app := w.resolve(apps[2].AppID)
			out := w.mustAct(app, w.decide(pol, app, appwarden.ModeEnforce))
			if out.Mode != appwarden.ModeEnforce || w.state(apps[2].AppID).AccountEnabled {
				t.Errorf("after the reset: outcome %s %q; want the app contained", out.Mode, out.Skipped)
			}
			if n := len(w.allWrites(mark)); n != 1 {
				t.Errorf("after the reset: %d writes, want 1", n)
			}
			if got := alerts.Messages(); len(got) != 1 {
				t.Errorf("%d alerts after the reset, want still 1", len(got))
			}
			if was, err := w.rem.ResetLimit(bg, "x"); err != nil || was {
				t.Errorf("second ResetLimit = %v, %v; want false (not tripped)", was, err)
			}
		})
	}
}

// TestProtectedAppsAreNeverWrittenTo hands Remediator a decision crafted to
// bypass policy (not protected, enforce, every action, critical findings)
// for each kind of protected app: remediation's own guard refuses, and
// nothing is written or recorded. An unprotected app given the same
// decision is acted on, so the decision would have done harm.
func TestProtectedAppsAreNeverWrittenTo(t *testing.T) {
	for _, sk := range stores(t) {
		t.Run(sk.name, func(t *testing.T) {
			w := newWorld(t, sk.open(t))
			critical := []fakegraph.Permission{fakegraph.GraphRole("RoleManagement.ReadWrite.Directory")}
			self := w.tenant.AddApp(fakegraph.AppSpec{DisplayName: "AppWarden", Requested: critical, Granted: critical,
				Secrets: []fakegraph.Credential{{DisplayName: "s"}}})
			breakGlass := w.tenant.AddApp(fakegraph.AppSpec{DisplayName: "Break glass", Requested: critical, Granted: critical,
				Secrets: []fakegraph.Credential{{DisplayName: "s"}}})
			firstParty := w.tenant.AddServicePrincipal(fakegraph.SPSpec{DisplayName: "Office 365 Exchange Online",
				AppOwnerOrganizationID: fakegraph.MicrosoftServicesTenantID, Granted: critical})
			mi := w.tenant.AddServicePrincipal(fakegraph.SPSpec{AppID: "0d7e3f6b-8a9c-4b1d-9e2f-3a4b5c6d7e8f", DisplayName: "func-payroll-prod",
				ServicePrincipalType: "ManagedIdentity", Granted: append(critical, fakegraph.GraphScope("User.Read"))})
			control := w.tenant.AddApp(riskyApp("Unprotected"))
			w.rem.Guard = appwarden.Guard{SelfAppID: strings.ToUpper(self.AppID), BreakGlass: []string{" " + breakGlass.AppID + " "}}

			hostile := func(app *appwarden.App) appwarden.Decision {
				var ev []appwarden.Evidence
				for _, p := range app.Permissions {
					ev = append(ev, appwarden.Evidence{Kind: "permission", ID: p.ID, Name: p.Name})
				}
				return appwarden.Decision{
					AppID: app.AppID, Mode: appwarden.ModeEnforce, Protected: "", Actions: slices.Clone(appwarden.ActionKinds),
					Findings:    []appwarden.Finding{{RuleID: "everything", Title: "hostile", Severity: appwarden.SeverityCritical, Evidence: ev}},
					Explanation: "a hostile policy",
				}
			}
			for _, tc := range []struct {
				name, appID, why string
			}{
				{"AppWarden's own app", self.AppID, "AppWarden's own app"},
				{"a Microsoft first-party app", firstParty.AppID, "Microsoft first-party app"},
				{"a managed identity", mi.AppID, "managed identity"},
				{"a break-glass app", breakGlass.AppID, "break-glass"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					app := w.resolve(tc.appID)
					d := hostile(app)
					if len(remediate.Plan(app, d, time.Now())) == 0 {
						t.Fatal("the hostile decision plans nothing for this app; the test would prove nothing")
					}
					mark := w.srv.Mark()
					out, err := w.rem.Act(bg, w.log, app, d)
					if err != nil {
						t.Fatalf("Act: %v", err)
					}
					if n := w.allWrites(mark); len(n) != 0 {
						t.Errorf("%d writes to a protected app: %q", len(n), callKeys(n))
					}
					if out.Mode != appwarden.ModeAudit || !strings.Contains(out.Skipped, tc.why) || len(out.Actions) != 0 {
						t.Errorf("outcome %+v; want audit, skipped naming %q, no actions", out, tc.why)
					}
					if recs := w.actions(tc.appID); len(recs) != 0 {
						t.Errorf("actions recorded for a protected app: %+v", recs)
					}
				})
			}
			t.Run("the control app", func(t *testing.T) {
				app := w.resolve(control.AppID)
				mark := w.srv.Mark()
				w.mustAct(app, hostile(app))
				if len(w.allWrites(mark)) == 0 {
					t.Error("the hostile decision wrote nothing to an unprotected app")
				}
			})
		})
	}
}

// TestAuditModeWritesNothing: in audit mode Act writes nothing to Graph and
// records each would-do action once, with its before-state. When the mode
// becomes enforce, the same findings are acted on, once.
func TestAuditModeWritesNothing(t *testing.T) {
	for _, sk := range stores(t) {
		t.Run(sk.name, func(t *testing.T) {
			w := newWorld(t, sk.open(t))
			ids := w.tenant.AddApp(riskyApp("Payroll Sync"))
			pol := criticalPolicy(t, appwarden.ActionKinds...)
			orig := w.state(ids.AppID)
			app := w.resolve(ids.AppID)
			d := w.decide(pol, app, appwarden.ModeAudit)
			if d.Mode != appwarden.ModeAudit {
				t.Fatalf("decision mode %s, want audit", d.Mode)
			}
			steps := remediate.Plan(app, d, time.Now())
			if len(steps) == 0 {
				t.Fatal("nothing planned")
			}
			mark := w.srv.Mark()
			for range 2 {
				out := w.mustAct(app, d)
				if out.Mode != appwarden.ModeAudit || len(out.Actions) != len(steps) {
					t.Errorf("outcome %s with %d actions, want audit with %d", out.Mode, len(out.Actions), len(steps))
				}
				for _, a := range out.Actions {
					if !a.DryRun {
						t.Errorf("action %+v is not a dry run", a)
					}
				}
			}
			if n := w.allWrites(mark); len(n) != 0 {
				t.Errorf("audit mode wrote to Graph: %q", callKeys(n))
			}
			if st := w.state(ids.AppID); !equalState(st, orig) {
				t.Errorf("the app changed in audit mode:\n%+v\nwas\n%+v", st, orig)
			}
			w.checkRecorded(ids.AppID, steps, remediate.StatusWouldDo)
			if !strings.Contains(w.logs.String(), "would act (audit mode)") {
				t.Errorf("no would-act log line:\n%s", w.logs.String())
			}

			// Switched to enforce: the would-do records become done, once.
			d = w.decide(pol, app, appwarden.ModeEnforce)
			mark = w.srv.Mark()
			w.mustAct(app, d)
			w.mustAct(app, d)
			if got, want := callKeys(w.allWrites(mark)), stepKeys(steps); !slices.Equal(got, want) {
				t.Errorf("writes in enforce mode %q\nwant %q", got, want)
			}
			w.checkRecorded(ids.AppID, steps, remediate.StatusDone)
		})
	}
}

func equalState(a, b fakegraph.AppState) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// hookGraph runs after once, right after the first Apply has reached Graph
// and before the caller records anything.
type hookGraph struct {
	next  appwarden.Writer
	once  sync.Once
	after func()
}

func (h *hookGraph) Apply(ctx context.Context, ws []appwarden.Write) ([]appwarden.WriteResult, error) {
	res, err := h.next.Apply(ctx, ws)
	h.once.Do(h.after)
	return res, err
}

// TestSettledByAnotherInstance: instance A has written a step and not yet
// recorded it as done when instance B, reading the app afresh, sees the
// change in Graph and settles A's claim as done. A must take that as done,
// not fail the invocation; the step is written once.
func TestSettledByAnotherInstance(t *testing.T) {
	for _, sk := range stores(t) {
		t.Run(sk.name, func(t *testing.T) {
			w := newWorld(t, sk.open(t))
			ids := w.tenant.AddApp(simpleRiskyApp("Payroll Sync"))
			pol := criticalPolicy(t, appwarden.ActionDisableServicePrincipal)
			b := *w.rem
			b.Owner = "instance-b"
			a := *w.rem
			a.Owner = "instance-a"
			var bErr error
			var bOut appwarden.Outcome
			a.Graph = &hookGraph{next: w.rem.Graph, after: func() {
				app := w.resolve(ids.AppID)
				bOut, bErr = b.Act(bg, w.log, app, w.decide(pol, app, appwarden.ModeEnforce))
			}}
			app := w.resolve(ids.AppID)
			d := w.decide(pol, app, appwarden.ModeEnforce)
			steps := remediate.Plan(app, d, time.Now())
			mark := w.srv.Mark()
			out, err := a.Act(bg, w.log, app, d)
			if bErr != nil {
				t.Errorf("instance B: %v", bErr)
			}
			if err != nil {
				t.Errorf("instance A failed although its write is applied and recorded: %v", err)
			}
			if len(out.Actions) != 1 || len(bOut.Actions) != 1 {
				t.Errorf("A reports %+v, B reports %+v; want the one action each", out.Actions, bOut.Actions)
			}
			if got, want := callKeys(w.allWrites(mark)), stepKeys(steps); !slices.Equal(got, want) {
				t.Errorf("writes %q, want %q", got, want)
			}
			w.checkRecorded(ids.AppID, steps, remediate.StatusDone)
		})
	}
}

// countingStore counts the calls made to a store.
type countingStore struct {
	appwarden.Store
	mu    sync.Mutex
	calls []string
}

func (c *countingStore) note(op, partition string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, op+" "+partition)
}

func (c *countingStore) Put(ctx context.Context, r appwarden.Record) (bool, error) {
	c.note("put", r.Partition)
	return c.Store.Put(ctx, r)
}

func (c *countingStore) Get(ctx context.Context, p, k string) (appwarden.Record, bool, error) {
	c.note("get", p)
	return c.Store.Get(ctx, p, k)
}

func (c *countingStore) Replace(ctx context.Context, r appwarden.Record) (string, error) {
	c.note("replace", r.Partition)
	return c.Store.Replace(ctx, r)
}

func (c *countingStore) List(ctx context.Context, p string) ([]appwarden.Record, error) {
	c.note("list", p)
	return c.Store.List(ctx, p)
}

func (c *countingStore) Delete(ctx context.Context, p, k string) error {
	c.note("delete", p)
	return c.Store.Delete(ctx, p, k)
}

// TestBenignAppCostsNothing: a sweep reads every app of the tenant, and most
// are benign. Acting on a decision with no findings touches neither Graph
// nor the state store, so a sweep's cost per app does not grow with what the
// store holds; the same app, once risky, is still acted on.
func TestBenignAppCostsNothing(t *testing.T) {
	cs := &countingStore{Store: store.NewMemory()}
	w := newWorld(t, cs)
	benign := w.tenant.AddApp(fakegraph.AppSpec{DisplayName: "Wiki Bot",
		Requested: []fakegraph.Permission{fakegraph.GraphScope("User.Read")},
		Granted:   []fakegraph.Permission{fakegraph.GraphScope("User.Read")}})
	pol := criticalPolicy(t, appwarden.ActionDisableServicePrincipal)
	app := w.resolve(benign.AppID)
	d := w.decide(pol, app, appwarden.ModeEnforce)
	if len(d.Findings) != 0 {
		t.Fatalf("the benign app has findings: %+v", d.Findings)
	}
	mark := w.srv.Mark()
	out := w.mustAct(app, d)
	if len(out.Actions) != 0 || out.Skipped != "" || out.Mode != d.Mode {
		t.Errorf("outcome for a benign app: %+v", out)
	}
	if len(cs.calls) != 0 {
		t.Errorf("acting on a benign app used the state store: %q", cs.calls)
	}
	if ws := w.allWrites(mark); len(ws) != 0 {
		t.Errorf("acting on a benign app wrote to Graph: %q", callKeys(ws))
	}
	// A protected benign app still says why it would never be acted on.
	w.rem.Guard = appwarden.Guard{BreakGlass: []string{benign.AppID}}
	if out := w.mustAct(app, d); out.Skipped != "protected: on the break-glass list" || len(out.Actions) != 0 {
		t.Errorf("outcome for a protected benign app: %+v", out)
	}
	w.rem.Guard = appwarden.Guard{}

	risky := w.tenant.AddApp(simpleRiskyApp("Payroll Sync"))
	app = w.resolve(risky.AppID)
	d = w.decide(pol, app, appwarden.ModeEnforce)
	if out := w.mustAct(app, d); len(out.Actions) != 1 || out.Actions[0].Kind != appwarden.ActionDisableServicePrincipal {
		t.Errorf("risky app's outcome %+v, want the service principal disabled", out)
	}
	if len(cs.calls) == 0 {
		t.Error("acting on a risky app recorded nothing")
	}
}
