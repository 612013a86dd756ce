package auditpull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// claim reads the cursor and, when a pull is due and nobody holds it, takes
// it with a conditional write: of two instances that read the same cursor,
// one write wins and the other instance skips this tick. It returns the
// claimed cursor, the ETag of the claim, and whether this instance pulls.
func (p *Puller) claim(ctx context.Context, log *slog.Logger, now time.Time) (cursor, string, bool, error) {
	rec, found, err := p.Store.Get(ctx, appwarden.PartitionCursors, CursorKey)
	if err != nil {
		return cursor{}, "", false, fmt.Errorf("auditpull: reading the cursor: %w", err)
	}
	var cur cursor
	if found {
		if err := json.Unmarshal(rec.Data, &cur); err != nil {
			return cursor{}, "", false, fmt.Errorf("auditpull: the cursor %s/%s is corrupt: %w", appwarden.PartitionCursors, CursorKey, err)
		}
	}
	// A tick may fire a little early: up to a tenth of the interval counts
	// as on time, so that a 1 min interval on a 30 s timer pulls every
	// minute, not every minute and a half.
	if due := cur.LastPull.Add(p.interval() - p.interval()/10); found && now.Before(due) {
		log.Debug("audit pull not due yet", "lastPull", cur.LastPull, "interval", p.interval().String())
		return cur, "", false, nil
	}
	if found && now.Before(cur.LeaseUntil) {
		log.Info("audit pull skipped: another instance is pulling", "holder", cur.Holder, "leaseUntil", cur.LeaseUntil)
		return cur, "", false, nil
	}
	claimed := cur
	claimed.LastPull = now
	claimed.Holder = p.Owner
	claimed.LeaseUntil = now.Add(DefaultLease)
	if deadline, ok := ctx.Deadline(); ok {
		claimed.LeaseUntil = deadline.UTC().Add(bookkeeping)
	}
	raw, err := json.Marshal(claimed)
	if err != nil {
		return cursor{}, "", false, fmt.Errorf("auditpull: encoding the cursor: %w", err)
	}
	next := appwarden.Record{Partition: appwarden.PartitionCursors, Key: CursorKey, Kind: appwarden.KindCursor, Time: now, Data: raw}
	etag, won, err := appwarden.Claim(ctx, p.Store, next, rec.ETag, found)
	if err != nil {
		return cursor{}, "", false, fmt.Errorf("auditpull: claiming the cursor: %w", err)
	}
	if !won {
		log.Info("audit pull skipped: another instance claimed it first")
		return cur, "", false, nil
	}
	return claimed, etag, true, nil
}

// release writes the cursor's new position and ends the claim. It runs on
// its own short deadline, so that it happens after the invocation's
// budget is spent too. If another instance claimed the cursor meanwhile (the
// lease ran out), the later of the two positions is kept: each instance only
// ever moves it to a point it handled everything before.
func (p *Puller) release(ctx context.Context, log *slog.Logger, etag string, next cursor) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeeping)
	defer cancel()
	mine := next.Through
	next.Holder, next.LeaseUntil = "", time.Time{}
	for range 3 {
		raw, err := json.Marshal(next)
		if err != nil {
			return fmt.Errorf("auditpull: encoding the cursor: %w", err)
		}
		_, err = p.Store.Replace(ctx, appwarden.Record{Partition: appwarden.PartitionCursors, Key: CursorKey, Kind: appwarden.KindCursor, Time: p.now(), Data: raw, ETag: etag})
		if err == nil {
			return nil
		}
		if !errors.Is(err, appwarden.ErrConflict) && !errors.Is(err, appwarden.ErrNotFound) {
			return fmt.Errorf("auditpull: saving the cursor: %w", err)
		}
		// Another instance claimed the cursor after this claim's lease ran
		// out. Keep its claim and LastPull as they are; move only the
		// position, and only forward.
		rec, found, err := p.Store.Get(ctx, appwarden.PartitionCursors, CursorKey)
		if err != nil {
			return fmt.Errorf("auditpull: re-reading the cursor: %w", err)
		}
		var theirs cursor
		if found {
			if err := json.Unmarshal(rec.Data, &theirs); err != nil {
				return fmt.Errorf("auditpull: the cursor %s/%s is corrupt: %w", appwarden.PartitionCursors, CursorKey, err)
			}
		}
		log.Info("the audit cursor changed during the pull; keeping the later position", "holder", theirs.Holder)
		if !mine.After(theirs.Through) {
			return nil
		}
		next = theirs
		next.Through = mine
		etag = rec.ETag
	}
	return fmt.Errorf("auditpull: saving the cursor: %w", appwarden.ErrConflict)
}
