//go:build !linux && !darwin && !dragonfly && !freebsd && !netbsd && !openbsd

package report

// isTerminal is false where no terminal check is built in: progress is then
// printed as plain lines, which reads well anywhere.
func isTerminal(uintptr) bool { return false }
