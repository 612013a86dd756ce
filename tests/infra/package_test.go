package infra

import (
	"archive/zip"
	"bytes"
	"debug/elf"
	"encoding/json"
	"io"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
)

// TestPackage builds dist/appwarden.zip with `make package` (into a
// temporary DIST) and checks the layout the Functions host needs.
func TestPackage(t *testing.T) {
	root := repoRoot(t)
	dist := builtPackage(t)
	zr, err := zip.OpenReader(filepath.Join(dist, "appwarden.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()

	entries := map[string]*zip.File{}
	var names []string
	for _, f := range zr.File {
		if _, dup := entries[f.Name]; dup {
			t.Errorf("zip has %s twice", f.Name)
		}
		entries[f.Name] = f
		names = append(names, f.Name)
		if strings.HasPrefix(f.Name, "/") || strings.Contains(f.Name, "..") || strings.Contains(f.Name, `\`) {
			t.Errorf("zip entry %q is not a plain relative path", f.Name)
		}
	}
	sort.Strings(names)
	t.Logf("zip entries: %v", names)

	read := func(name string) []byte {
		t.Helper()
		f, ok := entries[name]
		if !ok {
			t.Fatalf("zip has no %s (entries: %v)", name, names)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	// host.json at the root, naming the handler.
	host := read("host.json")
	if !bytes.Equal(host, []byte(readFile(t, filepath.Join(root, "host.json")))) {
		t.Error("host.json in the zip differs from the repository's")
	}
	var hostDoc struct {
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
		} `json:"customHandler"`
	}
	if err := json.Unmarshal(host, &hostDoc); err != nil {
		t.Fatalf("host.json: %v", err)
	}
	exe := hostDoc.CustomHandler.Description.DefaultExecutablePath
	if exe != "handler" {
		t.Fatalf("defaultExecutablePath = %q, want handler", exe)
	}

	// One folder per function, function.json identical to function-app's.
	want := map[string]bool{"host.json": true, exe: true}
	for _, fn := range functionJSONs(t, root) {
		name := fn.name + "/function.json"
		want[name] = true
		want[fn.name+"/"] = true
		if got := read(name); !bytes.Equal(got, fn.raw) {
			t.Errorf("%s in the zip differs from function-app/%s", name, name)
		}
	}
	for _, n := range names {
		if !want[n] && n != "policy.yaml" {
			t.Errorf("unexpected zip entry %s", n)
		}
	}

	// The handler keeps its exec bit (Unix mode in the external attributes).
	hf := entries[exe]
	if hf == nil {
		t.Fatalf("zip has no %s", exe)
	}
	if hf.CreatorVersion>>8 != 3 {
		t.Errorf("%s: creator OS %d, want 3 (Unix), or the mode bits are ignored", exe, hf.CreatorVersion>>8)
	}
	if perm := hf.Mode().Perm(); perm != 0o755 {
		t.Errorf("%s: mode %o, want 755", exe, perm)
	}
	if !hf.Mode().IsRegular() {
		t.Errorf("%s: mode %v is not a regular file", exe, hf.Mode())
	}
	if perm := entries["host.json"].Mode().Perm(); perm != 0o644 {
		t.Errorf("host.json: mode %o, want 644", perm)
	}

	// A static linux/amd64 ELF: no interpreter, no dynamic section.
	bin := read(exe)
	ef, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("%s is not an ELF file: %v", exe, err)
	}
	defer ef.Close()
	if ef.Class != elf.ELFCLASS64 || ef.Machine != elf.EM_X86_64 || ef.OSABI != elf.ELFOSABI_NONE && ef.OSABI != elf.ELFOSABI_LINUX {
		t.Errorf("%s: class %v machine %v OS ABI %v, want ELFCLASS64 EM_X86_64 Linux", exe, ef.Class, ef.Machine, ef.OSABI)
	}
	if ef.Type != elf.ET_EXEC {
		t.Errorf("%s: ELF type %v, want ET_EXEC (a static executable)", exe, ef.Type)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s has a %v program header: it is dynamically linked (CGO_ENABLED=0?)", exe, p.Type)
		}
	}
	for _, s := range []string{".interp", ".dynamic"} {
		if ef.Section(s) != nil {
			t.Errorf("%s has a %s section: it is dynamically linked", exe, s)
		}
	}
	if ef.Section(".symtab") != nil {
		t.Errorf("%s has a symbol table: built without -ldflags='-s -w'", exe)
	}
}

// TestHandlerServesOnly: the custom handler that `make package` ships
// links no operator tooling: not the Graph stand-in, not the demo (which
// starts a browser), not the CLI library. Those are the appwarden CLI's.
func TestHandlerServesOnly(t *testing.T) {
	root := repoRoot(t)
	out, err := run(t, root, nil, "go", "list", "-deps", "./handler")
	if err != nil {
		t.Fatalf("go list -deps ./handler: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(out) {
		for _, banned := range []string{"github.com/appwarden/appwarden/handler/fakegraph", "github.com/appwarden/appwarden/handler/demo",
			"github.com/appwarden/appwarden/handler/cmd/", "github.com/spf13/cobra", "github.com/spf13/pflag"} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") || (strings.HasSuffix(banned, "/") && strings.HasPrefix(dep, banned)) {
				t.Errorf("the handler links %s", dep)
			}
		}
	}
	// The packaged handler refuses operator commands: it only serves.
	bin := filepath.Join(builtPackage(t), "package", "handler")
	if runtime.GOOS == "linux" && runtime.GOARCH == "amd64" {
		out, err := run(t, root, nil, bin, "functions")
		if err == nil || !strings.Contains(out, "appwarden CLI") {
			t.Errorf("handler functions: %v\n%s", err, out)
		}
	}
}
