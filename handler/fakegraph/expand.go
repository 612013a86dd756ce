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

// expand answers $expand on a single application or service principal. Only
// owners is served, optionally with a nested $select
// (owners($select=id,displayName)), which is accepted and, like $select
// elsewhere here, ignored. The owners come in the order /owners lists them,
// at most ExpandLimit of them, with no nextLink. Any other relationship is
// refused with 400, as the stand-in does not serve it.
func (t *Tenant) expand(setName, key string, byAppID bool, raw []byte, param string) ([]byte, *apiError) {
	name, _, _ := strings.Cut(strings.TrimSpace(param), "(")
	if !strings.EqualFold(strings.TrimSpace(name), "owners") || strings.Contains(param, ",owners") {
		return nil, badRequest("The Graph stand-in expands only owners, not '%s'.", param)
	}
	owners, aerr := t.listOwners(setName, key, byAppID)
	if aerr != nil {
		return nil, aerr
	}
	if len(owners) > ExpandLimit {
		owners = owners[:ExpandLimit]
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, badRequest("stored object is not JSON: %v", err)
	}
	list := make([]json.RawMessage, len(owners))
	for i, o := range owners {
		list[i] = o
	}
	b, _ := json.Marshal(list)
	obj["owners"] = b
	out, err := json.Marshal(obj)
	if err != nil {
		return nil, badRequest("encoding: %v", err)
	}
	return out, nil
}
