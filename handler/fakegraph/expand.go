package fakegraph

import (
	"encoding/json"
	"strings"
)

// ExpandLimit is how many items an expanded relationship of a directory
// object carries at most: "With Microsoft Entra ID resources that derive
// from directoryObject, like user and group, $expand typically returns a
// maximum of 20 items for the expanded relationship and has no
// @odata.nextLink" (learn.microsoft.com/graph/query-parameters, "expand
// parameter"). The stand-in cuts at exactly this many, so that a client
// which must see every owner reads /owners when the expanded list is full.
const ExpandLimit = 20

// expand answers $expand on a single application or service principal. It
// serves owners, optionally with a nested $select
// (owners($select=id,displayName)), which is accepted and, like $select
// elsewhere here, ignored; and a service principal's appRoleAssignments
// (servicePrincipal's relationships, learn.microsoft.com/graph/api/
// resources/serviceprincipal; expanded the same way by many published
// tools). Either comes in the order its own list gives, at most
// ExpandLimit items, with no nextLink. Graph expands one relationship per
// request ("Only one relationship can be expanded in a single request",
// query-parameters): two, or any other, are refused with 400.
func (t *Tenant) expand(setName, key string, byAppID bool, raw []byte, param string) ([]byte, *apiError) {
	name, _, _ := strings.Cut(strings.TrimSpace(param), "(")
	name = strings.TrimSpace(name)
	if strings.Contains(name, ",") || strings.Contains(param, "),") {
		return nil, badRequest("Only one relationship can be expanded in a single request: '%s'.", param)
	}
	var items [][]byte
	var aerr *apiError
	switch {
	case strings.EqualFold(name, "owners"):
		name = "owners"
		items, aerr = t.listOwners(setName, key, byAppID)
	case strings.EqualFold(name, "appRoleAssignments") && setName == setServicePrincipals:
		name = "appRoleAssignments"
		items, aerr = t.listAssignments(key, byAppID)
	default:
		return nil, badRequest("The Graph stand-in expands only owners and a service principal's appRoleAssignments, not '%s'.", param)
	}
	if aerr != nil {
		return nil, aerr
	}
	if len(items) > ExpandLimit {
		items = items[:ExpandLimit]
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, badRequest("stored object is not JSON: %v", err)
	}
	list := make([]json.RawMessage, len(items))
	for i, o := range items {
		list[i] = o
	}
	b, _ := json.Marshal(list)
	obj[name] = b
	out, err := json.Marshal(obj)
	if err != nil {
		return nil, badRequest("encoding: %v", err)
	}
	return out, nil
}
