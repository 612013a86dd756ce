package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/retry"
)

var _ appwarden.AuditSource = (*Client)(nil)

// DirectoryAudits reads the Entra audit log (GET /auditLogs/directoryAudits,
// AuditLog.Read.All) and calls fn with each page of the records whose
// activityDateTime is at or after since, in the categories given (all when
// none), as Graph's JSON objects. It implements appwarden.AuditSource.
//
// The filter is "activityDateTime ge {since} and (category eq 'A' or category
// eq 'B')": activityDateTime supports eq, ge and le, and the list supports
// $filter, $top, $orderby and skiptoken (learn.microsoft.com/graph/api/
// directoryaudit-list, resources/directoryaudit). since is cut to the
// second below, so no record is missed; the caller dedupes by id, as it must
// anyway for the overlap it reads again. Pages come newest first, in Graph's
// page size, followed by @odata.nextLink. A throttled page is retried as
// msgraph-sdk-go's retry handler does (Retry-After), then up to
// RetryPolicy.Attempts times more, behind the client's gate; an error from
// fn stops the read and is returned as it is.
func (c *Client) DirectoryAudits(ctx context.Context, since time.Time, categories []string, fn func([]json.RawMessage) error) error {
	filter := "activityDateTime ge " + since.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05Z")
	if len(categories) > 0 {
		var or []string
		for _, cat := range categories {
			or = append(or, "category eq '"+strings.ReplaceAll(cat, "'", "''")+"'")
		}
		filter += " and (" + strings.Join(or, " or ") + ")"
	}
	link := c.base + "/auditLogs/directoryAudits?$filter=" + strings.ReplaceAll(url.QueryEscape(filter), "+", "%20")
	for link != "" {
		if err := ctx.Err(); err != nil {
			return err
		}
		body, err := c.getRetrying(ctx, link)
		if err != nil {
			var se *StatusError
			if errors.As(err, &se) && se.Status == http.StatusForbidden {
				return fmt.Errorf("graph: reading the audit log needs AuditLog.Read.All: %w", err)
			}
			return fmt.Errorf("graph: reading the audit log: %w", err)
		}
		page, err := decodePage(body)
		if err != nil {
			return fmt.Errorf("graph: reading the audit log: %w", err)
		}
		if len(page.Value) > 0 {
			if err := fn(page.Value); err != nil {
				return err
			}
		}
		link = page.Next
	}
	return nil
}

// getRetrying is get, with throttled answers (429, 503, 504 after the
// SDK's own retries) tried again up to RetryPolicy.Attempts times in all.
// The gate, closed by the throttled answer's Retry-After, paces the next
// try; without one, it waits a second (at most MaxWait).
func (c *Client) getRetrying(ctx context.Context, link string) ([]byte, error) {
	for attempt := 1; ; attempt++ {
		body, err := c.get(ctx, link)
		var se *StatusError
		if err == nil || !errors.As(err, &se) || !throttled(se.Status) || attempt >= c.retry.Attempts {
			return body, err
		}
		wait := min(time.Second, c.retry.MaxWait)
		if time.Until(time.Unix(0, c.gate.until.Load())) > 0 {
			wait = 0 // the gate holds the next read for its Retry-After
		}
		if err := retry.Sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}
