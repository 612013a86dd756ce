package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// Apply sends writes in $batch requests of up to 20, retrying throttled
// items. The writes must be independent of each other (Graph may apply a
// batch's items in any order; one failing does not stop the others). It
// returns one result per write; err is for a failure of the whole exchange.
func (c *Client) Apply(ctx context.Context, writes []appwarden.Write) ([]appwarden.WriteResult, error) {
	out := make([]appwarden.WriteResult, len(writes))
	for start := 0; start < len(writes); start += 20 {
		end := min(start+20, len(writes))
		var reqs []request
		for i := start; i < end; i++ {
			w := writes[i]
			r := request{ID: strconv.Itoa(i), Method: w.Method, URL: w.Path, Body: w.Body}
			if w.Body != nil {
				r.Header = map[string]string{"Content-Type": "application/json"}
			}
			reqs = append(reqs, r)
		}
		got, err := c.batch(ctx, reqs)
		if err != nil {
			return nil, err
		}
		for i := start; i < end; i++ {
			r := got[strconv.Itoa(i)]
			res := appwarden.WriteResult{Status: r.Status}
			if r.Status >= 300 {
				res.Err = itemError(r, fmt.Sprintf("%s %s", writes[i].Method, writes[i].Path))
			} else if r.Status == 201 {
				var created struct {
					ID string `json:"id"`
				}
				if body := r.Body; len(body) > 0 {
					_ = json.Unmarshal(body, &created)
				}
				res.Created = created.ID
			}
			out[i] = res
		}
	}
	return out, nil
}

// ReadKeyCredentials reads the keyCredentials of an application or service
// principal (object is its Graph path, /applications/{id} or
// /servicePrincipals/{id}) with their key: Graph returns a certificate's key
// "only on $select for a single object ... otherwise, it is always null"
// (learn.microsoft.com/graph/api/resources/keycredential). Each item is the
// keyCredential as Graph returned it, to be written back as it is: PATCH
// keyCredentials replaces the whole collection, so a certificate left out,
// or sent without its key, is lost (learn.microsoft.com/graph/
// applications-how-to-add-certificate). It implements remediate.KeyReader.
func (c *Client) ReadKeyCredentials(ctx context.Context, object string) ([]map[string]any, error) {
	if !strings.HasPrefix(object, "/applications/") && !strings.HasPrefix(object, "/servicePrincipals/") {
		return nil, fmt.Errorf("graph: reading keyCredentials: %q is not an application or service principal path", object)
	}
	body, err := c.getRetrying(ctx, c.base+object+"?$select=id,keyCredentials")
	if err != nil {
		return nil, fmt.Errorf("graph: reading the keyCredentials of %s: %w", object, err)
	}
	var v struct {
		KeyCredentials []map[string]any `json:"keyCredentials"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("graph: reading the keyCredentials of %s: %w", object, err)
	}
	if v.KeyCredentials == nil {
		v.KeyCredentials = []map[string]any{}
	}
	return v.KeyCredentials, nil
}
