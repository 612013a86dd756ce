package graph

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// SendMail sends an HTML message as sender (POST /users/{sender}/sendMail,
// which needs Mail.Send; scope it to the sender's mailbox with Exchange RBAC
// for Applications). It goes through the same $batch plumbing as every
// other write, so throttling is retried with Retry-After honoured. The
// message is not kept in Sent Items.
func (c *Client) SendMail(ctx context.Context, sender string, to []string, subject, html string) error {
	sender = strings.TrimSpace(sender)
	if sender == "" {
		return errors.New("graph: sendMail: no sender mailbox")
	}
	var recipients []map[string]any
	for _, a := range to {
		if a = strings.TrimSpace(a); a != "" {
			recipients = append(recipients, map[string]any{"emailAddress": map[string]any{"address": a}})
		}
	}
	if len(recipients) == 0 {
		return errors.New("graph: sendMail: no recipients")
	}
	body := map[string]any{
		"message": map[string]any{
			"subject":      subject,
			"body":         map[string]any{"contentType": "HTML", "content": html},
			"toRecipients": recipients,
		},
		"saveToSentItems": false,
	}
	what := "POST /users/{sender}/sendMail"
	got, err := c.batch(ctx, []request{{
		ID:     "1",
		Method: "POST",
		URL:    "/users/" + url.PathEscape(sender) + "/sendMail",
		Body:   body,
		Header: map[string]string{"Content-Type": "application/json"},
	}})
	if err != nil {
		return fmt.Errorf("graph: %s: %w", what, err)
	}
	r := got["1"]
	if r == nil {
		return fmt.Errorf("graph: %s: no response", what)
	}
	if r.Status >= 300 {
		return itemError(r, what)
	}
	return nil
}
