package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/appwarden/appwarden/handler/demo"
	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/policy"
)

// allCommands is every command of the tree, cobra's own (help, completion
// and its shells) included, parents before children.
func allCommands() []*cobra.Command {
	root := newRoot(nil)
	root.InitDefaultHelpCmd()
	initCompletion(root)
	var out []*cobra.Command
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		out = append(out, c)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return out
}

// words is a command's path without the program's name.
func words(c *cobra.Command) []string {
	return strings.Fields(c.CommandPath())[1:]
}

// generated says whether cobra made the command (help, completion).
func generated(c *cobra.Command) bool {
	w := words(c)
	return len(w) > 0 && (w[0] == "help" || w[0] == "completion")
}

// TestEveryHelp runs --help and -h of every command: exit 0, the help on
// stdout, nothing on stderr. Every command of ours documents examples, and
// settings it also reads from the environment name their variable.
func TestEveryHelp(t *testing.T) {
	cmds := allCommands()
	if len(cmds) < 20 {
		t.Fatalf("only %d commands found", len(cmds))
	}
	for _, c := range cmds {
		for _, flag := range []string{"--help", "-h"} {
			args := append(words(c), flag)
			code, out, errOut := runCLI(args...)
			about, _, _ := strings.Cut(c.Long+"\n", "\n")
			if c.Long == "" {
				about = c.Short
			}
			if code != 0 || errOut != "" || !strings.Contains(out, "Usage:") || !strings.Contains(out, about) {
				t.Errorf("appwarden %s: exit %d, stderr %q, stdout:\n%s", strings.Join(args, " "), code, errOut, out)
			}
		}
		if generated(c) {
			continue
		}
		if c.Example == "" || c.Short == "" || c.Long == "" {
			t.Errorf("appwarden %s: wants Short, Long and Example", strings.Join(words(c), " "))
		}
		if f := c.Flags().Lookup("policy"); f != nil && !strings.Contains(f.Usage, "env APPWARDEN_POLICY_FILE") {
			t.Errorf("appwarden %s --policy does not name its variable: %q", strings.Join(words(c), " "), f.Usage)
		}
	}
}

// TestVersionAndCompletion: --version and version read the build info;
// completion scripts for the four shells.
func TestVersionAndCompletion(t *testing.T) {
	code, v1, _ := runCLI("--version")
	_, v2, _ := runCLI("version")
	if code != 0 || !strings.HasPrefix(v1, "appwarden ") || v1 != v2 || !strings.Contains(v1, "go1.") {
		t.Errorf("--version %q, version %q", v1, v2)
	}
	for shell, want := range map[string]string{"bash": "complete -o default", "zsh": "#compdef appwarden", "fish": "complete -c appwarden", "powershell": "Register-ArgumentCompleter"} {
		code, out, errOut := runCLI("completion", shell)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("completion %s: exit %d, %q; stdout lacks %q", shell, code, errOut, want)
		}
	}
}

// TestUsageErrorsExit2 checks that every kind of usage error exits 2 with
// the message and the usage on stderr, and nothing on stdout.
func TestUsageErrorsExit2(t *testing.T) {
	cliEnv(t)
	for _, args := range [][]string{
		{"bogus"},
		{"scan", "--bogus"},
		{"scan", "--fail-on", "severe"},
		{"scan", "extra"},
		{"replay", "--parallel", "2", "x.json"},
		{"history"},
		{"history", "--app", ""},
		{"release", "--app", "x", "--by", "y"},
		{"limit"},
		{"limit", "set"},
		{"limit", "reset"},
		{"functions", "extra"},
		{"demo", "--mode", "chaos"},
		{"version", "extra"},
		{"snapshot", "export", "--parallel", "many"},
		{"completion"},
		{"completion", "tcsh"},
		{"completion", "bash", "extra"},
	} {
		code, out, errOut := runCLI(args...)
		if code != 2 || out != "" || !strings.Contains(errOut, "appwarden") || !strings.Contains(errOut, "Usage:") {
			t.Errorf("%v: exit %d\nstdout %q\nstderr %q", args, code, out, errOut)
		}
	}
}

// exampleWorld is what the documented examples run against: the demo
// tenant, served by the Graph stand-in as "the live tenant" (through the
// managed identity, as in Azure) and saved as a snapshot, and the files
// the examples name.
type exampleWorld struct {
	files map[string]string // a file an example names → a file of the test
	env   map[string]string // the stand-in as the live tenant
	dir   string
}

// setEnv (re)sets the environment the examples run in: the demo sets the
// managed identity variables of its own stand-in, process-wide.
func (w *exampleWorld) setEnv(t *testing.T) {
	for k, v := range w.env {
		t.Setenv(k, v)
	}
}

func newExampleWorld(t *testing.T) *exampleWorld {
	t.Helper()
	cliEnv(t)
	tenant, _ := demo.Build(time.Now().UTC())
	srv, err := fakegraph.Start(tenant)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	dir := t.TempDir()
	w := &exampleWorld{dir: dir, files: map[string]string{}, env: map[string]string{
		"IDENTITY_ENDPOINT":        srv.TokenURL(),
		"IDENTITY_HEADER":          srv.IdentityHeader(),
		"APPWARDEN_GRAPH_ENDPOINT": srv.URL(),
		"AZURE_CLIENT_ID":          demo.SelfAppID,
		"PATH":                     os.Getenv("PATH"),
	}}
	w.files["snapshot.json"] = demoSnapshot(t)
	pol := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(pol, policy.DefaultYAML(), 0o600); err != nil {
		t.Fatal(err)
	}
	w.files["policy.yaml"], w.files["my-policy.yaml"] = pol, pol
	w.files["payroll-sync.json"] = writeJSON(t, dir, "payroll-sync.json", payrollSync())
	event := "../../../tests/testdata/eventhub/directoryaudit-add-application.json"
	w.files["event.json"], w.files["record.json"] = event, event
	return w
}

// path maps a file an example names to the test's own.
func (w *exampleWorld) path(name string) string {
	if p, ok := w.files[name]; ok {
		return p
	}
	if strings.HasPrefix(name, "tests/testdata/") {
		return "../../../" + name
	}
	// An output the example writes (scan.html, gov.json, a folder).
	return filepath.Join(w.dir, "out", strings.Trim(filepath.Base(name), "/"))
}

// fileArg says whether an argument names a file or folder.
var fileArg = regexp.MustCompile(`^(/|tests/)|\.(json|yaml|html|csv|md|txt)$`)

// shellWords splits a command line as a shell would, for the quoting the
// examples use.
func shellWords(s string) []string {
	var out []string
	var cur strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			cur.WriteByte(c)
		case c == '"' || c == '\'':
			quote, in = c, true
		case c == ' ':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

// TestEveryExample runs every example that the commands' help documents,
// against the demo tenant: served by the Graph stand-in as the live tenant,
// or as a snapshot file. Each must parse and run: exit 0, or 1 for
// findings at or above --fail-on. Shell around them is honoured where it
// matters: `> FILE` writes stdout to the file, `cat FILE |` feeds stdin,
// `&&` runs in order; other programs (jq) are not run, and an environment
// assignment before the command is not applied (the stand-in is the
// Graph endpoint). --enforce is confirmed with yes.
func TestEveryExample(t *testing.T) {
	w := newExampleWorld(t)
	if err := os.MkdirAll(filepath.Join(w.dir, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, c := range allCommands() {
		for _, line := range strings.Split(c.Example, "\n") {
			ran += runExampleLine(t, w, line)
		}
	}
	if ran < 25 {
		t.Errorf("ran %d examples; the help documents more", ran)
	}
}

// runExampleLine runs the appwarden commands of one example line (see
// TestEveryExample) and returns how many it ran.
func runExampleLine(t *testing.T, w *exampleWorld, line string) int {
	t.Helper()
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return 0
	}
	ran := 0
	for _, seg := range strings.Split(line, "&&") {
		var stdinFile string
		parts := strings.Split(seg, "|")
		for i, part := range parts {
			args := shellWords(part)
			if len(args) > 1 && args[0] == "cat" && i == 0 {
				stdinFile = w.path(args[1])
				continue
			}
			for len(args) > 0 && envAssign.MatchString(args[0]) {
				args = args[1:]
			}
			if len(args) == 0 || args[0] != "appwarden" {
				continue // jq and the like
			}
			ran++
			runExample(t, w, line, args[1:], stdinFile)
		}
	}
	return ran
}

// envAssign is an environment assignment before a command.
var envAssign = regexp.MustCompile(`^[A-Z_]+=`)

func runExample(t *testing.T, w *exampleWorld, line string, args []string, stdinFile string) {
	t.Helper()
	var redirect string
	var argv []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == ">" && i+1 < len(args):
			redirect = w.path(args[i+1])
			i++
		case fileArg.MatchString(a):
			argv = append(argv, w.path(a))
		default:
			argv = append(argv, a)
		}
	}
	in := "yes\n" // confirms --enforce
	if stdinFile != "" {
		b, err := os.ReadFile(stdinFile)
		if err != nil {
			t.Fatal(err)
		}
		in = string(b)
	}
	w.setEnv(t)
	if len(argv) > 0 && argv[0] == "demo" {
		// No Chromium: the cards stay JSON (tests/render renders them).
		t.Setenv("PATH", "")
	}
	var o, e bytes.Buffer
	code := run(context.Background(), argv, strings.NewReader(in), &o, &e)
	if code != 0 && code != 1 {
		t.Errorf("example %q (run as %q): exit %d\nstdout:\n%s\nstderr:\n%s", line, argv, code, o.String(), e.String())
		return
	}
	if redirect != "" {
		if err := os.WriteFile(redirect, o.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("example %q: exit %d", line, code)
}
