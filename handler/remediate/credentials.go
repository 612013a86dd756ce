package remediate

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// The surgical actions: removeCredentials and removeAppRoleGrants act on the
// items a finding names as evidence (an escalation rule names those the
// change added), not on everything the app holds.

// evidenceOf returns the ids (lower case) of the evidence items of the given
// kinds named by the findings that ask for the action. A baseline finding
// chooses no action (appwarden.Finding.Baseline), so its evidence is never
// acted on, whatever its Actions say.
func evidenceOf(d appwarden.Decision, action appwarden.ActionKind, kinds ...string) map[string]bool {
	ids := map[string]bool{}
	for _, f := range d.Findings {
		if f.Baseline || !slices.Contains(f.Actions, action) {
			continue
		}
		for _, e := range f.Evidence {
			if e.ID != "" && slices.Contains(kinds, e.Kind) {
				ids[strings.ToLower(e.ID)] = true
			}
		}
	}
	return ids
}

// removePassword removes one secret of an application or service principal
// (set is "applications" or "servicePrincipals"). Graph keeps no copy of a
// secret's value, so nothing can restore it: the step has no Undo, and its
// Note, which release reports as lost, says what the owner must do.
func removePassword(kind appwarden.ActionKind, set, objectID string, c appwarden.Credential) Step {
	on := "application " + objectID
	if set == "servicePrincipals" {
		on = "service principal " + objectID
	}
	name := ""
	if c.DisplayName != "" {
		name = fmt.Sprintf(" %q", c.DisplayName)
	}
	return Step{Kind: kind, Target: objectID + "/" + c.KeyID,
		Before: map[string]any{"keyId": c.KeyID, "displayName": c.DisplayName, "hint": c.Hint, "endDateTime": c.EndDateTime},
		Write:  write("POST", "/"+set+"/"+objectID+"/removePassword", map[string]any{"keyId": c.KeyID}),
		Note: fmt.Sprintf("client secret%s (keyId %s) removed from the %s; a removed secret cannot come back: "+
			"if it was legitimate, the app's owner must create a new one (or better, a certificate) and give it to whatever used the old one", name, c.KeyID, on)}
}

// removeAssignments removes the app role assignments of the app's service
// principals whose app role is in roles or whose id is in ids (both lower
// case); release re-creates each from its principal, resource and role.
func removeAssignments(app *appwarden.App, kind appwarden.ActionKind, roles, ids map[string]bool) []Step {
	var out []Step
	for _, sp := range app.ServicePrincipals {
		for _, as := range sp.AppRoleAssignments {
			if !roles[strings.ToLower(as.AppRoleID)] && !ids[strings.ToLower(as.ID)] {
				continue
			}
			re := map[string]any{"principalId": as.PrincipalID, "resourceId": as.ResourceID, "appRoleId": as.AppRoleID}
			out = append(out, Step{Kind: kind, Target: sp.ID + "/" + as.ID, Before: as,
				Write: write("DELETE", "/servicePrincipals/"+sp.ID+"/appRoleAssignments/"+as.ID, nil),
				Undo:  undo("POST", "/servicePrincipals/"+sp.ID+"/appRoleAssignments", re),
				Note:  "app role assignment " + as.AppRoleID + " removed"})
		}
	}
	return out
}

// grantIDs are the app role assignment ids behind the application
// permissions named (Permission.GrantIDs).
func grantIDs(app *appwarden.App, perms map[string]bool) map[string]bool {
	ids := map[string]bool{}
	for _, p := range app.Permissions {
		if p.Type != appwarden.PermissionApplication || !perms[strings.ToLower(p.ID)] {
			continue
		}
		for _, g := range p.GrantIDs {
			ids[strings.ToLower(g)] = true
		}
	}
	return ids
}

// removeCredentials plans the removal of the named credentials wherever the
// app holds them: secrets and certificates of the registration and of its
// service principals, and the registration's federated credentials. A
// credential the app no longer holds is not planned.
func removeCredentials(app *appwarden.App, ids map[string]bool) []Step {
	if len(ids) == 0 {
		return nil
	}
	kind := appwarden.ActionRemoveCredentials
	named := func(c appwarden.Credential) bool { return ids[strings.ToLower(c.KeyID)] }
	var out []Step
	if a := app.Application; a != nil {
		for _, c := range a.PasswordCredentials {
			if named(c) {
				out = append(out, removePassword(kind, "applications", a.ID, c))
			}
		}
		if s, ok := removeCertificates("applications", a.ID, a.KeyCredentials, named); ok {
			out = append(out, s)
		}
		for _, f := range app.FederatedIdentityCredentials {
			if ids[strings.ToLower(f.ID)] {
				out = append(out, removeFederated(a.ID, f))
			}
		}
	}
	for _, sp := range app.ServicePrincipals {
		for _, c := range sp.PasswordCredentials {
			if named(c) {
				out = append(out, removePassword(kind, "servicePrincipals", sp.ID, c))
			}
		}
		if s, ok := removeCertificates("servicePrincipals", sp.ID, sp.KeyCredentials, named); ok {
			out = append(out, s)
		}
	}
	return out
}

// removeFederated deletes a federated credential, recorded whole; release
// creates it again with the same name, issuer, subject, audiences and
// description (Graph gives the new one a new id).
func removeFederated(appObjectID string, f appwarden.FederatedCredential) Step {
	base := "/applications/" + appObjectID + "/federatedIdentityCredentials"
	re := map[string]any{"name": f.Name, "issuer": f.Issuer, "subject": f.Subject, "audiences": nonNil(f.Audiences)}
	if f.Description != "" {
		re["description"] = f.Description
	}
	return Step{Kind: appwarden.ActionRemoveCredentials, Target: appObjectID + "/" + f.ID, Before: f,
		Write: write("DELETE", base+"/"+f.ID, nil),
		Undo:  undo("POST", base, re),
		Note:  fmt.Sprintf("federated credential %q (issuer %s, subject %s) deleted; release creates it again", f.Name, f.Issuer, f.Subject)}
}

// KeyRewrite is a certificate removal: Graph has no call that removes one
// certificate without proof of possession of the app's own key (removeKey,
// FACTS.md §4), so the step rewrites the object's keyCredentials without it,
// and release rewrites them with it.
//
// PATCH replaces the whole collection ("Because this a PATCH call, which by
// protocol replaces the contents of the property with the new values",
// learn.microsoft.com/graph/applications-how-to-add-certificate), and every
// certificate written back needs its key: the certificate's public data,
// which Graph returns "only on $select for a single object, that is, GET
// applications/{applicationId}?$select=keyCredentials ...; otherwise, it is
// always null" (learn.microsoft.com/graph/api/resources/keycredential).
// Resolution reads the app without it, so Plan cannot have it: the step
// reads it through the Remediator's KeyReader after claiming it and before
// writing, records that full list as its before-state, and is never written
// without it. The key is public (a certificate, not its private key), so
// keeping it in the state store reveals nothing secret.
type KeyRewrite struct {
	// Object is the application or service principal, as a Graph path
	// (/applications/{id}, /servicePrincipals/{id}).
	Object string `json:"object"`
	// Remove are the keyIds of the certificates removed.
	Remove []string `json:"remove"`
}

// KeyReader reads an object's keyCredentials with their key material
// (GET {object}?$select=keyCredentials; see KeyRewrite). Each item is the
// keyCredential as Graph returns it, written back as it is.
type KeyReader interface {
	ReadKeyCredentials(ctx context.Context, object string) ([]map[string]any, error)
}

// removeCertificates plans one step per object for the named certificates
// it holds: two PATCHes of one object's keyCredentials in one batch would
// each undo the other's removal. Write, Before and Undo hold the metadata
// Plan has, without key material; the Remediator completes them (complete).
func removeCertificates(set, objectID string, keys []appwarden.Credential, named func(appwarden.Credential) bool) (Step, bool) {
	var remove []string
	var all, kept []map[string]any
	for _, c := range keys {
		m := map[string]any{"keyId": c.KeyID, "displayName": c.DisplayName, "type": c.Type, "usage": c.Usage,
			"startDateTime": c.StartDateTime, "endDateTime": c.EndDateTime}
		all = append(all, m)
		if named(c) {
			remove = append(remove, c.KeyID)
		} else {
			kept = append(kept, m)
		}
	}
	if len(remove) == 0 {
		return Step{}, false
	}
	slices.SortFunc(remove, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	rw := &KeyRewrite{Object: "/" + set + "/" + objectID, Remove: remove}
	s := Step{Kind: appwarden.ActionRemoveCredentials, Target: objectID + "/" + strings.Join(remove, ","), Keys: rw}
	s.fill(all, kept)
	return s, true
}

// fill sets the step's before-state, write and undo from the object's
// keyCredentials (all) and those it keeps.
func (s *Step) fill(all, kept []map[string]any) {
	on := "application"
	if strings.HasPrefix(s.Keys.Object, "/servicePrincipals/") {
		on = "service principal"
	}
	s.Before = map[string]any{"keyCredentials": nonNilMaps(all)}
	s.Write = write("PATCH", s.Keys.Object, map[string]any{"keyCredentials": nonNilMaps(kept)})
	s.Undo = undo("PATCH", s.Keys.Object, map[string]any{"keyCredentials": nonNilMaps(all)})
	s.Note = fmt.Sprintf("certificate (keyId %s) removed from the %s's keyCredentials; release writes it back",
		strings.Join(s.Keys.Remove, ", "), on)
}

// complete reads the object's keyCredentials with their key material and
// rewrites the step from them. It reports false when none of the
// certificates to remove is there any more: nothing left to do.
func (s *Step) complete(ctx context.Context, kr KeyReader) (bool, error) {
	if kr == nil {
		return false, fmt.Errorf("removing certificate %s: the Graph client cannot read keyCredentials with their key (remediate.KeyReader), "+
			"and writing them back without it would lose the app's other certificates", strings.Join(s.Keys.Remove, ", "))
	}
	cur, err := kr.ReadKeyCredentials(ctx, s.Keys.Object)
	if err != nil {
		return false, fmt.Errorf("reading the keyCredentials of %s: %w", s.Keys.Object, err)
	}
	var kept []map[string]any
	var found []string
	for _, k := range cur {
		id, _ := k["keyId"].(string)
		if k["key"] == nil {
			// Written back without it, the certificate would be refused or
			// lost; so would a removed one on release.
			return false, fmt.Errorf("reading the keyCredentials of %s: certificate %s came without its key", s.Keys.Object, cmp.Or(id, "(no keyId)"))
		}
		if slices.ContainsFunc(s.Keys.Remove, func(r string) bool { return strings.EqualFold(r, id) }) {
			found = append(found, id)
			continue
		}
		kept = append(kept, k)
	}
	if len(found) == 0 {
		return false, nil
	}
	keys := *s.Keys
	keys.Remove = found
	s.Keys = &keys
	s.fill(cur, kept)
	return true, nil
}

func nonNilMaps(s []map[string]any) []map[string]any {
	if s == nil {
		return []map[string]any{}
	}
	return s
}

// complete reads the key material of the certificate removals among the
// claims (see KeyRewrite) and records each one's full before-state in its
// claim before anything is written, so that a crash after the write leaves
// a record that release can restore from. A removal whose certificates are
// gone already is given up (nothing to do); one that cannot be read fails,
// so that the event is redelivered, and the other claims go ahead.
func (r *Remediator) complete(ctx context.Context, log *slog.Logger, app *appwarden.App, mine []claim) ([]claim, []error) {
	var out []claim
	var errs []error
	for _, c := range mine {
		if c.step.Keys == nil {
			out = append(out, c)
			continue
		}
		ok, err := c.step.complete(ctx, r.keys())
		if err == nil && ok {
			c.rec.Action = r.action(app, c.step, false)
			c.rec.Undo, c.rec.Note, c.rec.Keys = c.step.Undo, c.step.Note, c.step.Keys
			c.etag, err = r.replace(ctx, app.AppID, c.key, c.etag, c.rec)
		}
		if err != nil || !ok {
			r.unclaim(ctx, log, app, []claim{c})
		}
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s on %s: %w", c.step.Kind, c.step.Target, err))
			log.Error("action failed; the event will be redelivered and the action retried", "event", "action", "action", string(c.step.Kind), "target", c.step.Target, "error", err)
		case !ok:
			log.Info("certificates already removed; nothing to do", "event", "action", "action", string(c.step.Kind), "target", c.step.Target)
		default:
			out = append(out, c)
		}
	}
	return out, errs
}
