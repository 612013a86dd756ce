package ci

import (
	"errors"
	"testing"
)

// recorder is a testing.TB that records Fatalf and Skipf instead of ending
// the test.
type recorder struct {
	testing.TB
	fatal, skip bool
}

func (r *recorder) Helper()               { r.TB.Helper() }
func (r *recorder) Fatalf(string, ...any) { r.fatal = true }
func (r *recorder) Skipf(string, ...any)  { r.skip = true }

func TestMissing(t *testing.T) {
	missing := errors.New("not installed")
	for _, tc := range []struct {
		ci          string
		err         error
		fatal, skip bool
	}{
		{"", missing, false, true},
		{"false", missing, false, true},
		{"0", missing, false, true},
		{"true", missing, true, false},
		{"TRUE", missing, true, false},
		{"1", missing, true, false},
		{"true", nil, false, false},
		{"", nil, false, false},
	} {
		t.Setenv("CI", tc.ci)
		r := &recorder{TB: t}
		Missing(r, "tool", tc.err)
		if r.fatal != tc.fatal || r.skip != tc.skip {
			t.Errorf("CI=%q, err=%v: fatal=%v skip=%v, want fatal=%v skip=%v", tc.ci, tc.err, r.fatal, r.skip, tc.fatal, tc.skip)
		}
	}
}
