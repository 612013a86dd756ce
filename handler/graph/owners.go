package graph

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// AppOwners reads an app's owners, of its registration and of its service
// principal (one $batch round trip, each list followed to its end): what
// the daily expiry pass needs for an app whose recorded facts never
// included owners (a first sweep's record), and only for an app with
// something to report. A part that does not exist (no service principal)
// has no owners.
func (c *Client) AppOwners(ctx context.Context, appID string) ([]appwarden.Principal, error) {
	key := strings.ReplaceAll(strings.ToLower(appID), "'", "''")
	got, err := c.batch(ctx, []request{
		{ID: "appOwners", Method: "GET", URL: "/applications(appId='" + key + "')/owners?$select=" + ownerSelect},
		{ID: "spOwners", Method: "GET", URL: "/servicePrincipals(appId='" + key + "')/owners?$select=" + ownerSelect},
	})
	if err != nil {
		return nil, fmt.Errorf("graph: owners of %s: %w", appID, err)
	}
	var out []appwarden.Principal
	seen := map[string]bool{}
	for _, part := range []struct{ id, what string }{{"appOwners", "application owners"}, {"spOwners", "service principal owners"}} {
		owners, err := collect[models.DirectoryObjectable](ctx, c, got[part.id], part.what, models.CreateDirectoryObjectCollectionResponseFromDiscriminatorValue)
		if err != nil {
			return nil, fmt.Errorf("graph: %s of %s: %w", part.what, appID, err)
		}
		for _, o := range owners {
			if p := toPrincipal(o); !seen[p.ID] {
				seen[p.ID] = true
				out = append(out, p)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
