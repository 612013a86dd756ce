package graph

import (
	"context"
	"errors"
	"fmt"
	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"
	"strings"
)

// The feeds and their pages are the domain's (appwarden.DeltaPage...);
// these names keep the Graph client's own code short.
const (
	FeedApplications      = appwarden.FeedApplications
	FeedServicePrincipals = appwarden.FeedServicePrincipals
)

type (
	// DeltaObject is appwarden.DeltaObject.
	DeltaObject = appwarden.DeltaObject
	// DeltaPage is appwarden.DeltaPage.
	DeltaPage = appwarden.DeltaPage
)

// deltaAppSelect is what the applications feed reads of each object.
const deltaAppSelect = "id,appId,displayName,createdDateTime,signInAudience,requiredResourceAccess,passwordCredentials,web,spa,publicClient"

// DeltaStart is the first link of a feed.
func (c *Client) DeltaStart(feed string) string {
	switch feed {
	case FeedApplications:
		// With the properties the baseline of an old app is made of (its
		// requested permissions, secrets, redirect URIs and audience), so
		// the first sweep records it without reading anything more.
		// keyCredentials are left out: selecting them is throttled on its
		// own (150 a minute per tenant, FACTS.md §4), and a first sweep of
		// a large tenant reads many pages.
		//
		// Kept out for the daily expiry pass too (#17), which would judge
		// an old app's certificates from its first-sweep record. The steady
		// sweep (~2 delta requests a minute) would fit the budget, but a
		// first sweep of 100,000 apps pages hundreds of times as fast as
		// Graph answers, and the 150 a minute are the tenant's, shared with
		// every other tool and with AppWarden's own resolutions (appSelect
		// reads keyCredentials for every app judged): a first sweep that
		// spent them would throttle the resolutions that contain risky apps,
		// for minutes, in the hour AppWarden is installed. An old app's
		// certificates are recorded by its first decision instead; until
		// then the expiry pass sees its secrets only. The service
		// principals feed selects no credentials either: the sweep records
		// no facts for service principals.
		return c.base + "/applications/delta?$select=" + deltaAppSelect
	default:
		return c.base + "/servicePrincipals/delta?$select=id,appId,displayName,servicePrincipalType,appOwnerOrganizationId"
	}
}

// DeltaPages streams a feed from link, one page at a time, so memory stays
// flat however large the tenant. fn sees each page; an error from fn stops
// the stream and is returned.
func (c *Client) DeltaPages(ctx context.Context, feed, link string, fn func(DeltaPage) error) error {
	for link != "" {
		if err := ctx.Err(); err != nil {
			return err
		}
		body, err := c.get(ctx, link)
		if err != nil {
			if resyncRequired(err) {
				return fmt.Errorf("graph: %s delta: %w: %w", feed, appwarden.ErrResyncRequired, err)
			}
			return fmt.Errorf("graph: %s delta: %w", feed, err)
		}
		page, err := decodeDelta(feed, body)
		if err != nil {
			return err
		}
		if page.Resume == "" {
			return fmt.Errorf("graph: %s delta page has neither @odata.nextLink nor @odata.deltaLink", feed)
		}
		if err := fn(page); err != nil {
			return err
		}
		if page.Final {
			return nil
		}
		link = page.Resume
	}
	return nil
}

// resyncRequired reports whether a delta feed's error says Graph no longer
// knows the link followed: a deltaLink expires after 7 days for directory
// objects (400 syncStateNotFound), and Graph may answer 410 Gone with
// resyncRequired. The feed must then start over from DeltaStart.
func resyncRequired(err error) bool {
	var se *StatusError
	if !errors.As(err, &se) {
		return false
	}
	switch {
	case se.Status == 410:
		return true
	case se.Status == 400:
		switch strings.ToLower(se.Code) {
		case "syncstatenotfound", "resyncrequired", "syncstateinvalid":
			return true
		}
	}
	return false
}

func removed(add map[string]any) bool {
	_, ok := add["@removed"]
	return ok
}

func decodeDelta(feed string, body []byte) (DeltaPage, error) {
	var page DeltaPage
	if feed == FeedApplications {
		resp, err := parse[applications.DeltaGetResponseable](body, applications.CreateDeltaGetResponseFromDiscriminatorValue)
		if err != nil {
			return page, err
		}
		for _, a := range resp.GetValue() {
			o := DeltaObject{
				Feed: feed, ID: str(a.GetId()), AppID: strings.ToLower(str(a.GetAppId())), DisplayName: str(a.GetDisplayName()),
				Created: tm(a.GetCreatedDateTime()), Removed: removed(a.GetAdditionalData()),
			}
			if !o.Removed {
				o.Application = toApplication(a)
				o.Application.KeyCredentials = nil // not selected: unknown, not empty
			}
			page.Objects = append(page.Objects, o)
		}
		page.Resume, page.Final = links(resp.GetOdataNextLink(), resp.GetOdataDeltaLink())
		return page, nil
	}
	resp, err := parse[serviceprincipals.DeltaGetResponseable](body, serviceprincipals.CreateDeltaGetResponseFromDiscriminatorValue)
	if err != nil {
		return page, err
	}
	for _, sp := range resp.GetValue() {
		page.Objects = append(page.Objects, spDelta(sp))
	}
	page.Resume, page.Final = links(resp.GetOdataNextLink(), resp.GetOdataDeltaLink())
	return page, nil
}

func spDelta(sp models.ServicePrincipalable) DeltaObject {
	return DeltaObject{
		Feed: FeedServicePrincipals, ID: str(sp.GetId()), AppID: strings.ToLower(str(sp.GetAppId())), DisplayName: str(sp.GetDisplayName()),
		ManagedIdentity: str(sp.GetServicePrincipalType()) == "ManagedIdentity", Removed: removed(sp.GetAdditionalData()),
	}
}

func links(next, delta *string) (string, bool) {
	if n := str(next); n != "" {
		return n, false
	}
	return str(delta), true
}
