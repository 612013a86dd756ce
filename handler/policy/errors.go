package policy

import (
	"fmt"
	"strings"
)

// Error is one problem in a policy file, located precisely enough for a
// person to fix it without guessing: file, line and the field's path, as in
// `policy.yaml:14 rules[2].condition: undeclared reference to 'ap'`.
type Error struct {
	File string
	Line int // 1-based; 0 when the problem has no line (an empty file)
	// Path is the field's path from the document root, e.g. rules[2].condition.
	Path string
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Path != "" {
		b.WriteString(" ")
		b.WriteString(e.Path)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found while loading one policy. Loading reports
// them all at once, so that a user fixes a file in one pass.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find each *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}
