package remediate

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// Release is what `appwarden release` did.
type Release struct {
	AppID    string    `json:"appId"`
	By       string    `json:"by"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
	Restored []string  `json:"restored"`
	// Lost lists what cannot come back (removed secrets), in words.
	Lost   []string `json:"lost,omitempty"`
	Failed []string `json:"failed,omitempty"`
	// Fingerprints are the decisions released: the same findings will not
	// quarantine the app again until it changes.
	Fingerprints []string `json:"fingerprints"`
}

// released reports who released this fingerprint, if anyone.
func (r *Remediator) released(ctx context.Context, appID, fp string) (string, bool, error) {
	rec, found, err := r.Store.Get(ctx, strings.ToLower(appID), "release|"+fp)
	if err != nil || !found {
		return "", false, err
	}
	var rel Release
	_ = json.Unmarshal(rec.Data, &rel)
	return rel.By, true, nil
}

// Release undoes every action done on the app: it re-enables the service
// principal, reactivates the registration, re-creates removed assignments,
// grants and federated credentials, writes removed certificates back, and
// restores tags and notes. What cannot come back (a removed secret) it lists
// in Lost, naming the secret's keyId and what the owner must do. It records
// who released it and why, and marks the decisions released.
func (r *Remediator) Release(ctx context.Context, appID, reason, by string) (Release, error) {
	rel := Release{AppID: strings.ToLower(appID), By: by, Reason: reason, At: r.now()}
	if strings.TrimSpace(reason) == "" || strings.TrimSpace(by) == "" {
		return rel, fmt.Errorf("remediate: a release needs a reason and who releases (--reason, --by)")
	}
	recs, err := r.Store.List(ctx, rel.AppID)
	if err != nil {
		return rel, fmt.Errorf("remediate: reading actions of %s: %w", appID, err)
	}
	type done struct {
		key, etag string
		rec       record
	}
	var todo []done
	var writes []appwarden.Write
	fps := map[string]bool{}
	for _, sr := range recs {
		if sr.Kind != appwarden.KindAction || !strings.HasPrefix(sr.Key, "action|") {
			continue
		}
		var ar record
		if err := json.Unmarshal(sr.Data, &ar); err != nil {
			return rel, fmt.Errorf("remediate: corrupt action record %s: %w", sr.Key, err)
		}
		if ar.Status != StatusDone {
			continue
		}
		fps[ar.Fingerprint] = true
		if ar.Undo == nil {
			rel.Lost = append(rel.Lost, ar.Note)
			ar.Status = StatusReleased
			if _, err := r.replace(ctx, rel.AppID, sr.Key, sr.ETag, ar); err != nil {
				return rel, err
			}
			continue
		}
		w := *ar.Undo
		if ar.Keys != nil {
			var there bool
			w, there, err = r.restoreKeys(ctx, ar)
			if err != nil {
				rel.Failed = append(rel.Failed, fmt.Sprintf("%s on %s: %v", ar.Kind, ar.Target, err))
				continue
			}
			if there {
				ar.Status = StatusReleased
				if _, err := r.replace(ctx, rel.AppID, sr.Key, sr.ETag, ar); err != nil {
					return rel, err
				}
				rel.Restored = append(rel.Restored, fmt.Sprintf("%s on %s (the certificates were back already)", ar.Kind, ar.Target))
				continue
			}
		}
		todo = append(todo, done{sr.Key, sr.ETag, ar})
		writes = append(writes, w)
	}
	if len(writes) > 0 {
		results, err := r.Graph.Apply(ctx, writes)
		if err != nil {
			return rel, fmt.Errorf("remediate: restoring %s: %w", appID, err)
		}
		for i, d := range todo {
			what := fmt.Sprintf("%s on %s", d.rec.Kind, d.rec.Target)
			if results[i].Created != "" {
				what += " (created again as " + results[i].Created + ")"
			}
			if results[i].Err != nil {
				rel.Failed = append(rel.Failed, what+": "+results[i].Err.Error())
				continue
			}
			d.rec.Status = StatusReleased
			if _, err := r.replace(ctx, rel.AppID, d.key, d.etag, d.rec); err != nil {
				return rel, err
			}
			rel.Restored = append(rel.Restored, what)
		}
	}
	for fp := range fps {
		rel.Fingerprints = append(rel.Fingerprints, fp)
	}
	raw, _ := json.Marshal(rel)
	for _, fp := range rel.Fingerprints {
		if _, err := r.Store.Replace(ctx, appwarden.Record{Partition: rel.AppID, Key: "release|" + fp, Kind: appwarden.KindRelease, Time: rel.At, Data: raw}); err != nil {
			return rel, fmt.Errorf("remediate: recording release: %w", err)
		}
	}
	if len(rel.Fingerprints) == 0 {
		if _, err := r.Store.Put(ctx, appwarden.Record{Partition: rel.AppID, Key: "release|none|" + rel.At.Format(time.RFC3339Nano), Kind: appwarden.KindRelease, Time: rel.At, Data: raw}); err != nil {
			return rel, err
		}
	}
	if len(rel.Failed) > 0 {
		return rel, fmt.Errorf("remediate: %d restores failed", len(rel.Failed))
	}
	return rel, nil
}

// restoreKeys is the write that puts removed certificates back: the
// object's keyCredentials as they are now, with the removed ones (from the
// recorded before-state) added, so that a certificate the owner added or
// removed since is kept as it is. there is true when they are all back
// already. Without a KeyReader it is the recorded undo: the whole list as it
// was before the removal.
func (r *Remediator) restoreKeys(ctx context.Context, ar record) (w appwarden.Write, there bool, err error) {
	kr := r.keys()
	if kr == nil {
		return *ar.Undo, false, nil
	}
	var before struct {
		KeyCredentials []map[string]any `json:"keyCredentials"`
	}
	if err := json.Unmarshal(ar.Before, &before); err != nil {
		return w, false, fmt.Errorf("reading the recorded keyCredentials: %w", err)
	}
	cur, err := kr.ReadKeyCredentials(ctx, ar.Keys.Object)
	if err != nil {
		return w, false, fmt.Errorf("reading the keyCredentials of %s: %w", ar.Keys.Object, err)
	}
	has := func(list []map[string]any, id string) bool {
		return slices.ContainsFunc(list, func(k map[string]any) bool { s, _ := k["keyId"].(string); return strings.EqualFold(s, id) })
	}
	next := slices.Clone(cur)
	for _, id := range ar.Keys.Remove {
		if has(cur, id) {
			continue
		}
		i := slices.IndexFunc(before.KeyCredentials, func(k map[string]any) bool { s, _ := k["keyId"].(string); return strings.EqualFold(s, id) })
		if i < 0 {
			return w, false, fmt.Errorf("certificate %s is not in the recorded keyCredentials", id)
		}
		next = append(next, before.KeyCredentials[i])
	}
	if len(next) == len(cur) {
		return w, true, nil
	}
	return write("PATCH", ar.Keys.Object, map[string]any{"keyCredentials": next}), false, nil
}
