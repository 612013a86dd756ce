package expiry

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// CredentialLister lists, a page at a time, every registration with its
// certificates and every service principal with its secrets and
// certificates (graph.Client's ApplicationCertificates and
// ServicePrincipalCredentials). link is "" for a listing's first page, or a
// next link an earlier page gave; fn sees each page and the link of the
// next ("" after the last).
type CredentialLister interface {
	ApplicationCertificates(ctx context.Context, link string, fn func(apps []appwarden.Application, next string) error) error
	ServicePrincipalCredentials(ctx context.Context, link string, fn func(sps []appwarden.ServicePrincipal, next string) error) error
}

// The listings' phases, in the order the pass reads them (cursor.Phase).
const (
	phaseApplications      = "applications"
	phaseServicePrincipals = "servicePrincipals"
)

// listings is the second part of the day's pass, after the facts walk:
// most apps of a tenant are old and never decided, and their facts record
// is a first sweep's (the applications delta feed carries the
// registration's secrets, not its certificates nor anything of the service
// principal), so their certificates and service principal credentials
// would never be warned about. Once a day the pass reads them from two
// listings (see graph.CredentialsStart for their cost), page by page, and
// judges them as the facts walk does (Due, markers, the notifier), for the
// apps whose facts record is missing or partial only: a full record, from
// a decision, holds the same credentials and the facts walk judged them.
//
// The cursor keeps the page to read next, so a pass cut short goes on from
// there at the next tick; a kept link Graph no longer follows is dropped,
// and that listing starts over at the tick after (markers make a repeat
// harmless).
func (w *walk) listings(ctx context.Context) error {
	batch := w.p.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	for {
		phase, from, pages := w.pos.Phase, w.pos.Link, 0
		// after judges a page and moves the position past it: to the next
		// page, or to the start of the next phase.
		after := func(next string) error {
			pages++
			if next == "" {
				// Left to the loop below, once the listing has returned.
				return nil
			}
			w.pos = position{Phase: phase, Link: next}
			if len(w.pending) >= batch {
				if err := w.handOff(ctx); err != nil {
					return err
				}
			}
			return w.save(ctx, false)
		}
		var err error
		switch phase {
		case phaseApplications:
			if w.p.Lister == nil {
				return w.stop(ctx, true)
			}
			err = w.p.Lister.ApplicationCertificates(ctx, from, func(apps []appwarden.Application, next string) error {
				for i := range apps {
					a := &apps[i]
					app := &appwarden.App{AppID: strings.ToLower(a.AppID), DisplayName: a.DisplayName, Application: a}
					if err := w.judgeListed(ctx, app); err != nil {
						return err
					}
				}
				return after(next)
			})
			if err == nil {
				w.pos = position{Phase: phaseServicePrincipals}
				continue
			}
		case phaseServicePrincipals:
			if w.p.Lister == nil {
				return w.stop(ctx, true)
			}
			err = w.p.Lister.ServicePrincipalCredentials(ctx, from, func(sps []appwarden.ServicePrincipal, next string) error {
				for i := range sps {
					sp := sps[i]
					app := &appwarden.App{AppID: strings.ToLower(sp.AppID), DisplayName: sp.DisplayName, ServicePrincipals: []appwarden.ServicePrincipal{sp}}
					if err := w.judgeListed(ctx, app); err != nil {
						return err
					}
				}
				return after(next)
			})
			if err == nil {
				return w.stop(ctx, true)
			}
		default:
			// A phase this version does not know (a newer one's cursor):
			// the day's pass is done as far as this version goes.
			w.log.Warn("expiry pass: unknown phase in the cursor; finishing the day's pass", "phase", phase)
			return w.stop(ctx, true)
		}
		switch {
		case errors.Is(err, errLost):
			w.log.Warn("expiry pass taken over by another instance (the lease ran out); stopping", "phase", w.cur.Phase, "link", w.cur.Link)
			return w.handOff(context.WithoutCancel(ctx))
		case ctx.Err() != nil:
			return w.stop(ctx, false)
		case pages == 0 && from != "":
			// The kept link itself failed (Graph may no longer follow an
			// old skiptoken): the next tick starts this listing over.
			w.pos = position{Phase: phase}
		}
		return errors.Join(err, w.stop(ctx, false))
	}
}

// judgeListed judges a registration's or a service principal's listed
// credentials, unless the app's facts record is a full one (judged by the
// facts walk already). The record is read only for an app with a
// credential due, so the listings cost one store read per such app.
func (w *walk) judgeListed(ctx context.Context, app *appwarden.App) error {
	w.st.Listed++
	due := Due(app, w.now, w.p.Thresholds) // nil for managed identities and Microsoft apps
	if len(due) == 0 {
		return nil
	}
	full, err := w.fullRecord(ctx, app.AppID)
	if err != nil {
		return err
	}
	if full {
		return nil
	}
	return w.report(ctx, app.AppID, due, false)
}

// fullRecord reports whether the app's facts record was written by a
// decision (see appwarden.FactsLedger).
func (w *walk) fullRecord(ctx context.Context, appID string) (bool, error) {
	full, err := w.p.Facts.Full(ctx, appID)
	if err != nil {
		return false, fmt.Errorf("expiry: %w", err)
	}
	return full, nil
}
