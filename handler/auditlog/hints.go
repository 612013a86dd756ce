package auditlog

import (
	"regexp"
	"slices"
	"strings"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// added fills sig.Added with what the record says its change added: the
// keyIds of new secrets and certificates, the new owner, the granted app
// role or scopes, the directory role. For an app whose facts AppWarden
// never recorded, this is what tells the new from what was always there
// (see package baseline); a record that says nothing leaves it empty.
func added(r *record, sig *appwarden.Signal) {
	var out []appwarden.Fact
	for i := range r.Targets {
		out = append(out, addedKeys(&r.Targets[i])...)
	}
	switch sig.Kind {
	case appwarden.OwnerAdded:
		// "Add owner to application": the new owner is the User (or
		// ServicePrincipal) target that is not the app itself. On says
		// whose owner: the registration's or the service principal's.
		on := appwarden.OnApplication
		if sig.ObjectType == appwarden.ObjectServicePrincipal {
			on = appwarden.OnServicePrincipal
		}
		for _, t := range r.Targets {
			if t.isType("User") || (t.isType(appwarden.ObjectServicePrincipal) && guid(t.ID) != sig.ObjectID) {
				if id := guid(t.ID); id != "" {
					out = append(out, appwarden.Fact{Kind: appwarden.FactOwner, ID: id, Name: firstNonEmpty(t.first("UserPrincipalName"), t.DisplayName), On: on})
				}
			}
		}
	case appwarden.AppRoleGranted:
		if id := sig.Details["appRoleId"]; id != "" {
			out = append(out, appwarden.Fact{Kind: appwarden.FactPermission, ID: id, Name: sig.Details["appRoleValue"], State: appwarden.StateGranted})
		}
	case appwarden.ConsentGranted:
		state := appwarden.StateGranted
		if strings.EqualFold(sig.Details["consentType"], "AllPrincipals") {
			state = appwarden.StateConsented
		}
		scopes := sig.Details["scopeAdded"]
		if scopes == "" {
			scopes = sig.Details["scope"]
		}
		for s := range strings.FieldsSeq(scopes) {
			// The Detail names the resource as FactsOf does ("<resource>
			// delegated"): a scope's name is unique only within its API.
			out = append(out, appwarden.Fact{Kind: appwarden.FactPermission, Name: s, State: state,
				Detail: strings.TrimSpace(sig.Details["resourceDisplayName"] + " " + appwarden.PermissionDelegated)})
		}
	case appwarden.DirectoryRoleGranted:
		if id := sig.Details["roleTemplateId"]; id != "" || sig.Details["roleName"] != "" {
			out = append(out, appwarden.Fact{Kind: appwarden.FactDirectoryRole, ID: id, Name: sig.Details["roleName"]})
		}
	}
	// "Update application" lists the properties it changed; a change to
	// the federated credentials does not say which one it added, so it
	// names the kind only (every federated credential of an app AppWarden
	// never read then counts as added: containment errs on the safe side,
	// and release restores them).
	for _, t := range r.Targets {
		if p := t.prop("Included Updated Properties"); p != nil && strings.Contains(strings.ToLower(p.New), "federatedidentitycredential") {
			out = append(out, appwarden.Fact{Kind: appwarden.FactFederatedCredential})
		}
	}
	sig.Added = slices.CompactFunc(out, func(a, b appwarden.Fact) bool { return a == b })
	if len(sig.Added) == 0 {
		sig.Added = nil
	}
}

// keyDescriptionRe reads one entry of KeyDescription:
// "[KeyIdentifier=59eaeebc-...,KeyType=Password,KeyUsage=Verify,DisplayName=SimuLandCreds]"
// (otrf-01).
var keyDescriptionRe = regexp.MustCompile(`KeyIdentifier=([0-9A-Fa-f-]{36}),KeyType=([^,\]]*),KeyUsage=[^,\]]*,DisplayName=([^\]]*)\]`)

// addedKeys are the keys in a target's KeyDescription new value that are
// not in its old value.
func addedKeys(t *target) []appwarden.Fact {
	p := t.prop("KeyDescription")
	if p == nil {
		return nil
	}
	old := map[string]bool{}
	for _, m := range keyDescriptionRe.FindAllStringSubmatch(p.Old, -1) {
		old[strings.ToLower(m[1])] = true
	}
	on := appwarden.OnApplication
	if t.isType(appwarden.ObjectServicePrincipal) {
		on = appwarden.OnServicePrincipal
	}
	var out []appwarden.Fact
	for _, m := range keyDescriptionRe.FindAllStringSubmatch(p.New, -1) {
		id := strings.ToLower(m[1])
		if old[id] {
			continue
		}
		state := appwarden.CredentialCertificate
		if strings.EqualFold(m[2], "Password") {
			state = appwarden.CredentialPassword
		}
		out = append(out, appwarden.Fact{Kind: appwarden.FactCredential, ID: id, Name: strings.TrimSpace(m[3]), State: state, On: on})
	}
	return out
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}
