package cli

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/fakegraph"
)

// tenantID is the generated tenants' id.
const tenantID = "6f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"

// expectation is what a scan of a generated tenant must find, counted while
// the tenant is built (not by running the policy).
type expectation struct {
	apps, applications, spOnly, withFindings, protected int
	// regWithFindings counts the app registrations with findings.
	regWithFindings int
	// rules maps a rule id to its findings by severity.
	rules map[string]map[string]int
}

func (e expectation) findings() int {
	n := 0
	for _, bySev := range e.rules {
		for _, c := range bySev {
			n += c
		}
	}
	return n
}

func (e expectation) bySeverity() map[string]int {
	out := map[string]int{}
	for _, bySev := range e.rules {
		for s, c := range bySev {
			out[s] += c
		}
	}
	return out
}

func (e expectation) ruleTotal(rule string) int {
	n := 0
	for _, c := range e.rules[rule] {
		n += c
	}
	return n
}

func (e expectation) ruleIDs() []string { return slices.Sorted(maps.Keys(e.rules)) }

// generate builds a tenant of n app registrations (n a multiple of 20) in a
// fixed mix that hits every built-in rule, plus n/200 managed identities
// holding a critical permission, n/200 service principals of other
// tenants' apps, and Microsoft Graph. The mix, by i mod 10:
//
//	0-2  benign: an owner, User.Read; some with a certificate and three
//	     owners, some with https and loopback redirect URIs
//	3    critical-app-permission (RoleManagement.ReadWrite.Directory, granted)
//	4    Files.ReadWrite.All requested and granted, and a 90-day secret:
//	     critical-app-permission, credential-on-privileged-app, password-credential (medium)
//	5    Mail.Read with admin consent: high-privilege-delegated
//	6    AzureADMultipleOrgs, unverified: multi-tenant-unverified
//	7    an ngrok redirect URI: risky-redirect-uri
//	8    a client secret: password-credential, medium (90 days) or high (2 years), alternately
//	9    no owners: ownerless-app
func generate(n int) (*fakegraph.Tenant, expectation) { return generateWith(n, nil) }

// generateWith is generate, calling extra (when not nil) with each
// registration just after it is added: extra may change the app, and
// counts the findings that its change adds with hit.
func generateWith(n int, extra func(t *fakegraph.Tenant, i int, ids fakegraph.IDs, hit func(rule, sev string))) (*fakegraph.Tenant, expectation) {
	t := fakegraph.NewTenant(tenantID)
	t.AddMicrosoftGraph()
	e := expectation{rules: map[string]map[string]int{}}
	hit := func(rule, sev string) {
		if e.rules[rule] == nil {
			e.rules[rule] = map[string]int{}
		}
		e.rules[rule][sev]++
	}
	now := time.Now().UTC().Truncate(time.Second)
	short := fakegraph.Credential{Start: now.Add(-time.Hour), End: now.Add(90 * 24 * time.Hour)}
	long := fakegraph.Credential{Start: now.Add(-time.Hour), End: now.Add(2 * 365 * 24 * time.Hour)}
	owner := []fakegraph.Owner{{DisplayName: "Owner One", UPN: "owner.one@contoso.example", Mail: "owner.one@contoso.example"}}
	three := append(slices.Clone(owner), fakegraph.Owner{UPN: "owner.two@contoso.example"}, fakegraph.Owner{UPN: "owner.three@contoso.example"})
	for i := 0; i < n; i++ {
		spec := fakegraph.AppSpec{
			DisplayName:     fmt.Sprintf("app-%05d", i),
			CreatedDateTime: now.Add(-time.Duration(i) * time.Minute),
			Owners:          owner,
			Requested:       []fakegraph.Permission{fakegraph.GraphScope("User.Read")},
		}
		before := e.findings()
		switch i % 10 {
		case 0:
			spec.Owners, spec.Certificates = three, []fakegraph.Credential{short}
		case 1:
			spec.RedirectURIs = []string{fmt.Sprintf("https://app-%d.contoso.example/signin-oidc", i), "http://localhost:5000/callback"}
		case 3:
			spec.Requested = append(spec.Requested, fakegraph.GraphRole("RoleManagement.ReadWrite.Directory"))
			spec.Granted = []fakegraph.Permission{fakegraph.GraphRole("RoleManagement.ReadWrite.Directory")}
			hit("critical-app-permission", "critical")
		case 4:
			// Requested as well as granted: a grant the registration never
			// requested would be hidden-critical-app-role's.
			spec.Requested = append(spec.Requested, fakegraph.GraphRole("Files.ReadWrite.All"))
			spec.Granted = []fakegraph.Permission{fakegraph.GraphRole("Files.ReadWrite.All")}
			spec.Secrets = []fakegraph.Credential{short}
			hit("critical-app-permission", "critical")
			hit("credential-on-privileged-app", "critical")
			hit("password-credential", "medium")
		case 5:
			spec.Granted = []fakegraph.Permission{fakegraph.GraphScope("Mail.Read")}
			hit("high-privilege-delegated", "high")
		case 6:
			spec.SignInAudience = "AzureADMultipleOrgs"
			hit("multi-tenant-unverified", "medium")
		case 7:
			spec.RedirectURIs = []string{fmt.Sprintf("https://%x.ngrok-free.app/signin-oidc", i)}
			hit("risky-redirect-uri", "high")
		case 8:
			if (i/10)%2 == 0 {
				spec.Secrets = []fakegraph.Credential{short}
				hit("password-credential", "medium")
			} else {
				spec.Secrets = []fakegraph.Credential{long}
				hit("password-credential", "high")
			}
		case 9:
			spec.Owners = nil
			hit("ownerless-app", "medium")
		}
		ids := t.AddApp(spec)
		if extra != nil {
			extra(t, i, ids, hit)
		}
		e.apps++
		e.applications++
		if e.findings() > before {
			e.withFindings++
			e.regWithFindings++
		}
	}
	for i := 0; i < n/200; i++ {
		t.AddServicePrincipal(fakegraph.SPSpec{DisplayName: fmt.Sprintf("mi-%03d", i), ServicePrincipalType: "ManagedIdentity",
			AppOwnerOrganizationID: tenantID, Granted: []fakegraph.Permission{fakegraph.GraphRole("Directory.ReadWrite.All")}})
		hit("critical-app-permission", "critical")
		e.apps, e.spOnly, e.withFindings, e.protected = e.apps+1, e.spOnly+1, e.withFindings+1, e.protected+1
		t.AddServicePrincipal(fakegraph.SPSpec{DisplayName: fmt.Sprintf("partner-%03d", i)})
		e.apps, e.spOnly = e.apps+1, e.spOnly+1
	}
	e.apps, e.spOnly, e.protected = e.apps+1, e.spOnly+1, e.protected+1 // Microsoft Graph: first party
	return t, e
}

// The 5,000-app tenant, built once per test binary.
var (
	bigOnce     sync.Once
	bigTenant   *fakegraph.Tenant
	bigExpect   expectation
	bigSnapshot string
	bigErr      error
)

const bigApps = 5000

func big(t *testing.T) (*fakegraph.Tenant, expectation, string) {
	t.Helper()
	bigOnce.Do(func() {
		start := time.Now()
		bigTenant, bigExpect = generate(bigApps)
		bigSnapshot = filepath.Join(workDir, "tenant-5000.json")
		bigErr = saveTo(bigTenant, bigSnapshot)
		t.Logf("generated a %d-app tenant in %s", bigApps, time.Since(start).Round(time.Millisecond))
	})
	if bigErr != nil {
		t.Fatal(bigErr)
	}
	return bigTenant, bigExpect, bigSnapshot
}

func saveTo(t *fakegraph.Tenant, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := t.Save(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Fixture apps: the ones tests/testdata's events name (tests/testdata/README.md).
const (
	payrollAppID = "5bee10b5-db93-4475-ae1a-3d87e059d287"
	payrollObjID = "a0847fad-c428-4478-bd58-d4ad0d9f48be"
	payrollSPID  = "8c907101-5831-45a1-b703-8a59f190e639"
	miAppID      = "0d7e3f6b-8a9c-4b1d-9e2f-3a4b5c6d7e8f"
	miSPID       = "4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8"
)

// fixtureTenant holds the fixtures' apps: "Payroll Sync", registered by
// dev.one, asking for and holding RoleManagement.ReadWrite.Directory (and
// asking for User.Read), and the managed identity func-payroll-prod holding
// Directory.ReadWrite.All.
func fixtureTenant() *fakegraph.Tenant {
	t := fakegraph.NewTenant(tenantID)
	t.AddMicrosoftGraph()
	t.AddApp(fakegraph.AppSpec{AppID: payrollAppID, ApplicationID: payrollObjID, ServicePrincipalID: payrollSPID, DisplayName: "Payroll Sync",
		CreatedDateTime: time.Now().UTC().Add(-5 * time.Minute),
		Owners:          []fakegraph.Owner{{ID: "30a6c29d-de7c-4830-815f-9b3bb366e975", DisplayName: "Dev One", UPN: "dev.one@contoso.example"}},
		Requested:       []fakegraph.Permission{fakegraph.GraphRole("RoleManagement.ReadWrite.Directory"), fakegraph.GraphScope("User.Read")},
		Granted:         []fakegraph.Permission{fakegraph.GraphRole("RoleManagement.ReadWrite.Directory")}})
	t.AddServicePrincipal(fakegraph.SPSpec{AppID: miAppID, ID: miSPID, DisplayName: "func-payroll-prod", ServicePrincipalType: "ManagedIdentity",
		AppOwnerOrganizationID: tenantID, Granted: []fakegraph.Permission{fakegraph.GraphRole("Directory.ReadWrite.All")}})
	return t
}

// TestGenerateIsWhatItSays checks the generator's bookkeeping itself.
func TestGenerateIsWhatItSays(t *testing.T) {
	tenant, e := generate(200)
	apps, sps := tenant.Counts()
	if apps != 200 || sps != 200+1+1+1 || e.apps != 203 || e.spOnly != 3 || e.protected != 2 {
		t.Errorf("%d apps, %d service principals; expectation %+v", apps, sps, e)
	}
	if len(e.rules) != 7 || e.ruleTotal("password-credential") != 40 || e.rules["password-credential"]["high"] != 10 {
		t.Errorf("rules = %v", e.rules)
	}
}
