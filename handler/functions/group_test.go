package functions

import (
	"slices"
	"testing"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// TestGroupsJoinSignalsNamingTheSameApp: signals naming the same app by
// application id or by object id (transitively) share a group, in order; a
// sweep request and a signal naming nothing are groups of their own.
func TestGroupsJoinSignalsNamingTheSameApp(t *testing.T) {
	sigs := []appwarden.Signal{
		{Kind: appwarden.AppCreated, AppID: "A", ObjectID: "app-obj-a"},         // 0
		{Kind: appwarden.AppCreated, AppID: "b", ObjectID: "app-obj-b"},         // 1
		{Kind: appwarden.CredentialAdded, ObjectID: "APP-OBJ-A"},                // 2: A by object id
		{Kind: appwarden.SweepRequested},                                        // 3
		{Kind: appwarden.ServicePrincipalCreated, AppID: "a", ObjectID: "sp-a"}, // 4: A by app id
		{Kind: appwarden.AppRoleGranted, ObjectID: "sp-a"},                      // 5: A by its SP
		{Kind: appwarden.AppUpdated},                                            // 6: names nothing
		{Kind: appwarden.OwnerAdded, AppID: "c", ObjectID: "app-obj-c"},         // 7
		{Kind: appwarden.ConsentGranted, AppID: "C"},                            // 8
	}
	got := groups(sigs)
	want := [][]int{{0, 2, 4, 5}, {1}, {3}, {6}, {7, 8}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("groups = %v, want %v", got, want)
	}
}
