package policy

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// evidenceList turns a rule's matched items into sorted, de-duplicated
// Evidence. Rules return the app's own objects (a permission, a
// credential, a redirect URI...), which are recognised by their fields and
// reported exactly: name and id, URI, keyId and end date. A rule can also
// build an item itself as a map with a "kind" (and id, name, detail,
// endDateTime); anything else is reported as a value.
func evidenceList(items []ref.Val, app *appwarden.App) []appwarden.Evidence {
	var out []appwarden.Evidence
	for _, it := range items {
		out = append(out, evidenceOf(toGo(it), app))
	}
	sortEvidence(out)
	return slices.CompactFunc(out, func(a, b appwarden.Evidence) bool { return compareEvidence(a, b) == 0 })
}

func evidenceOf(v any, app *appwarden.App) appwarden.Evidence {
	m, ok := v.(map[string]any)
	if !ok {
		return appwarden.Evidence{Kind: "value", Name: text(v)}
	}
	has := func(k string) bool { _, ok := m[k]; return ok }
	s := func(k string) string { x, _ := m[k].(string); return x }
	switch {
	case has("kind") && has("state") && has("on"):
		return factEvidence(m)
	case has("issuer") && has("subject"):
		return appwarden.Evidence{Kind: appwarden.FactFederatedCredential, ID: s("id"), Name: s("name"),
			Detail: "federated credential: tokens from " + s("issuer") + " for subject " + s("subject") + " sign in as the app"}
	case has("roleTemplateId"):
		return appwarden.Evidence{Kind: appwarden.FactDirectoryRole, ID: s("roleTemplateId"), Name: s("displayName"), Detail: "directory role held by the service principal"}
	case has("keyId"):
		return credentialEvidence(m, app)
	case has("privilege") && has("resourceAppId"):
		return permissionEvidence(m)
	case has("uri"):
		return appwarden.Evidence{Kind: "redirectUri", Name: s("uri"), Detail: strings.TrimSpace(s("kind") + " redirect URI")}
	case has("appRoleId"):
		return appwarden.Evidence{Kind: "appRoleAssignment", ID: s("id"), Name: s("appRoleId"), Detail: "application permission granted on " + s("resourceDisplayName")}
	case has("consentType"):
		return appwarden.Evidence{Kind: "oauth2PermissionGrant", ID: s("id"), Name: s("scope"), Detail: "consent type " + s("consentType")}
	case has("servicePrincipalType"):
		return appwarden.Evidence{Kind: "servicePrincipal", ID: s("id"), Name: s("displayName"), Detail: s("servicePrincipalType")}
	case has("userId") && has("servicePrincipalId"):
		return appwarden.Evidence{Kind: "creator", ID: firstOf(s("userId"), s("servicePrincipalId"), s("appId")), Name: firstOf(s("upn"), s("displayName"))}
	case has("upn") && has("type"):
		return appwarden.Evidence{Kind: "owner", ID: s("id"), Name: firstOf(s("upn"), s("displayName")), Detail: s("type")}
	case s("kind") != "":
		e := appwarden.Evidence{Kind: s("kind"), ID: text(m["id"]), Name: text(m["name"]), Detail: text(m["detail"])}
		e.EndDateTime = timeOf(m["endDateTime"])
		return e
	}
	return appwarden.Evidence{Kind: "value", Name: text(m)}
}

// factEvidence reports an item of signal.added: a fact the change added.
func factEvidence(m map[string]any) appwarden.Evidence {
	s := func(k string) string { x, _ := m[k].(string); return x }
	e := appwarden.Evidence{Kind: s("kind"), ID: s("id"), Name: s("name")}
	var detail string
	switch e.Kind {
	case appwarden.FactCredential:
		detail = "client secret"
		if s("state") == appwarden.CredentialCertificate {
			detail = "certificate"
		}
		detail += " on the " + map[string]string{appwarden.OnApplication: "app registration", appwarden.OnServicePrincipal: "service principal"}[s("on")]
	case appwarden.FactPermission:
		detail = strings.TrimSpace(s("detail") + " permission, " + s("state"))
	case appwarden.FactOwner:
		detail = strings.TrimSpace("owner " + s("state"))
	case appwarden.FactDirectoryRole:
		detail = "directory role held by the service principal"
	default:
		detail = s("detail")
	}
	if since := timeOf(m["since"]); since != nil {
		detail += ", since " + since.Format(time.DateOnly)
	}
	e.Detail = strings.TrimSpace(detail)
	return e
}

func credentialEvidence(m map[string]any, app *appwarden.App) appwarden.Evidence {
	keyID, _ := m["keyId"].(string)
	kind := "credential"
	isKey := func(c appwarden.Credential) bool { return c.KeyID == keyID }
	if a := app.Application; a != nil {
		switch {
		case slices.ContainsFunc(a.PasswordCredentials, isKey):
			kind = "client secret"
		case slices.ContainsFunc(a.KeyCredentials, isKey):
			kind = "certificate"
		}
	}
	for _, sp := range app.ServicePrincipals {
		switch {
		case slices.ContainsFunc(sp.PasswordCredentials, isKey):
			kind = "client secret on the service principal"
		case slices.ContainsFunc(sp.KeyCredentials, isKey):
			kind = "certificate on the service principal"
		}
	}
	e := appwarden.Evidence{Kind: "credential", ID: keyID, Name: text(m["displayName"])}
	start, end := timeOf(m["startDateTime"]), timeOf(m["endDateTime"])
	detail := kind
	if start != nil && end != nil {
		detail += fmt.Sprintf(", valid %d days from %s", int(end.Sub(*start).Hours()/24), start.Format(time.DateOnly))
	}
	if end != nil {
		e.EndDateTime = end
		detail += ", until " + end.Format(time.DateOnly)
	}
	e.Detail = detail
	return e
}

func permissionEvidence(m map[string]any) appwarden.Evidence {
	s := func(k string) string { x, _ := m[k].(string); return x }
	b := func(k string) bool { x, _ := m[k].(bool); return x }
	parts := []string{strings.TrimSpace(s("resourceName") + " " + s("type") + " permission")}
	if lvl, _ := m["privilege"].(int64); lvl > 0 {
		parts = append(parts, fmt.Sprintf("privilege level %d", lvl))
	} else {
		parts = append(parts, "privilege level unknown")
	}
	switch {
	case b("adminConsent"):
		parts = append(parts, "granted tenant-wide by admin consent")
	case b("granted"):
		parts = append(parts, "granted")
	case b("requested"):
		parts = append(parts, "requested, not granted")
	}
	return appwarden.Evidence{Kind: "permission", ID: s("id"), Name: s("name"), Detail: strings.Join(parts, ", ")}
}

// timeOf reads a timestamp item, or an RFC 3339 string; nil for the zero
// time, which in Graph's data means "not set".
func timeOf(v any) *time.Time {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case string:
		p, err := time.Parse(time.RFC3339, x)
		if err != nil {
			return nil
		}
		t = p
	default:
		return nil
	}
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// text renders any item value as stable text; maps come out as JSON with
// sorted keys.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	case map[string]any, []any:
		b, err := json.Marshal(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	}
	return fmt.Sprint(v)
}

// toGo converts a CEL value to plain Go values (map[string]any, []any,
// string, int64, uint64, float64, bool, time.Time, time.Duration, nil).
func toGo(v ref.Val) any {
	switch x := v.(type) {
	case types.String:
		return string(x)
	case types.Int:
		return int64(x)
	case types.Uint:
		return uint64(x)
	case types.Double:
		return float64(x)
	case types.Bool:
		return bool(x)
	case types.Timestamp:
		return x.Time.UTC()
	case types.Duration:
		return x.Duration
	case types.Null:
		return nil
	case traits.Mapper:
		m := map[string]any{}
		for it := x.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			m[text(toGo(k))] = toGo(x.Get(k))
		}
		return m
	case traits.Lister:
		var out []any
		for it := x.Iterator(); it.HasNext() == types.True; {
			out = append(out, toGo(it.Next()))
		}
		return out
	}
	return fmt.Sprint(v.Value())
}

func sortEvidence(es []appwarden.Evidence) { slices.SortFunc(es, compareEvidence) }

func compareEvidence(a, b appwarden.Evidence) int {
	return cmp.Or(
		strings.Compare(a.Kind, b.Kind),
		strings.Compare(a.ID, b.ID),
		strings.Compare(a.Name, b.Name),
		strings.Compare(a.Detail, b.Detail),
		compareTime(a.EndDateTime, b.EndDateTime),
	)
}

func compareTime(a, b *time.Time) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	return a.Compare(*b)
}
