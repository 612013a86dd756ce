package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/notice"
	"github.com/appwarden/appwarden/handler/retry"
	"github.com/appwarden/appwarden/handler/teams"
)

// Outbox partitions: pending notifications, and markers of what was
// delivered (kept, so that a decision made again is not told again).
const (
	PartitionOutbox   = "_outbox"
	PartitionNotified = "_notified"
)

// Channels.
const (
	ChannelTeams    = "teams"
	ChannelSecurity = "security"
	ChannelMail     = "mail"
)

// Entry statuses.
const (
	StatusPending   = "pending"
	StatusClaimed   = "claimed"
	StatusDelivered = "delivered"
	// StatusDead is an entry given up after MaxAttempts; it stays in the
	// outbox for an operator to see (appwarden history --app _outbox).
	StatusDead = "dead"
)

// entry is one notification waiting in the outbox.
type entry struct {
	Channel     string          `json:"channel"`
	AppID       string          `json:"appId,omitempty"`
	Fingerprint string          `json:"fingerprint"`
	Subject     string          `json:"subject,omitempty"`
	Message     json.RawMessage `json:"message,omitempty"` // Teams message
	Mail        *mailPayload    `json:"mail,omitempty"`
	// Brief is the app's line in a digest, should the entry be folded
	// into one (see Deliver).
	Brief *notice.Brief `json:"brief,omitempty"`
	// Members are the keys of the entries a digest stands for.
	Members     []string  `json:"members,omitempty"`
	Status      string    `json:"status"`
	Owner       string    `json:"owner,omitempty"`
	LeaseUntil  time.Time `json:"leaseUntil,omitempty"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"nextAttempt,omitempty"`
	LastError   string    `json:"lastError,omitempty"`
	Created     time.Time `json:"created"`
	Delivered   time.Time `json:"delivered,omitempty"`
}

type mailPayload struct {
	Sender  string   `json:"sender"`
	To      []string `json:"to"`
	Subject string   `json:"subject"`
	HTML    string   `json:"html"`
}

func (n *Notifier) record(key string, e entry, etag string) appwarden.Record {
	raw, _ := json.Marshal(e)
	return appwarden.Record{Partition: PartitionOutbox, Key: key, Kind: appwarden.KindNotice, Time: e.Created, Data: raw, ETag: etag}
}

// enqueue writes the entry unless one with the same key exists.
func (n *Notifier) enqueue(ctx context.Context, key string, e entry) (bool, error) {
	ok, err := n.store.Put(ctx, n.record(key, e, ""))
	if err != nil {
		return false, fmt.Errorf("notify: queueing the %s notification %s: %w", e.Channel, key, err)
	}
	return ok, nil
}

// delivered reports whether the key has a delivered marker.
func (n *Notifier) delivered(ctx context.Context, key string) (bool, error) {
	_, found, err := n.store.Get(ctx, PartitionNotified, key)
	return found, err
}

// breakerOpen is how long Notify leaves a failed channel to Flush.
const breakerOpen = 30 * time.Second

type result int

const (
	resultSkipped   result = iota // not due, held by another instance, or gone
	resultDelivered               // posted (or mailed) by this call
	resultFailed                  // tried and failed; rescheduled
)

// deliver claims one outbox entry and sends it. force ignores the entry's
// backoff (a fresh entry is tried at once). Only store failures are
// returned; a failed send is recorded in the entry and logged.
func (n *Notifier) deliver(ctx context.Context, log *slog.Logger, key string, force bool) (result, error) {
	// Bookkeeping outlives the delivery budget: a post that ran out of time
	// must still be recorded as failed, and a success as delivered.
	book, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()

	rec, found, err := n.store.Get(book, PartitionOutbox, key)
	if err != nil || !found {
		return resultSkipped, err
	}
	var e entry
	if err := json.Unmarshal(rec.Data, &e); err != nil {
		return resultSkipped, fmt.Errorf("notify: corrupt outbox entry %s: %w", key, err)
	}
	now := n.now()
	switch {
	case e.Status == StatusDead:
		return resultSkipped, nil
	case e.Status == StatusDelivered:
		return resultSkipped, n.finish(book, key, e)
	case e.Status == StatusClaimed && now.Before(e.LeaseUntil):
		return resultSkipped, nil // another instance (or goroutine) is sending it
	case !force && now.Before(e.NextAttempt):
		return resultSkipped, nil
	}
	if done, err := n.delivered(book, key); err != nil {
		return resultSkipped, err
	} else if done {
		return resultSkipped, n.store.Delete(book, PartitionOutbox, key)
	}

	// Claim: only one ETag'd replace wins.
	e.Status, e.Owner, e.LeaseUntil = StatusClaimed, n.owner, now.Add(n.lease)
	e.Attempts++
	etag, err := n.store.Replace(book, n.record(key, e, rec.ETag))
	if errors.Is(err, appwarden.ErrConflict) || errors.Is(err, appwarden.ErrNotFound) {
		return resultSkipped, nil
	}
	if err != nil {
		return resultSkipped, fmt.Errorf("notify: claiming %s: %w", key, err)
	}

	sendErr := n.send(ctx, e)
	now = n.now()
	attrs := []any{"event", "notify", "channel", e.Channel, "appId", e.AppID, "key", key, "attempt", e.Attempts}
	if sendErr == nil {
		n.setDown(e.Channel, 0)
		e.Status, e.Owner, e.LeaseUntil, e.Delivered, e.LastError = StatusDelivered, "", time.Time{}, now, ""
		if _, err := n.store.Replace(book, n.record(key, e, etag)); err != nil && !errors.Is(err, appwarden.ErrConflict) {
			log.Warn("notification delivered but not marked in the outbox", append(attrs, "error", err.Error())...)
		}
		log.Info("notification delivered", attrs...)
		return resultDelivered, n.finish(book, key, e)
	}

	msg := n.scrub.Clean(sendErr.Error())
	var de *teams.DeliveryError
	wait := retry.Backoff(e.Attempts, n.retryFirst, n.retryMax)
	breaker := breakerOpen
	if errors.As(sendErr, &de) && de.RetryAfter > 0 {
		wait = max(wait, min(de.RetryAfter, n.retryMax))
		breaker = max(breaker, min(de.RetryAfter, n.retryMax))
	}
	n.setDown(e.Channel, breaker)
	e.Status, e.Owner, e.LeaseUntil, e.LastError, e.NextAttempt = StatusPending, "", time.Time{}, msg, now.Add(wait)
	if e.Attempts >= n.maxAttempts {
		e.Status = StatusDead
		log.Error("notification given up after too many attempts; it stays in the outbox", append(attrs, "error", msg)...)
	} else {
		log.Warn("notification not delivered; it waits in the outbox and will be retried", append(attrs, "error", msg, "nextAttempt", e.NextAttempt)...)
	}
	if _, err := n.store.Replace(book, n.record(key, e, etag)); err != nil && !errors.Is(err, appwarden.ErrConflict) {
		return resultFailed, fmt.Errorf("notify: recording the failed attempt of %s: %w", key, err)
	}
	return resultFailed, nil
}

// finish records the delivered marker, then removes the outbox entry.
func (n *Notifier) finish(ctx context.Context, key string, e entry) error {
	raw, _ := json.Marshal(map[string]any{"channel": e.Channel, "appId": e.AppID, "fingerprint": e.Fingerprint, "delivered": e.Delivered, "attempts": e.Attempts})
	if _, err := n.store.Put(ctx, appwarden.Record{Partition: PartitionNotified, Key: key, Kind: appwarden.KindNotice, Time: e.Delivered, Data: raw}); err != nil {
		return fmt.Errorf("notify: marking %s delivered: %w", key, err)
	}
	return n.store.Delete(ctx, PartitionOutbox, key)
}

// send posts or mails one entry.
func (n *Notifier) send(ctx context.Context, e entry) error {
	switch e.Channel {
	case ChannelMail:
		if n.mailer == nil || e.Mail == nil {
			return errors.New("no mailer configured")
		}
		if err := n.mailer.SendMail(ctx, e.Mail.Sender, e.Mail.To, e.Mail.Subject, e.Mail.HTML); err != nil {
			return errors.New("sending mail: " + n.scrub.Clean(err.Error()))
		}
		return nil
	case ChannelTeams, ChannelSecurity:
		w := n.hooks[e.Channel]
		if w == nil {
			return errors.New("the " + e.Channel + " webhook is not configured")
		}
		return w.Post(ctx, e.Message)
	}
	return errors.New("unknown channel " + e.Channel)
}
