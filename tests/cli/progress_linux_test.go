//go:build linux

package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY allocates a pseudo-terminal through /dev/ptmx: the master, and the
// slave a child process gets as its terminal.
func openPTY() (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil { // unlockpt
		m.Close()
		return nil, nil, fmt.Errorf("unlockpt: %w", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN) // ptsname
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("ptsname: %w", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return m, s, nil
}

// TestScanProgressBarOnATerminal runs a scan whose stderr is a terminal: the
// progress is a bar redrawn in place, and no plain progress line appears.
// (TestScan5000Apps checks the plain lines on a pipe.)
func TestScanProgressBarOnATerminal(t *testing.T) {
	_, e, snap := big(t)
	master, slave, err := openPTY()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer master.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cliBin, "scan", "--tenant", snap, "--format", "json", "--fail-on", "none")
	cmd.Dir, cmd.Env = repoRoot, cleanEnv()
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close() // the child holds it now; reads end (EIO) when it exits
	var term bytes.Buffer
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(&term, master)
		close(copied)
	}()
	err = cmd.Wait()
	select {
	case <-copied:
	case <-time.After(10 * time.Second):
		t.Fatal("the terminal did not close after the scan ended")
	}
	if err != nil {
		t.Fatalf("scan: %v\n%s", err, term.String())
	}
	out := term.String()
	objects := e.apps + e.applications
	for _, want := range []string{
		"\rscanning [",
		fmt.Sprintf("] 100%%  %d/%d objects  %d apps judged", objects, objects, e.apps),
		"\x1b[K",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the terminal shows no %q", want)
		}
	}
	if strings.Contains(out, "scanned 500 apps") {
		t.Error("plain progress lines on a terminal")
	}
	if !strings.HasPrefix(stdout.String(), `{"summary": `) {
		t.Errorf("stdout (a pipe) is not the JSON report: %.80q", stdout.String())
	}
	if n := strings.Count(out, "\rscanning ["); n < 2 {
		t.Errorf("the bar was drawn %d times; want it redrawn", n)
	}
}
