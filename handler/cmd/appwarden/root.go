package main

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/config"
)

const rootLong = `AppWarden contains risky Entra app registrations. appwarden is its operator
CLI: it judges a tenant or a snapshot, replays an event through the pipeline,
exports snapshots, checks and tests policies, reads and undoes what the
deployed handler did, and runs the demo. The custom handler that the Azure
Functions host runs is a separate program (./handler); it only serves.

Settings come from the environment, as in the deployed function app:
  ` + config.PolicyFile + `       the policy (--policy overrides it)
  ` + config.GraphEndpoint + `    Microsoft Graph (default ` + config.DefaultGraphEndpoint + `)
  ` + config.IdentityEndpoint + `, ` + config.ClientID + `   the managed identity (else DefaultAzureCredential)
  ` + config.Storage + ` (or its __accountName form)   the state store
  ` + config.BreakGlassAppIDs + `, ` + config.ActOnMicrosoftApps + `, ` + config.ActOnManagedIDs + `
  ` + config.MaxActionsPerHour + `, ` + config.SweepLookback + `, ` + config.SweepJudgeAll + `

Exit codes: 0 success, 1 findings at or above --fail-on, 2 usage or runtime error.`

// newRoot builds the command tree. stdin is where --enforce reads its
// confirmation and replay reads "-".
func newRoot(stdin io.Reader) *cobra.Command {
	root := &cobra.Command{
		Use:   "appwarden",
		Short: "AppWarden's operator CLI",
		Long:  rootLong,
		Example: `  appwarden demo
  appwarden scan --tenant snapshot.json --format html > scan.html
  appwarden help scan`,
		Version:       version(),
		SilenceErrors: true, // run prints them, with the usage
		SilenceUsage:  true,
	}
	root.SetVersionTemplate("appwarden {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return err })
	root.AddCommand(
		newScanCmd(stdin),
		newReplayCmd(stdin),
		newSnapshotCmd(),
		newPolicyCmd(),
		newHistoryCmd(),
		newReleaseCmd(),
		newLimitCmd(),
		newFunctionsCmd(),
		newDemoCmd(),
		newVersionCmd(),
	)
	return root
}

// initCompletion adds cobra's completion command (bash, zsh, fish,
// powershell) now rather than when the root executes, so that, like every
// group of ours, it is a usage error without a shell or with an unknown one
// (cobra's own prints its help and exits 0). The scripts are written to the
// root's output as set when it is called.
func initCompletion(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			c.Args = nil // groupRun says what is wrong with them
			c.RunE = groupRun
		}
	}
}

// noArgs refuses positional arguments.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		if cmd.HasSubCommands() {
			return fmt.Errorf("unknown command %q", args[0])
		}
		return fmt.Errorf("unexpected argument %q", args[0])
	}
	return nil
}

// exactArgs wants n positional arguments, described by what.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("want %s, got %d arguments", what, len(args))
		}
		return nil
	}
}

// groupRun is the RunE of a command that only groups subcommands: without
// one (or with an unknown one) it is a usage error; "help" shows the help.
func groupRun(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("missing command (want %s)", strings.Join(subNames(cmd), ", "))
	}
	if args[0] == "help" {
		return cmd.Help()
	}
	return fmt.Errorf("unknown command %q (want %s)", args[0], strings.Join(subNames(cmd), ", "))
}

func subNames(cmd *cobra.Command) []string {
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	return names
}

// version describes this build from its build info: the module version,
// and the VCS revision and time when the build recorded them.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown build)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, at string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if dirty {
			rev += "+dirty"
		}
		v += " commit " + rev
		if at != "" {
			v += " (" + at + ")"
		}
	}
	return v + ", " + bi.GoVersion
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version: module version, commit and time when known, Go version",
		Long:    "Prints appwarden's version, read from the build info: the module version, the\nVCS revision and time when the build recorded them, and the Go version.\nThe same as appwarden --version.",
		Example: "  appwarden version",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "appwarden %s\n", version())
			return nil
		},
	}
}

// ---- flags shared by several commands, each defined once here ----

// failOn is --fail-on: a severity at or above which findings exit 1, or
// none.
type failOn struct {
	sev appwarden.Severity
	on  bool
}

func (f *failOn) String() string {
	if !f.on {
		return "none"
	}
	return f.sev.String()
}

func (f *failOn) Set(s string) error {
	if strings.EqualFold(strings.TrimSpace(s), "none") {
		f.on = false
		return nil
	}
	sev, err := appwarden.ParseSeverity(s)
	if err != nil {
		return fmt.Errorf("%v (or none)", err)
	}
	f.sev, f.on = sev, true
	return nil
}

func (f *failOn) Type() string { return "SEVERITY" }

// fails says whether a worst severity of worst (ok false: no finding)
// exits 1.
func (f *failOn) fails(worst appwarden.Severity, ok bool) bool {
	return f.on && ok && worst >= f.sev
}

// addFailOn defines --fail-on with its default for the command.
func addFailOn(fs *pflag.FlagSet, def string) *failOn {
	f := &failOn{}
	if err := f.Set(def); err != nil {
		panic(err)
	}
	fs.Var(f, "fail-on", "exit 1 when a finding is at or above SEVERITY: info, low, medium, high, critical, or none")
	return f
}

// addPolicy defines --policy.
func addPolicy(fs *pflag.FlagSet) *string {
	return fs.String("policy", "", "policy `FILE` (env "+config.PolicyFile+"; default: the built-in policy)")
}

// addTenant defines --tenant.
func addTenant(fs *pflag.FlagSet) *string {
	return fs.String("tenant", "", "read a snapshot `FILE` (from appwarden snapshot export) instead of the live tenant")
}

// enforceFlags are --enforce and --yes.
type enforceFlags struct{ enforce, yes bool }

func addEnforce(fs *pflag.FlagSet) *enforceFlags {
	e := &enforceFlags{}
	fs.BoolVar(&e.enforce, "enforce", false, "apply the decisions' actions to the tenant (asks to type yes)")
	fs.BoolVar(&e.yes, "yes", false, "with --enforce: do not ask")
	return e
}

// addQuiet defines --quiet.
func addQuiet(fs *pflag.FlagSet) *bool {
	return fs.Bool("quiet", false, "no progress on stderr")
}
