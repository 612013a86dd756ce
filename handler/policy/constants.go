package policy

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// constants are the policy's named lists and durations. They become CEL
// constants, so that rules share one definition (the critical permission
// list is used by two built-in rules) and a team tunes a threshold in one
// place instead of editing expressions.
type constants struct {
	lists     []namedList
	durations []namedDuration
}

type namedList struct {
	name  string
	items []string
}

type namedDuration struct {
	name  string
	value time.Duration
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// reservedNames are CEL keywords and the variables every expression sees.
var reservedNames = map[string]bool{
	"app": true, "now": true, "matched": true,
	"true": true, "false": true, "null": true, "in": true, "as": true, "break": true,
	"const": true, "continue": true, "else": true, "for": true, "function": true,
	"if": true, "import": true, "let": true, "loop": true, "package": true,
	"namespace": true, "return": true, "var": true, "void": true, "while": true,
}

// constName checks a list or duration name. taken holds names already used.
func (l *loader) constName(k *yaml.Node, path string, taken map[string]bool) bool {
	switch {
	case !identifier.MatchString(k.Value):
		l.fail(k, path, "%q is not a valid name (letters, digits and _, not starting with a digit)", k.Value)
	case reservedNames[k.Value]:
		l.fail(k, path, "%q is reserved", k.Value)
	case taken[k.Value]:
		l.fail(k, path, "%q is already the name of a list", k.Value)
	default:
		return true
	}
	return false
}

func (l *loader) lists(n *yaml.Node) []namedList {
	var out []namedList
	for _, e := range l.entries(n, "lists") {
		path := joinPath("lists", e.key.Value)
		if !l.constName(e.key, path, nil) {
			continue
		}
		items := l.strs(e.value, path)
		if items == nil {
			items = []string{}
		}
		out = append(out, namedList{name: e.key.Value, items: items})
	}
	return out
}

func (l *loader) durations(n *yaml.Node, lists []namedList) []namedDuration {
	taken := make(map[string]bool, len(lists))
	for _, nl := range lists {
		taken[nl.name] = true
	}
	var out []namedDuration
	for _, e := range l.entries(n, "durations") {
		path := joinPath("durations", e.key.Value)
		if !l.constName(e.key, path, taken) {
			continue
		}
		s, ok := l.str(e.value, path)
		if !ok {
			continue
		}
		d, err := parseDuration(s)
		if err != nil {
			l.fail(e.value, path, "%v", err)
			continue
		}
		out = append(out, namedDuration{name: e.key.Value, value: d})
	}
	return out
}

// parseDuration reads a duration in Go's (and CEL's) syntax, and says how to
// write days, the unit people reach for first and that neither supports.
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("bad duration %q: write hours, minutes or seconds, e.g. 4320h for 180 days", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("bad duration %q: must not be negative", s)
	}
	return d, nil
}
