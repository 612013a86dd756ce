package policy

import (
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"gopkg.in/yaml.v3"
)

// want is what an expression must yield.
type want int

const (
	wantCondition want = iota // a bool, or a list of matched items
	wantList                  // a list of evidence items
	wantBool                  // a bool (escalate.when)
)

var wantText = map[want]string{
	wantCondition: "a bool or a list of matched items",
	wantList:      "a list of evidence items",
	wantBool:      "a bool",
}

// compile parses, type-checks and plans one CEL expression held in the YAML
// node n. Every problem is reported at its own line in the file: CEL's line
// within the expression is added to where the expression starts, which is
// exact for single-line expressions and `|` blocks (use `|` for multi-line
// conditions; `>` folds lines together).
func (l *loader) compile(env *cel.Env, n *yaml.Node, path string, w want) cel.Program {
	n = resolve(n)
	src, ok := l.str(n, path)
	if !ok {
		return nil
	}
	if strings.TrimSpace(src) == "" {
		l.fail(n, path, "empty expression")
		return nil
	}
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		for _, e := range iss.Errors() {
			l.failLine(exprLine(n, e.Location.Line()), path, celMessage(e.Message))
		}
		return nil
	}
	if !yields(ast.OutputType(), w) {
		l.fail(n, path, "must yield %s, but yields %s", wantText[w], ast.OutputType())
		return nil
	}
	for _, e := range lintFields(ast) {
		l.failLine(exprLine(n, e.line), path, e.msg)
	}
	prg, err := env.Program(ast, cel.CostLimit(costLimit))
	if err != nil {
		l.fail(n, path, "cannot plan expression: %v", err)
		return nil
	}
	return prg
}

func (r *nodeReader) failLine(line int, path, msg string) {
	r.errs = append(r.errs, &Error{File: r.file, Line: line, Path: path, Msg: msg})
}

// exprLine maps a 1-based line within an expression to a line in the file.
func exprLine(n *yaml.Node, celLine int) int {
	if celLine < 1 {
		celLine = 1
	}
	switch {
	case n.Style&yaml.LiteralStyle != 0:
		return n.Line + celLine // a | block starts on the next line
	case n.Style&yaml.FoldedStyle != 0:
		return n.Line + 1
	}
	return n.Line + celLine - 1
}

// yields reports whether an expression's static type can satisfy w. dyn is
// accepted (app's fields are dynamic) and checked again at evaluation.
func yields(t *cel.Type, w want) bool {
	switch t.Kind() {
	case types.DynKind, types.AnyKind:
		return true
	case types.BoolKind:
		return w == wantCondition || w == wantBool
	case types.ListKind:
		return w == wantCondition || w == wantList
	}
	return false
}

// celMessage trims CEL's wording that means nothing to a policy author.
func celMessage(msg string) string {
	msg = strings.TrimSuffix(msg, " (in container '')")
	if msg == "invalid duration argument" {
		msg += ": write durations like duration('4320h') (hours, minutes, seconds; no days)"
	}
	return msg
}
