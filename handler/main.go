// Command handler is AppWarden: with no subcommand it serves as the Azure
// Functions custom handler; its subcommands are the operator CLI.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `AppWarden: contains risky Entra app registrations.

Usage:
  handler                 serve as the Azure Functions custom handler (the host starts it)
  handler serve           the same
  handler demo            run the main job locally on embedded defaults (no Azure, no network)
  handler policy ...      check, test or print policies (handler policy --help)
  handler functions       list the functions this handler serves, as JSON (name, binding, trigger)
  handler history ...     print an app's story: signals, decisions, actions, releases
  handler release ...     undo what AppWarden changed on an app
  handler limit reset ... clear the tripped blast-radius limit
  handler scan ...        judge every app of a tenant (or a snapshot) and report; writes nothing unless --enforce
  handler replay EVENT    send one event through the pipeline and show what AppWarden would do
  handler snapshot export write a tenant's apps as a snapshot file (read only)

Exit codes: 0 success, 1 findings at or above --fail-on, 2 usage or runtime error.
`

// run dispatches a subcommand and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return serve(ctx, stdout, stderr)
	}
	switch args[0] {
	case "serve":
		return serve(ctx, stdout, stderr)
	case "functions":
		return printFunctions(stdout)
	case "policy":
		return runPolicy(ctx, args[1:], stdout, stderr)
	case "demo":
		return runDemo(ctx, args[1:], stdout, stderr)
	case "history":
		return runHistory(ctx, args[1:], stdout, stderr)
	case "release":
		return runRelease(ctx, args[1:], stdout, stderr)
	case "limit":
		return runLimit(ctx, args[1:], stdout, stderr)
	case "scan":
		return runScan(ctx, args[1:], stdout, stderr)
	case "replay":
		return runReplay(ctx, args[1:], stdout, stderr)
	case "snapshot":
		return runSnapshot(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "handler: unknown command %q\n\n%s", args[0], usage)
	return 2
}
