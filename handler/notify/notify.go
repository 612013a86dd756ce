package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/mail"
	"github.com/appwarden/appwarden/handler/notice"
	"github.com/appwarden/appwarden/handler/teams"
	"github.com/appwarden/appwarden/handler/transport"
)

// Options configure a Notifier. Teams and Security are the revealed
// webhook URLs (config.Secret.Reveal()); either may be empty.
type Options struct {
	Store appwarden.Store
	// Teams is the owners' channel webhook (APPWARDEN_TEAMS_WEBHOOK_URL).
	Teams string
	// Security is the security team's webhook
	// (APPWARDEN_SECURITY_WEBHOOK_URL): critical findings, ownerless apps
	// and alerts.
	Security string
	// MailSender is the mailbox mail is sent as (APPWARDEN_MAIL_SENDER);
	// empty disables email. Mailer sends it (the Graph client).
	MailSender string
	Mailer     Mailer
	// MinSeverity is APPWARDEN_NOTIFY_MIN_SEVERITY (config's default is
	// medium): findings below it do not notify by themselves; an action
	// taken always does. The zero value is info: everything notifies.
	MinSeverity appwarden.Severity
	// HTTPClient posts to the webhooks (default: 10 s timeout).
	HTTPClient *http.Client
	Now        func() time.Time

	// Owner names this instance in claims (default host/pid/random).
	Owner string
	// Budget bounds the delivery attempt inside Notify and Alert
	// (default 5 s): containment never waits longer for Teams.
	Budget time.Duration
	// Lease is how long a claim holds before another instance may take
	// over a crashed sender's entry (default 2 min; longer than any post).
	Lease time.Duration
	// MaxAttempts is when an entry is given up (default 30; with backoff
	// capped at RetryMax that is more than a day).
	MaxAttempts int
	// RetryFirst and RetryMax bound the outbox backoff (default 30 s, 1 h).
	RetryFirst, RetryMax time.Duration
}

// Mailer sends an HTML email as sender (Graph's POST /users/{sender}/sendMail;
// *graph.Client implements it).
type Mailer interface {
	SendMail(ctx context.Context, sender string, to []string, subject, html string) error
}

// Notifier implements pipeline.Notifier and remediate.Alerter.
type Notifier struct {
	store       appwarden.Store
	hooks       map[string]*teams.Webhook
	teams       bool
	security    bool
	sender      string
	mailer      Mailer
	minSev      appwarden.Severity
	now         func() time.Time
	owner       string
	budget      time.Duration
	lease       time.Duration
	maxAttempts int
	retryFirst  time.Duration
	retryMax    time.Duration
	scrub       *teams.Redactor

	// downUntil is a circuit breaker per channel: after a failed delivery,
	// Notify only queues for that channel until the time given, so that a
	// sweep over many apps during a Teams outage does not spend its budget
	// on every one of them. Flush still probes.
	mu        sync.Mutex
	downUntil map[string]time.Time
}

// New builds a Notifier.
func New(o Options) *Notifier {
	n := &Notifier{
		store: o.Store, sender: strings.TrimSpace(o.MailSender), mailer: o.Mailer, minSev: o.MinSeverity,
		now: o.Now, owner: o.Owner, budget: o.Budget, lease: o.Lease, maxAttempts: o.MaxAttempts,
		retryFirst: o.RetryFirst, retryMax: o.RetryMax,
		hooks: map[string]*teams.Webhook{},
		scrub: teams.NewRedactor(o.Teams, o.Security),

		downUntil: map[string]time.Time{},
	}
	if n.now == nil {
		n.now = time.Now
	}
	if n.owner == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		n.owner = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if n.budget <= 0 {
		n.budget = 5 * time.Second
	}
	if n.lease <= 0 {
		n.lease = 2 * time.Minute
	}
	if n.maxAttempts <= 0 {
		n.maxAttempts = 30
	}
	if n.retryFirst <= 0 {
		n.retryFirst = 30 * time.Second
	}
	if n.retryMax <= 0 {
		n.retryMax = time.Hour
	}
	client := o.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second, Transport: transport.New()}
	}
	for ch, u := range map[string]string{ChannelTeams: strings.TrimSpace(o.Teams), ChannelSecurity: strings.TrimSpace(o.Security)} {
		if u != "" {
			n.hooks[ch] = teams.NewWebhook(ch, u, client, n.scrub)
		}
	}
	n.teams, n.security = n.hooks[ChannelTeams] != nil, n.hooks[ChannelSecurity] != nil
	if n.sender == "" || n.mailer == nil {
		n.sender, n.mailer = "", nil
	}
	return n
}

// route is one copy of a notification: where it goes and why.
type route struct {
	channel string
	routing string // why the security team gets it
}

// routes decides who hears about a decision: the owners' channel, the
// security channel for critical findings and ownerless apps, and email.
func (n *Notifier) routes(app *appwarden.App, d appwarden.Decision, r notice.Notice) []route {
	critical, escalation := false, false
	for _, f := range d.Findings {
		if f.Baseline {
			continue
		}
		if f.Severity >= appwarden.SeverityCritical {
			critical = true
		}
		if f.Severity >= appwarden.SeverityHigh && app.Change != nil && !app.Change.New {
			escalation = true
		}
	}
	ownerless := len(app.Owners) == 0
	var out []route
	if n.teams && !ownerless {
		out = append(out, route{channel: ChannelTeams})
	}
	var why []string
	switch {
	case critical:
		why = append(why, "it has a critical finding")
	case escalation:
		why = append(why, "a change gave an existing app more power")
	}
	if ownerless {
		why = append(why, "the app has no owners")
	}
	if len(why) > 0 {
		switch {
		case n.security:
			out = append(out, route{channel: ChannelSecurity, routing: "Sent to the security team because " + strings.Join(why, " and ") + "."})
		case ownerless && n.teams:
			// No security channel configured: an ownerless app's notice
			// would otherwise reach nobody.
			out = append(out, route{channel: ChannelTeams, routing: "Sent here because the app has no owners and no security channel is configured."})
		}
	}
	if n.mailer != nil && len(mail.Recipients(r)) > 0 {
		out = append(out, route{channel: ChannelMail})
	}
	return out
}

// Notify queues the notifications for a decision and its outcome, then
// tries to deliver them within the time budget. It returns an error only
// when a notification could not be queued; a failed delivery waits in the
// outbox for Flush.
func (n *Notifier) Notify(ctx context.Context, log *slog.Logger, app *appwarden.App, d appwarden.Decision, o appwarden.Outcome) error {
	if app == nil {
		return nil
	}
	notable := false
	for _, f := range d.Findings {
		// Posture (a baseline finding) is scan's to report, not news.
		if f.Severity >= n.minSev && !f.Baseline {
			notable = true
		}
	}
	acted := false
	for _, a := range o.Actions {
		if a.Kind.Changes() {
			acted = true
		}
	}
	if !notable && !acted {
		return nil
	}
	base := notice.Build(app, d, o, n.minSev, notice.FullLimits)
	routes := n.routes(app, d, base)
	if len(routes) == 0 {
		log.Info("nothing to notify through: no webhook or mail sender configured for this app", "event", "notify", "appId", app.AppID)
		return nil
	}
	ffp := findingsFingerprint(app.AppID, d)
	fp := Fingerprint(app.AppID, d, o)
	now := n.now().UTC()
	brief := notice.BriefOf(base)
	batch := batchOf(ctx)
	var keys []string
	fresh := map[string]bool{}
	made := map[string]*entry{} // what this call inserted
	for _, rt := range routes {
		key := fp + "|" + rt.channel
		// Already told: the same decision was delivered on this channel.
		if done, err := n.delivered(ctx, key); err != nil {
			return fmt.Errorf("notify: reading the outbox: %w", err)
		} else if done {
			continue
		}
		// The same findings with nothing done (a redelivered event after
		// enforcement, a released app) are not worth a second message.
		seen := "findings|" + ffp + "|" + rt.channel
		if !acted {
			if told, err := n.delivered(ctx, seen); err != nil {
				return fmt.Errorf("notify: reading the outbox: %w", err)
			} else if told {
				continue
			}
		}
		e, err := n.compose(app, d, o, rt, fp, now)
		if err != nil {
			return err
		}
		e.Brief = &brief
		if batch != nil {
			// Held for the invocation's Deliver, which may fold it into a
			// digest: no other Flush sends it meanwhile. Should the
			// invocation die first, the hold runs out and Flush sends it.
			e.NextAttempt = now.Add(batchHold)
		}
		inserted, err := n.enqueue(ctx, key, e)
		if err != nil {
			return err
		}
		if _, err := n.store.Put(ctx, appwarden.Record{Partition: PartitionNotified, Key: seen, Kind: appwarden.KindMarker, Time: now}); err != nil {
			return fmt.Errorf("notify: recording the findings of %s: %w", app.AppID, err)
		}
		if inserted {
			fresh[key] = true
			made[key] = &e
			log.Info("notification queued", "event", "notify", "channel", rt.channel, "appId", app.AppID, "key", key)
		}
		keys = append(keys, key)
	}
	if batch != nil {
		// Contain first, tell after: the invocation delivers its batch
		// once every signal is handled (Deliver).
		for _, key := range keys {
			batch.add(key, made[key])
		}
		return nil
	}

	bctx, cancel := context.WithTimeout(ctx, n.budget)
	defer cancel()
	for _, key := range keys {
		if n.isDown(channelOf(key)) {
			continue // failed moments ago: queued for Flush, not retried inline
		}
		// A fresh entry is tried at once; one queued before keeps its backoff.
		if _, err := n.deliver(bctx, log, key, fresh[key]); err != nil {
			log.Warn("notification stays queued: the outbox could not be updated", "event", "notify", "key", key, "error", err.Error())
		}
	}
	// Whatever else is due (earlier failures) gets a try in the time left.
	if bctx.Err() == nil {
		if err := n.flush(bctx, log, keys, false); err != nil {
			log.Warn("earlier notifications stay queued: the outbox could not be read or updated", "event", "notify", "error", err.Error())
		}
	}
	return nil
}

// isDown reports whether a channel failed recently.
func (n *Notifier) isDown(ch string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.now().Before(n.downUntil[ch])
}

// setDown opens (for d) or, with d == 0, closes a channel's breaker.
func (n *Notifier) setDown(ch string, d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if d <= 0 {
		delete(n.downUntil, ch)
		return
	}
	n.downUntil[ch] = n.now().Add(d)
}

// compose renders one copy of a notification as an outbox entry.
func (n *Notifier) compose(app *appwarden.App, d appwarden.Decision, o appwarden.Outcome, rt route, fp string, now time.Time) (entry, error) {
	e := entry{Channel: rt.channel, AppID: app.AppID, Fingerprint: fp, Status: StatusPending, Created: now}
	switch rt.channel {
	case ChannelMail:
		r, subject, html, err := mail.Fit(app, d, o, n.minSev)
		if err != nil {
			return e, fmt.Errorf("notify: rendering the email for %s: %w", app.AppID, err)
		}
		e.Subject = subject
		e.Mail = &mailPayload{Sender: n.sender, To: mail.Recipients(r), Subject: subject, HTML: html}
	default:
		card := teams.Fit(app, d, o, n.minSev, rt.routing)
		raw, err := json.Marshal(teams.Message(card))
		if err != nil {
			return e, fmt.Errorf("notify: encoding the card for %s: %w", app.AppID, err)
		}
		e.Message = raw
	}
	return e, nil
}

// Alert raises an operator alert (the blast-radius limit) in the security
// channel, or the Teams channel when there is no security channel. It
// never fails the caller: an alert that cannot be sent waits in the outbox.
func (n *Notifier) Alert(ctx context.Context, log *slog.Logger, message string) {
	ch := ChannelSecurity
	if !n.security {
		ch = ChannelTeams
	}
	if n.hooks[ch] == nil {
		log.Error("alert not sent: no security or Teams webhook configured", "event", "alert", "message", message)
		return
	}
	now := n.now().UTC()
	fp := "alert-" + hash(message + "\n" + now.Truncate(time.Minute).Format(time.RFC3339))[:16]
	key := fp + "|" + ch
	raw, err := json.Marshal(teams.Message(teams.AlertCard(message)))
	if err != nil {
		log.Error("alert not sent: encoding failed", "event", "alert", "error", err.Error())
		return
	}
	e := entry{Channel: ch, Fingerprint: fp, Subject: "AppWarden alert", Message: raw, Status: StatusPending, Created: now}
	inserted, err := n.enqueue(ctx, key, e)
	if err != nil {
		log.Error("alert not queued", "event", "alert", "error", err.Error(), "message", message)
		return
	}
	if b := batchOf(ctx); b != nil {
		// Raised during containment (the blast-radius limit): it goes out
		// with the batch's notifications, after containment.
		if inserted {
			b.add(key, &e)
		} else {
			b.add(key, nil)
		}
		return
	}
	bctx, cancel := context.WithTimeout(ctx, n.budget)
	defer cancel()
	if _, err := n.deliver(bctx, log, key, true); err != nil {
		log.Warn("alert stays queued: the outbox could not be updated", "event", "alert", "key", key, "error", err.Error())
	}
}

// Flush retries every queued notification that is due. The timer calls it;
// Notify also flushes what is due in its spare budget. It returns an error
// only when the outbox cannot be read or updated; failed deliveries stay
// queued.
func (n *Notifier) Flush(ctx context.Context, log *slog.Logger) error {
	return n.flush(ctx, log, nil, true)
}

// flush tries the due entries. probe tries channels whose breaker is open
// (the timer's Flush); Notify's spare-time flush leaves them alone.
func (n *Notifier) flush(ctx context.Context, log *slog.Logger, skip []string, probe bool) error {
	recs, err := n.store.List(ctx, PartitionOutbox)
	if err != nil {
		return fmt.Errorf("notify: reading the outbox: %w", err)
	}
	var errs []error
	delivered, failed := 0, 0
	down := map[string]bool{} // channels that failed in this pass
	for _, rec := range recs {
		if ctx.Err() != nil {
			break
		}
		ch := channelOf(rec.Key)
		if contains(skip, rec.Key) || down[ch] || (!probe && n.isDown(ch)) {
			continue
		}
		// Each entry gets the same bound as a delivery inside Notify.
		ectx, cancel := context.WithTimeout(ctx, n.budget)
		res, err := n.deliver(ectx, log, rec.Key, false)
		cancel()
		if err != nil {
			errs = append(errs, err)
		}
		switch res {
		case resultDelivered:
			delivered++
		case resultFailed:
			failed++
			// The rest of this channel's entries wait for the next pass
			// rather than each spending its budget on a channel that is down.
			down[ch] = true
		}
	}
	if delivered+failed > 0 {
		log.Info("outbox flushed", "event", "notify", "delivered", delivered, "failed", failed, "queued", len(recs)-delivered)
	}
	return errors.Join(errs...)
}

// channelOf reads the channel from an outbox key (<fingerprint>|<channel>).
func channelOf(key string) string {
	if i := strings.LastIndexByte(key, '|'); i >= 0 {
		return key[i+1:]
	}
	return ""
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
