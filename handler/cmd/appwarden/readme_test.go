package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// readme is the repository's README, from this package's folder.
const readme = "../../../README.md"

// readmeExamples returns the README's command lines: those of its fenced
// blocks that run appwarden (as `go run ./handler/cmd/appwarden`, dist/ or
// by name; shell comments cut off), and its inline mentions of a command,
// `appwarden ...` in backquotes, which may use placeholders (<appId>, FILE,
// [--json], a|b).
func readmeExamples(t *testing.T) (fenced, inline []string) {
	t.Helper()
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	prog := regexp.MustCompile(`(^|\s)(go run \./handler/cmd/appwarden|dist/appwarden)(\s|$)`)
	comment := regexp.MustCompile(`\s+#.*$`)
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			in = !in
			continue
		}
		if in {
			line = comment.ReplaceAllString(line, "")
			line = strings.TrimSpace(prog.ReplaceAllString(line, "${1}appwarden${3}"))
			if strings.HasPrefix(line, "appwarden ") || strings.Contains(line, "| appwarden ") {
				fenced = append(fenced, line)
			}
			continue
		}
		for _, m := range regexp.MustCompile("`(appwarden [^`]*)`").FindAllStringSubmatch(line, -1) {
			inline = append(inline, strings.ReplaceAll(m[1], `\|`, "|"))
		}
	}
	return fenced, inline
}

// TestReadmeExamples runs every appwarden command line of the README's
// fenced blocks as TestEveryExample runs the help's (one the help also
// documents is run there, not again), and checks every inline mention:
// its commands exist, each alternative of a|b|c that names commands too,
// and so does every --flag it gives them.
func TestReadmeExamples(t *testing.T) {
	fenced, inline := readmeExamples(t)
	if len(fenced) < 4 || len(inline) < 15 {
		t.Fatalf("found %d fenced and %d inline appwarden commands in %s; the README has more", len(fenced), len(inline), readme)
	}

	helpExamples := map[string]bool{}
	for _, c := range allCommands() {
		for _, line := range strings.Split(c.Example, "\n") {
			helpExamples[strings.TrimSpace(line)] = true
		}
	}
	w := newExampleWorld(t)
	if err := os.MkdirAll(filepath.Join(w.dir, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	w.files["app.json"] = w.files["payroll-sync.json"]
	for _, line := range fenced {
		if helpExamples[line] {
			t.Logf("README example %q: run by TestEveryExample", line)
			continue
		}
		if runExampleLine(t, w, line) == 0 {
			t.Errorf("README example %q runs no appwarden command", line)
		}
	}

	root := newRoot(nil)
	root.InitDefaultHelpCmd()
	initCompletion(root)
	root.InitDefaultHelpFlag()
	root.InitDefaultVersionFlag()
	for _, mention := range inline {
		checkMention(t, root, mention)
	}
}

// checkMention checks one inline mention of a command (see
// TestReadmeExamples).
func checkMention(t *testing.T, root *cobra.Command, mention string) {
	t.Helper()
	cmd := root
	words := shellWords(strings.NewReplacer("[", " ", "]", " ").Replace(mention))[1:]
	path := true // still reading the command's path
	for _, word := range words {
		switch {
		case word == "..." || word == ">" || word == "|":
			path = false
		case strings.HasPrefix(word, "--"):
			path = false
			name, _, _ := strings.Cut(strings.TrimPrefix(word, "--"), "=")
			if cmd.Flags().Lookup(name) == nil && cmd.InheritedFlags().Lookup(name) == nil {
				t.Errorf("README mentions `%s`: %q has no flag --%s", mention, cmd.CommandPath(), name)
			}
		case path && strings.Contains(word, "|"):
			for _, alt := range strings.Split(word, "|") {
				if sub := subcommand(cmd, alt); sub == nil {
					t.Errorf("README mentions `%s`: %q has no command %q", mention, cmd.CommandPath(), alt)
				}
			}
			path = false
		case path:
			sub := subcommand(cmd, word)
			if sub == nil {
				if cmd.HasAvailableSubCommands() {
					t.Errorf("README mentions `%s`: %q has no command %q", mention, cmd.CommandPath(), word)
				}
				path = false // an argument (FILE, EVENT.json, @default)
				continue
			}
			cmd = sub
		}
	}
}

func subcommand(c *cobra.Command, name string) *cobra.Command {
	for _, sub := range c.Commands() {
		if sub.Name() == name || sub.HasAlias(name) {
			return sub
		}
	}
	return nil
}
