package notify

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/mail"
	"github.com/appwarden/appwarden/handler/notice"
	"github.com/appwarden/appwarden/handler/teams"
	"golang.org/x/sync/errgroup"
)

var _ appwarden.ExpiryNotifier = (*Notifier)(nil)

// ExpiryDigestFrom is how many apps due in one pass make an owner's
// digest: an owner with this many or more gets one card (and one email)
// naming every app and credential of theirs that is due, instead of one per
// app. The warnings of a daily pass all arrive at once, so it is per owner
// (not per channel, as DigestAbove is for the notifications of one
// invocation), and low: an owner hears once a day, whatever they own.
const ExpiryDigestFrom = 2

// NotifyExpiring tells the owners of apps whose secrets or certificates
// expire soon (or have expired and are still present): each app's owners
// get one card in the owners' channel and, with a mail sender, one email;
// an owner with ExpiryDigestFrom apps or more due gets one digest of them
// instead; an ownerless app's warning goes to the security channel (to the
// owners' channel, saying why, when there is none). Like every
// notification, each copy goes through the outbox: the same warning is
// queued once (its key is a fingerprint of the app, its credentials, their
// thresholds and its recipients), delivered within the Notifier's budget,
// and otherwise retried by Flush. It returns an error only when a warning
// could not be queued. It logs no credential but by count.
func (n *Notifier) NotifyExpiring(ctx context.Context, log *slog.Logger, due []appwarden.Expiring) error {
	if len(due) == 0 {
		return nil
	}
	now := n.now().UTC()
	apps := groupByApp(due)

	// Owners with many apps due, grouped by the apps they own, so that two
	// owners of the same apps share one digest.
	appsOf := map[string][]string{}
	who := map[string]appwarden.Principal{}
	for _, id := range apps.order {
		for _, o := range userOwners(apps.due[id][0].Owners) {
			k := ownerKey(o)
			if !slices.Contains(appsOf[k], id) {
				appsOf[k] = append(appsOf[k], id)
			}
			if _, ok := who[k]; !ok {
				who[k] = o
			}
		}
	}
	digested := map[string]bool{} // owner keys told by a digest
	type group struct {
		owners []appwarden.Principal
		apps   []string
	}
	var groups []*group
	bySet := map[string]*group{}
	for _, id := range apps.order {
		for _, o := range userOwners(apps.due[id][0].Owners) {
			k := ownerKey(o)
			if len(appsOf[k]) < ExpiryDigestFrom || digested[k] {
				continue
			}
			digested[k] = true
			set := strings.Join(appsOf[k], ",")
			g := bySet[set]
			if g == nil {
				g = &group{apps: appsOf[k]}
				bySet[set] = g
				groups = append(groups, g)
			}
			g.owners = append(g.owners, who[k])
		}
	}

	var made []*queuedWarning
	var errs []error
	queue := func(key string, e entry) {
		p, err := n.queueWarning(ctx, log, key, e, now)
		if err != nil {
			errs = append(errs, err)
		}
		if p != nil {
			made = append(made, p)
		}
	}

	// One card (and email) per app, for the owners no digest tells.
	for _, id := range apps.order {
		items := apps.due[id]
		owners := items[0].Owners
		users := userOwners(owners)
		switch {
		case len(owners) == 0:
			w := notice.BuildWarning(items, now)
			ch, routing := ChannelSecurity, "Sent to the security team because the app has no owners: nobody else will renew its credentials."
			if !n.security {
				ch, routing = ChannelTeams, "Sent here because the app has no owners and no security channel is configured."
			}
			if n.hooks[ch] == nil {
				log.Warn("expiry warning of an ownerless app not sent: no security or Teams webhook configured", "event", "expiry", "appId", id, "credentials", len(items))
				continue
			}
			w.Routing = routing
			fp := expiryFingerprint("app", id, items, nil)
			raw, err := json.Marshal(teams.Message(teams.ExpiryCard(w)))
			if err != nil {
				errs = append(errs, fmt.Errorf("notify: encoding the expiry card of %s: %w", id, err))
				continue
			}
			queue(fp+"|"+ch, entry{Channel: ch, AppID: id, Fingerprint: fp, Subject: w.Headline, Message: raw})
			continue
		case len(users) > 0:
			rest := slices.DeleteFunc(slices.Clone(users), func(o appwarden.Principal) bool { return digested[ownerKey(o)] })
			if len(rest) == 0 {
				continue // every owner hears of it in their digest
			}
			for _, o := range owners { // the apps that own it, named
				if o.Type != "" && !strings.EqualFold(o.Type, "user") {
					rest = append(rest, o)
				}
			}
			owners = rest
		}
		w := notice.BuildWarning(withOwners(items, owners), now)
		fp := expiryFingerprint("app", id, items, owners)
		if n.teams {
			raw, err := json.Marshal(teams.Message(teams.ExpiryCard(w)))
			if err != nil {
				errs = append(errs, fmt.Errorf("notify: encoding the expiry card of %s: %w", id, err))
			} else {
				queue(fp+"|"+ChannelTeams, entry{Channel: ChannelTeams, AppID: id, Fingerprint: fp, Subject: w.Headline, Message: raw})
			}
		}
		if to := mail.Owners(w.People); n.mailer != nil && len(to) > 0 {
			subject, html, err := mail.ExpiryEmail(w)
			if err != nil {
				errs = append(errs, err)
			} else {
				queue(fp+"|"+ChannelMail, entry{Channel: ChannelMail, AppID: id, Fingerprint: fp, Subject: subject,
					Mail: &mailPayload{Sender: n.sender, To: to, Subject: subject, HTML: html}})
			}
		}
		if !n.teams && n.mailer == nil {
			log.Info("expiry warning not sent: no Teams webhook or mail sender configured", "event", "expiry", "appId", id, "credentials", len(items))
		}
	}

	// One digest per group of owners with many apps due.
	for _, g := range groups {
		var lists [][]appwarden.Expiring
		var all []appwarden.Expiring
		for _, id := range g.apps {
			lists = append(lists, apps.due[id])
			all = append(all, apps.due[id]...)
		}
		d := notice.BuildExpiryDigest(g.owners, lists, now)
		fp := expiryFingerprint("digest", strings.Join(g.apps, ","), all, g.owners)
		if n.teams {
			parts := teams.ExpiryDigest(d)
			for i, part := range parts {
				raw, err := json.Marshal(part.Message)
				if err != nil {
					errs = append(errs, fmt.Errorf("notify: encoding an expiry digest: %w", err))
					continue
				}
				pfp := fp
				if len(parts) > 1 {
					pfp = fmt.Sprintf("%s-%d", fp, i+1)
				}
				queue(pfp+"|"+ChannelTeams, entry{Channel: ChannelTeams, Fingerprint: pfp, Subject: d.Headline, Message: raw})
			}
		}
		if to := mail.Owners(d.People); n.mailer != nil && len(to) > 0 {
			subject, html, err := mail.ExpiryDigestEmail(d)
			if err != nil {
				errs = append(errs, err)
			} else {
				queue(fp+"|"+ChannelMail, entry{Channel: ChannelMail, Fingerprint: fp, Subject: subject,
					Mail: &mailPayload{Sender: n.sender, To: to, Subject: subject, HTML: html}})
			}
		}
	}

	if b := batchOf(ctx); b != nil {
		// Queued during an invocation: its Deliver sends them.
		for _, p := range made {
			b.add(p.key, p.entry)
		}
		return errors.Join(errs...)
	}
	plan := map[string][]planned{}
	for _, p := range made {
		plan[channelOf(p.key)] = append(plan[channelOf(p.key)], planned{key: p.key, force: p.entry != nil})
	}
	dctx, cancel := context.WithTimeout(ctx, n.budget)
	defer cancel()
	var g errgroup.Group
	for _, ch := range sortedChannels(plan) {
		if n.isDown(ch) {
			continue // failed moments ago: Flush sends them
		}
		g.Go(func() error {
			d, f, l := n.deliverChannel(dctx, log, ch, plan[ch])
			log.Info("expiry warnings delivered", "event", "expiry", "channel", ch, "delivered", d, "failed", f, "leftInOutbox", l+f)
			return nil
		})
	}
	_ = g.Wait() // the goroutines return nil; what failed stays in the outbox
	return errors.Join(errs...)
}

// queuedWarning is an outbox entry NotifyExpiring queued: entry is nil
// when it was already queued (by an earlier pass that could not send it).
type queuedWarning struct {
	key   string
	entry *entry
}

// queueWarning queues one warning unless it was delivered before. It
// returns what to deliver (nil when it was delivered already).
func (n *Notifier) queueWarning(ctx context.Context, log *slog.Logger, key string, e entry, now time.Time) (*queuedWarning, error) {
	if done, err := n.delivered(ctx, key); err != nil {
		return nil, fmt.Errorf("notify: reading the outbox: %w", err)
	} else if done {
		return nil, nil
	}
	e.Status, e.Created = StatusPending, now
	if batchOf(ctx) != nil {
		e.NextAttempt = now.Add(batchHold)
	}
	inserted, err := n.enqueue(ctx, key, e)
	if err != nil {
		return nil, err
	}
	if !inserted {
		return &queuedWarning{key: key}, nil
	}
	log.Info("expiry warning queued", "event", "expiry", "channel", e.Channel, "appId", e.AppID, "key", key)
	return &queuedWarning{key: key, entry: &e}, nil
}

// dueApps are the due credentials by app, the app whose first credential
// expires soonest first.
type dueApps struct {
	order []string
	due   map[string][]appwarden.Expiring
}

func groupByApp(due []appwarden.Expiring) dueApps {
	a := dueApps{due: map[string][]appwarden.Expiring{}}
	for _, e := range due {
		if _, ok := a.due[e.AppID]; !ok {
			a.order = append(a.order, e.AppID)
		}
		a.due[e.AppID] = append(a.due[e.AppID], e)
	}
	soonest := func(id string) time.Time {
		t := a.due[id][0].Credential.EndDateTime
		for _, e := range a.due[id] {
			if e.Credential.EndDateTime.Before(t) {
				t = e.Credential.EndDateTime
			}
		}
		return t
	}
	slices.SortStableFunc(a.order, func(x, y string) int {
		if c := soonest(x).Compare(soonest(y)); c != 0 {
			return c
		}
		return cmp.Compare(x, y)
	})
	return a
}

// userOwners are the owners that are people (not apps).
func userOwners(owners []appwarden.Principal) []appwarden.Principal {
	var out []appwarden.Principal
	for _, o := range owners {
		if o.Type == "" || strings.EqualFold(o.Type, "user") {
			out = append(out, o)
		}
	}
	return out
}

// ownerKey identifies an owner across apps: their object id, else UPN or
// mail.
func ownerKey(o appwarden.Principal) string {
	for _, s := range []string{o.ID, o.UPN, o.Mail} {
		if s = strings.TrimSpace(s); s != "" {
			return strings.ToLower(s)
		}
	}
	return ""
}

// withOwners is due with the owners a warning tells.
func withOwners(due []appwarden.Expiring, owners []appwarden.Principal) []appwarden.Expiring {
	out := slices.Clone(due)
	for i := range out {
		out[i].Owners = owners
	}
	return out
}

// expiryFingerprint names a warning: what it is about (the credentials and
// the threshold each reached) and whom it tells. The same warning queued
// twice is one outbox entry; a credential reaching its next threshold is a
// new warning.
func expiryFingerprint(kind, id string, due []appwarden.Expiring, owners []appwarden.Principal) string {
	var parts []string
	for _, e := range due {
		th := appwarden.ThresholdLabel(e.Threshold)
		if e.Expired {
			th = "expired"
		}
		parts = append(parts, e.AppID+"/"+e.On+"/"+e.Credential.KeyID+"/"+th)
	}
	slices.Sort(parts)
	var keys []string
	for _, o := range owners {
		keys = append(keys, ownerKey(o))
	}
	slices.Sort(keys)
	return "expiry-" + hash(kind + "\n" + id + "\n" + strings.Join(parts, "\n") + "\n" + strings.Join(keys, ","))[:16]
}
