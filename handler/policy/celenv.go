package policy

import (
	"fmt"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
)

// costLimit bounds the work one expression may do on one app, so that a
// careless rule (a comprehension nested three deep over a large app) fails
// that rule instead of stalling every decision. Built-in rules use well
// under 1% of it.
const costLimit = 5_000_000

// newEnv is the CEL environment every condition and evidence expression
// compiles in:
//
//   - app: the App's JSON form as a map (every field present, see appValue);
//   - now: the decision's time, a timestamp;
//   - signal: the change being judged (appwarden.Change's JSON form: kind,
//     activity, initiator, at, source, new, since, lazy, and added, the
//     facts it added); for an app judged as a whole, new is true and added
//     holds all its facts;
//   - the policy's lists (list of string) and durations (duration);
//   - the helper functions (see celfuncs.go) and CEL's strings, lists,
//     sets and cel.bind extensions.
//
// Literal durations, timestamps and regular expressions are checked when
// the policy loads, so `duration("180d")` is a load error with a line.
func newEnv(c constants) (*cel.Env, error) {
	opts := []cel.EnvOption{
		cel.Variable("app", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("now", cel.TimestampType),
		cel.Variable("signal", cel.MapType(cel.StringType, cel.DynType)),
		ext.Strings(), ext.Lists(), ext.Sets(), ext.Bindings(),
		cel.ASTValidators(
			cel.ValidateDurationLiterals(),
			cel.ValidateTimestampLiterals(),
			cel.ValidateRegexLiterals(),
		),
	}
	for _, l := range c.lists {
		opts = append(opts, cel.Constant(l.name, cel.ListType(cel.StringType), types.NewStringList(types.DefaultTypeAdapter, l.items)))
	}
	for _, d := range c.durations {
		opts = append(opts, cel.Constant(d.name, cel.DurationType, types.Duration{Duration: d.value}))
	}
	opts = append(opts, functions()...)
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("new CEL environment: %w", err)
	}
	return env, nil
}
