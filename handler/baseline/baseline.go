// Package baseline remembers, per app, the facts that carry privilege
// (permissions, credentials, federated credentials, owners, directory
// roles, redirect URIs, audience) and tells each new signal what it added.
//
// A change is judged by what it added: an app that already held power when
// AppWarden was installed is posture, which scan reports, not an incident.
// The facts are recorded after every decision, and for an app older than the
// installation by the first sweep (what the delta feed carries: the
// registration's permissions, credentials, redirect URIs and audience). What
// was never recorded (owners, roles, federated credentials of an old app) is
// completed at the app's first resolution: there, only what the signal names
// and what Graph dates after the installation counts as added.
package baseline

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// Partitions of the state store the keeper uses.
const (
	// PartitionFacts holds one record per app (key: the appId).
	PartitionFacts = "_facts"
	// installedKey, in appwarden.PartitionCursors, is when AppWarden first
	// judged anything in this tenant.
	installedKey = "installed"
	kindFacts    = "facts"
)

// Keeper records apps' facts and computes changes.
type Keeper struct {
	Store appwarden.Store
	// Lookback: an app created this long before the installation is new
	// too (the sweep's look-back window judges it as such).
	Lookback time.Duration
	// JudgeAll treats every app without recorded facts as new.
	JudgeAll bool
	Now      func() time.Time
}

// record is what the store keeps per app.
type record struct {
	At    time.Time        `json:"at"`
	Facts []appwarden.Fact `json:"facts"`
	// Partial is set when the facts came from the delta feed alone (see
	// fromDelta): the other kinds were never read.
	Partial bool `json:"partial,omitempty"`
	// Read lists the optional parts (appwarden.PartOf) the facts include;
	// facts of a part never read are unknown, not absent.
	Read []string `json:"read,omitempty"`
	// New is set when the decision was a new app's: every fact it held
	// counted as added, so each one was judged. Judged lists, otherwise,
	// the optional parts whose facts the decision judged by comparison
	// (read now, and known to the record before): a fact of another part
	// may have been recorded without being judged as added (see Covered).
	New    bool     `json:"new,omitempty"`
	Judged []string `json:"judged,omitempty"`
	appwarden.Profile
}

func profileOf(app *appwarden.App) appwarden.Profile {
	p := appwarden.Profile{DisplayName: app.DisplayName}
	if a := app.Application; a != nil {
		p.ObjectID = a.ID
		p.DisplayName = cmp.Or(p.DisplayName, a.DisplayName)
	}
	if sp := app.ServicePrincipal(); sp != nil {
		p.SPObjectID, p.SPType, p.OwnerOrg = sp.ID, sp.ServicePrincipalType, sp.AppOwnerOrganizationID
		p.DisplayName = cmp.Or(p.DisplayName, sp.DisplayName)
	}
	for _, u := range app.Unread {
		if strings.Contains(u, "owners") {
			p.OwnersUnread = true
		}
	}

	return p
}

// known reports whether the record's facts include those of the kind.
// judged reports whether the decision that wrote the record judged a fact
// like f that it holds: a new app's decision judged every fact; another
// judged those of the parts it compared (Judged), and those always read
// (a credential, an application permission: Graph dates the ones added
// since, see Change).
func (r *record) judged(f appwarden.Fact) bool {
	part := appwarden.PartOf(f)
	return part == "" || r.New || slices.Contains(r.Judged, part)
}

func (r *record) known(f appwarden.Fact) bool {
	part := appwarden.PartOf(f)
	return part == "" || slices.Contains(r.Read, part)
}

func (k *Keeper) now() time.Time {
	if k.Now != nil {
		return k.Now().UTC()
	}
	return time.Now().UTC()
}

// Installed returns when AppWarden was installed in this tenant: the first
// time any keeper asked. Every instance agrees (Put inserts only once).
func (k *Keeper) Installed(ctx context.Context) (time.Time, error) {
	rec, found, err := k.Store.Get(ctx, appwarden.PartitionCursors, installedKey)
	if err != nil {
		return time.Time{}, fmt.Errorf("baseline: reading the installation time: %w", err)
	}
	if !found {
		now := k.now()
		raw, _ := json.Marshal(map[string]time.Time{"at": now})
		if _, err := k.Store.Put(ctx, appwarden.Record{Partition: appwarden.PartitionCursors, Key: installedKey, Kind: appwarden.KindMarker, Time: now, Data: raw}); err != nil {
			return time.Time{}, fmt.Errorf("baseline: recording the installation time: %w", err)
		}
		if rec, found, err = k.Store.Get(ctx, appwarden.PartitionCursors, installedKey); err != nil || !found {
			return time.Time{}, errors.Join(fmt.Errorf("baseline: re-reading the installation time"), err)
		}
	}
	var v struct {
		At time.Time `json:"at"`
	}
	if err := json.Unmarshal(rec.Data, &v); err != nil {
		return time.Time{}, fmt.Errorf("baseline: installation record is corrupt: %w", err)
	}
	return v.At, nil
}

func (k *Keeper) load(ctx context.Context, appID string) (*record, error) {
	rec, found, err := k.Store.Get(ctx, PartitionFacts, strings.ToLower(appID))
	if err != nil {
		return nil, fmt.Errorf("baseline: reading the facts of %s: %w", appID, err)
	}
	if !found {
		return nil, nil
	}
	var r record
	if err := json.Unmarshal(rec.Data, &r); err != nil {
		return nil, fmt.Errorf("baseline: facts of %s are corrupt: %w", appID, err)
	}
	return &r, nil
}

// Change says what the signal's change added to the app: the facts it holds
// now and did not when they were last recorded. For an app new to AppWarden
// everything counts as added.
func (k *Keeper) Change(ctx context.Context, app *appwarden.App, sig appwarden.Signal) (*appwarden.Change, error) {
	ch := &appwarden.Change{Kind: sig.Kind, Activity: sig.Activity, Initiator: sig.Initiator, At: sig.Time, Source: sig.Source}
	now := appwarden.FactsOf(app)
	prev, err := k.load(ctx, app.AppID)
	if err != nil {
		return nil, err
	}
	if prev != nil && !prev.Partial {
		// Facts of a part the last decision did not read (a new app's
		// federated credentials, say) are judged as for an app never read:
		// what the signal names, or Graph dates after then, is new.
		ch.Since = prev.At
		ch.Known = slices.Clone(prev.Read)
		had := map[string]bool{}
		for _, f := range prev.Facts {
			had[f.Key()] = true
		}
		ch.Added = []appwarden.Fact{}
		for _, f := range now {
			// A fact recorded last time is not new, even of a part that
			// resolution read only in part (a creation reads the
			// registration's owners, not the service principal's).
			if !had[f.Key()] && (prev.known(f) || f.Since.After(prev.At) || named(sig.Added, f)) {
				ch.Added = append(ch.Added, f)
			}
		}
		return ch, nil
	}
	installed, err := k.Installed(ctx)
	if err != nil {
		return nil, err
	}
	if prev == nil && (k.JudgeAll || isNew(app, sig, installed.Add(-k.Lookback))) {
		ch.New = true
		ch.Added = nonNil(now)
		return ch, nil
	}
	// An app older than AppWarden: what the sweep recorded is compared; the
	// rest was never read, so only what the signal names and what Graph
	// dates after the installation is new.
	ch.Lazy = true
	ch.Since = installed
	var had []appwarden.Fact
	if prev != nil {
		ch.Since = prev.At
		had = prev.Facts
	}
	hadKey := map[string]bool{}
	for _, f := range had {
		hadKey[f.Key()] = true
	}
	ch.Added = []appwarden.Fact{}
	for _, f := range now {
		var added bool
		switch {
		case prev != nil && fromDelta(f):
			added = !hadKey[f.Key()]
		default:
			added = f.Since.After(installed) || named(sig.Added, f)
		}
		if added {
			ch.Added = append(ch.Added, f)
		}
	}
	return ch, nil
}

// isNew reports whether an app without recorded facts is new to AppWarden:
// its registration was created after cutoff, or the signal is the creation
// of its service principal after cutoff (service principals carry no
// creation date in Graph v1.0).
func isNew(app *appwarden.App, sig appwarden.Signal, cutoff time.Time) bool {
	if a := app.Application; a != nil && !a.CreatedDateTime.IsZero() {
		return a.CreatedDateTime.After(cutoff)
	}
	switch sig.Kind {
	case appwarden.AppCreated, appwarden.ServicePrincipalCreated:
		return sig.Source != appwarden.SourceSweep && sig.Time.After(cutoff)
	}
	return false
}

// named reports whether the signal's own record names the fact as added:
// by id where the record gives one (a keyId, an owner, a role template),
// else by name (a delegated scope, a role's name), else by kind alone (a
// record that says federated credentials changed, not which).
func named(hints []appwarden.Fact, f appwarden.Fact) bool {
	return slices.ContainsFunc(hints, func(h appwarden.Fact) bool {
		if h.Kind != f.Kind || (h.State != "" && h.State != f.State) {
			return false
		}
		switch {
		case h.Ref() == "":
			return true
		case h.ID != "" && f.ID != "":
			return strings.EqualFold(h.ID, f.ID)
		case h.Name != "":
			return strings.EqualFold(h.Name, f.Name)
		}
		return h.Ref() == f.Ref()
	})
}

// Record keeps the app's facts as its new baseline, after its decision.
// Facts of an optional part this resolution did not read are carried over
// from the last record, so that not reading them never forgets them. A
// concurrent write by another instance is not retried: both read the same
// app, and the later of two changes will be judged against either.
func (k *Keeper) Record(ctx context.Context, app *appwarden.App) error {
	if app == nil || app.AppID == "" || app.Deleted || app.Unresolvable != "" {
		return nil
	}
	r := record{At: k.now(), Facts: appwarden.FactsOf(app), Read: slices.Clone(app.Read), Profile: profileOf(app)}
	if ch := app.Change; ch != nil && ch.New {
		r.New = true
	} else if ch != nil {
		r.Judged = slices.DeleteFunc(slices.Clone(ch.Known), func(part string) bool { return !slices.Contains(app.Read, part) })
	}
	var prev *record
	if carriesOver(app) {
		var err error
		if prev, err = k.load(ctx, app.AppID); err != nil {
			return err
		}
	}
	if prev != nil && !prev.Partial {
		have := map[string]bool{}
		for _, f := range r.Facts {
			have[f.Key()] = true
		}
		for _, part := range prev.Read {
			if slices.Contains(r.Read, part) {
				continue
			}
			r.Read = append(r.Read, part)
			for _, f := range prev.Facts {
				// A part read in part (a creation reads the
				// registration's owners, not the service principal's)
				// keeps what this resolution saw and adds the rest.
				if appwarden.PartOf(f) == part && !have[f.Key()] {
					r.Facts = append(r.Facts, f)
				}
			}
		}
		slices.SortFunc(r.Facts, func(a, b appwarden.Fact) int { return strings.Compare(a.Key(), b.Key()) })
	}
	slices.Sort(r.Read)
	r.Facts = nonNil(r.Facts)
	return k.put(ctx, app.AppID, r, true)
}

// carriesOver reports whether recording the app may need the last record,
// for the optional parts this resolution did not read. Not when it read
// them all, nor when its Change found no record (a new app: nothing to
// carry): the record is then written without reading it again, which spares
// every such decision a state-store round trip.
func carriesOver(app *appwarden.App) bool {
	if app.Change != nil && app.Change.New {
		return false
	}
	return slices.ContainsFunc(appwarden.Parts(), func(part string) bool { return !slices.Contains(app.Read, part) })
}

// RecordDelta keeps, for an app older than the installation that the first
// sweep passes, the facts its delta object carries (see fromDelta), unless
// facts are recorded already.
func (k *Keeper) RecordDelta(ctx context.Context, appID string, a *appwarden.Application) error {
	if a == nil || appID == "" {
		return nil
	}
	facts := appwarden.FactsOf(&appwarden.App{AppID: appID, Application: a, Permissions: requested(a)})
	prof := appwarden.Profile{DisplayName: a.DisplayName, ObjectID: a.ID}
	return k.put(ctx, appID, record{At: k.now(), Facts: nonNil(facts), Partial: true, Profile: prof}, false)
}

func (k *Keeper) put(ctx context.Context, appID string, r record, overwrite bool) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("baseline: encoding the facts of %s: %w", appID, err)
	}
	rec := appwarden.Record{Partition: PartitionFacts, Key: strings.ToLower(appID), Kind: kindFacts, Time: r.At, Data: raw}
	if overwrite {
		_, err = k.Store.Replace(ctx, rec)
	} else {
		_, err = k.Store.Put(ctx, rec)
	}
	if err != nil {
		return fmt.Errorf("baseline: recording the facts of %s: %w", appID, err)
	}
	return nil
}

// fromDelta reports whether the delta feed's application object carries the
// fact: the registration's requested permissions, its own secrets (not its
// certificates: the feed does not select keyCredentials), its redirect
// URIs and its audience.
func fromDelta(f appwarden.Fact) bool {
	switch f.Kind {
	case appwarden.FactPermission:
		return f.State == appwarden.StateRequested
	case appwarden.FactCredential:
		return f.On == appwarden.OnApplication && f.State == appwarden.CredentialPassword
	case appwarden.FactRedirectURI, appwarden.FactAudience:
		return true
	}
	return false
}

// requested lists the registration's requested permissions by id, as
// FactsOf needs them (names do not count in a fact's key).
func requested(a *appwarden.Application) []appwarden.Permission {
	var out []appwarden.Permission
	for _, r := range a.RequiredResourceAccess {
		for _, ra := range r.ResourceAccess {
			typ := appwarden.PermissionDelegated
			if ra.Type == "Role" {
				typ = appwarden.PermissionApplication
			}
			out = append(out, appwarden.Permission{ResourceAppID: r.ResourceAppID, ID: ra.ID, Name: ra.ID, Type: typ, Requested: true})
		}
	}
	return out
}

func nonNil(fs []appwarden.Fact) []appwarden.Fact {
	if fs == nil {
		return []appwarden.Fact{}
	}
	return fs
}

// Decided reports whether the sweep may skip a delta object because
// AppWarden has already decided the change it shows (same version): the
// app's facts were recorded after a full resolution (not a first sweep's
// partial baseline) at or after since, when the feed's previous pass saw
// its last page (the object changed after that, or it would not be in this
// pass; in a first pass, when the app was created),
// and
//   - for an application, its delta object carries no fact the record
//     lacks (compared on what the feed carries, see fromDelta);
//   - for a service principal, whose delta object carries none of these
//     facts, the decision after since is all there is to go on.
//
// A change the feed cannot show (a certificate: keyCredentials is not
// selected; an owner, a grant, a federated credential: delta does not track
// navigation properties) made after the decision but within the same
// window is skipped with it; the events and the audit pull report those
// changes, and the next change the feed shows is judged.
func (k *Keeper) Decided(ctx context.Context, o appwarden.DeltaObject, since time.Time) (bool, error) {
	if o.AppID == "" || o.Removed || since.IsZero() {
		return false, nil
	}
	prev, err := k.load(ctx, o.AppID)
	if err != nil || prev == nil || prev.Partial || prev.At.Before(since) {
		return false, err
	}
	if o.Feed != appwarden.FeedApplications {
		return true, nil
	}
	if o.Application == nil {
		return false, nil
	}
	had := map[string]bool{}
	for _, f := range prev.Facts {
		had[f.Key()] = true
	}
	for _, f := range appwarden.FactsOf(&appwarden.App{AppID: o.AppID, Application: o.Application, Permissions: requested(o.Application)}) {
		if fromDelta(f) && !had[f.Key()] {
			return false, nil
		}
	}
	return true, nil
}

// holds reports whether the recorded fact f is what the hint h names, for
// Covered: as named, and a permission named by its name alone (a scope,
// as a consent record names it) must be of the same resource too, since a
// scope's name (user_impersonation) is unique only within its API; a hint
// that does not say which resource holds nothing.
func holds(f, h appwarden.Fact) bool {
	if !named([]appwarden.Fact{h}, f) {
		return false
	}
	if h.Kind != appwarden.FactPermission || h.ID != "" {
		return true
	}
	return h.Detail != appwarden.PermissionDelegated && strings.EqualFold(h.Detail, f.Detail)
}

// Covered reports whether the app's facts were recorded by a full decision
// (not the first sweep's baseline) after each of these signals' changes,
// and that decision already holds what each change brought: judging the
// app again would only repeat it. A creation brings the app itself. Any
// other change is covered only when its signal names what it added
// (Signal.Added: the keyId, the owner, the app role or scope, the role),
// each of a part that decision read, and the recorded facts hold every one
// of them: the decision's own read of Graph showed the change, whatever the
// replication lag. A change that names nothing (an update of properties),
// or names a kind only (a federated credential), is never covered.
func (k *Keeper) Covered(ctx context.Context, appID string, sigs []appwarden.Signal) (bool, error) {
	prev, err := k.load(ctx, appID)
	if err != nil || prev == nil || prev.Partial || len(sigs) == 0 {
		return false, err
	}
	for _, sig := range sigs {
		if !prev.At.After(sig.Time) {
			return false, nil
		}
		if sig.Kind == appwarden.AppCreated || sig.Kind == appwarden.ServicePrincipalCreated {
			continue
		}
		if len(sig.Added) == 0 {
			return false, nil
		}
		for _, h := range sig.Added {
			if h.Ref() == "" || !prev.judged(h) || !slices.ContainsFunc(prev.Facts, func(f appwarden.Fact) bool { return holds(f, h) }) {
				return false, nil
			}
		}
	}
	return true, nil
}

// Ledger reads the facts records a Keeper writes: the
// appwarden.FactsLedger on the same store.
type Ledger struct{ Store appwarden.Store }

var _ appwarden.FactsLedger = Ledger{}

// Page implements appwarden.FactsLedger.
func (l Ledger) Page(ctx context.Context, after string, limit int) (recs []appwarden.RecordedFacts, next string, err error) {
	raw, err := l.Store.ListAfter(ctx, PartitionFacts, after, limit)
	if err != nil {
		return nil, after, fmt.Errorf("baseline: reading the facts after %q: %w", after, err)
	}
	recs = make([]appwarden.RecordedFacts, 0, len(raw))
	for _, rec := range raw {
		next = rec.Key
		if rec.Kind != kindFacts {
			continue
		}
		var r record
		if err := json.Unmarshal(rec.Data, &r); err != nil {
			// One corrupt record must not stop a pass over every app.
			recs = append(recs, appwarden.RecordedFacts{AppID: rec.Key, Err: fmt.Errorf("baseline: facts of %s are corrupt: %w", rec.Key, err)})
			continue
		}
		recs = append(recs, appwarden.RecordedFacts{AppID: rec.Key, At: r.At, Facts: r.Facts, Partial: r.Partial, Profile: r.Profile})
	}
	if next == "" {
		next = after
	}
	return recs, next, nil
}

// Full implements appwarden.FactsLedger. A missing or unreadable record
// is not a decision's: the facts walk of the expiry pass skips those too.
func (l Ledger) Full(ctx context.Context, appID string) (bool, error) {
	rec, found, err := l.Store.Get(ctx, PartitionFacts, strings.ToLower(appID))
	if err != nil {
		return false, fmt.Errorf("baseline: reading the facts of %s: %w", appID, err)
	}
	var r record
	if !found || rec.Kind != kindFacts || json.Unmarshal(rec.Data, &r) != nil {
		return false, nil
	}
	return !r.Partial, nil
}
