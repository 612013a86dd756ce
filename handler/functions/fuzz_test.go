package functions_test

import (
	"bytes"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzEnvelope pushes arbitrary request bodies through the real handler, for
// each function. With a processor and a poison recorder that never fail,
// every answer must be 200 (a 500 could only come from a recovered panic)
// with the exact reply shape, and poison must keep its errors and a prefix
// of the body. (Long pauses in the fuzzer's progress are its minimizing of
// new inputs, not slow requests.)
func FuzzEnvelope(f *testing.F) {
	err := filepath.WalkDir(testdata, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		rel, _ := filepath.Rel(testdata, p)
		f.Add(fixture(f, rel))
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
	// Seeds deliberately not host-encoded: malformed bodies.
	for _, s := range []string{``, `{}`, `{"Data":null}`, `{"Data":{"event":"[]","records":[""],"timer":{}}}`, `{"Data":{"EVENT":1,"Event":2}}`, `[]`, "\x00\xff"} {
		f.Add([]byte(s))
	}
	h := newHarness(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, fn := range functionSet() {
			before := len(h.poison.got())
			req := httptest.NewRequest(http.MethodPost, "/"+fn.Name, bytes.NewReader(body))
			req.Header.Set("X-Azure-Functions-InvocationId", "fuzz")
			rec := httptest.NewRecorder()
			h.handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("%s: status %d, want 200: %s", fn.Name, rec.Code, rec.Body)
			}
			if _, err := parseReply(rec.Header().Get("Content-Type"), rec.Body.Bytes()); err != nil {
				t.Fatalf("%s: %v", fn.Name, err)
			}
			for _, p := range h.poison.got()[before:] {
				if len(p.Errors) == 0 || p.Function != fn.Name || !strings.HasPrefix(string(body), p.Body) {
					t.Fatalf("%s: poison %+v", fn.Name, p)
				}
			}
		}
		// keep memory flat over a long run
		h.proc.mu.Lock()
		h.proc.signals = nil
		h.proc.mu.Unlock()
		h.poison.mu.Lock()
		h.poison.recorded = nil
		h.poison.mu.Unlock()
	})
}
