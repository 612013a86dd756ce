package baseline_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/baseline"
	"github.com/appwarden/appwarden/handler/store"
)

const (
	spKey    = "5ec7e7a1-0000-4000-8000-0000000000c1"
	otherKey = "0b0b0b0b-0000-4000-8000-0000000000f0"
	ownerX   = "0a0a0a0a-0000-4000-8000-0000000000e0"
	mailRead = "570282fd-fa5c-430d-a7fd-fc8dc98a9dca"
)

// recordedAt is a Keeper on a fresh memory store whose backupApp-like app
// (as given) is recorded by a full decision at `now`.
func recordedAt(t *testing.T, app *appwarden.App) *baseline.Keeper {
	t.Helper()
	k := &baseline.Keeper{Store: store.NewMemory(), Lookback: time.Hour, Now: func() time.Time { return now }}
	if err := k.Record(context.Background(), app); err != nil {
		t.Fatal(err)
	}
	return k
}

// readAll lists every optional part a change's resolution reads.
var readAll = appwarden.Parts()

// decidedApp is backupApp, as a change's resolution reads it (every part),
// with a secret on its service principal and a delegated scope granted, so
// that a CredentialAdded and a ConsentGranted can name facts the decision
// read.
func decidedApp() *appwarden.App {
	app := backupApp()
	app.Read = readAll
	app.Change = &appwarden.Change{Kind: appwarden.AppUpdated, Known: readAll} // compared against a record that knew every part
	app.ServicePrincipals = []appwarden.ServicePrincipal{{ID: "sp", PasswordCredentials: []appwarden.Credential{{KeyID: spKey, StartDateTime: now.Add(-2 * time.Minute)}}}}
	app.Permissions = append(app.Permissions, appwarden.Permission{ResourceAppID: "00000003-0000-0000-c000-000000000000", ResourceName: "Microsoft Graph",
		ID: mailRead, Name: "Mail.Read", Type: appwarden.PermissionDelegated, Granted: true})
	return app
}

func covered(t *testing.T, k *baseline.Keeper, sigs ...appwarden.Signal) bool {
	t.Helper()
	ok, err := k.Covered(context.Background(), appID, sigs)
	if err != nil {
		t.Fatalf("Covered: %v", err)
	}
	return ok
}

var (
	before = now.Add(-time.Minute) // a signal's time before the decision
	spCred = appwarden.Fact{Kind: appwarden.FactCredential, ID: spKey, State: appwarden.CredentialPassword, On: appwarden.OnServicePrincipal}
	grant  = appwarden.Fact{Kind: appwarden.FactPermission, ID: rmrwdID, State: appwarden.StateGranted}
	owner  = appwarden.Fact{Kind: appwarden.FactOwner, ID: ownerA}
)

// Nothing recorded, or only a first sweep's partial baseline: no decision
// covers anything, not even a creation.
func TestCoveredNeedsAFullRecord(t *testing.T) {
	ctx := context.Background()
	clock := now
	k := &baseline.Keeper{Store: store.NewMemory(), Lookback: time.Hour, Now: func() time.Time { return clock }}
	created := appwarden.Signal{Kind: appwarden.AppCreated, AppID: appID, Time: before}
	if covered(t, k, created) {
		t.Error("no record: covered")
	}
	if err := k.RecordDelta(ctx, appID, decidedApp().Application); err != nil {
		t.Fatal(err)
	}
	if covered(t, k, created) {
		t.Error("a first sweep's partial record: covered a creation")
	}
	if covered(t, k, appwarden.Signal{Kind: appwarden.CredentialAdded, AppID: appID, Time: before,
		Added: []appwarden.Fact{{Kind: appwarden.FactCredential, ID: oldKey, State: appwarden.CredentialPassword, On: appwarden.OnApplication}}}) {
		t.Error("a first sweep's partial record holding the named secret: covered its addition")
	}
	// The same app decided now: the full record covers the creation (the
	// partial record above was the only thing missing).
	clock = now.Add(time.Second)
	if err := k.Record(ctx, decidedApp()); err != nil {
		t.Fatal(err)
	}
	if !covered(t, k, created) {
		t.Error("a full record after the creation: not covered")
	}
	if covered(t, k) {
		t.Error("no signals: covered")
	}
}

// A creation is covered by a full decision recorded after it, not by one
// recorded before or at the same instant.
func TestCoveredCreation(t *testing.T) {
	k := recordedAt(t, decidedApp())
	for _, kind := range []appwarden.SignalKind{appwarden.AppCreated, appwarden.ServicePrincipalCreated} {
		if !covered(t, k, appwarden.Signal{Kind: kind, AppID: appID, Time: before}) {
			t.Errorf("%s before the decision: not covered", kind)
		}
		if covered(t, k, appwarden.Signal{Kind: kind, AppID: appID, Time: now}) {
			t.Errorf("%s at the decision's time: covered", kind)
		}
		if covered(t, k, appwarden.Signal{Kind: kind, AppID: appID, Time: now.Add(time.Minute)}) {
			t.Errorf("%s after the decision: covered", kind)
		}
	}
	// The appId is matched as recorded (lower case).
	if ok, err := k.Covered(context.Background(), "5BEE10B5-DB93-4475-AE1A-3D87E059D287", []appwarden.Signal{{Kind: appwarden.AppCreated, Time: before}}); !ok || err != nil {
		t.Errorf("upper-case appId: %v, %v; want covered", ok, err)
	}
}

// A change is covered when the decision after it holds every fact it names
// as added; one it lacks, a change that names nothing, or a decision before
// the change, is not.
func TestCoveredChange(t *testing.T) {
	k := recordedAt(t, decidedApp())
	named := []struct {
		kind  appwarden.SignalKind
		added []appwarden.Fact
	}{
		{appwarden.CredentialAdded, []appwarden.Fact{spCred}},
		{appwarden.AppRoleGranted, []appwarden.Fact{grant}},
		{appwarden.OwnerAdded, []appwarden.Fact{owner}},
		{appwarden.CredentialAdded, []appwarden.Fact{spCred, {Kind: appwarden.FactCredential, ID: oldKey, State: appwarden.CredentialPassword, On: appwarden.OnApplication}}},
		// A scope named by its name and its API, as a consent record names it.
		{appwarden.ConsentGranted, []appwarden.Fact{{Kind: appwarden.FactPermission, Name: "mail.read", State: appwarden.StateGranted, Detail: "Microsoft Graph " + appwarden.PermissionDelegated}}},
	}
	for _, c := range named {
		if !covered(t, k, appwarden.Signal{Kind: c.kind, AppID: appID, Time: before, Added: c.added}) {
			t.Errorf("%s naming %v, all recorded after it: not covered", c.kind, c.added)
		}
		if covered(t, k, appwarden.Signal{Kind: c.kind, AppID: appID, Time: now, Added: c.added}) {
			t.Errorf("%s naming %v, recorded at its time: covered", c.kind, c.added)
		}
		if covered(t, k, appwarden.Signal{Kind: c.kind, AppID: appID, Time: now.Add(time.Minute), Added: c.added}) {
			t.Errorf("%s naming %v, recorded before it: covered", c.kind, c.added)
		}
	}

	notCovered := []struct {
		what string
		sig  appwarden.Signal
	}{
		{"a secret the record lacks", appwarden.Signal{Kind: appwarden.CredentialAdded,
			Added: []appwarden.Fact{{Kind: appwarden.FactCredential, ID: otherKey, State: appwarden.CredentialPassword, On: appwarden.OnServicePrincipal}}}},
		{"one recorded secret and one the record lacks", appwarden.Signal{Kind: appwarden.CredentialAdded,
			Added: []appwarden.Fact{spCred, {Kind: appwarden.FactCredential, ID: otherKey, State: appwarden.CredentialPassword, On: appwarden.OnServicePrincipal}}}},
		{"the recorded keyId as a certificate", appwarden.Signal{Kind: appwarden.CredentialAdded,
			Added: []appwarden.Fact{{Kind: appwarden.FactCredential, ID: spKey, State: appwarden.CredentialCertificate, On: appwarden.OnServicePrincipal}}}},
		{"an owner the record lacks", appwarden.Signal{Kind: appwarden.OwnerAdded, Added: []appwarden.Fact{owner, {Kind: appwarden.FactOwner, ID: ownerX}}}},
		{"an app role the record lacks", appwarden.Signal{Kind: appwarden.AppRoleGranted,
			Added: []appwarden.Fact{{Kind: appwarden.FactPermission, ID: "19dbc75e-c2e2-444c-a770-ec69d8559fc7", State: appwarden.StateGranted}}}},
		{"a tenant-wide consent where the record holds a grant to one user", appwarden.Signal{Kind: appwarden.ConsentGranted,
			Added: []appwarden.Fact{{Kind: appwarden.FactPermission, Name: "Mail.Read", State: appwarden.StateConsented, Detail: appwarden.PermissionDelegated}}}},
		{"the recorded scope's name on another API", appwarden.Signal{Kind: appwarden.ConsentGranted,
			Added: []appwarden.Fact{{Kind: appwarden.FactPermission, Name: "Mail.Read", State: appwarden.StateGranted, Detail: "Contoso Mail Archive " + appwarden.PermissionDelegated}}}},
		{"a scope whose API the record does not say", appwarden.Signal{Kind: appwarden.ConsentGranted,
			Added: []appwarden.Fact{{Kind: appwarden.FactPermission, Name: "Mail.Read", State: appwarden.StateGranted, Detail: appwarden.PermissionDelegated}}}},
		{"a scope the record lacks", appwarden.Signal{Kind: appwarden.ConsentGranted,
			Added: []appwarden.Fact{{Kind: appwarden.FactPermission, Name: "Mail.Send", State: appwarden.StateGranted, Detail: appwarden.PermissionDelegated}}}},
		{"a credential change naming nothing", appwarden.Signal{Kind: appwarden.CredentialAdded}},
		{"an update naming nothing", appwarden.Signal{Kind: appwarden.AppUpdated}},
		{"an owner change with an empty Added", appwarden.Signal{Kind: appwarden.OwnerAdded, Added: []appwarden.Fact{}}},
	}
	for _, c := range notCovered {
		c.sig.AppID, c.sig.Time = appID, before
		if covered(t, k, c.sig) {
			t.Errorf("%s: covered", c.what)
		}
	}
}

// A hint that names a kind only (an update of the federated credentials,
// which the record does not say which) is never covered, even when the
// decision read that part and holds one.
func TestCoveredNotByAKindOnly(t *testing.T) {
	app := decidedApp()
	app.FederatedIdentityCredentials = []appwarden.FederatedCredential{{ID: "f1", Name: "deploy", Issuer: "https://token.actions.githubusercontent.com", Subject: "repo:contoso/x:ref:refs/heads/main"}}
	k := recordedAt(t, app)
	kindOnly := appwarden.Signal{Kind: appwarden.AppUpdated, AppID: appID, Time: before, Added: []appwarden.Fact{{Kind: appwarden.FactFederatedCredential}}}
	if covered(t, k, kindOnly) {
		t.Error("a federated credential named by its kind only: covered")
	}
	// The same record covers the credential when the hint names it.
	byName := kindOnly
	byName.Added = []appwarden.Fact{{Kind: appwarden.FactFederatedCredential, Name: "deploy"}}
	if !covered(t, k, byName) {
		t.Error("the recorded federated credential named: not covered")
	}
}

// A fact of a part the decision did not read is unknown to its record,
// not absent or present: a change adding one is not covered, even if the
// record happens to hold a fact of that kind.
func TestCoveredNotByAPartNotRead(t *testing.T) {
	role := appwarden.Signal{Kind: appwarden.DirectoryRoleGranted, AppID: appID, Time: before,
		Added: []appwarden.Fact{{Kind: appwarden.FactDirectoryRole, ID: gaRole, Name: "Global Administrator"}}}
	fic := appwarden.Signal{Kind: appwarden.AppUpdated, AppID: appID, Time: before,
		Added: []appwarden.Fact{{Kind: appwarden.FactFederatedCredential, Name: "deploy"}}}
	// The app as read by a resolution that read every part but one.
	without := func(part string) *appwarden.App {
		app := decidedApp()
		app.Read = slices.DeleteFunc(slices.Clone(readAll), func(p string) bool { return p == part })
		app.DirectoryRoles = []appwarden.DirectoryRole{{ID: "r1", RoleTemplateID: gaRole, DisplayName: "Global Administrator"}}
		app.FederatedIdentityCredentials = []appwarden.FederatedCredential{{ID: "f1", Name: "deploy"}}
		return app
	}
	k := recordedAt(t, without(appwarden.PartDirectoryRoles))
	if covered(t, k, role) {
		t.Error("a directory role, recorded without reading the roles: covered")
	}
	if !covered(t, k, fic) {
		t.Error("a federated credential, recorded with that part read: not covered")
	}
	k = recordedAt(t, without(appwarden.PartFederatedCredentials))
	if !covered(t, k, role) {
		t.Error("a directory role, recorded with the roles read: not covered")
	}
	if covered(t, k, fic) {
		t.Error("a federated credential, recorded without reading that part: covered")
	}
}

// A new app's decision judged every fact it recorded (all counted as
// added), read or not by the creation: an owner it recorded covers that
// owner's audit record. A later decision that compared against a record
// not knowing the owners (a creation's, which reads the registration's
// owners only) recorded a new owner without judging it as added: that
// owner's record is not covered, and is judged on its own.
func TestCoveredOwnersOfACreation(t *testing.T) {
	owned := appwarden.Signal{Kind: appwarden.OwnerAdded, AppID: appID, Time: before,
		Added: []appwarden.Fact{{Kind: appwarden.FactOwner, ID: ownerA, On: appwarden.OnApplication}}}
	creation := decidedApp()
	creation.Read = nil
	creation.Change = &appwarden.Change{Kind: appwarden.AppCreated, New: true}
	if !covered(t, recordedAt(t, creation), owned) {
		t.Error("an owner recorded by a new app's decision: not covered")
	}
	later := decidedApp()
	later.Change = &appwarden.Change{Kind: appwarden.AppUpdated,
		Known: slices.DeleteFunc(slices.Clone(readAll), func(p string) bool { return p == appwarden.PartOwners })}
	if covered(t, recordedAt(t, later), owned) {
		t.Error("an owner recorded by a decision that did not judge the owners by comparison: covered")
	}
	if !covered(t, recordedAt(t, decidedApp()), owned) {
		t.Error("an owner recorded by a decision that compared the owners: not covered")
	}
}

// Several signals about one app are covered only when each of them is.
func TestCoveredSeveralSignals(t *testing.T) {
	k := recordedAt(t, decidedApp())
	all := []appwarden.Signal{
		{Kind: appwarden.AppCreated, AppID: appID, Time: now.Add(-3 * time.Minute)},
		{Kind: appwarden.CredentialAdded, AppID: appID, Time: now.Add(-2 * time.Minute), Added: []appwarden.Fact{spCred}},
		{Kind: appwarden.AppRoleGranted, AppID: appID, Time: now.Add(-2 * time.Minute), Added: []appwarden.Fact{grant}},
		{Kind: appwarden.OwnerAdded, AppID: appID, Time: before, Added: []appwarden.Fact{owner}},
	}
	if !covered(t, k, all...) {
		t.Fatal("every signal covered: the group is not")
	}
	notCovered := []struct {
		what string
		sig  appwarden.Signal
	}{
		{"an owner the record lacks", appwarden.Signal{Kind: appwarden.OwnerAdded, AppID: appID, Time: before, Added: []appwarden.Fact{{Kind: appwarden.FactOwner, ID: ownerX}}}},
		{"a creation after the decision", appwarden.Signal{Kind: appwarden.ServicePrincipalCreated, AppID: appID, Time: now.Add(time.Second)}},
		{"an update naming nothing", appwarden.Signal{Kind: appwarden.AppUpdated, AppID: appID, Time: before}},
	}
	for _, c := range notCovered {
		// Wherever it sits in the group.
		for i := 0; i <= len(all); i++ {
			sigs := append(append(append([]appwarden.Signal{}, all[:i]...), c.sig), all[i:]...)
			if covered(t, k, sigs...) {
				t.Errorf("%s at %d among covered signals: the group is covered", c.what, i)
			}
		}
	}
}
