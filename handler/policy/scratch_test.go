package policy

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
)

func TestScratch(t *testing.T) {
	env, err := cel.NewEnv(
		cel.Variable("app", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("now", cel.TimestampType),
		cel.Constant("crit", cel.ListType(cel.StringType), types.NewStringList(types.DefaultTypeAdapter, []string{"A", "B"})),
		ext.Strings(), ext.Bindings(), ext.Lists(), ext.Sets(),
		cel.ASTValidators(cel.ValidateDurationLiterals(), cel.ValidateRegexLiterals(), cel.ValidateTimestampLiterals()),
	)
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{
		"ap.x",
		"app.permissions.filter(p, p.name in crit)",
		"app.x + 1",
		"duration('180d') > duration('1h')",
		"'a'.matches('[')",
		"app.permissions.size() > 0\n  && ap",
		"1 + 'a'",
		"app.application == null ? [] : app.application.x",
		"app.foo",
		"now - app.t > duration('1h')",
	} {
		ast, iss := env.Compile(src)
		if iss.Err() != nil {
			for _, e := range iss.Errors() {
				fmt.Printf("ERR %q: line %d col %d: %s\n", src, e.Location.Line(), e.Location.Column(), e.Message)
			}
			fmt.Println("STR:", iss.String())
			continue
		}
		fmt.Printf("OK %q -> %v\n", src, ast.OutputType())
		prg, err := env.Program(ast, cel.CostLimit(1000000))
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := prg.Eval(map[string]any{"now": time.Now(), "app": map[string]any{
			"permissions": []any{map[string]any{"name": "A"}, map[string]any{"name": "C"}},
			"application": nil, "t": time.Time{},
		}})
		fmt.Printf("   = %v (%T) err=%v\n", out, out, err)
	}
}
