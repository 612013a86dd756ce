package policy

import (
	"net/netip"
	"strings"
)

// uriParts splits a redirect URI into lower-case scheme and host by hand,
// because the URIs worth flagging are exactly the ones net/url rejects or
// reads differently (wildcards in the host, odd ports, custom schemes).
// The host has no port, no user info, and no brackets around an IPv6
// literal.
func uriParts(uri string) (scheme, host string) {
	s := strings.TrimSpace(uri)
	i := strings.Index(s, "://")
	if i < 0 {
		// scheme:opaque (e.g. urn:ietf:wg:oauth:2.0:oob) has no host.
		if j := strings.IndexByte(s, ':'); j > 0 {
			return strings.ToLower(s[:j]), ""
		}
		return "", ""
	}
	scheme = strings.ToLower(s[:i])
	rest := s[i+3:]
	if j := strings.IndexAny(rest, "/?#\\"); j >= 0 {
		rest = rest[:j]
	}
	if j := strings.LastIndexByte(rest, '@'); j >= 0 {
		rest = rest[j+1:]
	}
	if strings.HasPrefix(rest, "[") {
		if j := strings.IndexByte(rest, ']'); j > 0 {
			return scheme, strings.ToLower(rest[1:j])
		}
		return scheme, strings.ToLower(strings.TrimPrefix(rest, "["))
	}
	if j := strings.LastIndexByte(rest, ':'); j >= 0 {
		rest = rest[:j]
	}
	return scheme, strings.TrimSuffix(strings.ToLower(rest), ".")
}

// isIPHost reports whether host is an IP literal, including the shorthand
// forms browsers accept (a bare integer like 2130706433, or dotted numbers
// with fewer than four parts) that slip past a plain IP parser.
func isIPHost(host string) bool {
	h := strings.Trim(host, "[]")
	if h == "" {
		return false
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	for _, part := range strings.Split(h, ".") {
		if part == "" {
			return false
		}
		p := strings.ToLower(part)
		if strings.HasPrefix(p, "0x") {
			p = p[2:]
			if p == "" || strings.Trim(p, "0123456789abcdef") != "" {
				return false
			}
			continue
		}
		if strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// hostUnder reports whether host is one of domains or a subdomain of one.
func hostUnder(host string, domains []string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, d := range domains {
		d = strings.TrimPrefix(strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), "."), "*.")
		if d != "" && (host == d || strings.HasSuffix(host, "."+d)) {
			return true
		}
	}
	return false
}

// globMatch matches s against a pattern where * is any run of characters
// and ? is one character, ignoring case. There is no character-class
// syntax, so no pattern is ever invalid.
func globMatch(s, pattern string) bool {
	s, pattern = strings.ToLower(s), strings.ToLower(pattern)
	sr, pr := []rune(s), []rune(pattern)
	// Iterative matching with backtracking to the last star: linear in
	// practice, never exponential.
	si, pi, star, mark := 0, 0, -1, 0
	for si < len(sr) {
		switch {
		case pi < len(pr) && (pr[pi] == '?' || pr[pi] == sr[si]):
			si++
			pi++
		case pi < len(pr) && pr[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(pr) && pr[pi] == '*' {
		pi++
	}
	return pi == len(pr)
}

// isLoopback reports whether host is this machine: localhost (or a name
// under it) or a loopback IP. Native apps legitimately redirect there
// (RFC 8252 §7.3), so plain http to it is not risky.
func isLoopback(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}
