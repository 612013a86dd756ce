package policy

import (
	"bytes"
	_ "embed"
	"fmt"
)

//go:embed default.yaml
var defaultYAML []byte

// defaultName is how load errors name the built-in policy.
const defaultName = "default.yaml"

// DefaultYAML returns the built-in policy's text (a copy), for printing and
// as the starting point of a team's own policy.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// Default compiles the built-in policy. It fails only if the embedded file
// is broken, which the package's tests rule out.
func Default() (*Policy, error) {
	p, err := Parse(defaultName, defaultYAML)
	if err != nil {
		return nil, fmt.Errorf("built-in policy: %w", err)
	}
	return p, nil
}
