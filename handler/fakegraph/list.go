package fakegraph

import "github.com/microsoftgraph/msgraph-sdk-go/models"

// Listing, for tools that read a whole tenant (appwarden snapshot export):
//
//	GET /applications        every application, in creation order; paged with $skiptoken (default 100, $top up to 999)
//	GET /servicePrincipals   every service principal, the same way
//	GET /organization        the tenant: [{"id": tenantId}]
//
// $select and $filter are accepted and ignored, as elsewhere.

// listSet returns the live objects of a collection in creation order.
func (t *Tenant) listSet(setName string) [][]byte {
	t.mu.RLock()
	defer t.mu.RUnlock()
	set := t.set(setName)
	out := make([][]byte, 0, len(set.byID))
	for _, o := range set.order {
		if !o.deleted {
			out = append(out, o.raw)
		}
	}
	return out
}

// organization is the tenant as GET /organization describes it.
func (t *Tenant) organization() []byte {
	org := models.NewOrganization()
	org.SetId(ptr(t.TenantID()))
	return mustMarshal(org)
}
