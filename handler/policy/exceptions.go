package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/appwarden/appwarden/handler/appwarden"
)

var exceptionFields = []string{"appId", "rules", "reason", "approver", "expires"}

func (l *loader) exceptions(n *yaml.Node, rules []*rule) []exception {
	known := make([]string, len(rules))
	for i, r := range rules {
		known[i] = r.id
	}
	var out []exception
	for i, item := range l.seq(n, "exceptions") {
		path := index("exceptions", i)
		m := l.mapping(item, path, exceptionFields...)
		if m == nil {
			continue
		}
		var e exception
		e.appID, _ = l.nonEmptyField(m, item, path, "appId")
		e.reason, _ = l.nonEmptyField(m, item, path, "reason")
		e.approver, _ = l.nonEmptyField(m, item, path, "approver")
		if rn := l.required(m, item, path, "rules"); rn != nil {
			items := l.seq(rn, path+".rules")
			if rn.Kind == yaml.SequenceNode && len(items) == 0 {
				l.fail(rn, path+".rules", "list at least one rule id")
			}
			for j, idNode := range items {
				id, ok := l.str(idNode, index(path+".rules", j))
				if !ok {
					continue
				}
				if !slices.Contains(known, id) {
					l.fail(idNode, index(path+".rules", j), "no rule %q in this policy%s", id, suggest(id, known))
					continue
				}
				e.rules = append(e.rules, id)
			}
		}
		if xn := l.required(m, item, path, "expires"); xn != nil {
			e.expires, e.until = l.expiry(xn, path+".expires")
		}
		out = append(out, e)
	}
	return out
}

// expiry reads an exception's expiry. A date means "through the end of that
// day, UTC", which is what an approver writing `expires: 2026-12-31` means.
// Every exception must expire: a permanent exception is an allowlist entry,
// and is written as one.
func (l *loader) expiry(n *yaml.Node, path string) (string, time.Time) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" || strings.TrimSpace(n.Value) == "" {
		l.fail(n, path, "missing expiry date (want a date like 2026-12-31)")
		return "", time.Time{}
	}
	until, err := parseExpiry(n.Value)
	if err != nil {
		l.fail(n, path, "%v", err)
	}
	return strings.TrimSpace(n.Value), until
}

func parseExpiry(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		return d.AddDate(0, 0, 1), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("bad expiry date %q (want a date like 2026-12-31, or an RFC 3339 time)", s)
}

// exceptionsFor splits the app's exceptions into the rules an active one
// covers and the exceptions that have expired. Expiry is judged against
// now, so an exception stops applying by itself, with no one editing the
// file.
func (p *Policy) exceptionsFor(appID string, now time.Time) (map[string]bool, []exception) {
	active := map[string]bool{}
	var expired []exception
	appID = strings.TrimSpace(appID)
	for _, e := range p.exceptions {
		if appID == "" || !strings.EqualFold(e.appID, appID) {
			continue
		}
		if now.Before(e.until) {
			for _, id := range e.rules {
				active[id] = true
			}
			continue
		}
		expired = append(expired, e)
	}
	return active, expired
}

func expiredFinding(expired []exception) appwarden.Finding {
	f := appwarden.Finding{
		RuleID:   RuleExceptionExpired,
		Title:    "A policy exception for this app has expired",
		Severity: appwarden.SeverityLow,
		Remedy:   "The rules it covered apply again. Fix what they report, or renew the exception with a new approval and expiry; either way, remove the expired entry from the policy.",
	}
	for _, e := range expired {
		until := e.until
		f.Evidence = append(f.Evidence, appwarden.Evidence{
			Kind:        "exception",
			ID:          e.appID,
			Name:        strings.Join(e.rules, ", "),
			Detail:      fmt.Sprintf("expired %s; approved by %s: %s", e.expires, e.approver, e.reason),
			EndDateTime: &until,
		})
	}
	sortEvidence(f.Evidence)
	return f
}
