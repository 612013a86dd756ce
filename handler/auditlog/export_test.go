package auditlog

// Activities lists the activity table's names, so that a test can insist
// that each has a decoding test.
func Activities() []string {
	var out []string
	for name := range activities {
		out = append(out, name)
	}
	return out
}
