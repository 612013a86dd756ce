// Command appwarden is AppWarden's operator CLI: scan a tenant or a
// snapshot, replay an event through the pipeline, export a snapshot, check
// and test policies, read an app's history, release an app, reset the
// blast-radius limit, list the functions the custom handler serves, and run
// the demo. The custom handler itself (what the Functions host starts) is
// ./handler; both wire AppWarden's stages through package setup.
//
// The commands are built on spf13/cobra: each command and flag is defined
// once, and help, usage errors, --version and shell completion come from it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes, the same for every command.
const (
	exitOK       = 0 // success
	exitFindings = 1 // findings at or above --fail-on
	exitError    = 2 // a usage or runtime error
)

// exitStatus is a command's non-zero exit status, returned (as an error)
// after the command has said why on stderr.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// status turns an exit code into what a command's RunE returns.
func status(code int) error {
	if code == exitOK {
		return nil
	}
	return exitStatus(code)
}

// run runs the CLI with args and returns the process exit code: 0 ok, 1
// findings at or above --fail-on, 2 a usage or runtime error. --help prints
// on stdout and exits 0; a usage error prints on stderr and exits 2.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	root := newRoot(stdin)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	initCompletion(root) // after SetOut: the shells' scripts go where it was
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var es exitStatus
	if errors.As(err, &es) {
		return int(es)
	}
	// A usage error found by cobra (an unknown command or flag, a bad flag
	// value, wrong arguments) or by a command before it started work.
	if cmd == nil {
		cmd = root
	}
	fmt.Fprintf(stderr, "%s: %v\n\n%s", cmd.CommandPath(), err, cmd.UsageString())
	return exitError
}
