package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/appwarden/appwarden/handler/setup"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/config"
	"github.com/appwarden/appwarden/handler/policy"
)

// defaultArg is the FILE argument that means the built-in policy.
const defaultArg = "@default"

const policyFileHelp = `FILE is a policy YAML file, or ` + defaultArg + ` for the built-in policy. The
deployed handler reads its policy from ` + config.PolicyFile + ` (the built-in one
when unset); these commands take the FILE as an argument.`

func newPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Check, test or print policies",
		Long: `Policies as code: check a policy file, judge one app with it, or print the
built-in policy.

` + policyFileHelp + `

Exit codes: 0 success, 1 findings at or above --fail-on (policy test), 2 a
usage error or an invalid policy or app.`,
		Example: `  appwarden policy defaults > policy.yaml
  appwarden policy check policy.yaml
  appwarden policy test policy.yaml --app payroll-sync.json`,
		RunE: groupRun,
	}
	cmd.AddCommand(newPolicyCheckCmd(), newPolicyTestCmd(), newPolicyDefaultsCmd())
	return cmd
}

func newPolicyCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a policy file",
		Long: `Validates a policy file. Prints "FILE: ok, N rules", or every error as
FILE:LINE FIELD: MESSAGE on stderr (exit 2).

` + policyFileHelp,
		Example: `  appwarden policy check policy.yaml
  appwarden policy check @default`,
		Args: exactArgs(1, "exactly one FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := loadPolicyArg(args[0])
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return status(exitError)
			}
			n := len(p.RuleIDs())
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok, %d rule%s\n", args[0], n, plural(n))
			return nil
		},
	}
}

// policyTestOptions are policy test's flags.
type policyTestOptions struct {
	app, mode, now, self, breakGlass string
	failOn                           *failOn
}

func newPolicyTestCmd() *cobra.Command {
	var o policyTestOptions
	cmd := &cobra.Command{
		Use:   "test FILE --app APP.json",
		Short: "Judge one resolved app and print the decision as JSON",
		Long: `Judges one resolved app (appwarden.App as JSON, as AppWarden logs it and as
appwarden replay --format json prints it) with a policy, and prints the
decision as JSON. Unknown fields in the app are errors.

` + policyFileHelp + `

Exit codes: 0 success, 1 findings at or above --fail-on (default none: never),
2 a usage error or an invalid policy or app.`,
		Example: `  appwarden policy test policy.yaml --app payroll-sync.json
  appwarden policy test @default --app payroll-sync.json --mode enforce --now 2026-06-01T00:00:00Z`,
		Args: exactArgs(1, "exactly one FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPolicyTest(o, args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.app, "app", "", "the app JSON `FILE` (required)")
	_ = cmd.MarkFlagRequired("app")
	fs.StringVar(&o.mode, "mode", string(appwarden.ModeAudit), "global `MODE`, audit or enforce, as "+config.ModeSetting+" sets it for the handler")
	fs.StringVar(&o.now, "now", "", "the decision's `TIME`, RFC 3339 (default: the current time)")
	fs.StringVar(&o.self, "self-app-id", "", "AppWarden's own `APPID`, which is never acted on (the handler's "+config.ClientID+")")
	fs.StringVar(&o.breakGlass, "break-glass", "", "comma-separated `APPIDS` that are never acted on (the handler's "+config.BreakGlassAppIDs+")")
	o.failOn = addFailOn(fs, "none")
	return cmd
}

func runPolicyTest(o policyTestOptions, file string, stdout, stderr io.Writer) error {
	if o.app == "" {
		return fmt.Errorf("test needs --app APP.json")
	}
	env := policy.Env{Now: time.Now().UTC(), Guard: appwarden.Guard{SelfAppID: o.self}}
	m, err := appwarden.ParseMode(o.mode)
	if err != nil {
		return fmt.Errorf("--mode: %v", err)
	}
	env.Mode = m
	if o.now != "" {
		if env.Now, err = time.Parse(time.RFC3339, o.now); err != nil {
			return fmt.Errorf("--now: want an RFC 3339 time like 2026-06-01T00:00:00Z, got %q", o.now)
		}
	}
	for _, id := range strings.Split(o.breakGlass, ",") {
		if id = strings.TrimSpace(id); id != "" {
			env.Guard.BreakGlass = append(env.Guard.BreakGlass, id)
		}
	}
	p, err := loadPolicyArg(file)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return status(exitError)
	}
	app, err := readApp(o.app)
	if err != nil {
		fmt.Fprintf(stderr, "appwarden policy test: %v\n", err)
		return status(exitError)
	}
	d := p.Evaluate(app, env)
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		fmt.Fprintf(stderr, "appwarden policy test: encode decision: %v\n", err)
		return status(exitError)
	}
	fmt.Fprintf(stdout, "%s\n", out)
	if o.failOn.fails(d.MaxSeverity()) {
		return status(exitFindings)
	}
	return nil
}

func newPolicyDefaultsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "defaults",
		Short: "Print the built-in policy",
		Long: `Prints the built-in policy (the one the handler runs when ` + config.PolicyFile + `
is unset), to read or to start your own from.`,
		Example: `  appwarden policy defaults > policy.yaml`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := cmd.OutOrStdout().Write(policy.DefaultYAML()); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "appwarden policy defaults: %v\n", err)
				return status(exitError)
			}
			return nil
		},
	}
}

// loadPolicyArg loads FILE, or the built-in policy for @default.
func loadPolicyArg(arg string) (*policy.Policy, error) {
	if arg == defaultArg {
		return policy.Default()
	}
	return setup.ReadPolicy(arg)
}

// readApp reads an appwarden.App from JSON, refusing unknown fields so a
// misspelt field in a hand-written test app is an error, not a silently
// empty value.
func readApp(path string) (*appwarden.App, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read app: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var app appwarden.App
	if err := dec.Decode(&app); err != nil {
		return nil, fmt.Errorf("read app %s: %w", path, err)
	}
	return &app, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
