package graph

import (
	"errors"
	"testing"
)

// resyncRequired tells an expired delta link from other errors.
func TestResyncRequired(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{errors.New("stop"), false},
		{&StatusError{Status: 400, Code: "Request_BadRequest"}, false},
		{&StatusError{Status: 400, Code: "syncStateNotFound"}, true},
		{&StatusError{Status: 410}, true},
	} {
		if got := resyncRequired(tc.err); got != tc.want {
			t.Errorf("resyncRequired(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
