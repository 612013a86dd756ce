package policy

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// nodeReader walks a yaml.Node tree by hand rather than decoding into
// structs, because that is the only way to keep a line number for every
// field and to report every unknown or mistyped field, with its path, in one
// pass.
type nodeReader struct {
	file string
	errs Errors
}

// fail records a problem at n (which may be nil when there is no better
// place than the file itself).
func (r *nodeReader) fail(n *yaml.Node, path, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	r.errs = append(r.errs, &Error{File: r.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// resolve follows an alias (a YAML *anchor reference) to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

// field is one entry of a mapping: the key's node (for its line) and the value.
type field struct {
	key   *yaml.Node
	value *yaml.Node
}

// mapping reads a mapping node whose keys must all be among allowed.
// Unknown and repeated keys are reported with their own line; the result
// holds the known keys only.
func (r *nodeReader) mapping(n *yaml.Node, path string, allowed ...string) map[string]field {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		r.fail(n, path, "want a mapping, got %s", kindName(n))
		return nil
	}
	known := make(map[string]bool, len(allowed))
	for _, a := range allowed {
		known[a] = true
	}
	out := make(map[string]field)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := k.Value
		p := joinPath(path, name)
		switch {
		case k.Kind != yaml.ScalarNode:
			r.fail(k, path, "keys must be plain names")
		case !known[name]:
			r.fail(k, p, "unknown field%s", suggest(name, allowed))
		case out[name].key != nil:
			r.fail(k, p, "repeated field (first at line %d)", out[name].key.Line)
		default:
			out[name] = field{key: k, value: v}
		}
	}
	return out
}

// entries reads a mapping whose keys are free-form names (lists:,
// durations:), in file order.
func (r *nodeReader) entries(n *yaml.Node, path string) []field {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		r.fail(n, path, "want a mapping, got %s", kindName(n))
		return nil
	}
	seen := make(map[string]int)
	var out []field
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if first, dup := seen[k.Value]; dup {
			r.fail(k, joinPath(path, k.Value), "repeated name (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, field{key: k, value: v})
	}
	return out
}

// required returns m[name]'s value, reporting it missing at the mapping's line.
func (r *nodeReader) required(m map[string]field, owner *yaml.Node, path, name string) *yaml.Node {
	f, ok := m[name]
	if !ok {
		r.fail(owner, joinPath(path, name), "required field is missing")
		return nil
	}
	return f.value
}

// str reads a scalar as a string.
func (r *nodeReader) str(n *yaml.Node, path string) (string, bool) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		r.fail(n, path, "want a string, got %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

// nonEmpty reads a scalar that must not be blank.
func (r *nodeReader) nonEmpty(n *yaml.Node, path string) (string, bool) {
	s, ok := r.str(n, path)
	if ok && strings.TrimSpace(s) == "" {
		r.fail(n, path, "must not be empty")
		return "", false
	}
	return strings.TrimSpace(s), ok
}

// seq reads a sequence node's items.
func (r *nodeReader) seq(n *yaml.Node, path string) []*yaml.Node {
	n = resolve(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		r.fail(n, path, "want a list, got %s", kindName(n))
		return nil
	}
	return n.Content
}

// strs reads a sequence of strings.
func (r *nodeReader) strs(n *yaml.Node, path string) []string {
	var out []string
	for i, item := range r.seq(n, path) {
		if s, ok := r.nonEmpty(item, index(path, i)); ok {
			out = append(out, s)
		}
	}
	return out
}

func kindName(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// suggest names the closest allowed field, to turn a typo into a one-glance fix.
func suggest(name string, allowed []string) string {
	best, bestDist := "", 3
	for _, a := range allowed {
		if d := editDistance(strings.ToLower(name), strings.ToLower(a)); d < bestDist {
			best, bestDist = a, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %s?)", best)
	}
	sorted := append([]string(nil), allowed...)
	sort.Strings(sorted)
	return " (want one of " + strings.Join(sorted, ", ") + ")"
}

// editDistance is the Levenshtein distance between two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
