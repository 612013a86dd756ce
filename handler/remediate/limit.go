package remediate

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/store"
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
		if _, err := r.Store.Put(ctx, store.Record{Partition: partitionBudget, Key: strings.ToLower(app.AppID) + "|" + c.key, Kind: store.KindMarker, Time: now}); err != nil {
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
		} else {
			_ = r.Store.Delete(ctx, partitionBudget, rec.Key) // out of the window
		}
	}
	if count <= r.MaxPerHour {
		return true, nil
	}
	for _, c := range cs {
		_ = r.Store.Delete(ctx, partitionBudget, strings.ToLower(app.AppID)+"|"+c.key)
	}
	raw, _ := json.Marshal(tripRecord{At: now, AppID: app.AppID, Count: count, Limit: r.MaxPerHour})
	first, err := r.Store.Put(ctx, store.Record{Partition: partitionLimits, Key: keyTripped, Kind: store.KindMarker, Time: now, Data: raw})
	if err != nil {
		return false, fmt.Errorf("remediate: tripping the blast-radius flag: %w", err)
	}
	msg := fmt.Sprintf("AppWarden blast-radius limit reached: %d enforce actions in the last hour (limit %d, APPWARDEN_MAX_ACTIONS_PER_HOUR). "+
		"Every decision is audit-only until an operator runs `handler limit reset --by <upn>`. Last app: %s.", count, r.MaxPerHour, app.AppID)
	log.Error(msg, "event", "limit", "count", count, "limit", r.MaxPerHour)
	if first && r.Alerter != nil {
		r.Alerter.Alert(ctx, log, msg)
	}
	return false, nil
}

// ResetLimit clears the tripped flag; by names the operator.
func (r *Remediator) ResetLimit(ctx context.Context, by string) (bool, error) {
	cur, found, err := r.Store.Get(ctx, partitionLimits, keyTripped)
	if err != nil || !found {
		return false, err
	}
	var t tripRecord
	_ = json.Unmarshal(cur.Data, &t)
	t.ResetBy = by
	raw, _ := json.Marshal(t)
	now := r.now()
	if _, err := r.Store.Put(ctx, store.Record{Partition: partitionLimits, Key: "reset|" + now.Format(time.RFC3339Nano), Kind: store.KindRelease, Time: now, Data: raw}); err != nil {
		return false, err
	}
	recs, err := r.Store.List(ctx, partitionBudget)
	if err != nil {
		return false, err
	}
	for _, rec := range recs {
		_ = r.Store.Delete(ctx, partitionBudget, rec.Key)
	}
	return true, r.Store.Delete(ctx, partitionLimits, keyTripped)
}
