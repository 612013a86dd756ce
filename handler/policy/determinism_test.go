package policy

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// kitchenSink, with and without its change (newKitchenSink), triggers
// every built-in rule, with several items in each of the lists whose order
// must not matter.
func kitchenSink() *appwarden.App {
	a := cleanApp()
	a.Owners = nil
	a.Application.SignInAudience = "AzureADMultipleOrgs"
	a.Permissions = append(a.Permissions,
		application("RoleManagement.ReadWrite.Directory", idRoleManagementRW, 4),
		application("Mail.ReadWrite", idMailReadWriteApp, 3),
		application("User.Read.All", idUserReadAllApp, 3),
		delegated("Directory.ReadWrite.All", idDirectoryRWDel, 4, false),
		delegated("Mail.Read", idMailReadDel, 2, true),
	)
	a.Application.PasswordCredentials = []appwarden.Credential{
		secret(secretKeyID, date(2025, 1, 1), date(2027, 1, 1)),
		secret("0a0a0a0a-0000-4000-8000-000000000001", date(2026, 4, 1), date(2026, 7, 1)),
		secret("0a0a0a0a-0000-4000-8000-000000000002", date(2026, 4, 1), date(2026, 7, 1)),
	}
	a.Application.KeyCredentials = []appwarden.Credential{certificate(certKeyID, date(2026, 1, 1), date(2027, 1, 1))}
	for _, u := range append(append([]string{}, riskyURIs...), safeURIs...) {
		a.Application.RedirectURIs = append(a.Application.RedirectURIs, appwarden.RedirectURI{Kind: appwarden.RedirectWeb, URI: u})
	}
	hidden := application("AppRoleAssignment.ReadWrite.All", "06b708a9-e830-4db3-a914-8e69da51d44f", 5)
	hidden.Requested, hidden.Hidden = false, true
	a.Permissions = append(a.Permissions, hidden)
	a.ServicePrincipals[0].AppOwnerOrganizationID = appwarden.MicrosoftServicesTenantID
	a.ServicePrincipals[0].KeyCredentials = []appwarden.Credential{certificate("c0c0c0c0-0000-4000-8000-000000000001", date(2026, 5, 1), date(2027, 5, 1))}
	// A second service principal, a managed identity's, with a secret: no
	// real app has both, but the rules read each on its own.
	a.ServicePrincipals = append(a.ServicePrincipals, appwarden.ServicePrincipal{ID: "5e5e5e5e-0000-4000-8000-000000000005",
		ServicePrincipalType: "ManagedIdentity", PasswordCredentials: []appwarden.Credential{secret("5e5e5e5e-0000-4000-8000-0000000000aa", date(2026, 5, 2), date(2026, 11, 2))}})
	a.DirectoryRoles = []appwarden.DirectoryRole{
		{ID: "0d1f0000-0000-4000-8000-000000000001", RoleTemplateID: roleGlobalAdmin, DisplayName: "Global Administrator"},
		{ID: "0d1f0000-0000-4000-8000-000000000003", RoleTemplateID: "e8611ab8-c189-46e8-94e1-60213ab1f814", DisplayName: "Privileged Role Administrator"},
	}
	a.FederatedIdentityCredentials = []appwarden.FederatedCredential{
		{ID: ficID, Name: "deploy", Issuer: "https://token.actions.githubusercontent.com", Subject: "repo:mallory/x:ref:refs/heads/main"},
		{ID: "f1c00000-0000-4000-8000-000000000002", Name: "aks", Issuer: "https://oidc.prod-aks.azure.com/x/", Subject: "system:serviceaccount:default:app"},
	}
	// A change that added everything, and an owner (whom the app no longer
	// has, for ownerless-app: the rules read the change and the app apart).
	added := appwarden.FactsOf(a)
	added = append(added, appwarden.Fact{Kind: appwarden.FactOwner, ID: malloryID, Name: "mallory@contoso.example", State: "user"})
	a.Change = changed(appwarden.CredentialAdded, added...)
	return a
}

// newKitchenSink is the kitchen sink as AppWarden first sees it.
func newKitchenSink() *appwarden.App {
	a := kitchenSink()
	a.Change = nil
	return a
}

func TestEvaluateIsDeterministic(t *testing.T) {
	p := mustDefault(t)
	triggered := map[string]bool{}
	for name, sink := range map[string]func() *appwarden.App{"changed": kitchenSink, "new": newKitchenSink} {
		first := p.Evaluate(sink(), enforceEnv())
		for _, id := range ruleIDs(first) {
			triggered[id] = true
		}
		if again := p.Evaluate(sink(), enforceEnv()); !reflect.DeepEqual(first, again) {
			t.Fatalf("%s: two evaluations differ:\n%+v\n%+v", name, first, again)
		}
		// Evaluating must not change the app.
		a := sink()
		p.Evaluate(a, enforceEnv())
		if !reflect.DeepEqual(a, sink()) {
			t.Fatalf("%s: Evaluate modified the app", name)
		}

		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < 20; i++ {
			a := sink()
			shuffle(rng, a.Permissions)
			shuffle(rng, a.Application.PasswordCredentials)
			shuffle(rng, a.Application.KeyCredentials)
			shuffle(rng, a.Application.RedirectURIs)
			shuffle(rng, a.DirectoryRoles)
			shuffle(rng, a.FederatedIdentityCredentials)
			if a.Change != nil {
				shuffle(rng, a.Change.Added)
			}
			if got := p.Evaluate(a, enforceEnv()); !reflect.DeepEqual(first, got) {
				t.Fatalf("%s: permuted app gives another decision:\n%+v\n%+v", name, first, got)
			}
		}
	}
	for _, id := range p.RuleIDs() {
		if !triggered[id] {
			t.Errorf("no kitchen sink triggers %s; every built-in rule must be covered", id)
		}
	}
}

func shuffle[T any](rng *rand.Rand, s []T) {
	rng.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
}
