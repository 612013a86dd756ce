// Package notify tells an app's owners, and the security team, what
// AppWarden found and did, and how to fix it. It decides who hears about a
// decision (the owners' Teams channel, the security channel, email) and
// delivers each copy exactly once; what a copy says is a notice.Notice,
// rendered as an Adaptive Card by package teams and posted to a Workflows
// webhook, or as an HTML email by package mail and sent through a Mailer
// (Microsoft Graph).
//
// A notification is never lost and never sent twice: Notify first writes it
// to an outbox in the state store (insert-if-absent, keyed by a fingerprint
// of the decision and the channel), then tries to deliver it within a short
// time budget. Delivery claims the entry with an ETag'd write and a lease,
// so two instances never both post it; a delivery that fails stays in the
// outbox and Flush (the timer, or the next invocation) retries it with
// backoff. Delivery failures are never returned to the pipeline: only a
// failure to queue is, because containment must not wait for Teams.
//
// Webhook URLs are secrets: they never appear in a log line, an error or the
// store (errors carry "[webhook]" instead).
package notify
