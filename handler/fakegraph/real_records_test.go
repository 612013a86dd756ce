package fakegraph_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/appwarden/appwarden/handler/fakegraph"
)

// The records the stand-in writes have the shape of real ones: the three
// rows OTRF published (testdata/real-records, MIT), whose InitiatedBy and
// TargetResources columns hold the directoryAudit's own JSON.

type target struct {
	ID, DisplayName, Type string
	ModifiedProperties    []struct {
		DisplayName        string
		OldValue, NewValue *string
	}
}

func realTargets(t *testing.T, file string) (activity string, targets []target) {
	t.Helper()
	b, err := os.ReadFile("testdata/real-records/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var row struct{ ActivityDisplayName, TargetResources string }
	if err := json.Unmarshal(b, &row); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(row.TargetResources), &targets); err != nil {
		t.Fatal(err)
	}
	return row.ActivityDisplayName, targets
}

func ourTargets(t *testing.T, raw json.RawMessage) (activity string, targets []target) {
	t.Helper()
	var rec struct {
		ActivityDisplayName string
		TargetResources     []target
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	return rec.ActivityDisplayName, rec.TargetResources
}

func propNames(tg target) []string {
	var out []string
	for _, p := range tg.ModifiedProperties {
		out = append(out, p.DisplayName)
	}
	return out
}

// keyDescriptions decodes KeyDescription's JSON-encoded list.
func keyDescriptions(t *testing.T, v *string) []string {
	t.Helper()
	var out []string
	if v == nil || json.Unmarshal([]byte(*v), &out) != nil {
		t.Fatalf("KeyDescription %v is not a JSON-encoded list of strings", v)
	}
	return out
}

var keyDesc = regexp.MustCompile(`^\[KeyIdentifier=[0-9a-f-]{36},KeyType=Password,KeyUsage=Verify,DisplayName=[^\]]*\]$`)

func TestCredentialRecordMatchesRealRow(t *testing.T) {
	realActivity, real := realTargets(t, "otrf-01-update-application-certs-and-secrets.la.json")
	tenant := fakegraph.NewTenant("")
	ids := tenant.AddApp(fakegraph.AppSpec{DisplayName: "SimuLandApp", NoServicePrincipal: true})
	tenant.ClearAuditLog()
	tenant.AddApplicationPassword(ids.AppID, "SimuLandCreds")
	activity, ours := ourTargets(t, tenant.AuditLog()[0])
	if activity != realActivity {
		t.Errorf("activity %q, real %q", activity, realActivity)
	}
	if len(ours) != len(real) || ours[0].Type != real[0].Type || !slices.Equal(propNames(ours[0]), propNames(real[0])) {
		t.Fatalf("targets %+v, real %+v", ours, real)
	}
	for i, tg := range []target{real[0], ours[0]} {
		old, now := keyDescriptions(t, tg.ModifiedProperties[0].OldValue), keyDescriptions(t, tg.ModifiedProperties[0].NewValue)
		if len(old) != 0 || len(now) != 1 || !keyDesc.MatchString(now[0]) {
			t.Errorf("target %d: KeyDescription %v -> %v", i, old, now)
		}
		inc := tg.ModifiedProperties[1]
		if inc.OldValue != nil || inc.NewValue == nil || *inc.NewValue != `"KeyDescription"` {
			t.Errorf("target %d: Included Updated Properties %v -> %v", i, inc.OldValue, inc.NewValue)
		}
	}
	// A second secret lists both after, the first before.
	tenant.AddApplicationPassword(ids.AppID, "second")
	_, ours = ourTargets(t, tenant.AuditLog()[1])
	if old, now := keyDescriptions(t, ours[0].ModifiedProperties[0].OldValue), keyDescriptions(t, ours[0].ModifiedProperties[0].NewValue); len(old) != 1 || len(now) != 2 {
		t.Errorf("second secret: %v -> %v", old, now)
	}
}

func TestDelegatedGrantRecordMatchesRealRow(t *testing.T) {
	realActivity, real := realTargets(t, "otrf-03-add-delegated-permission-grant.la.json")
	tenant := fakegraph.NewTenant("")
	tenant.AddMicrosoftGraph()
	ids := tenant.AddApp(fakegraph.AppSpec{DisplayName: "SimuLandApp", Granted: []fakegraph.Permission{fakegraph.GraphScope("User.Read")}})
	tenant.ClearAuditLog()
	tenant.ConsentDelegated(ids.AppID, fakegraph.GraphAppID, "Mail.Read")
	activity, ours := ourTargets(t, tenant.AuditLog()[0])
	if activity != realActivity {
		t.Errorf("activity %q, real %q", activity, realActivity)
	}
	if len(ours) != len(real) || !slices.Equal(propNames(ours[0]), propNames(real[0])) || ours[0].DisplayName != real[0].DisplayName {
		t.Fatalf("targets %+v\nreal %+v", ours, real)
	}
	// Like the real row: the resource first, the grantee in
	// ServicePrincipal.ObjectID and as the second target, the scopes old and
	// new as JSON-encoded strings.
	byName := map[string]*string{}
	old := map[string]*string{}
	for _, p := range ours[0].ModifiedProperties {
		byName[p.DisplayName], old[p.DisplayName] = p.NewValue, p.OldValue
	}
	if *byName["ServicePrincipal.ObjectID"] != `"`+ids.ServicePrincipalID+`"` || ours[1].ID != ids.ServicePrincipalID || ours[1].Type != "ServicePrincipal" {
		t.Errorf("grantee %v, second target %+v", *byName["ServicePrincipal.ObjectID"], ours[1])
	}
	if *old["DelegatedPermissionGrant.Scope"] != `"User.Read"` || *byName["DelegatedPermissionGrant.Scope"] != `"User.Read Mail.Read"` {
		t.Errorf("scope %v -> %v", *old["DelegatedPermissionGrant.Scope"], *byName["DelegatedPermissionGrant.Scope"])
	}
}

func TestUpdateRecordMatchesRealRow(t *testing.T) {
	realActivity, real := realTargets(t, "otrf-02-update-application.la.json")
	tenant := fakegraph.NewTenant("")
	ids := tenant.AddApp(fakegraph.AppSpec{DisplayName: "SimuLandApp", NoServicePrincipal: true,
		Requested: []fakegraph.Permission{fakegraph.GraphScope("User.Read")}})
	tenant.ClearAuditLog()
	err := tenant.UpdateApplication(ids.AppID, func(a models.Applicationable) {
		rra := a.GetRequiredResourceAccess()[0]
		ra := models.NewResourceAccess()
		ra.SetId(ptrUUID(fakegraph.GraphScopes["Mail.Read"]))
		ra.SetTypeEscaped(ptr("Scope"))
		rra.SetResourceAccess(append(rra.GetResourceAccess(), ra))
	})
	if err != nil {
		t.Fatal(err)
	}
	activity, ours := ourTargets(t, tenant.AuditLog()[0])
	if activity != realActivity || ours[0].Type != real[0].Type || ours[0].ID != ids.ApplicationID {
		t.Errorf("activity %q on %+v", activity, ours[0])
	}
	if !slices.Equal(propNames(ours[0]), propNames(real[0])) {
		t.Errorf("properties %v, real %v", propNames(ours[0]), propNames(real[0]))
	}
	if inc := ours[0].ModifiedProperties[1]; *inc.NewValue != `"RequiredResourceAccess"` {
		t.Errorf("Included Updated Properties %s", *inc.NewValue)
	}
}
