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

var (
	installed = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	now       = installed.Add(72 * time.Hour)
)

const (
	appID   = "5bee10b5-db93-4475-ae1a-3d87e059d287"
	rmrwdID = "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8"
	ownerA  = "a11ce000-0000-4000-8000-000000000001"
	ownerM  = "3f2e1d0c-0000-4000-8000-00000000000e"
	oldKey  = "1f0c7a52-8d1e-4b8f-9c55-6a2e0d3b4c71"
	newKey  = "7e7e7e7e-0000-4000-8000-000000000007"
	gaRole  = "62e90394-69f5-4237-9190-012177145e10"
)

// keeper is a Keeper installed at `installed`, now at `now`.
func keeper(t *testing.T) *baseline.Keeper {
	t.Helper()
	clock := installed
	k := &baseline.Keeper{Store: store.NewMemory(), Lookback: time.Hour, Now: func() time.Time { return clock }}
	if got, err := k.Installed(context.Background()); err != nil || !got.Equal(installed) {
		t.Fatalf("Installed = %v, %v", got, err)
	}
	clock = now
	return k
}

// backupApp has held a critical permission, a secret and an owner since a
// year before AppWarden was installed.
func backupApp() *appwarden.App {
	created := installed.AddDate(-1, 0, 0)
	return &appwarden.App{
		AppID: appID,
		Application: &appwarden.Application{ID: "a0847fad-c428-4478-bd58-d4ad0d9f48be", AppID: appID, CreatedDateTime: created,
			SignInAudience:         "AzureADMyOrg",
			RequiredResourceAccess: []appwarden.RequiredResource{{ResourceAppID: "00000003-0000-0000-c000-000000000000", ResourceAccess: []appwarden.ResourceAccess{{ID: rmrwdID, Type: "Role"}}}},
			PasswordCredentials:    []appwarden.Credential{{KeyID: oldKey, StartDateTime: created, EndDateTime: created.AddDate(2, 0, 0)}}},
		Permissions: []appwarden.Permission{{ID: rmrwdID, Name: "RoleManagement.ReadWrite.Directory", Type: appwarden.PermissionApplication, Requested: true, Granted: true}},
		Owners:      []appwarden.Principal{{ID: ownerA, UPN: "alice@contoso.example", Type: "user"}},
	}
}

func refs(fs []appwarden.Fact) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Kind+":"+f.Ref()+":"+f.State)
	}
	slices.Sort(out)
	return out
}

func change(t *testing.T, k *baseline.Keeper, app *appwarden.App, sig appwarden.Signal) *appwarden.Change {
	t.Helper()
	ch, err := k.Change(context.Background(), app, sig)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// After a decision the facts are the baseline: the same app again adds
// nothing, a new secret and a new owner are exactly what is added.
func TestRecordedFactsAreTheBaseline(t *testing.T) {
	k := keeper(t)
	ctx := context.Background()
	app := backupApp()
	app.Read = appwarden.Parts() // a change's resolution: every part read
	if err := k.Record(ctx, app); err != nil {
		t.Fatal(err)
	}
	if ch := change(t, k, app, appwarden.Signal{Kind: appwarden.AppUpdated}); ch.New || ch.Lazy || len(ch.Added) != 0 || !ch.Since.Equal(now) {
		t.Fatalf("the same app again: %+v, want nothing added since %s", ch, now)
	}
	app.ServicePrincipals = []appwarden.ServicePrincipal{{ID: "sp", PasswordCredentials: []appwarden.Credential{{KeyID: newKey}}}}
	app.Owners = append(app.Owners, appwarden.Principal{ID: ownerM, Type: "user"})
	got := refs(change(t, k, app, appwarden.Signal{Kind: appwarden.CredentialAdded}).Added)
	want := []string{"credential:" + newKey + ":password", "owner:" + ownerM + ":user"}
	if !slices.Equal(got, want) {
		t.Errorf("added %v, want %v", got, want)
	}
}

// An app created after the installation (or within the look-back before
// it) is new: everything it holds counts as added.
func TestNewAppAddsEverything(t *testing.T) {
	k := keeper(t)
	app := backupApp()
	app.Application.CreatedDateTime = installed.Add(-30 * time.Minute)
	ch := change(t, k, app, appwarden.Signal{Kind: appwarden.AppCreated})
	if !ch.New || len(ch.Added) != len(appwarden.FactsOf(app)) {
		t.Fatalf("change %+v, want new with every fact added", ch)
	}
}

// An app older than AppWarden, never read: only what the record names, and
// what Graph dates after the installation, is added. The rest is posture.
func TestOldAppNeverReadIsCompletedLazily(t *testing.T) {
	k := keeper(t)
	app := backupApp()
	app.Owners = append(app.Owners, appwarden.Principal{ID: ownerM, Type: "user"})
	app.DirectoryRoles = []appwarden.DirectoryRole{{ID: "r1", RoleTemplateID: gaRole, DisplayName: "Global Administrator"}}

	renamed := change(t, k, app, appwarden.Signal{Kind: appwarden.AppUpdated})
	if renamed.New || !renamed.Lazy || len(renamed.Added) != 0 {
		t.Fatalf("rename of an old app: %+v, want nothing added", renamed)
	}
	owner := change(t, k, app, appwarden.Signal{Kind: appwarden.OwnerAdded, Added: []appwarden.Fact{{Kind: appwarden.FactOwner, ID: ownerM}}})
	if got := refs(owner.Added); !slices.Equal(got, []string{"owner:" + ownerM + ":user"}) {
		t.Errorf("owner record: added %v, want only the owner it names", got)
	}
	app.Application.PasswordCredentials = append(app.Application.PasswordCredentials, appwarden.Credential{KeyID: newKey, StartDateTime: now.Add(-time.Minute)})
	swept := change(t, k, app, appwarden.Signal{Kind: appwarden.AppUpdated, Source: appwarden.SourceSweep})
	if got := refs(swept.Added); !slices.Equal(got, []string{"credential:" + newKey + ":password"}) {
		t.Errorf("sweep after a secret dated after installation: added %v", got)
	}
	role := change(t, k, app, appwarden.Signal{Kind: appwarden.DirectoryRoleGranted, Added: []appwarden.Fact{{Kind: appwarden.FactDirectoryRole, Name: "global administrator"}}})
	if got := refs(role.Added); !slices.Contains(got, "directoryRole:"+gaRole+":") {
		t.Errorf("role record naming the role by name: added %v", got)
	}
}

// The first sweep records what the delta object carries; a permission
// requested later is then added even though nothing dates it.
func TestDeltaBaselineCatchesUndatedChanges(t *testing.T) {
	k := keeper(t)
	ctx := context.Background()
	app := backupApp()
	if err := k.RecordDelta(ctx, appID, app.Application); err != nil {
		t.Fatal(err)
	}
	app.Application.RequiredResourceAccess[0].ResourceAccess = append(app.Application.RequiredResourceAccess[0].ResourceAccess,
		appwarden.ResourceAccess{ID: "19dbc75e-c2e2-444c-a770-ec69d8559fc7", Type: "Role"})
	app.Permissions = append(app.Permissions, appwarden.Permission{ID: "19dbc75e-c2e2-444c-a770-ec69d8559fc7", Name: "Directory.ReadWrite.All", Type: appwarden.PermissionApplication, Requested: true})
	app.Application.RedirectURIs = []appwarden.RedirectURI{{Kind: appwarden.RedirectWeb, URI: "https://x.ngrok.app/cb"}}
	ch := change(t, k, app, appwarden.Signal{Kind: appwarden.AppUpdated, Source: appwarden.SourceSweep})
	want := []string{"permission:19dbc75e-c2e2-444c-a770-ec69d8559fc7:requested", "redirectUri:https://x.ngrok.app/cb:web"}
	if got := refs(ch.Added); !slices.Equal(got, want) {
		t.Errorf("added %v, want %v", got, want)
	}
	// The delta baseline never overwrites facts a decision recorded.
	if err := k.Record(ctx, app); err != nil {
		t.Fatal(err)
	}
	if err := k.RecordDelta(ctx, appID, backupApp().Application); err != nil {
		t.Fatal(err)
	}
	if ch := change(t, k, app, appwarden.Signal{Kind: appwarden.AppUpdated}); len(ch.Added) != 0 || ch.Lazy {
		t.Errorf("after a decision and a later delta record: %+v, want nothing added", ch)
	}
}

// A new app's creation does not read its federated credentials or roles.
// A later change that reads them finds one that was always there: it is not
// taken for an addition (only what the record names, or Graph dates after
// the last record, is). And a resolution that does not read them again does
// not forget them.
func TestPartsNotReadAreUnknownNotEmpty(t *testing.T) {
	k := keeper(t)
	ctx := context.Background()
	app := backupApp()
	app.Application.CreatedDateTime = now.Add(-time.Minute)
	if err := k.Record(ctx, app); err != nil { // the creation: nothing optional read
		t.Fatal(err)
	}
	withFIC := backupApp()
	withFIC.Application.CreatedDateTime = app.Application.CreatedDateTime
	withFIC.Read = appwarden.Parts()
	withFIC.FederatedIdentityCredentials = []appwarden.FederatedCredential{{ID: "f1", Name: "deploy", Issuer: "https://token.actions.githubusercontent.com", Subject: "repo:contoso/x:ref:refs/heads/main"}}
	if ch := change(t, k, withFIC, appwarden.Signal{Kind: appwarden.AppUpdated}); len(ch.Added) != 0 {
		t.Fatalf("a federated credential first read now: added %v, want nothing", refs(ch.Added))
	}
	if ch := change(t, k, withFIC, appwarden.Signal{Kind: appwarden.AppUpdated, Added: []appwarden.Fact{{Kind: appwarden.FactFederatedCredential}}}); len(ch.Added) != 1 {
		t.Fatalf("a record that says federated credentials changed: added %v, want the one", refs(ch.Added))
	}
	if err := k.Record(ctx, withFIC); err != nil {
		t.Fatal(err)
	}
	// A creation-like resolution that reads neither part: recorded, the
	// federated credential is carried over, so a second one is new.
	if err := k.Record(ctx, backupApp()); err != nil {
		t.Fatal(err)
	}
	two := withFIC
	two.FederatedIdentityCredentials = append(slices.Clone(withFIC.FederatedIdentityCredentials), appwarden.FederatedCredential{ID: "f2", Name: "mallory", Issuer: "https://token.actions.githubusercontent.com", Subject: "repo:mallory/x:ref:refs/heads/main"})
	got := refs(change(t, k, two, appwarden.Signal{Kind: appwarden.AppUpdated}).Added)
	if !slices.Equal(got, []string{"federatedCredential:mallory:"}) {
		t.Errorf("added %v, want only the second federated credential", got)
	}
}

// gets counts a store's reads.
type gets struct {
	appwarden.Store
	n int
}

func (g *gets) Get(ctx context.Context, partition, key string) (appwarden.Record, bool, error) {
	g.n++
	return g.Store.Get(ctx, partition, key)
}

// Recording reads the last record only when it may have to carry over a
// part this resolution did not read: not after a change that read every
// part, nor for a new app; still for a creation that read neither part of
// an app recorded before (and the carried-over facts stay).
func TestRecordReadsTheLastRecordOnlyToCarryOver(t *testing.T) {
	ctx := context.Background()
	st := &gets{Store: store.NewMemory()}
	k := &baseline.Keeper{Store: st, Now: func() time.Time { return now }}
	app := backupApp()
	app.Change = &appwarden.Change{New: true}
	if err := k.Record(ctx, app); err != nil || st.n != 0 {
		t.Fatalf("a new app's record: %v, %d reads; want none", err, st.n)
	}
	full := backupApp()
	full.Read = appwarden.Parts()
	full.FederatedIdentityCredentials = []appwarden.FederatedCredential{{ID: "f1", Name: "deploy"}}
	if err := k.Record(ctx, full); err != nil || st.n != 0 {
		t.Fatalf("a change that read every part: %v, %d reads; want none", err, st.n)
	}
	if err := k.Record(ctx, backupApp()); err != nil || st.n != 1 {
		t.Fatalf("a resolution that read neither part: %v, %d reads; want one", err, st.n)
	}
	withFIC := backupApp()
	withFIC.Read = full.Read
	withFIC.FederatedIdentityCredentials = full.FederatedIdentityCredentials
	if ch := change(t, k, withFIC, appwarden.Signal{Kind: appwarden.AppUpdated}); len(ch.Added) != 0 {
		t.Errorf("the federated credential was not carried over: added %v", refs(ch.Added))
	}
}
