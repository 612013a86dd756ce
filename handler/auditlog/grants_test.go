package auditlog_test

import (
	"strings"
	"testing"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/auditlog"
)

// graphResource is Microsoft Graph as the first target of a grant, with the
// given extra properties.
func graphResource(spns string, props ...any) any {
	return tgt(graphSPID, "Microsoft Graph", "ServicePrincipal", append(props, prop("TargetId.ServicePrincipalNames", enc(spns)))...)
}

// TestGrantsJudgeTheGrantee checks that a grant whose first target is
// Microsoft Graph is about the app that got the grant (FACTS.md §1; otrf-03).
func TestGrantsJudgeTheGrantee(t *testing.T) {
	roleAssignment := "Add app role assignment to service principal"
	delegated := "Add delegated permission grant"
	tests := []struct {
		name, activity string
		targets        []any
		details        []any
		appID, object  string
	}{
		{"grantee by ServicePrincipal.ObjectID and AppId", roleAssignment, []any{
			graphResource(graphSPNs, prop("ServicePrincipal.ObjectID", enc(payrollSPID)), prop("ServicePrincipal.AppId", enc(payrollAppID))),
			tgt(payrollSPID, "Payroll Sync", "ServicePrincipal")}, nil, payrollAppID, payrollSPID},
		{"ServicePrincipal.* values as lists, in upper case", roleAssignment, []any{
			graphResource(graphSPNs, prop("ServicePrincipal.ObjectID", enc([]string{strings.ToUpper(payrollSPID)})),
				prop("ServicePrincipal.AppId", enc([]string{strings.ToUpper(payrollAppID)})))}, nil, payrollAppID, payrollSPID},
		{"grantee's AppId null: Graph resolves the object id", delegated, []any{
			graphResource(graphSPNs, prop("ServicePrincipal.ObjectID", enc(payrollSPID)), prop("ServicePrincipal.AppId", nil))},
			nil, "", payrollSPID},
		{"additionalDetails AppId is the grantee's", roleAssignment, []any{
			graphResource(graphSPNs, prop("ServicePrincipal.ObjectID", enc(payrollSPID)))},
			[]any{kv("AppId", payrollAppID)}, payrollAppID, payrollSPID},
		{"no ServicePrincipal.* properties: the second service principal", roleAssignment, []any{
			graphResource(graphSPNs), tgt(payrollSPID, "Payroll Sync", "ServicePrincipal")}, nil, "", payrollSPID},
		{"resource listed second still found by its properties", delegated, []any{
			tgt(payrollSPID, "Payroll Sync", "ServicePrincipal"),
			graphResource(graphSPNs, prop("ServicePrincipal.ObjectID", enc(payrollSPID)))}, nil, "", payrollSPID},
		{"only the resource, with the grantee's appId in details", roleAssignment, []any{graphResource(graphURIs)},
			[]any{kv("AppId", payrollAppID)}, payrollAppID, ""},
		{"consent carrying a grant's properties", "Consent to application", []any{
			graphResource(graphSPNs, prop("ServicePrincipal.ObjectID", enc(payrollSPID))), tgt(payrollSPID, "Payroll Sync", "ServicePrincipal")},
			nil, "", payrollSPID},
	}
	for _, tc := range tests {
		for _, sh := range shapes {
			t.Run(tc.name+"/"+sh.name, func(t *testing.T) {
				rec := graphRecord("g1", tc.activity, "ApplicationManagement", tc.targets, tc.details...)
				sig := decodeOnly(t, sh.wrap(rec))
				if sig.AppID == graphAppID || sig.ObjectID == graphSPID {
					t.Fatalf("signal judges Microsoft Graph, not the grantee: %+v", sig)
				}
				if sig.AppID != tc.appID || sig.ObjectID != tc.object {
					t.Errorf("appId %q, objectId %q; want %q, %q", sig.AppID, sig.ObjectID, tc.appID, tc.object)
				}
				if tc.object != "" && sig.ObjectType != appwarden.ObjectServicePrincipal {
					t.Errorf("objectType %q", sig.ObjectType)
				}
				if tc.activity != "Consent to application" && sig.Details["resourceObjectId"] != graphSPID {
					t.Errorf("details %v, want the resource's object id", sig.Details)
				}
			})
		}
	}
}

// TestSPNURIsAreNeverAnAppID checks that a record naming Microsoft Graph only
// by its SPN URIs yields no appId: it is ignored, or judged by a valid object
// id, never by "00000003-.../ags.windows.net".
func TestSPNURIsAreNeverAnAppID(t *testing.T) {
	tests := []struct {
		name     string
		activity string
		targets  []any
		object   string // "" means the record must be ignored
	}{
		{"grant naming only the resource", "Add delegated permission grant", []any{graphResource(graphURIs)}, ""},
		{"grant naming only the resource, with its appId among its names", "Add app role assignment to service principal", []any{graphResource(graphSPNs)}, ""},
		{"grant whose grantee id is an SPN URI", "Add app role assignment to service principal", []any{
			graphResource(graphURIs, prop("ServicePrincipal.ObjectID", enc("https://graph.microsoft.com")), prop("ServicePrincipal.AppId", enc(graphURIs)))}, ""},
		{"service principal update naming it only by URIs", "Update service principal", []any{
			tgt(graphSPID, "Microsoft Graph", "ServicePrincipal", prop("TargetId.ServicePrincipalNames", enc(graphURIs)))}, graphSPID},
		{"target id that is not a GUID", "Update service principal", []any{
			tgt("00000003-0000-0000-c000-000000000000/ags.windows.net", "Microsoft Graph", "ServicePrincipal",
				prop("TargetId.ServicePrincipalNames", enc(graphURIs)))}, ""},
		{"consent naming the client only by URIs", "Consent to application", []any{
			tgt("https://payroll.contoso.example", "Payroll Sync", "ServicePrincipal", prop("TargetId.ServicePrincipalNames", enc("https://payroll.contoso.example")))}, ""},
	}
	for _, tc := range tests {
		for _, sh := range shapes {
			t.Run(tc.name+"/"+sh.name, func(t *testing.T) {
				rec := graphRecord("s1", tc.activity, "ApplicationManagement", tc.targets)
				b := auditlog.Decode(sh.wrap(rec), path, appwarden.SourceEventHub)
				if len(b.Poison) != 0 {
					t.Fatalf("poison %q", errorTexts(b.Poison))
				}
				for _, s := range b.Signals {
					if s.AppID != "" {
						t.Errorf("appId %q from a record that names no appId", s.AppID)
					}
				}
				if tc.object == "" {
					if len(b.Signals) != 0 || len(b.Ignored) != 1 || !strings.Contains(b.Ignored[0], "names no application or service principal it can resolve") {
						t.Errorf("signals %+v, ignored %q; want ignored as naming nothing resolvable", b.Signals, b.Ignored)
					}
					return
				}
				if len(b.Signals) != 1 || b.Signals[0].ObjectID != tc.object {
					t.Errorf("signals %+v, ignored %q; want one about object %s", b.Signals, b.Ignored, tc.object)
				}
			})
		}
	}
}

// TestDirectoryRoleMember checks "Add member to role": a service principal
// member is a signal about it, a user member is ignored.
func TestDirectoryRoleMember(t *testing.T) {
	roleProps := []any{prop("Role.ObjectID", enc(gaRoleID)), prop("Role.DisplayName", enc("Global Administrator")), prop("Role.TemplateId", enc(gaTemplate))}
	t.Run("role target listed apart", func(t *testing.T) {
		rec := graphRecord("r1", "Add member to role", "RoleManagement", []any{
			tgt(gaRoleID, "Global Administrator", "Role"), tgt(payrollSPID, "Payroll Sync", "ServicePrincipal")})
		sig := decodeOnly(t, rec)
		if sig.Kind != appwarden.DirectoryRoleGranted || sig.ObjectID != payrollSPID || sig.ObjectType != appwarden.ObjectServicePrincipal ||
			sig.Details["roleId"] != gaRoleID || sig.Details["roleName"] != "Global Administrator" {
			t.Errorf("got %+v", sig)
		}
	})
	for _, sh := range shapes {
		t.Run("user member/"+sh.name, func(t *testing.T) {
			rec := graphRecord("r2", "Add member to role", "RoleManagement", []any{
				tgt(devOneOID, "", "User", roleProps...)})
			b := auditlog.Decode(sh.wrap(rec), path, appwarden.SourceEventHub)
			if len(b.Signals)+len(b.Poison) != 0 || len(b.Ignored) != 1 || !strings.Contains(b.Ignored[0], "adds no service principal to a role") {
				t.Errorf("signals %+v, ignored %q, poison %q; want ignored", b.Signals, b.Ignored, errorTexts(b.Poison))
			}
		})
	}
}
