package hostemu_test

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// dataKey finds a "Data": key in Go source: in a composite literal
// (map[string]any{"Data": ...}), in a raw string (`{"Data":{...`) or in an
// interpreted one ("{\"Data\":...").
var dataKey = regexp.MustCompile(`\\?"Data\\?"\s*:`)

// description is a "Data": followed by an ellipsis: an error message or a
// usage text naming the envelope's shape, not building one.
var description = regexp.MustCompile(`\\?"Data\\?"\s*:\s*(\{\.\.\.\}|\.\.\.)`)

// handBuilt lists the files allowed to build an invocation body by hand, and
// how many "Data": keys each may hold. Each is a body the host would never
// send, kept raw on purpose and marked "deliberately not host-encoded"; or
// an input that is not a delivery at all.
var handBuilt = map[string]int{
	// Not JSON, Data not an object, missing binding, binding of the wrong
	// type or null, an empty batch, a body over the size limit.
	"handler/functions/server_test.go": 6,
	// Fuzz seeds: malformed bodies.
	"handler/functions/fuzz_test.go": 3,
	// Inputs to `appwarden replay` (a file, not a POST): a missing binding, a
	// malformed event, and the plain-object form replay accepts.
	"handler/cmd/appwarden/replay_test.go": 3,
	// Wrong binding types, invalid UTF-8, a missing binding, non-string
	// messages, bodies over the size limits, nested arrays, an empty batch.
	"tests/e2e/handler_test.go": 9,
	// A body whose Data is a number.
	"tests/faults/faults_test.go": 1,
}

// TestDeliveriesAreHostEncoded fails when a test, the demo or a tool under
// handler/ or tests/ builds a {"Data": ...} invocation body by hand instead
// of through hostemu, which encodes it as the Functions host does. A body
// built by hand is easily one the host never sends (an event as an object,
// messages as an array), and a test that passes on it proves nothing about
// production.
func TestDeliveriesAreHostEncoded(t *testing.T) {
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found at %s: %v", root, err)
	}
	found := map[string]int{}
	for _, dir := range []string{"handler", "tests"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel := filepath.ToSlash(strings.TrimPrefix(path, root+string(filepath.Separator)))
			if d.IsDir() {
				switch d.Name() {
				case "node_modules", "testdata":
					return filepath.SkipDir
				}
				if rel == "handler/functions/hostemu" {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") {
				return nil
			}
			n, lines, err := dataKeys(path)
			if err != nil {
				return err
			}
			if n == 0 {
				return nil
			}
			found[rel] = n
			if allowed, ok := handBuilt[rel]; !ok || n > allowed {
				t.Errorf("%s builds invocation bodies by hand (%d \"Data\": keys, on lines %v; %d allowed): use hostemu (EventGrid, EventHub, Tick, Encode), or, for a body the host would never send, say so and add it to handBuilt", rel, n, lines, allowed)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for rel, allowed := range handBuilt {
		if found[rel] < allowed {
			t.Errorf("handBuilt allows %s %d hand-built bodies, it has %d: lower the count", rel, allowed, found[rel])
		}
	}
}

// dataKeys counts the "Data": keys in a Go file that are not descriptions,
// comment lines aside, and returns the lines that hold them.
func dataKeys(path string) (n int, lines []int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for at := 1; sc.Scan(); at++ {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "//") {
			continue
		}
		if k := len(dataKey.FindAllStringIndex(line, -1)) - len(description.FindAllStringIndex(line, -1)); k > 0 {
			n += k
			lines = append(lines, at)
		}
	}
	return n, lines, sc.Err()
}
