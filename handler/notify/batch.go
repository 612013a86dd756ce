package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/mail"
	"github.com/appwarden/appwarden/handler/notice"
	"github.com/appwarden/appwarden/handler/teams"
	"golang.org/x/sync/errgroup"
)

// DigestAbove is how many notifications one invocation may send to one
// channel (the owners' or the security Teams channel, or one mail
// recipient) one by one; with more, the channel gets a digest that names
// every app instead. Teams takes 4 posts a second (FACTS.md §5): 100 cards
// one by one would take 25 s.
const DigestAbove = 5

// batchHold keeps a notification queued during an invocation from being
// sent by any Flush before the invocation's Deliver has decided whether it
// goes alone or in a digest. It outlasts any invocation (25 s); should the
// invocation die first, the entry is sent alone once it runs out.
const batchHold = time.Minute

// mailParallel bounds the mails sent at once by one Deliver.
const mailParallel = 4

// retireParallel bounds the outbox writes made at once when entries are
// folded into a digest.
const retireParallel = 16

type batchKey struct{}

// batch is what Notify and Alert queued under one Begin.
type batch struct {
	mu      sync.Mutex
	keys    []string
	entries map[string]*entry // the entries this batch inserted; nil for one queued before
}

func (b *batch) add(key string, e *entry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.entries[key]; ok {
		return
	}
	b.keys = append(b.keys, key)
	b.entries[key] = e
}

func (b *batch) take() ([]string, map[string]*entry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	keys, entries := b.keys, b.entries
	b.keys, b.entries = nil, map[string]*entry{}
	return keys, entries
}

func batchOf(ctx context.Context) *batch {
	b, _ := ctx.Value(batchKey{}).(*batch)
	return b
}

// Begin starts the notifications of one invocation: under the context it
// returns, Notify and Alert only queue (in the outbox, no network), and
// Deliver sends what they queued once every signal of the invocation is
// handled, so that no containment ever waits for Teams or mail.
func (n *Notifier) Begin(ctx context.Context) context.Context {
	return context.WithValue(ctx, batchKey{}, &batch{entries: map[string]*entry{}})
}

// Deliver sends what was queued under ctx (see Begin): first it folds the
// notifications of every channel that got more than DigestAbove of them
// into digests, then it delivers every channel at once, each at its own
// pace, within the Notifier's budget and ctx. What does not go out stays in
// the outbox for Flush. It never fails the caller.
func (n *Notifier) Deliver(ctx context.Context, log *slog.Logger) {
	b := batchOf(ctx)
	if b == nil {
		return
	}
	keys, entries := b.take()
	if len(keys) == 0 {
		return
	}
	start := time.Now()
	// The outbox writes outlast the delivery budget: a digest must be
	// queued even when there is no time left to send it.
	book, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	plan := n.plan(book, log, keys, entries)
	cancel()

	dctx, dcancel := context.WithTimeout(ctx, n.budget)
	defer dcancel()
	var delivered, failed, left atomic.Int64
	var g errgroup.Group
	for _, ch := range sortedChannels(plan) {
		items := plan[ch]
		if n.isDown(ch) {
			// Failed moments ago: Flush probes it, not every invocation.
			left.Add(int64(len(items)))
			log.Warn("channel down: notifications wait in the outbox for Flush", "event", "notify", "channel", ch, "queued", len(items))
			continue
		}
		g.Go(func() error {
			d, f, l := n.deliverChannel(dctx, log, ch, items)
			delivered.Add(int64(d))
			failed.Add(int64(f))
			left.Add(int64(l))
			return nil
		})
	}
	_ = g.Wait()
	log.Info("notifications of the invocation delivered", "event", "notify", "queued", len(keys),
		"delivered", delivered.Load(), "failed", failed.Load(), "leftInOutbox", left.Load()+failed.Load(), "took", time.Since(start).Round(time.Millisecond).String())
}

// planned is one outbox entry to deliver.
type planned struct {
	key   string
	force bool // fresh: tried at once, whatever its hold
}

// deliverChannel delivers a channel's entries in order (webhooks: one at a
// time, the webhook paces them; mail: a few at once) until one fails or
// the time is up; the rest wait in the outbox.
func (n *Notifier) deliverChannel(ctx context.Context, log *slog.Logger, ch string, items []planned) (delivered, failed, left int) {
	var down atomic.Bool
	var d, f, l atomic.Int64
	var g errgroup.Group
	if ch == ChannelMail {
		g.SetLimit(mailParallel)
	} else {
		g.SetLimit(1)
	}
	for _, it := range items {
		g.Go(func() error {
			if down.Load() || ctx.Err() != nil {
				l.Add(1)
				return nil
			}
			res, err := n.deliver(ctx, log, it.key, it.force)
			if err != nil {
				log.Warn("notification stays queued: the outbox could not be updated", "event", "notify", "key", it.key, "error", err.Error())
			}
			switch res {
			case resultDelivered:
				d.Add(1)
			case resultFailed:
				f.Add(1)
				down.Store(true)
			default:
				l.Add(1)
			}
			return nil
		})
	}
	_ = g.Wait()
	return int(d.Load()), int(f.Load()), int(l.Load())
}

func sortedChannels(plan map[string][]planned) []string {
	var out []string
	for ch := range plan {
		out = append(out, ch)
	}
	sort.Strings(out)
	return out
}

// plan decides how the batch goes out: per channel, the digests and the
// entries that still go alone, in the order they were queued.
func (n *Notifier) plan(ctx context.Context, log *slog.Logger, keys []string, entries map[string]*entry) map[string][]planned {
	plan := map[string][]planned{}
	folded := map[string]bool{}
	now := n.now().UTC()

	// Webhook channels: more than DigestAbove fresh notifications make one
	// digest (or a few, each within a Teams message).
	for _, ch := range []string{ChannelTeams, ChannelSecurity} {
		var members []string
		for _, k := range keys {
			if e := entries[k]; e != nil && e.Brief != nil && e.Channel == ch {
				members = append(members, k)
			}
		}
		if len(members) <= DigestAbove {
			continue
		}
		dkeys, err := n.webhookDigest(ctx, log, ch, members, entries, now)
		if err != nil {
			log.Warn("digest not queued: the apps are notified one by one", "event", "notify", "channel", ch, "apps", len(members), "error", err.Error())
			continue
		}
		for _, k := range members {
			folded[k] = true
		}
		for _, dk := range dkeys {
			plan[ch] = append(plan[ch], planned{key: dk, force: true})
		}
	}

	// Mail: a recipient named on more than DigestAbove fresh mails gets
	// one digest instead, and is taken off those mails.
	dropped, mailDigests := n.mailDigests(ctx, log, keys, entries, now)
	plan[ChannelMail] = append(plan[ChannelMail], mailDigests...)
	var retire []string
	for _, k := range keys {
		e := entries[k]
		if e == nil || e.Channel != ChannelMail || len(dropped[k]) == 0 {
			continue
		}
		rest := slices.DeleteFunc(slices.Clone(e.Mail.To), func(a string) bool { return dropped[k][strings.ToLower(a)] })
		if len(rest) == 0 {
			retire = append(retire, k)
			folded[k] = true
			continue
		}
		if err := n.readdress(ctx, k, rest); err != nil {
			log.Warn("mail not re-addressed after its digest; it also goes to the digest's recipients", "event", "notify", "key", k, "error", err.Error())
		}
	}
	n.retire(ctx, log, retire, entries, "mail-digest", now)

	for _, k := range keys {
		if folded[k] {
			continue
		}
		ch := channelOf(k)
		plan[ch] = append(plan[ch], planned{key: k, force: entries[k] != nil})
	}
	for ch, items := range plan {
		if len(items) == 0 {
			delete(plan, ch)
		}
	}
	return plan
}

// webhookDigest queues the digest messages of a channel's members, then
// retires the members (they are told through the digest). It returns the
// digests' keys.
func (n *Notifier) webhookDigest(ctx context.Context, log *slog.Logger, ch string, members []string, entries map[string]*entry, now time.Time) ([]string, error) {
	briefs := make([]notice.Brief, len(members))
	byApp := map[string][]string{} // appId -> member keys
	for i, k := range members {
		briefs[i] = *entries[k].Brief
		byApp[briefs[i].AppID] = append(byApp[briefs[i].AppID], k)
	}
	note := ""
	if ch == ChannelSecurity {
		note = "Sent to the security team: each app below has a critical finding, a change that gave an existing app more power, or no owners. The owners' channel and mail tell each app's owners too."
	}
	var dkeys []string
	for _, part := range teams.Digest(briefs, note) {
		var mkeys []string
		for _, b := range part.Apps {
			mkeys = append(mkeys, byApp[b.AppID]...)
		}
		mkeys = uniq(mkeys)
		raw, err := json.Marshal(part.Message)
		if err != nil {
			return dkeys, fmt.Errorf("notify: encoding the %s digest: %w", ch, err)
		}
		fp := "digest-" + hash(strings.Join(mkeys, "\n"))[:16]
		key := fp + "|" + ch
		e := entry{Channel: ch, Fingerprint: fp, Subject: fmt.Sprintf("AppWarden digest: %d apps", len(part.Apps)), Message: raw,
			Members: mkeys, Status: StatusPending, Created: now, NextAttempt: now.Add(batchHold)}
		if _, err := n.enqueue(ctx, key, e); err != nil {
			return dkeys, err
		}
		log.Info("digest queued", "event", "notify", "channel", ch, "key", key, "apps", len(part.Apps), "bytes", len(raw))
		n.retire(ctx, log, mkeys, entries, key, now)
		dkeys = append(dkeys, key)
	}
	return dkeys, nil
}

// mailDigests queues one digest (or a few) per recipient named on more
// than DigestAbove of the batch's mails. It returns, per mail key, the
// (lower-case) addresses a digest now covers, and the digests to deliver.
func (n *Notifier) mailDigests(ctx context.Context, log *slog.Logger, keys []string, entries map[string]*entry, now time.Time) (map[string]map[string]bool, []planned) {
	per := map[string][]string{} // address -> mail keys
	var order []string
	for _, k := range keys {
		e := entries[k]
		if e == nil || e.Channel != ChannelMail || e.Mail == nil || e.Brief == nil {
			continue
		}
		for _, a := range e.Mail.To {
			la := strings.ToLower(a)
			if _, ok := per[la]; !ok {
				order = append(order, la)
			}
			per[la] = append(per[la], k)
		}
	}
	dropped := map[string]map[string]bool{}
	var out []planned
	for _, addr := range order {
		mkeys := per[addr]
		if len(mkeys) <= DigestAbove {
			continue
		}
		briefs := make([]notice.Brief, len(mkeys))
		for i, k := range mkeys {
			briefs[i] = *entries[k].Brief
		}
		parts, err := mail.Digest(briefs)
		if err != nil {
			log.Warn("mail digest not rendered: the mails go one by one", "event", "notify", "apps", len(mkeys), "error", err.Error())
			continue
		}
		queued := true
		var dkeys []string
		at := 0
		for _, part := range parts {
			pkeys := mkeys[at : at+len(part.Apps)]
			at += len(part.Apps)
			fp := "digest-" + hash(addr + "\n" + strings.Join(pkeys, "\n"))[:16]
			key := fp + "|" + ChannelMail
			e := entry{Channel: ChannelMail, Fingerprint: fp, Subject: part.Subject, Members: pkeys, Status: StatusPending, Created: now,
				NextAttempt: now.Add(batchHold), Mail: &mailPayload{Sender: n.sender, To: []string{addr}, Subject: part.Subject, HTML: part.HTML}}
			if _, err := n.enqueue(ctx, key, e); err != nil {
				log.Warn("mail digest not queued: the mails go one by one", "event", "notify", "apps", len(mkeys), "error", err.Error())
				queued = false
				break
			}
			dkeys = append(dkeys, key)
		}
		for _, dk := range dkeys {
			out = append(out, planned{key: dk, force: true})
		}
		if !queued {
			continue
		}
		log.Info("mail digest queued", "event", "notify", "apps", len(mkeys), "mails", len(dkeys))
		for _, k := range mkeys {
			if dropped[k] == nil {
				dropped[k] = map[string]bool{}
			}
			dropped[k][addr] = true
		}
	}
	return dropped, out
}

// readdress takes recipients a digest covers off a queued mail.
func (n *Notifier) readdress(ctx context.Context, key string, to []string) error {
	rec, found, err := n.store.Get(ctx, PartitionOutbox, key)
	if err != nil || !found {
		return err
	}
	var e entry
	if err := json.Unmarshal(rec.Data, &e); err != nil {
		return fmt.Errorf("notify: corrupt outbox entry %s: %w", key, err)
	}
	if e.Mail == nil || e.Status != StatusPending {
		return nil
	}
	e.Mail.To = to
	_, err = n.store.Replace(ctx, n.record(key, e, rec.ETag))
	if errors.Is(err, appwarden.ErrConflict) {
		return nil
	}
	return err
}

// retire marks entries told through a digest, then removes them from the
// outbox: a decision made again is not told again.
func (n *Notifier) retire(ctx context.Context, log *slog.Logger, keys []string, entries map[string]*entry, digest string, now time.Time) {
	var g errgroup.Group
	g.SetLimit(retireParallel)
	for _, k := range keys {
		e := entries[k]
		g.Go(func() error {
			raw, _ := json.Marshal(map[string]any{"channel": e.Channel, "appId": e.AppID, "fingerprint": e.Fingerprint, "digest": digest, "queued": now})
			if _, err := n.store.Put(ctx, appwarden.Record{Partition: PartitionNotified, Key: k, Kind: appwarden.KindNotice, Time: now, Data: raw}); err != nil {
				log.Warn("notification folded into a digest but not marked; it may also go alone", "event", "notify", "key", k, "error", err.Error())
				return nil
			}
			if err := n.store.Delete(ctx, PartitionOutbox, k); err != nil && !errors.Is(err, appwarden.ErrNotFound) {
				log.Warn("notification folded into a digest but left in the outbox; Flush drops it", "event", "notify", "key", k, "error", err.Error())
			}
			return nil
		})
	}
	_ = g.Wait()
}

func uniq(ss []string) []string {
	seen := map[string]bool{}
	out := ss[:0:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
