package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// DefaultArg is the FILE argument that means the built-in policy.
const DefaultArg = "@default"

const usage = `Usage:
  handler policy check FILE
      Validate a policy file. Prints "FILE: ok, N rules", or every error as
      FILE:LINE FIELD: MESSAGE.
  handler policy test FILE --app APP.json [flags]
      Judge one resolved app (appwarden.App as JSON, as AppWarden logs it)
      and print the decision as JSON.
  handler policy defaults
      Print the built-in policy, to read or to start your own from.

FILE is a policy YAML file, or @default for the built-in policy.

Flags for test:
  --app FILE          the app JSON (required)
  --mode MODE         global mode, audit (default) or enforce, as APPWARDEN_MODE
  --now TIME          the decision's time, RFC 3339 (default: the current time)
  --self-app-id ID    AppWarden's own appId, which is never acted on
  --break-glass IDS   comma-separated appIds that are never acted on
  --fail-on SEVERITY  exit 1 when a finding is at or above SEVERITY
                      (info, low, medium, high, critical)

Exit status: 0 on success, 1 for findings at or above --fail-on, 2 on a
usage error or an invalid policy or app.

Examples:
  handler policy defaults > policy.yaml
  handler policy check policy.yaml
  handler policy test policy.yaml --app payroll-sync.json
  handler policy test @default --app payroll-sync.json --mode enforce --now 2026-06-01T00:00:00Z
`

// RunCommand runs `policy` subcommands; args start after the word
// "policy". It is what package main's runPolicy calls, kept here so that
// it is tested with the rest of the package.
func RunCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if err := ctx.Err(); err != nil {
		fmt.Fprintf(stderr, "policy: %v\n", err)
		return 2
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "check":
		return runCheck(args[1:], stdout, stderr)
	case "test":
		return runTest(args[1:], stdout, stderr)
	case "defaults":
		return runDefaults(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "policy: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("check")
	pos, code := parseArgs(fs, args, stdout, stderr)
	if code >= 0 {
		return code
	}
	if len(pos) != 1 {
		return usageError(stderr, "check takes exactly one FILE")
	}
	p, err := loadArg(pos[0])
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	n := len(p.rules)
	fmt.Fprintf(stdout, "%s: ok, %d rule%s\n", pos[0], n, plural(n))
	return 0
}

func runTest(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("test")
	appFile := fs.String("app", "", "")
	mode := fs.String("mode", string(appwarden.ModeAudit), "")
	nowText := fs.String("now", "", "")
	self := fs.String("self-app-id", "", "")
	breakGlass := fs.String("break-glass", "", "")
	failOn := fs.String("fail-on", "", "")
	pos, code := parseArgs(fs, args, stdout, stderr)
	if code >= 0 {
		return code
	}
	if len(pos) != 1 {
		return usageError(stderr, "test takes exactly one FILE")
	}
	if *appFile == "" {
		return usageError(stderr, "test needs --app APP.json")
	}
	env := Env{Now: time.Now().UTC(), Guard: appwarden.Guard{SelfAppID: *self}}
	m, err := appwarden.ParseMode(*mode)
	if err != nil {
		return usageError(stderr, "--mode: "+err.Error())
	}
	env.Mode = m
	if *nowText != "" {
		if env.Now, err = time.Parse(time.RFC3339, *nowText); err != nil {
			return usageError(stderr, fmt.Sprintf("--now: want an RFC 3339 time like 2026-06-01T00:00:00Z, got %q", *nowText))
		}
	}
	var failAt *appwarden.Severity
	if *failOn != "" {
		s, err := appwarden.ParseSeverity(*failOn)
		if err != nil {
			return usageError(stderr, "--fail-on: "+err.Error())
		}
		failAt = &s
	}
	for _, id := range strings.Split(*breakGlass, ",") {
		if id = strings.TrimSpace(id); id != "" {
			env.Guard.BreakGlass = append(env.Guard.BreakGlass, id)
		}
	}
	p, err := loadArg(pos[0])
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	app, err := readApp(*appFile)
	if err != nil {
		fmt.Fprintf(stderr, "policy test: %v\n", err)
		return 2
	}
	d := p.Evaluate(app, env)
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		fmt.Fprintf(stderr, "policy test: encode decision: %v\n", err)
		return 2
	}
	fmt.Fprintf(stdout, "%s\n", out)
	if max, ok := d.MaxSeverity(); ok && failAt != nil && max >= *failAt {
		return 1
	}
	return 0
}

func runDefaults(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("defaults")
	pos, code := parseArgs(fs, args, stdout, stderr)
	if code >= 0 {
		return code
	}
	if len(pos) != 0 {
		return usageError(stderr, "defaults takes no arguments")
	}
	if _, err := stdout.Write(defaultYAML); err != nil {
		fmt.Fprintf(stderr, "policy defaults: %v\n", err)
		return 2
	}
	return 0
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

func loadArg(arg string) (*Policy, error) {
	if arg == DefaultArg {
		return Default()
	}
	return Load(arg)
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("policy "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseArgs parses flags wherever they appear among the positional
// arguments (flag stops at the first one), so both `test FILE --app x` and
// `test --app x FILE` work. code is -1 to go on, else the exit status.
func parseArgs(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (pos []string, code int) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(stdout, usage)
				return nil, 0
			}
			return nil, usageError(stderr, err.Error())
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, -1
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

func usageError(stderr io.Writer, msg string) int {
	fmt.Fprintf(stderr, "policy: %s\nRun 'handler policy --help' for usage.\n", msg)
	return 2
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
