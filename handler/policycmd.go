package main

import (
	"context"
	"io"

	"github.com/appwarden/appwarden/handler/policy"
)

// runPolicy runs `handler policy check|test|defaults`; args start after the
// word "policy". The work is done in package policy, where it is tested.
func runPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return policy.RunCommand(ctx, args, stdout, stderr)
}
