// Command handler is AppWarden's Azure Functions custom handler: the
// program `make package` ships and the Functions host starts, with
// FUNCTIONS_CUSTOMHANDLER_PORT set. It only serves. The operator commands
// (scan, replay, snapshot, policy, history, release, limit, functions,
// demo) are the appwarden CLI in ./handler/cmd/appwarden.
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

const usage = `AppWarden's Azure Functions custom handler: contains risky Entra app registrations.

Usage:
  handler          serve as the custom handler (the Functions host starts it,
                   with FUNCTIONS_CUSTOMHANDLER_PORT set)
  handler serve    the same

The operator commands (scan, replay, snapshot, policy, history, release,
limit, functions, demo) are the appwarden CLI:
  go run ./handler/cmd/appwarden --help

Exit codes: 0 stopped cleanly, 2 invalid configuration or a start-up error.
`

// run serves until ctx ends and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (len(args) == 1 && args[0] == "serve") {
		return serve(ctx, stdout, stderr)
	}
	switch args[0] {
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "handler: unexpected argument %q: the custom handler only serves; the operator commands are the appwarden CLI (./handler/cmd/appwarden)\n\n%s", args[0], usage)
	return 2
}
