package graph

import (
	"context"
	"fmt"
	"strings"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// Whole-tenant credential listings for the daily expiry pass (#17): the
// certificates of every registration, and the secrets and certificates of
// every service principal, which the delta feeds do not select (see
// DeltaStart) and so a first sweep's facts record lacks.
//
// Both lists page at most 999 objects ($top: default 100, maximum 999 for
// GET /applications and GET /servicePrincipals; learn.microsoft.com
// graph/api/application-list and serviceprincipal-list). Selecting
// keyCredentials is throttled on its own, at 150 requests a minute per
// tenant (same pages; FACTS.md §4): 100,000 apps are about 100 pages of each
// list, once a day, so the pass takes well under a minute's budget.
const (
	credAppSelect = "id,appId,displayName,keyCredentials"
	credSPSelect  = "id,appId,displayName,servicePrincipalType,appOwnerOrganizationId,passwordCredentials,keyCredentials"
	credPageSize  = "999"
)

// CredentialsStart is the first page of a credential listing: of the
// registrations' certificates (servicePrincipals false) or of the service
// principals' secrets and certificates.
func (c *Client) CredentialsStart(servicePrincipals bool) string {
	if servicePrincipals {
		return c.base + "/servicePrincipals?$select=" + credSPSelect + "&$top=" + credPageSize
	}
	return c.base + "/applications?$select=" + credAppSelect + "&$top=" + credPageSize
}

// ApplicationCertificates streams, one page at a time from link ("" for the
// first page, else a next link an earlier page gave), every registration
// with its certificates (keyCredentials only: its secrets are in the facts
// the sweep recorded). fn sees each page and the link of the next ("" after
// the last); an error from fn stops the stream and is returned.
func (c *Client) ApplicationCertificates(ctx context.Context, link string, fn func(apps []appwarden.Application, next string) error) error {
	return c.credentialPages(ctx, false, link, func(body []byte) (string, error) {
		resp, err := parse[models.ApplicationCollectionResponseable](body, models.CreateApplicationCollectionResponseFromDiscriminatorValue)
		if err != nil {
			return "", err
		}
		apps := make([]appwarden.Application, 0, len(resp.GetValue()))
		for _, a := range resp.GetValue() {
			apps = append(apps, appwarden.Application{
				ID: str(a.GetId()), AppID: strings.ToLower(str(a.GetAppId())), DisplayName: str(a.GetDisplayName()),
				KeyCredentials: toKeys(a.GetKeyCredentials()),
			})
		}
		next := str(resp.GetOdataNextLink())
		return next, fn(apps, next)
	})
}

// ServicePrincipalCredentials streams every service principal with its
// type, owner organization, secrets and certificates, as
// ApplicationCertificates streams the registrations.
func (c *Client) ServicePrincipalCredentials(ctx context.Context, link string, fn func(sps []appwarden.ServicePrincipal, next string) error) error {
	return c.credentialPages(ctx, true, link, func(body []byte) (string, error) {
		resp, err := parse[models.ServicePrincipalCollectionResponseable](body, models.CreateServicePrincipalCollectionResponseFromDiscriminatorValue)
		if err != nil {
			return "", err
		}
		sps := make([]appwarden.ServicePrincipal, 0, len(resp.GetValue()))
		for _, sp := range resp.GetValue() {
			sps = append(sps, toServicePrincipal(sp))
		}
		next := str(resp.GetOdataNextLink())
		return next, fn(sps, next)
	})
}

// credentialPages follows a listing from link. A link kept in the state
// store is followed only if it is a page of the same listing on this
// client's Graph endpoint: the request carries the app's token.
func (c *Client) credentialPages(ctx context.Context, servicePrincipals bool, link string, page func(body []byte) (string, error)) error {
	set := "/applications?"
	if servicePrincipals {
		set = "/servicePrincipals?"
	}
	if link == "" {
		link = c.CredentialsStart(servicePrincipals)
	} else if !c.pageOf(link, set) {
		return fmt.Errorf("graph: %q is not a page of %s on %s", link, strings.TrimSuffix(set, "?"), c.base)
	}
	for link != "" {
		if err := ctx.Err(); err != nil {
			return err
		}
		body, err := c.get(ctx, link)
		if err != nil {
			return fmt.Errorf("graph: listing the credentials of %s: %w", strings.Trim(set, "/?"), err)
		}
		next, err := page(body)
		if err != nil {
			return err
		}
		if next != "" && !c.pageOf(next, set) {
			return fmt.Errorf("graph: listing %s: a next link off this endpoint (%q)", strings.Trim(set, "/?"), next)
		}
		link = next
	}
	return nil
}

// pageOf reports whether link is a page of the set's listing on this
// client's endpoint (compared without case: Graph may spell the path its
// own way in a next link).
func (c *Client) pageOf(link, set string) bool {
	return strings.HasPrefix(strings.ToLower(link), strings.ToLower(c.base+set))
}
