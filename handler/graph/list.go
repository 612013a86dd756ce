package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"
)

// Whole-tenant listing for `appwarden snapshot export`: collections read as
// Graph's own JSON, page by page, so a tool can copy a tenant without
// modelling it and without holding it in memory. Everything here is a GET.

// ListPages streams the collection at path (below /v1.0, with its query,
// e.g. "/applications?$top=999") one page at a time, following
// @odata.nextLink. fn sees each page's objects as Graph sent them; an error
// from fn stops the stream and is returned.
func (c *Client) ListPages(ctx context.Context, path string, fn func(objects []json.RawMessage) error) error {
	link := c.base + path
	for link != "" {
		if err := ctx.Err(); err != nil {
			return err
		}
		body, err := c.get(ctx, link)
		if err != nil {
			return fmt.Errorf("graph: listing %s: %w", path, err)
		}
		page, err := decodePage(body)
		if err != nil {
			return fmt.Errorf("graph: listing %s: %w", path, err)
		}
		if err := fn(page.Value); err != nil {
			return err
		}
		link = page.Next
	}
	return nil
}

type rawPage struct {
	Value []json.RawMessage `json:"value"`
	Next  string            `json:"@odata.nextLink"`
}

func decodePage(body []byte) (rawPage, error) {
	var p rawPage
	if err := json.Unmarshal(body, &p); err != nil {
		return p, fmt.Errorf("decoding a collection page: %w", err)
	}
	return p, nil
}

// ReadCollections reads the collections at paths (below /v1.0, e.g.
// "/applications/{id}/owners"), 20 to a $batch with up to parallel batches
// in flight, each collection followed to its last page. A 404 (the object
// went away meanwhile) gives an empty collection. It returns one slice per
// path, in the order of paths.
func (c *Client) ReadCollections(ctx context.Context, paths []string, parallel int) ([][]json.RawMessage, error) {
	out := make([][]json.RawMessage, len(paths))
	if parallel < 1 {
		parallel = 1
	}
	// The first failure cancels the other batches: the caller gets no
	// result at all then, so what they would read is wasted.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for start := 0; start < len(paths); start += 20 {
		end := min(start+20, len(paths))
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return c.readChunk(gctx, paths, start, end, out) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// readChunk reads paths[start:end] in one $batch into out[start:end].
func (c *Client) readChunk(ctx context.Context, paths []string, start, end int, out [][]json.RawMessage) error {
	reqs := make([]request, 0, end-start)
	for i := start; i < end; i++ {
		reqs = append(reqs, request{ID: strconv.Itoa(i), Method: "GET", URL: paths[i]})
	}
	got, err := c.batch(ctx, reqs)
	if err != nil {
		return err
	}
	for i := start; i < end; i++ {
		r := got[strconv.Itoa(i)]
		switch {
		case r.Status == 404:
			continue
		case r.Status >= 300:
			return itemError(r, "GET "+paths[i])
		}
		page, err := decodePage(r.Body)
		if err != nil {
			return fmt.Errorf("graph: GET %s: %w", paths[i], err)
		}
		items := page.Value
		for next := page.Next; next != ""; {
			body, err := c.get(ctx, next)
			if err != nil {
				return fmt.Errorf("graph: GET %s: next page: %w", paths[i], err)
			}
			p, err := decodePage(body)
			if err != nil {
				return fmt.Errorf("graph: GET %s: %w", paths[i], err)
			}
			items = append(items, p.Value...)
			next = p.Next
		}
		out[i] = items
	}
	return nil
}

// TenantID reads the tenant's id from GET /organization (Organization.Read.All
// or Directory.Read.All).
func (c *Client) TenantID(ctx context.Context) (string, error) {
	body, err := c.get(ctx, c.base+"/organization?$select=id")
	if err != nil {
		return "", fmt.Errorf("graph: reading the tenant id: %w", err)
	}
	var v struct {
		Value []struct {
			ID string `json:"id"`
		} `json:"value"`
	}
	if err := json.Unmarshal(body, &v); err != nil || len(v.Value) == 0 || strings.TrimSpace(v.Value[0].ID) == "" {
		return "", fmt.Errorf("graph: reading the tenant id: no organization in the answer")
	}
	return v.Value[0].ID, nil
}
