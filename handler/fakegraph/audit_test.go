package fakegraph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/auditlogs"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/auditlog"
	"github.com/appwarden/appwarden/handler/fakegraph"
)

// decodeOne runs a record the stand-in wrote through AppWarden's own audit
// decoder, so the records are checked against what production reads.
func decodeOne(t *testing.T, raw json.RawMessage) appwarden.Signal {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	b := auditlog.Decode(v, "record", appwarden.SourceAuditPull)
	if len(b.Signals) != 1 {
		t.Fatalf("record decodes to %+v:\n%s", b, raw)
	}
	return b.Signals[0]
}

// Each escalation helper writes the record Entra writes, and AppWarden's
// decoder makes of it the signal about the right app, with who did it.
func TestEscalationHelpersWriteDecodableAuditRecords(t *testing.T) {
	tenant, ids := fixture()
	ms := tenant.AddServicePrincipal(fakegraph.SPSpec{DisplayName: "Office 365 Exchange Online", AppOwnerOrganizationID: fakegraph.MicrosoftServicesTenantID})
	tenant.ClearAuditLog()
	attacker := fakegraph.Actor{UserID: "0c0ffee0-0000-4000-8000-000000000001", UPN: "mallory@contoso.example", DisplayName: "Mallory"}
	if prev := tenant.SetActor(attacker); prev != fakegraph.DefaultActor {
		t.Errorf("previous actor %+v", prev)
	}
	secret := tenant.AddApplicationPassword(ids.AppID, "sneaky")
	cert := tenant.AddApplicationCertificate(ids.AppID, "CN=sneaky")
	spKey := tenant.AddServicePrincipalPassword(ms.AppID, "i-spy")
	fic := tenant.AddFederatedCredential(ids.AppID, "gh-main", "https://token.actions.githubusercontent.com", "repo:evil/repo:ref:refs/heads/main")
	owner := tenant.AddOwner(ids.AppID, fakegraph.Owner{UPN: "mallory@contoso.example", DisplayName: "Mallory"})
	assignment := tenant.GrantAppRole(ids.AppID, fakegraph.GraphAppID, "RoleManagement.ReadWrite.Directory")
	grant := tenant.ConsentDelegated(ids.AppID, fakegraph.GraphAppID, "Mail.Read")
	role := tenant.AssignDirectoryRole(ids.AppID, fakegraph.RolePrivilegedRoleAdministrator)
	if err := tenant.UpdateApplication(ids.AppID, func(a models.Applicationable) { a.SetDisplayName(ptr("Payroll sync v2")) }); err != nil {
		t.Fatal(err)
	}
	st, _ := tenant.AppState(ids.AppID)
	if !slices.Equal(st.FederatedCredentialIDs, []string{fic}) || !slices.Equal(st.DirectoryRoles, []string{fakegraph.RolePrivilegedRoleAdministrator}) ||
		!slices.Contains(st.PasswordKeyIDs, secret) || !slices.Contains(st.KeyCredentialIDs, cert) || !slices.Contains(st.Owners, owner) {
		t.Errorf("AppState %+v", st)
	}
	if st, _ := tenant.AppState(ms.AppID); !slices.Equal(st.SPPasswordKeyIDs, []string{spKey}) {
		t.Errorf("first-party SP passwords %v", st.SPPasswordKeyIDs)
	}
	for _, v := range []string{secret, cert, spKey, fic, owner, assignment, grant, role} {
		if v == "" {
			t.Fatal("a helper returned no id")
		}
	}

	type want struct {
		activity string
		kind     appwarden.SignalKind
		appID    string
		objectID string
		contains string // in the raw record
	}
	wants := []want{
		{"Update application \u2013 Certificates and secrets management ", appwarden.CredentialAdded, ids.AppID, ids.ApplicationID, "KeyIdentifier=" + secret + ",KeyType=Password,KeyUsage=Verify,DisplayName=sneaky"},
		{"Update application \u2013 Certificates and secrets management ", appwarden.CredentialAdded, ids.AppID, ids.ApplicationID, "KeyIdentifier=" + cert + ",KeyType=AsymmetricX509Cert,KeyUsage=Verify,DisplayName=CN=sneaky"},
		{"Add service principal credentials", appwarden.CredentialAdded, ms.AppID, ms.ServicePrincipalID, "KeyIdentifier=" + spKey},
		{"Update application", appwarden.AppUpdated, ids.AppID, ids.ApplicationID, "FederatedIdentityCredentials"},
		{"Add owner to application", appwarden.OwnerAdded, ids.AppID, ids.ApplicationID, owner},
		{"Add app role assignment to service principal", appwarden.AppRoleGranted, ids.AppID, ids.ServicePrincipalID, fakegraph.GraphAppRoles["RoleManagement.ReadWrite.Directory"]},
		{"Add delegated permission grant", appwarden.ConsentGranted, ids.AppID, ids.ServicePrincipalID, `User.Read offline_access Mail.Read`},
		{"Consent to application", appwarden.ConsentGranted, ids.AppID, ids.ServicePrincipalID, "Mail.Read"},
		{"Add member to role", appwarden.DirectoryRoleGranted, "", ids.ServicePrincipalID, fakegraph.RolePrivilegedRoleAdministrator},
		{"Update application", appwarden.AppUpdated, ids.AppID, ids.ApplicationID, "Payroll sync v2"},
	}
	log := tenant.AuditLog()
	if len(log) != len(wants) {
		for _, r := range log {
			t.Logf("%s", r)
		}
		t.Fatalf("%d records, want %d", len(log), len(wants))
	}
	for i, w := range wants {
		var head struct {
			ID, Category, Result, ActivityDisplayName string
			InitiatedBy                               struct {
				User struct{ UserPrincipalName string }
			}
		}
		if err := json.Unmarshal(log[i], &head); err != nil {
			t.Fatal(err)
		}
		if head.ActivityDisplayName != w.activity || head.Result != "success" || !strings.HasPrefix(head.ID, "Directory_") || head.InitiatedBy.User.UserPrincipalName != attacker.UPN {
			t.Errorf("record %d: %+v", i, head)
		}
		if !strings.Contains(string(log[i]), w.contains) {
			t.Errorf("record %d (%s) lacks %q:\n%s", i, w.activity, w.contains, log[i])
		}
		sig := decodeOne(t, log[i])
		if sig.Kind != w.kind || sig.AppID != w.appID || sig.ObjectID != w.objectID || sig.Initiator.UPN != attacker.UPN {
			t.Errorf("record %d (%s) decodes to kind %s appId %q object %q by %+v; want %s %q %q",
				i, w.activity, sig.Kind, sig.AppID, sig.ObjectID, sig.Initiator, w.kind, w.appID, w.objectID)
		}
	}
	// Grants name the resource first and carry the grant.
	sig := decodeOne(t, log[5])
	if sig.Details["appRoleValue"] != "RoleManagement.ReadWrite.Directory" || sig.Details["resourceAppId"] != fakegraph.GraphAppID {
		t.Errorf("app role grant details %v", sig.Details)
	}
	if sig := decodeOne(t, log[6]); sig.Details["scopeAdded"] != "Mail.Read" || sig.Details["consentType"] != "AllPrincipals" {
		t.Errorf("delegated grant details %v", sig.Details)
	}
	if sig := decodeOne(t, log[8]); sig.Details["roleTemplateId"] != fakegraph.RolePrivilegedRoleAdministrator || sig.Details["roleName"] != "Privileged Role Administrator" {
		t.Errorf("role details %v", sig.Details)
	}
	var cat struct{ Category string }
	_ = json.Unmarshal(log[8], &cat)
	if cat.Category != "RoleManagement" {
		t.Errorf("Add member to role category %q", cat.Category)
	}
	// A new app writes Add application, its owners and Add service principal.
	tenant.ClearAuditLog()
	tenant.SetActor(fakegraph.Actor{})
	n := tenant.AddApp(fakegraph.AppSpec{DisplayName: "new", Owners: []fakegraph.Owner{{UPN: "dev@contoso.example"}}})
	var kinds []appwarden.SignalKind
	for _, r := range tenant.AuditLog() {
		s := decodeOne(t, r)
		if s.AppID != n.AppID || s.Initiator.UPN != fakegraph.DefaultActor.UPN {
			t.Errorf("%s: appId %s by %+v", s.Activity, s.AppID, s.Initiator)
		}
		kinds = append(kinds, s.Kind)
	}
	if fmt.Sprint(kinds) != fmt.Sprint([]appwarden.SignalKind{appwarden.AppCreated, appwarden.OwnerAdded, appwarden.ServicePrincipalCreated}) {
		t.Errorf("AddApp audits %v", kinds)
	}
}

// GET /auditLogs/directoryAudits through msgraph-sdk-go: $filter on time and
// category with or/and and parentheses, newest first, $top and nextLink
// paging, $orderby, audit lag, and the operators Graph does not document.
func TestDirectoryAuditsServed(t *testing.T) {
	tenant, ids := fixture()
	tenant.ClearAuditLog()
	var mu sync.Mutex
	clock := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	tenant.SetAuditClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return clock })
	tick := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	for i := range 5 {
		tenant.AddApplicationPassword(ids.AppID, fmt.Sprint("secret ", i))
		tick(time.Minute)
	}
	tenant.AssignDirectoryRole(ids.AppID, fakegraph.RoleGlobalAdministrator) // 09:05, RoleManagement
	tick(time.Minute)
	if _, err := tenant.AddAuditRecord([]byte(`{"id":"Directory_other","category":"UserManagement","activityDisplayName":"Add user","activityDateTime":"2026-11-24T09:06:00Z","result":"success"}`)); err != nil {
		t.Fatal(err)
	}
	srv := start(t, tenant)
	client, adapter := sdk(t, srv)
	ctx := context.Background()
	list := func(filter string, top int32, orderby ...string) []string {
		t.Helper()
		cfg := &auditlogs.DirectoryAuditsRequestBuilderGetRequestConfiguration{QueryParameters: &auditlogs.DirectoryAuditsRequestBuilderGetQueryParameters{}}
		if filter != "" {
			cfg.QueryParameters.Filter = &filter
		}
		if top > 0 {
			cfg.QueryParameters.Top = &top
		}
		cfg.QueryParameters.Orderby = orderby
		page, err := client.AuditLogs().DirectoryAudits().Get(ctx, cfg)
		if err != nil {
			t.Fatalf("%s: %v", filter, err)
		}
		var out []string
		for {
			for _, a := range page.GetValue() {
				out = append(out, a.GetActivityDateTime().Format("15:04")+" "+*a.GetCategory())
			}
			next := page.GetOdataNextLink()
			if next == nil {
				return out
			}
			page, err = auditlogs.NewDirectoryAuditsRequestBuilder(*next, adapter).Get(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	got := list("activityDateTime ge 2026-11-24T09:03:00Z and (category eq 'ApplicationManagement' or category eq 'RoleManagement')", 2)
	if want := "[09:05 RoleManagement 09:04 ApplicationManagement 09:03 ApplicationManagement]"; fmt.Sprint(got) != want {
		t.Errorf("filtered, newest first, 2 a page: %v, want %s", got, want)
	}
	if got := list("", 0); len(got) != 7 || got[0] != "09:06 UserManagement" {
		t.Errorf("unfiltered: %v", got)
	}
	if got := list("category eq 'RoleManagement' or activityDateTime le 2026-11-24T09:00:00Z", 0, "activityDateTime asc"); fmt.Sprint(got) != "[09:00 ApplicationManagement 09:05 RoleManagement]" {
		t.Errorf("or, ascending: %v", got)
	}
	// gt is not among the documented operators on activityDateTime.
	bad := "activityDateTime gt 2026-11-24T09:03:00Z"
	_, err := client.AuditLogs().DirectoryAudits().Get(ctx, &auditlogs.DirectoryAuditsRequestBuilderGetRequestConfiguration{
		QueryParameters: &auditlogs.DirectoryAuditsRequestBuilderGetQueryParameters{Filter: &bad}})
	if err == nil {
		t.Error("gt was accepted")
	} else if status, _ := graphErr(t, err); status != 400 {
		t.Errorf("gt: HTTP %d", status)
	}
	// Audit lag: a record is listed only once its delay has passed.
	tenant.SetAuditLag(3 * time.Minute)
	late := tenant.AddOwner(ids.AppID, fakegraph.Owner{UPN: "late@contoso.example"})
	if got := list("activityDateTime ge 2026-11-24T09:06:00Z", 0); len(got) != 1 {
		t.Errorf("a record inside its lag is listed: %v", got)
	}
	tick(3 * time.Minute)
	_, _, body := raw(t, srv, "GET", "/v1.0/auditLogs/directoryAudits?$filter="+url.QueryEscape("activityDateTime ge 2026-11-24T09:06:00Z"), nil, nil)
	if !strings.Contains(string(body), late) {
		t.Errorf("the late record is not listed after its lag: %s", body)
	}
}
