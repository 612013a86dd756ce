package fakegraph_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/google/uuid"
	kiotaauth "github.com/microsoft/kiota-authentication-azure-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/oauth2permissiongrants"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/appwarden/appwarden/handler/fakegraph"
)

// start serves a tenant for one test.
func start(t *testing.T, tenant *fakegraph.Tenant, opts ...fakegraph.Option) *fakegraph.Server {
	t.Helper()
	srv, err := fakegraph.Start(tenant, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return srv
}

// sdk builds the production client stack against the stand-in: azidentity's
// ManagedIdentityCredential through IDENTITY_ENDPOINT/IDENTITY_HEADER, kiota's
// Azure auth provider, msgraph-sdk-go's request adapter with a base URL.
func sdk(t *testing.T, srv *fakegraph.Server) (*msgraphsdk.GraphServiceClient, *msgraphsdk.GraphRequestAdapter) {
	t.Helper()
	t.Setenv("IDENTITY_ENDPOINT", srv.TokenURL())
	t.Setenv("IDENTITY_HEADER", srv.IdentityHeader())
	cred, err := azidentity.NewManagedIdentityCredential(nil)
	if err != nil {
		t.Fatal(err)
	}
	// The scope is the stand-in's own URL, so MSAL's process-wide token cache
	// does not hand this test a token fetched by another.
	auth, err := kiotaauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred,
		[]string{srv.URL() + "/.default"}, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	adapter, err := msgraphsdk.NewGraphRequestAdapter(auth)
	if err != nil {
		t.Fatal(err)
	}
	adapter.SetBaseUrl(srv.GraphURL())
	return msgraphsdk.NewGraphServiceClient(adapter), adapter
}

// raw sends a plain HTTP request with a valid token.
func raw(t *testing.T, srv *fakegraph.Server, method, path string, body []byte, header map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+srv.IssueToken())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func graphErr(t *testing.T, err error) (status int, code string) {
	t.Helper()
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) {
		t.Fatalf("error %v (%T) is not an ODataError", err, err)
	}
	return oe.ResponseStatusCode, *oe.GetErrorEscaped().GetCode()
}

func fixture() (*fakegraph.Tenant, fakegraph.IDs) {
	tenant := fakegraph.NewTenant("")
	tenant.AddMicrosoftGraph()
	ids := tenant.AddApp(fakegraph.AppSpec{
		DisplayName:     "Payroll sync",
		PublisherDomain: "contoso.com",
		Tags:            []string{"team:hr"},
		Secrets:         []fakegraph.Credential{{DisplayName: "one"}, {DisplayName: "two"}},
		RedirectURIs:    []string{"https://payroll.contoso.com/cb"},
		Requested:       []fakegraph.Permission{fakegraph.GraphRole("Mail.Send"), fakegraph.GraphScope("User.Read")},
		Granted:         []fakegraph.Permission{fakegraph.GraphRole("Mail.Send"), fakegraph.GraphScope("User.Read"), fakegraph.GraphScope("offline_access")},
		Owners: []fakegraph.Owner{
			{DisplayName: "Ada", UPN: "ada@contoso.com", Mail: "ada@contoso.com"},
			{Type: "servicePrincipal", DisplayName: "deployer"},
		},
	})
	return tenant, ids
}

func TestGetAppThroughSDK(t *testing.T) {
	tenant, ids := fixture()
	srv := start(t, tenant)
	client, _ := sdk(t, srv)
	ctx := context.Background()

	app, err := client.ApplicationsWithAppId(&ids.AppID).Get(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *app.GetId() != ids.ApplicationID || *app.GetDisplayName() != "Payroll sync" {
		t.Errorf("app = %s %s", *app.GetId(), *app.GetDisplayName())
	}
	if d, ok := app.GetAdditionalData()["isDisabled"].(*bool); !ok || *d {
		t.Errorf("isDisabled = %#v, want *bool false", app.GetAdditionalData()["isDisabled"])
	}
	if n := len(app.GetPasswordCredentials()); n != 2 {
		t.Errorf("%d password credentials, want 2", n)
	}
	rra := app.GetRequiredResourceAccess()
	if len(rra) != 1 || *rra[0].GetResourceAppId() != fakegraph.GraphAppID || len(rra[0].GetResourceAccess()) != 2 {
		t.Errorf("requiredResourceAccess = %v", rra)
	}
	if got := app.GetWeb().GetRedirectUris(); len(got) != 1 {
		t.Errorf("redirectUris = %v", got)
	}

	sp, err := client.ServicePrincipalsWithAppId(&ids.AppID).Get(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *sp.GetId() != ids.ServicePrincipalID || !*sp.GetAccountEnabled() {
		t.Errorf("sp = %s enabled=%v", *sp.GetId(), *sp.GetAccountEnabled())
	}

	owners, err := client.Applications().ByApplicationId(ids.ApplicationID).Owners().Get(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(owners.GetValue()) != 2 {
		t.Fatalf("%d owners", len(owners.GetValue()))
	}
	u, ok := owners.GetValue()[0].(models.Userable)
	if !ok || *u.GetUserPrincipalName() != "ada@contoso.com" {
		t.Errorf("owner 0 = %T", owners.GetValue()[0])
	}
	if _, ok := owners.GetValue()[1].(models.ServicePrincipalable); !ok {
		t.Errorf("owner 1 = %T, want a service principal", owners.GetValue()[1])
	}

	assignments, err := client.ServicePrincipals().ByServicePrincipalId(ids.ServicePrincipalID).AppRoleAssignments().Get(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := assignments.GetValue(); len(v) != 1 || v[0].GetAppRoleId().String() != fakegraph.GraphAppRoles["Mail.Send"] {
		t.Errorf("assignments = %v", v)
	}
	grants, err := client.ServicePrincipals().ByServicePrincipalId(ids.ServicePrincipalID).Oauth2PermissionGrants().Get(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := grants.GetValue(); len(v) != 1 || *v[0].GetScope() != "User.Read offline_access" || *v[0].GetConsentType() != "AllPrincipals" {
		t.Errorf("grants = %v", v)
	}
	filter := fmt.Sprintf("clientId eq '%s'", ids.ServicePrincipalID)
	filtered, err := client.Oauth2PermissionGrants().Get(ctx, &oauth2permissiongrants.Oauth2PermissionGrantsRequestBuilderGetRequestConfiguration{
		QueryParameters: &oauth2permissiongrants.Oauth2PermissionGrantsRequestBuilderGetQueryParameters{Filter: &filter},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(filtered.GetValue()) != 1 {
		t.Errorf("$filter clientId: %d grants", len(filtered.GetValue()))
	}

	st := srv.Stats()
	if st.Requests != 6 || st.Rejected != 0 || st.TokenRequests < 1 {
		t.Errorf("stats = %+v", st)
	}
	if st.Routes[fakegraph.RouteApplicationByAppID] != 1 || st.Routes[fakegraph.RouteApplicationOwners] != 1 {
		t.Errorf("routes = %v", st.Routes)
	}
}

func TestBatchThroughSDK(t *testing.T) {
	tenant, ids := fixture()
	srv := start(t, tenant)
	client, adapter := sdk(t, srv)
	ctx := context.Background()

	batch := msgraphcore.NewBatchRequest(adapter)
	appInfo, err := client.ApplicationsWithAppId(&ids.AppID).ToGetRequestInformation(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	appStep, err := batch.AddBatchRequestStep(*appInfo)
	if err != nil {
		t.Fatal(err)
	}
	spInfo, err := client.ServicePrincipalsWithAppId(&ids.AppID).ToGetRequestInformation(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	spStep, err := batch.AddBatchRequestStep(*spInfo)
	if err != nil {
		t.Fatal(err)
	}
	missing := uuid.NewString()
	missInfo, err := client.ApplicationsWithAppId(&missing).ToGetRequestInformation(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	missStep, err := batch.AddBatchRequestStep(*missInfo)
	if err != nil {
		t.Fatal(err)
	}
	mark := srv.Mark()
	resp, err := batch.Send(ctx, adapter)
	if err != nil {
		t.Fatal(err)
	}
	app, err := msgraphcore.GetBatchResponseById[models.Applicationable](resp, *appStep.GetId(), models.CreateApplicationFromDiscriminatorValue)
	if err != nil || *app.GetAppId() != ids.AppID {
		t.Fatalf("app from batch: %v", err)
	}
	sp, err := msgraphcore.GetBatchResponseById[models.ServicePrincipalable](resp, *spStep.GetId(), models.CreateServicePrincipalFromDiscriminatorValue)
	if err != nil || *sp.GetId() != ids.ServicePrincipalID {
		t.Fatalf("sp from batch: %v", err)
	}
	if got := resp.GetStatusCodes()[*missStep.GetId()]; got != http.StatusNotFound {
		t.Errorf("missing app status %d", got)
	}
	calls := srv.CallsSince(mark)
	if len(calls) != 4 {
		t.Fatalf("%d calls: %+v", len(calls), calls)
	}
	if last := calls[3]; last.Route != fakegraph.RouteBatch || last.Inner || last.Status != 200 || !last.Gzip {
		t.Errorf("batch call = %+v", last)
	}
	for _, c := range calls[:3] {
		if !c.Inner || c.BatchID != calls[3].BatchID {
			t.Errorf("inner call = %+v", c)
		}
	}
	st := srv.Stats()
	if st.Requests != 1 || st.InnerRequests != 3 || st.Rejected != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestBatchLimitsAndDependsOn(t *testing.T) {
	tenant, ids := fixture()
	srv := start(t, tenant)

	var reqs []map[string]any
	for i := 0; i < 21; i++ {
		reqs = append(reqs, map[string]any{"id": fmt.Sprint(i), "method": "GET", "url": "/applications/" + ids.ApplicationID})
	}
	body, _ := json.Marshal(map[string]any{"requests": reqs})
	if code, _, b := raw(t, srv, "POST", "/v1.0/$batch", body, nil); code != 400 || !strings.Contains(string(b), "limit of 20") {
		t.Errorf("21 requests: %d %s", code, b)
	}

	// 2 depends on 1, which fails; 3 runs first in the list but depends on 4.
	body, _ = json.Marshal(map[string]any{"requests": []map[string]any{
		{"id": "1", "method": "GET", "url": "/applications/" + uuid.NewString()},
		{"id": "2", "method": "PATCH", "url": "/applications/" + ids.ApplicationID, "dependsOn": []string{"1"},
			"headers": map[string]string{"Content-Type": "application/json"}, "body": map[string]any{"notes": "x"}},
		{"id": "3", "method": "GET", "url": "/applications/" + ids.ApplicationID + "?$select=notes", "dependsOn": []string{"4"}},
		{"id": "4", "method": "PATCH", "url": "/applications/" + ids.ApplicationID,
			"headers": map[string]string{"Content-Type": "application/json"}, "body": map[string]any{"notes": "from 4"}},
	}})
	code, _, b := raw(t, srv, "POST", "/v1.0/$batch", body, nil)
	if code != 200 {
		t.Fatalf("batch: %d %s", code, b)
	}
	var out struct {
		Responses []struct {
			ID      string            `json:"id"`
			Status  int               `json:"status"`
			Headers map[string]string `json:"headers"`
			Body    map[string]any    `json:"body"`
		} `json:"responses"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	status := map[string]int{}
	for _, r := range out.Responses {
		status[r.ID] = r.Status
		if r.ID == "3" && r.Body["notes"] != "from 4" {
			t.Errorf("3 ran before 4: %v", r.Body)
		}
	}
	if status["1"] != 404 || status["2"] != 424 || status["3"] != 200 || status["4"] != 204 {
		t.Errorf("statuses = %v", status)
	}
}

func TestDeltaPagingAndIncremental(t *testing.T) {
	tenant := fakegraph.NewTenant("")
	var appIDs []string
	for i := 0; i < 450; i++ {
		appIDs = append(appIDs, tenant.AddApp(fakegraph.AppSpec{DisplayName: fmt.Sprint("app ", i)}).AppID)
	}
	srv := start(t, tenant, fakegraph.WithDeltaPageSize(200))
	client, adapter := sdk(t, srv)
	ctx := context.Background()

	page, err := client.Applications().Delta().GetAsDeltaGetResponse(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	pages := 0
	var deltaLink string
	for {
		pages++
		for _, a := range page.GetValue() {
			seen[*a.GetAppId()] = true
		}
		if next := page.GetOdataNextLink(); next != nil {
			if !strings.HasPrefix(*next, srv.URL()+"/v1.0/applications/delta?$skiptoken=") {
				t.Fatalf("nextLink %s", *next)
			}
			page, err = applications.NewDeltaRequestBuilder(*next, adapter).GetAsDeltaGetResponse(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		deltaLink = *page.GetOdataDeltaLink()
		break
	}
	if pages != 3 || len(seen) != 450 {
		t.Fatalf("%d pages, %d apps", pages, len(seen))
	}
	if !strings.HasPrefix(deltaLink, srv.URL()+"/v1.0/applications/delta?$deltatoken=") {
		t.Fatalf("deltaLink %s", deltaLink)
	}

	// Nothing changed: an empty round and a fresh deltaLink.
	page, err = applications.NewDeltaRequestBuilder(deltaLink, adapter).GetAsDeltaGetResponse(ctx, nil)
	if err != nil || len(page.GetValue()) != 0 || page.GetOdataDeltaLink() == nil {
		t.Fatalf("empty round: %v %v", err, page)
	}
	deltaLink = *page.GetOdataDeltaLink()

	// Disable one app through the SDK (isDisabled is not in the v1.89 model),
	// delete another, add a third.
	app, _ := tenant.Application(appIDs[7])
	patch := models.NewApplication()
	patch.SetAdditionalData(map[string]any{"isDisabled": true})
	if _, err := client.Applications().ByApplicationId(*app.GetId()).Patch(ctx, patch, nil); err != nil {
		t.Fatal(err)
	}
	if err := tenant.DeleteApp(appIDs[8]); err != nil {
		t.Fatal(err)
	}
	added := tenant.AddApp(fakegraph.AppSpec{DisplayName: "new"})

	page, err = applications.NewDeltaRequestBuilder(deltaLink, adapter).GetAsDeltaGetResponse(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range page.GetValue() {
		switch {
		case a.GetAdditionalData()["@removed"] != nil:
			got[*a.GetId()] = "removed"
		case a.GetAdditionalData()["isDisabled"] != nil && *a.GetAdditionalData()["isDisabled"].(*bool):
			got[*a.GetAppId()] = "disabled"
		default:
			got[*a.GetAppId()] = "changed"
		}
	}
	removedID := ""
	if st, ok := tenant.AppState(appIDs[7]); !ok || !st.IsDisabled {
		t.Errorf("app 7 state %+v", st)
	}
	for id, what := range got {
		if what == "removed" {
			removedID = id
		}
	}
	if len(got) != 3 || got[appIDs[7]] != "disabled" || got[added.AppID] != "changed" || removedID == "" {
		t.Errorf("incremental round = %v", got)
	}

	// The gzip-compressed PATCH body was recorded inflated.
	w := srv.Writes()
	if len(w) != 1 || w[0].Route != fakegraph.RoutePatchApplication || !w[0].Gzip || !strings.Contains(string(w[0].Body), `"isDisabled":true`) {
		t.Errorf("writes = %+v", w)
	}

	// Service principals have their own feed; "latest" starts from now.
	spPage, err := client.ServicePrincipals().Delta().GetAsDeltaGetResponse(ctx, nil)
	if err != nil || len(spPage.GetValue()) != 200 || spPage.GetOdataNextLink() == nil {
		t.Fatalf("sp delta: %v", err)
	}
	code, _, b := raw(t, srv, "GET", "/v1.0/servicePrincipals/delta?$deltatoken=latest", nil, nil)
	if code != 200 || !strings.Contains(string(b), `"value":[]`) || !strings.Contains(string(b), "@odata.deltaLink") {
		t.Errorf("latest: %d %s", code, b)
	}
	var latest struct {
		DeltaLink string `json:"@odata.deltaLink"`
	}
	_ = json.Unmarshal(b, &latest)
	sp, _ := tenant.ServicePrincipal(appIDs[3])
	acc := models.NewServicePrincipal()
	acc.SetAccountEnabled(new(bool))
	if _, err := client.ServicePrincipals().ByServicePrincipalId(*sp.GetId()).Patch(ctx, acc, nil); err != nil {
		t.Fatal(err)
	}
	spPage, err = serviceprincipals.NewDeltaRequestBuilder(latest.DeltaLink, adapter).GetAsDeltaGetResponse(ctx, nil)
	if err != nil || len(spPage.GetValue()) != 1 || *spPage.GetValue()[0].GetAccountEnabled() {
		t.Fatalf("sp incremental: %v %v", err, spPage.GetValue())
	}

	// Expired tokens answer 400 syncStateNotFound.
	tenant.ExpireDeltaTokens()
	_, err = applications.NewDeltaRequestBuilder(deltaLink, adapter).GetAsDeltaGetResponse(ctx, nil)
	if status, code := graphErr(t, err); status != 400 || code != "syncStateNotFound" {
		t.Errorf("expired token: %d %s", status, code)
	}
}

func TestRemediationWrites(t *testing.T) {
	tenant, ids := fixture()
	srv := start(t, tenant)
	client, _ := sdk(t, srv)
	ctx := context.Background()
	before, _ := tenant.AppState(ids.AppID)

	body := applications.NewItemRemovePasswordPostRequestBody()
	keyID := uuid.MustParse(before.PasswordKeyIDs[0])
	body.SetKeyId(&keyID)
	if err := client.Applications().ByApplicationId(ids.ApplicationID).RemovePassword().Post(ctx, body, nil); err != nil {
		t.Fatal(err)
	}
	after, _ := tenant.AppState(ids.AppID)
	if len(after.PasswordKeyIDs) != 1 || after.PasswordKeyIDs[0] != before.PasswordKeyIDs[1] {
		t.Errorf("passwords after removePassword: %v", after.PasswordKeyIDs)
	}
	// Removing it again is a 400.
	err := client.Applications().ByApplicationId(ids.ApplicationID).RemovePassword().Post(ctx, body, nil)
	if status, _ := graphErr(t, err); status != 400 {
		t.Errorf("second removePassword: %d", status)
	}

	// Tags and notes.
	patch := models.NewApplication()
	patch.SetTags([]string{"team:hr", "appwarden:quarantined"})
	patch.SetNotes(ptr("quarantined by AppWarden"))
	if _, err := client.Applications().ByApplicationId(ids.ApplicationID).Patch(ctx, patch, nil); err != nil {
		t.Fatal(err)
	}

	// Revoke and re-create an app role assignment, delete and re-create a grant.
	spItem := client.ServicePrincipals().ByServicePrincipalId(ids.ServicePrincipalID)
	a := before.Assignments[0]
	if err := spItem.AppRoleAssignments().ByAppRoleAssignmentId(a.ID).Delete(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := spItem.AppRoleAssignments().ByAppRoleAssignmentId(a.ID).Delete(ctx, nil); err == nil {
		t.Error("deleting twice succeeded")
	} else if status, code := graphErr(t, err); status != 404 || code != "Request_ResourceNotFound" {
		t.Errorf("second delete: %d %s", status, code)
	}
	na := models.NewAppRoleAssignment()
	na.SetPrincipalId(ptrUUID(ids.ServicePrincipalID))
	na.SetResourceId(ptrUUID(a.ResourceID))
	na.SetAppRoleId(ptrUUID(a.AppRoleID))
	created, err := spItem.AppRoleAssignments().Post(ctx, na, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *created.GetId() == a.ID || *created.GetResourceDisplayName() != "Microsoft Graph" || created.GetCreatedDateTime() == nil {
		t.Errorf("re-created assignment %v", created)
	}
	g := before.Grants[0]
	if err := client.Oauth2PermissionGrants().ByOAuth2PermissionGrantId(g.ID).Delete(ctx, nil); err != nil {
		t.Fatal(err)
	}
	ng := models.NewOAuth2PermissionGrant()
	ng.SetClientId(&ids.ServicePrincipalID)
	ng.SetResourceId(&g.ResourceID)
	ng.SetConsentType(ptr("AllPrincipals"))
	ng.SetScope(&g.Scope)
	if _, err := client.Oauth2PermissionGrants().Post(ctx, ng, nil); err != nil {
		t.Fatal(err)
	}

	// Disable the service principal.
	off := models.NewServicePrincipal()
	off.SetAccountEnabled(new(bool))
	if _, err := client.ServicePrincipals().ByServicePrincipalId(ids.ServicePrincipalID).Patch(ctx, off, nil); err != nil {
		t.Fatal(err)
	}

	st, _ := tenant.AppState(ids.AppID)
	if st.AccountEnabled || len(st.Tags) != 2 || st.Notes != "quarantined by AppWarden" || len(st.Assignments) != 1 ||
		st.Assignments[0].ID == a.ID || len(st.Grants) != 1 || st.Grants[0].ID == g.ID || len(st.Owners) != 2 {
		t.Errorf("state = %+v", st)
	}
	var routes []string
	for _, w := range srv.Writes() {
		routes = append(routes, fmt.Sprint(w.Route, " ", w.Status))
	}
	want := []string{
		fakegraph.RouteRemovePassword + " 204",
		fakegraph.RouteRemovePassword + " 400",
		fakegraph.RoutePatchApplication + " 204",
		fakegraph.RouteDeleteAppRoleAssignment + " 204",
		fakegraph.RouteDeleteAppRoleAssignment + " 404",
		fakegraph.RouteAddAppRoleAssignment + " 201",
		fakegraph.RouteDeleteOAuth2PermissionGrant + " 204",
		fakegraph.RouteAddOAuth2PermissionGrant + " 201",
		fakegraph.RoutePatchServicePrincipal + " 204",
	}
	if strings.Join(routes, "\n") != strings.Join(want, "\n") {
		t.Errorf("writes:\n%s\nwant:\n%s", strings.Join(routes, "\n"), strings.Join(want, "\n"))
	}
}

func TestAddPassword(t *testing.T) {
	tenant, ids := fixture()
	srv := start(t, tenant)
	client, _ := sdk(t, srv)
	body := applications.NewItemAddPasswordPostRequestBody()
	pc := models.NewPasswordCredential()
	pc.SetDisplayName(ptr("rotated"))
	body.SetPasswordCredential(pc)
	got, err := client.Applications().ByApplicationId(ids.ApplicationID).AddPassword().Post(context.Background(), body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetSecretText() == nil || got.GetKeyId() == nil || *got.GetHint() != (*got.GetSecretText())[:3] {
		t.Fatalf("addPassword answer %v", got)
	}
	st, _ := tenant.AppState(ids.AppID)
	if len(st.PasswordKeyIDs) != 3 || st.PasswordKeyIDs[2] != got.GetKeyId().String() {
		t.Errorf("passwords = %v", st.PasswordKeyIDs)
	}
	app, _ := tenant.Application(ids.AppID)
	for _, p := range app.GetPasswordCredentials() {
		if p.GetSecretText() != nil {
			t.Error("the secret text was stored")
		}
	}
}

func TestSendMail(t *testing.T) {
	srv := start(t, nil)
	client, _ := sdk(t, srv)
	msg := models.NewMessage()
	msg.SetSubject(ptr("New app: Payroll sync"))
	b := models.NewItemBody()
	ct := models.HTML_BODYTYPE
	b.SetContentType(&ct)
	b.SetContent(ptr("<p>hello</p>"))
	msg.SetBody(b)
	to := models.NewRecipient()
	addr := models.NewEmailAddress()
	addr.SetAddress(ptr("secops@contoso.com"))
	to.SetEmailAddress(addr)
	msg.SetToRecipients([]models.Recipientable{to})
	body := users.NewItemSendMailPostRequestBody()
	body.SetMessage(msg)
	body.SetSaveToSentItems(new(bool))
	if err := client.Users().ByUserId("appwarden@contoso.com").SendMail().Post(context.Background(), body, nil); err != nil {
		t.Fatal(err)
	}
	mails := srv.Mails()
	if len(mails) != 1 {
		t.Fatalf("%d mails", len(mails))
	}
	m := mails[0]
	if m.From != "appwarden@contoso.com" || m.Subject != "New app: Payroll sync" || len(m.To) != 1 || m.To[0] != "secops@contoso.com" ||
		m.ContentType != "html" || m.Body != "<p>hello</p>" || m.SaveToSentItems {
		t.Errorf("mail = %+v", m)
	}
}

func TestUnexpectedCallsAreRejected(t *testing.T) {
	tenant, ids := fixture()
	srv := start(t, tenant)
	client, _ := sdk(t, srv)

	// A route the stand-in does not serve, through the SDK.
	_, err := client.Users().Get(context.Background(), nil)
	if status, code := graphErr(t, err); status != 400 || code != "BadRequest" {
		t.Errorf("GET /users: %d %s", status, code)
	}
	// An unknown segment and a wrong method, as plain HTTP.
	code, hdr, b := raw(t, srv, "GET", "/v1.0/applications/"+ids.ApplicationID+"/extensionProperties", nil, nil)
	var e struct {
		Error struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			InnerError struct {
				RequestID string `json:"request-id"`
				Date      string `json:"date"`
			} `json:"innerError"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err != nil || code != 400 || e.Error.Code != "BadRequest" ||
		e.Error.InnerError.RequestID == "" || e.Error.InnerError.Date == "" || hdr.Get("request-id") != e.Error.InnerError.RequestID {
		t.Errorf("unknown segment: %d %s", code, b)
	}
	if code, _, _ := raw(t, srv, "DELETE", "/v1.0/applications/"+ids.ApplicationID, nil, nil); code != 405 {
		t.Errorf("DELETE application: %d", code)
	}
	// No token.
	resp, err := http.Get(srv.URL() + "/v1.0/applications/" + ids.ApplicationID)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("no token: %d", resp.StatusCode)
	}
	// An unknown id is a normal 404, not a rejected call.
	if code, _, _ := raw(t, srv, "GET", "/v1.0/applications/"+uuid.NewString(), nil, nil); code != 404 {
		t.Errorf("unknown id: %d", code)
	}
	rej := srv.Rejected()
	if len(rej) != 4 || srv.Stats().Rejected != 4 {
		t.Fatalf("rejected = %+v", rej)
	}
	if rej[0].Path != "/v1.0/users" || rej[0].Route != "" || rej[1].Status != 400 || rej[2].Status != 405 || rej[3].Status != 401 {
		t.Errorf("rejected = %+v", rej)
	}

	srv.SetRequireAuth(false)
	resp, err = http.Get(srv.URL() + "/v1.0/applications/" + ids.ApplicationID)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("auth off: %d", resp.StatusCode)
	}
}

func TestGzipRequestBody(t *testing.T) {
	tenant, ids := fixture()
	srv := start(t, tenant)
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	_, _ = zw.Write([]byte(`{"notes":"zipped"}`))
	_ = zw.Close()
	code, _, b := raw(t, srv, "PATCH", "/v1.0/applications/"+ids.ApplicationID, zipped.Bytes(), map[string]string{"Content-Encoding": "gzip"})
	if code != 204 {
		t.Fatalf("gzip PATCH: %d %s", code, b)
	}
	if st, _ := tenant.AppState(ids.AppID); st.Notes != "zipped" {
		t.Errorf("notes = %q", st.Notes)
	}
	if code, _, _ := raw(t, srv, "PATCH", "/v1.0/applications/"+ids.ApplicationID, []byte("x"), map[string]string{"Content-Encoding": "br"}); code != 415 {
		t.Errorf("br body: %d", code)
	}
}

func TestTokenEndpoint(t *testing.T) {
	srv := start(t, nil)
	get := func(header, query string) (int, map[string]string) {
		req, _ := http.NewRequest("GET", srv.TokenURL()+query, nil)
		if header != "" {
			req.Header.Set("X-IDENTITY-HEADER", header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	q := "?api-version=2019-08-01&resource=https://graph.microsoft.com"
	if code, _ := get("", q); code != 400 {
		t.Errorf("no header: %d", code)
	}
	if code, _ := get("wrong", q); code != 401 {
		t.Errorf("wrong header: %d", code)
	}
	if code, _ := get(srv.IdentityHeader(), "?api-version=2017-09-01&resource=x"); code != 400 {
		t.Errorf("old api-version: %d", code)
	}
	code, tok := get(srv.IdentityHeader(), q+"&client_id=abc")
	if code != 200 || tok["access_token"] == "" || tok["token_type"] != "Bearer" || tok["client_id"] != "abc" ||
		tok["resource"] != "https://graph.microsoft.com" || tok["expires_on"] == "" {
		t.Fatalf("token: %d %v", code, tok)
	}
	req, _ := http.NewRequest("GET", srv.GraphURL()+"/applications/"+uuid.NewString(), nil)
	req.Header.Set("Authorization", "Bearer "+tok["access_token"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("issued token: %d", resp.StatusCode)
	}
	if srv.Stats().TokenRequests != 4 {
		t.Errorf("token requests = %d", srv.Stats().TokenRequests)
	}
}

func TestOwnersPaging(t *testing.T) {
	tenant := fakegraph.NewTenant("")
	ids := tenant.AddApp(fakegraph.AppSpec{})
	for i := 0; i < 250; i++ {
		tenant.AddOwner(ids.ApplicationID, fakegraph.Owner{DisplayName: fmt.Sprint("owner ", i)})
	}
	srv := start(t, tenant)
	client, adapter := sdk(t, srv)
	ctx := context.Background()
	owners, err := client.Applications().ByApplicationId(ids.ApplicationID).Owners().Get(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	total, pages := 0, 0
	for {
		pages++
		total += len(owners.GetValue())
		next := owners.GetOdataNextLink()
		if next == nil {
			break
		}
		owners, err = applications.NewItemOwnersRequestBuilder(*next, adapter).Get(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	if total != 250 || pages != 3 {
		t.Errorf("%d owners in %d pages", total, pages)
	}
	// The appId form pages too, with $top.
	code, _, b := raw(t, srv, "GET", "/v1.0/applications(appId='"+ids.AppID+"')/owners?$top=249", nil, nil)
	var p struct {
		Value []json.RawMessage `json:"value"`
		Next  string            `json:"@odata.nextLink"`
	}
	if err := json.Unmarshal(b, &p); err != nil || code != 200 || len(p.Value) != 249 || !strings.Contains(p.Next, "$top=249") {
		t.Errorf("appId owners: %d %d %s", code, len(p.Value), p.Next)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	tenant, ids := fixture()
	tenant.AddServicePrincipal(fakegraph.SPSpec{DisplayName: "Partner app", Owners: []fakegraph.Owner{{UPN: "x@partner.com"}}})
	_ = tenant.UpdateApplication(ids.AppID, func(a models.Applicationable) {
		a.GetAdditionalData()["isDisabled"] = true
	})
	var buf bytes.Buffer
	if err := tenant.Save(&buf); err != nil {
		t.Fatal(err)
	}
	var shape map[string]json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &shape); err != nil {
		t.Fatalf("snapshot is not JSON: %v\n%s", err, buf.String())
	}
	for _, k := range []string{"tenantId", "applications", "servicePrincipals", "owners", "appRoleAssignments", "oauth2PermissionGrants"} {
		if _, ok := shape[k]; !ok {
			t.Errorf("snapshot has no %s", k)
		}
	}
	loaded, err := fakegraph.Load(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := tenant.AppState(ids.AppID)
	b, _ := loaded.AppState(ids.AppID)
	if fmt.Sprintf("%+v", a) != fmt.Sprintf("%+v", b) || !b.IsDisabled {
		t.Errorf("after round trip:\n%+v\nwant\n%+v", b, a)
	}
	if na, ns := loaded.Counts(); na != 1 || ns != 3 || loaded.TenantID() != tenant.TenantID() {
		t.Errorf("counts %d %d", na, ns)
	}
	var again bytes.Buffer
	if err := loaded.Save(&again); err != nil {
		t.Fatal(err)
	}
	if again.Len() != buf.Len() {
		t.Errorf("second save differs in size: %d vs %d", again.Len(), buf.Len())
	}

	// A handwritten snapshot in Graph's own JSON.
	hand := `{"tenantId":"t1","applications":[{"id":"a1","appId":"11111111-1111-1111-1111-111111111111","displayName":"hand","isDisabled":true,
	  "passwordCredentials":[{"keyId":"22222222-2222-2222-2222-222222222222","endDateTime":"2030-01-01T00:00:00Z"}]}],
	  "owners":{"a1":[{"@odata.type":"#microsoft.graph.user","id":"u1","userPrincipalName":"u@x"}]}}`
	ht, err := fakegraph.Load(strings.NewReader(hand))
	if err != nil {
		t.Fatal(err)
	}
	hs, ok := ht.AppState("11111111-1111-1111-1111-111111111111")
	if !ok || !hs.IsDisabled || len(hs.PasswordKeyIDs) != 1 || len(hs.Owners) != 1 || hs.ServicePrincipalID != "" {
		t.Errorf("hand state = %+v", hs)
	}
	if _, err := fakegraph.Load(strings.NewReader(`{"applications":[{"id":"a","appId":"x"},{"id":"a","appId":"y"}]}`)); err == nil {
		t.Error("duplicate ids loaded")
	}
}

func TestFaultThrottleAndErrors(t *testing.T) {
	tenant, ids := fixture()
	srv := start(t, tenant)
	client, _ := sdk(t, srv)
	ctx := context.Background()
	get := func() error {
		_, err := client.ApplicationsWithAppId(&ids.AppID).Get(ctx, nil)
		return err
	}
	if err := get(); err != nil { // token fetched, connection warm
		t.Fatal(err)
	}

	// 429 with Retry-After 0: the SDK retries at once and succeeds.
	srv.ThrottleNext(1, 0)
	mark := srv.Mark()
	if err := get(); err != nil {
		t.Fatal(err)
	}
	calls := srv.CallsSince(mark)
	if len(calls) != 2 || calls[0].Status != 429 || calls[0].Fault != fakegraph.FaultThrottle || calls[1].Status != 200 {
		t.Errorf("throttle calls = %+v", calls)
	}

	// 500 is not retried.
	srv.FailNext(1, 500)
	if status, code := graphErr(t, get()); status != 500 || code != "generalException" {
		t.Errorf("500: %d %s", status, code)
	}
	// 503 with Retry-After is retried.
	srv.FailNext(1, 503, fakegraph.WithRetryAfter(0))
	mark = srv.Mark()
	if err := get(); err != nil {
		t.Fatal(err)
	}
	if calls := srv.CallsSince(mark); len(calls) != 2 || calls[0].Status != 503 {
		t.Errorf("503 calls = %+v", calls)
	}
	// A fault limited to one route leaves others alone.
	srv.FailNext(1, 500, fakegraph.OnRoute(fakegraph.RouteServicePrincipalByAppID))
	if err := get(); err != nil {
		t.Errorf("app read hit the SP fault: %v", err)
	}
	if _, err := client.ServicePrincipalsWithAppId(&ids.AppID).Get(ctx, nil); err == nil {
		t.Error("SP read missed its fault")
	}

	// Replication lag: the first two reads of a new app answer 404.
	fresh := tenant.AddApp(fakegraph.AppSpec{DisplayName: "fresh"})
	srv.NotFoundReads(fresh.AppID, 2)
	for i := 0; i < 2; i++ {
		_, err := client.ApplicationsWithAppId(&fresh.AppID).Get(ctx, nil)
		if status, code := graphErr(t, err); status != 404 || code != "Request_ResourceNotFound" {
			t.Errorf("lagged read %d: %d %s", i, status, code)
		}
	}
	if _, err := client.ServicePrincipals().ByServicePrincipalId(fresh.ServicePrincipalID).Get(ctx, nil); err != nil {
		t.Errorf("third read: %v", err)
	}
	if n := srv.Stats().Faults; n != 6 {
		t.Errorf("faults = %d", n)
	}
}

func TestFaultsInsideBatch(t *testing.T) {
	tenant, ids := fixture()
	srv := start(t, tenant)
	body, _ := json.Marshal(map[string]any{"requests": []map[string]any{
		{"id": "a", "method": "GET", "url": "/applications(appId='" + ids.AppID + "')"},
		{"id": "b", "method": "GET", "url": "/servicePrincipals(appId='" + ids.AppID + "')"},
		{"id": "c", "method": "GET", "url": "/applications/" + ids.ApplicationID + "/owners"},
	}})
	srv.ThrottleNext(1, 7*time.Second, fakegraph.InnerOnly())
	srv.NotFoundReads(ids.ServicePrincipalID, 1)
	code, _, b := raw(t, srv, "POST", "/v1.0/$batch", body, nil)
	if code != 200 {
		t.Fatalf("batch: %d %s", code, b)
	}
	var out struct {
		Responses []struct {
			ID      string            `json:"id"`
			Status  int               `json:"status"`
			Headers map[string]string `json:"headers"`
			Body    struct {
				Error struct{ Code string } `json:"error"`
			} `json:"body"`
		} `json:"responses"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range out.Responses {
		got[r.ID] = fmt.Sprint(r.Status, " ", r.Headers["Retry-After"], " ", r.Body.Error.Code)
	}
	if got["a"] != "429 7 TooManyRequests" || got["b"] != "404  Request_ResourceNotFound" || got["c"] != "200  " {
		t.Errorf("batch answers = %v", got)
	}

	// A fault aimed at the $batch request itself.
	srv.FailNext(1, 504, fakegraph.OnRoute(fakegraph.RouteBatch))
	if code, _, _ := raw(t, srv, "POST", "/v1.0/$batch", body, nil); code != 504 {
		t.Errorf("batch fault: %d", code)
	}
}

func TestFaultRateLimitWithClock(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	tenant, ids := fixture()
	srv := start(t, tenant, fakegraph.WithClock(clock))
	srv.SetRateLimit(1, 2, -1)
	path := "/v1.0/applications/" + ids.ApplicationID
	var codes []string
	for i := 0; i < 3; i++ {
		code, h, _ := raw(t, srv, "GET", path, nil, nil)
		codes = append(codes, fmt.Sprint(code, h.Get("Retry-After")))
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	code, _, _ := raw(t, srv, "GET", path, nil, nil)
	codes = append(codes, fmt.Sprint(code))
	if strings.Join(codes, ",") != "200,200,4291,200" {
		t.Errorf("codes = %v", codes)
	}
}

func TestFaultFailureRateIsSeeded(t *testing.T) {
	run := func() string {
		tenant, ids := fixture()
		srv := start(t, tenant)
		srv.SetFailureRate(0.5, 503, 42)
		var s strings.Builder
		for i := 0; i < 32; i++ {
			code, _, _ := raw(t, srv, "GET", "/v1.0/applications/"+ids.ApplicationID, nil, nil)
			fmt.Fprint(&s, code/100)
		}
		return s.String()
	}
	a, b := run(), run()
	if a != b || !strings.Contains(a, "2") || !strings.Contains(a, "5") {
		t.Errorf("runs %s and %s", a, b)
	}
}

func TestFaultResetAndLatency(t *testing.T) {
	tenant, ids := fixture()
	srv := start(t, tenant)
	path := srv.URL() + "/v1.0/applications/" + ids.ApplicationID
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(c *http.Client) (*http.Response, error) {
		req, _ := http.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+srv.IssueToken())
		return c.Do(req)
	}
	srv.ResetConnections(1)
	if resp, err := get(fresh); err == nil {
		resp.Body.Close()
		t.Fatal("reset request succeeded")
	}
	resp, err := get(fresh)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	calls := srv.Calls()
	if len(calls) != 2 || calls[0].Fault != fakegraph.FaultReset || calls[0].Status != 0 || calls[1].Status != 200 {
		t.Errorf("calls = %+v", calls)
	}

	// Latency: a lower bound only.
	srv.SetLatency(40 * time.Millisecond)
	began := time.Now()
	resp, err = get(fresh)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if d := time.Since(began); d < 40*time.Millisecond {
		t.Errorf("answered after %v", d)
	}
	// Close cuts a long delay short.
	srv.SetLatency(time.Hour)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := get(fresh); err == nil {
			resp.Body.Close()
		}
	}()
wait:
	for srv.InFlight() == 0 {
		select {
		case <-done:
			break wait
		default:
			runtime.Gosched()
		}
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	<-done
}

func TestConcurrentUse(t *testing.T) {
	tenant, ids := fixture()
	srv := start(t, tenant)
	srv.SetFailureRate(0.2, 500, 1)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				if j%5 == 0 {
					body := fmt.Sprintf(`{"notes":"%d-%d"}`, i, j)
					_, _, _ = raw(t, srv, "PATCH", "/v1.0/applications/"+ids.ApplicationID, []byte(body), nil)
				} else {
					_, _, _ = raw(t, srv, "GET", "/v1.0/servicePrincipals(appId='"+ids.AppID+"')", nil, nil)
				}
				_ = srv.Stats()
			}
		}(i)
	}
	wg.Wait()
	if st := srv.Stats(); st.Requests != 160 || st.Writes != 32 {
		t.Errorf("stats = %+v", st)
	}
}

func ptr[T any](v T) *T { return &v }

func ptrUUID(s string) *uuid.UUID {
	u := uuid.MustParse(s)
	return &u
}
