package remediate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// Partitions of the blast-radius limit: one record per enforce action in
// the budget, and the tripped flag that only an operator clears.
const (
	partitionBudget = "_budget"
	partitionLimits = "_limits"
	keyTripped      = "tripped"
)

// tripRecord says when and why the limit tripped.
type tripRecord struct {
	At      time.Time `json:"at"`
	AppID   string    `json:"appId"`
	Count   int       `json:"count"`
	Limit   int       `json:"limit"`
	ResetBy string    `json:"resetBy,omitempty"`
}

func (r *Remediator) limitTripped(ctx context.Context) (bool, error) {
	_, found, err := r.Store.Get(ctx, partitionLimits, keyTripped)
	if err != nil {
		return false, fmt.Errorf("remediate: reading the blast-radius flag: %w", err)
	}
	return found, nil
}

// reserve counts the claimed steps against the rolling hour's budget, across
// instances (the records are in the shared store). Past the limit it trips
// the flag, raises the alert, and refuses.
func (r *Remediator) reserve(ctx context.Context, log *slog.Logger, app *appwarden.App, fp string, cs []claim) (bool, error) {
	if r.MaxPerHour <= 0 {
		return true, nil // 0 disables the limit
	}
	now := r.now()
	for _, c := range cs {
		if _, err := r.Store.Put(ctx, appwarden.Record{Partition: partitionBudget, Key: strings.ToLower(app.AppID) + "|" + c.key, Kind: appwarden.KindMarker, Time: now}); err != nil {
			return false, fmt.Errorf("remediate: reserving budget: %w", err)
		}
	}
	recs, err := r.Store.List(ctx, partitionBudget)
	if err != nil {
		return false, fmt.Errorf("remediate: counting budget: %w", err)
	}
	count := 0
	for _, rec := range recs {
		if now.Sub(rec.Time) < time.Hour {
			count++
		} else if err := r.Store.Delete(ctx, partitionBudget, rec.Key); err != nil {
			// Out of the window, it no longer counts; the next count tries again.
			log.Warn("could not delete an expired blast-radius budget record", "event", "limit", "key", rec.Key, "error", err)
		}
	}
	if count <= r.MaxPerHour {
		return true, nil
	}
	for _, c := range cs {
		key := strings.ToLower(app.AppID) + "|" + c.key
		if err := r.Store.Delete(ctx, partitionBudget, key); err != nil {
			// It counts against the hour for nothing until it ages out or an
			// operator's reset deletes it.
			log.Error("could not give back a refused blast-radius budget reservation", "event", "limit", "key", key, "error", err)
		}
	}
	raw, _ := json.Marshal(tripRecord{At: now, AppID: app.AppID, Count: count, Limit: r.MaxPerHour})
	first, err := r.Store.Put(ctx, appwarden.Record{Partition: partitionLimits, Key: keyTripped, Kind: appwarden.KindMarker, Time: now, Data: raw})
	if err != nil {
		return false, fmt.Errorf("remediate: tripping the blast-radius flag: %w", err)
	}
	msg := fmt.Sprintf("AppWarden blast-radius limit reached: %d enforce actions in the last hour (limit %d, APPWARDEN_MAX_ACTIONS_PER_HOUR). "+
		"Every decision is audit-only until an operator runs `appwarden limit reset --by <upn>`. Last app: %s.", count, r.MaxPerHour, app.AppID)
	log.Error(msg, "event", "limit", "count", count, "limit", r.MaxPerHour)
	if first && r.Alerter != nil {
		r.Alerter.Alert(ctx, log, msg)
	}
	return false, nil
}

// ResetLimit clears the tripped flag and the hour's budget records; by names
// the operator. The flag is cleared only once every budget record is gone:
// cleared over stale records, the limit would trip again at the next action.
// A reset that could not delete them all returns an error and leaves the
// flag set; running it again finishes it.
func (r *Remediator) ResetLimit(ctx context.Context, by string) (bool, error) {
	cur, found, err := r.Store.Get(ctx, partitionLimits, keyTripped)
	if err != nil {
		return false, fmt.Errorf("remediate: reading the blast-radius flag: %w", err)
	}
	if !found {
		return false, nil
	}
	var t tripRecord
	// A flag whose record does not parse is cleared all the same; the reset
	// record then says only who reset it.
	_ = json.Unmarshal(cur.Data, &t)
	t.ResetBy = by
	raw, _ := json.Marshal(t)
	now := r.now()
	if _, err := r.Store.Put(ctx, appwarden.Record{Partition: partitionLimits, Key: "reset|" + now.Format(time.RFC3339Nano), Kind: appwarden.KindRelease, Time: now, Data: raw}); err != nil {
		return false, fmt.Errorf("remediate: recording the blast-radius reset: %w", err)
	}
	recs, err := r.Store.List(ctx, partitionBudget)
	if err != nil {
		return false, fmt.Errorf("remediate: listing the blast-radius budget: %w", err)
	}
	var errs []error
	for _, rec := range recs {
		if err := r.Store.Delete(ctx, partitionBudget, rec.Key); err != nil {
			errs = append(errs, fmt.Errorf("budget record %s: %w", rec.Key, err))
		}
	}
	if len(errs) > 0 {
		return false, fmt.Errorf("remediate: the blast-radius flag stays set (run the reset again): deleting %d of %d budget records failed: %w",
			len(errs), len(recs), errors.Join(errs...))
	}
	if err := r.Store.Delete(ctx, partitionLimits, keyTripped); err != nil {
		return false, fmt.Errorf("remediate: clearing the blast-radius flag: %w", err)
	}
	return true, nil
}
