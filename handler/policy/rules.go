package policy

import (
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/appwarden/appwarden/handler/appwarden"
)

var ruleFields = []string{"id", "title", "severity", "condition", "evidence", "escalate", "actions", "mode", "remedy"}

// ruleID keeps ids stable and greppable: lower-case words joined by dashes.
var ruleID = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

func (l *loader) rules(n *yaml.Node) []*rule {
	var out []*rule
	firstLine := map[string]int{}
	for i, item := range l.seq(n, "rules") {
		path := index("rules", i)
		r, idNode := l.rule(item, path)
		if r == nil {
			continue
		}
		if line, dup := firstLine[r.id]; dup {
			l.fail(idNode, path+".id", "repeated rule id %q (first at line %d)", r.id, line)
			continue
		}
		firstLine[r.id] = idNode.Line
		out = append(out, r)
	}
	return out
}

// rule reads one rule. It returns nil when the rule cannot be used at all;
// other problems are recorded and loading fails at the end anyway.
func (l *loader) rule(item *yaml.Node, path string) (*rule, *yaml.Node) {
	m := l.mapping(item, path, ruleFields...)
	if m == nil {
		return nil, nil
	}
	r := &rule{mode: appwarden.ModeAudit}
	idNode := l.required(m, item, path, "id")
	if idNode == nil {
		return nil, nil
	}
	id, ok := l.str(idNode, path+".id")
	switch {
	case !ok:
		return nil, nil
	case !ruleID.MatchString(id):
		l.fail(idNode, path+".id", "%q is not a valid rule id (lower-case words joined by dashes, e.g. my-rule)", id)
	case id == RuleExceptionExpired || id == RuleError:
		l.fail(idNode, path+".id", "%q is reserved for AppWarden's own findings", id)
	}
	r.id = id
	r.title, _ = l.nonEmptyField(m, item, path, "title")
	if n := l.required(m, item, path, "severity"); n != nil {
		r.severity, _ = l.severity(n, path+".severity")
	}
	if n := l.required(m, item, path, "condition"); n != nil {
		r.condition = l.compile(l.env, n, path+".condition", wantCondition)
	}
	if f, ok := m["evidence"]; ok {
		r.evidence = l.compile(l.env, f.value, path+".evidence", wantList)
	}
	if f, ok := m["escalate"]; ok {
		r.escalate = l.escalations(f.value, path+".escalate", r.severity)
	}
	if f, ok := m["actions"]; ok {
		r.actions = l.actions(f.value, path+".actions")
	}
	if f, ok := m["mode"]; ok {
		if s, ok := l.str(f.value, path+".mode"); ok {
			mode, err := appwarden.ParseMode(s)
			if err != nil {
				l.fail(f.value, path+".mode", "%v", err)
			}
			r.mode = mode
		}
	}
	if f, ok := m["remedy"]; ok {
		s, _ := l.str(f.value, path+".remedy")
		r.remedy = unwrap(s)
	}
	return r, idNode
}

func (l *loader) escalations(n *yaml.Node, path string, base appwarden.Severity) []escalation {
	var out []escalation
	for i, item := range l.seq(n, path) {
		p := index(path, i)
		m := l.mapping(item, p, "when", "severity")
		if m == nil {
			continue
		}
		var e escalation
		if sn := l.required(m, item, p, "severity"); sn != nil {
			if s, ok := l.severity(sn, p+".severity"); ok {
				if s <= base {
					l.fail(sn, p+".severity", "%s does not raise the rule's severity (%s)", s, base)
				}
				e.severity = s
			}
		}
		if wn := l.required(m, item, p, "when"); wn != nil {
			e.when = l.compile(l.escEnv, wn, p+".when", wantBool)
		}
		out = append(out, e)
	}
	return out
}

// actions reads action names, which must be appwarden.ActionKinds spelled
// exactly as remediation knows them; a typo is a load error rather than an
// action silently never taken.
func (l *loader) actions(n *yaml.Node, path string) []appwarden.ActionKind {
	names := make([]string, len(appwarden.ActionKinds))
	for i, k := range appwarden.ActionKinds {
		names[i] = string(k)
	}
	var out []appwarden.ActionKind
	for i, item := range l.seq(n, path) {
		s, ok := l.str(item, index(path, i))
		if !ok {
			continue
		}
		if !slices.Contains(names, s) {
			l.fail(item, index(path, i), "unknown action %q%s", s, suggest(s, names))
			continue
		}
		if !slices.Contains(out, appwarden.ActionKind(s)) {
			out = append(out, appwarden.ActionKind(s))
		}
	}
	return out
}

// unwrap joins the lines of a YAML block into paragraphs, so a remedy
// written as a `|` block reads as flowing text in notifications; blank lines
// still separate paragraphs.
func unwrap(s string) string {
	var paras []string
	for _, p := range strings.Split(strings.TrimSpace(s), "\n\n") {
		if p = strings.Join(strings.Fields(p), " "); p != "" {
			paras = append(paras, p)
		}
	}
	return strings.Join(paras, "\n\n")
}
