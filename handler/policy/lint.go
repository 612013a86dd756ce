package policy

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// lintError is a field reference that can never succeed, at a line within
// the expression.
type lintError struct {
	line int
	msg  string
}

// lintFields finds misspelt field names on app and on the items of its
// lists (app.aplication, p.privilage), which CEL cannot see because app is
// a dynamic map. Uncaught, such a typo makes the rule fail on every app at
// evaluation; caught here, it is a load error with a line. The check follows
// types only where it is sure of them (app's own fields, list elements bound
// by exists/all/filter/map, credentials(), privileged(), cel.bind), and stays
// silent elsewhere, so it never rejects a valid policy.
func lintFields(a *cel.Ast) []lintError {
	native := a.NativeRep()
	l := &fieldLinter{info: native.SourceInfo()}
	l.walk(native.Expr(), map[string]reflect.Type{"app": reflect.TypeOf(appwarden.App{})})
	return l.errs
}

type fieldLinter struct {
	info *ast.SourceInfo
	errs []lintError
}

var domainPkg = reflect.TypeOf(appwarden.App{}).PkgPath()

// walk visits e and returns the Go type of its value when known, else nil.
func (l *fieldLinter) walk(e ast.Expr, scope map[string]reflect.Type) reflect.Type {
	switch e.Kind() {
	case ast.IdentKind:
		return scope[e.AsIdent()]
	case ast.SelectKind:
		s := e.AsSelect()
		st := structOf(l.walk(s.Operand(), scope))
		if st == nil {
			return nil
		}
		ft, ok := jsonField(st, s.FieldName())
		if !ok {
			l.errs = append(l.errs, lintError{
				line: l.info.GetStartLocation(e.ID()).Line(),
				msg:  fmt.Sprintf("no field %q in %s%s", s.FieldName(), st.Name(), suggest(s.FieldName(), jsonFields(st))),
			})
			return nil
		}
		return ft
	case ast.CallKind:
		return l.call(e.AsCall(), scope)
	case ast.ComprehensionKind:
		return l.comprehension(e.AsComprehension(), scope)
	case ast.ListKind:
		for _, el := range e.AsList().Elements() {
			l.walk(el, scope)
		}
	case ast.MapKind:
		for _, en := range e.AsMap().Entries() {
			l.walk(en.AsMapEntry().Key(), scope)
			l.walk(en.AsMapEntry().Value(), scope)
		}
	case ast.StructKind:
		for _, f := range e.AsStruct().Fields() {
			l.walk(f.AsStructField().Value(), scope)
		}
	}
	return nil
}

func (l *fieldLinter) call(c ast.CallExpr, scope map[string]reflect.Type) reflect.Type {
	if c.IsMemberFunction() {
		l.walk(c.Target(), scope)
	}
	args := make([]reflect.Type, len(c.Args()))
	for i, a := range c.Args() {
		args[i] = l.walk(a, scope)
	}
	switch c.FunctionName() {
	case "credentials":
		return reflect.TypeOf([]appwarden.Credential{})
	case "privileged":
		return args[0]
	case "_[_]":
		if args[0] != nil && args[0].Kind() == reflect.Slice {
			return args[0].Elem()
		}
	case "_+_":
		if args[0] != nil && args[0] == args[1] && args[0].Kind() == reflect.Slice {
			return args[0]
		}
	case "_?_:_":
		switch {
		case args[1] == args[2]:
			return args[1]
		case args[1] == nil && isEmptyList(c.Args()[1]):
			return args[2]
		case args[2] == nil && isEmptyList(c.Args()[2]):
			return args[1]
		}
	}
	return nil
}

func (l *fieldLinter) comprehension(c ast.ComprehensionExpr, scope map[string]reflect.Type) reflect.Type {
	rangeT := l.walk(c.IterRange(), scope)
	var elem reflect.Type
	if rangeT != nil && rangeT.Kind() == reflect.Slice {
		elem = rangeT.Elem()
	}
	inner := make(map[string]reflect.Type, len(scope)+3)
	for k, v := range scope {
		inner[k] = v
	}
	if c.HasIterVar2() {
		inner[c.IterVar()] = nil
		inner[c.IterVar2()] = elem
	} else {
		inner[c.IterVar()] = elem
	}
	inner[c.AccuVar()] = l.walk(c.AccuInit(), scope) // cel.bind's variable
	l.walk(c.LoopCondition(), inner)
	l.walk(c.LoopStep(), inner)
	res := l.walk(c.Result(), inner)
	if isFilter(c) {
		return rangeT
	}
	return res
}

// isFilter recognises the expansion of list.filter(x, cond), whose step is
// cond ? accu + [x] : accu, and which keeps the list's element type.
func isFilter(c ast.ComprehensionExpr) bool {
	step := c.LoopStep()
	if step.Kind() != ast.CallKind || step.AsCall().FunctionName() != "_?_:_" || len(step.AsCall().Args()) != 3 {
		return false
	}
	add := step.AsCall().Args()[1]
	if add.Kind() != ast.CallKind || add.AsCall().FunctionName() != "_+_" || len(add.AsCall().Args()) != 2 {
		return false
	}
	lst := add.AsCall().Args()[1]
	if lst.Kind() != ast.ListKind || len(lst.AsList().Elements()) != 1 {
		return false
	}
	el := lst.AsList().Elements()[0]
	return el.Kind() == ast.IdentKind && el.AsIdent() == c.IterVar()
}

func isEmptyList(e ast.Expr) bool {
	return e.Kind() == ast.ListKind && len(e.AsList().Elements()) == 0
}

// structOf returns t's struct type when it is one of the domain types.
func structOf(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct || t.PkgPath() != domainPkg {
		return nil
	}
	return t
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
}

func jsonField(st reflect.Type, name string) (reflect.Type, bool) {
	for i := 0; i < st.NumField(); i++ {
		if f := st.Field(i); f.IsExported() && jsonName(f) == name {
			return f.Type, true
		}
	}
	return nil, false
}

func jsonFields(st reflect.Type) []string {
	var out []string
	for i := 0; i < st.NumField(); i++ {
		if f := st.Field(i); f.IsExported() && jsonName(f) != "-" {
			out = append(out, jsonName(f))
		}
	}
	return out
}
