package notify

import "context"

// PostForTest posts body to a channel's webhook and returns the raw
// delivery error, for the redaction test.
func PostForTest(ctx context.Context, n *Notifier, channel string, body []byte) error {
	w := n.hooks[channel]
	if w == nil {
		return nil
	}
	if err := w.Post(ctx, body); err != nil {
		return err
	}
	return nil
}
