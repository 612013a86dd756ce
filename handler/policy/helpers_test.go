package policy

import (
	"strings"
	"testing"

	"github.com/appwarden/appwarden/handler/appwarden"
)

func TestURIParts(t *testing.T) {
	cases := []struct{ uri, scheme, host string }{
		{"https://Payroll.Contoso.example:8443/cb?x=1", "https", "payroll.contoso.example"},
		{"HTTP://user:pw@evil.example/cb", "http", "evil.example"},
		{"https://*.contoso.example/cb", "https", "*.contoso.example"},
		{"http://[::1]:8080/cb", "http", "::1"},
		{"http://[2001:db8::1", "http", "2001:db8::1"},
		{"https://host.example./", "https", "host.example"},
		{"https://evil.example\\@good.example/", "https", "evil.example"},
		{"msal5bee://auth", "msal5bee", "auth"},
		{"urn:ietf:wg:oauth:2.0:oob", "urn", ""},
		{"not a uri", "", ""},
	}
	for _, c := range cases {
		if s, h := uriParts(c.uri); s != c.scheme || h != c.host {
			t.Errorf("uriParts(%q) = %q, %q; want %q, %q", c.uri, s, h, c.scheme, c.host)
		}
	}
}

func TestHostChecks(t *testing.T) {
	for host, want := range map[string]bool{
		"203.0.113.7": true, "::1": true, "[2001:db8::1]": true, "2130706433": true, "0x7f.0.0.1": true, "10.1": true,
		"contoso.example": false, "0xcafe.example": false, "": false, "1.2.3.": false,
	} {
		if got := isIPHost(host); got != want {
			t.Errorf("isIPHost(%q) = %v, want %v", host, got, want)
		}
	}
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST.": true, "app.localhost": true, "127.0.0.1": true, "127.8.9.10": true,
		"::1": true, "[::1]": true, "::ffff:127.0.0.1": true, "localhost.evil.example": false, "10.0.0.1": false,
	} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", host, got, want)
		}
	}
	domains := []string{"ngrok.io", "*.trycloudflare.com", "Webhook.Site."}
	for host, want := range map[string]bool{
		"ngrok.io": true, "a.b.ngrok.io": true, "x.trycloudflare.com": true, "webhook.site": true,
		"myngrok.io": false, "ngrok.io.evil.example": false, "trycloudflare.com.example": false,
	} {
		if got := hostUnder(host, domains); got != want {
			t.Errorf("hostUnder(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		s, pattern string
		want       bool
	}{
		{"https://app.contoso.example/cb", "https://*.contoso.example/*", true},
		{"HTTPS://APP.CONTOSO.EXAMPLE/cb", "https://*.contoso.example/*", true},
		{"https://contoso.example/cb", "https://*.contoso.example/*", false},
		{"abc", "a?c", true},
		{"ac", "a?c", false},
		{"", "*", true},
		{"x", "", false},
		{"[weird", "[weird", true},
		{strings.Repeat("a", 5000), strings.Repeat("*a", 50) + "b", false}, // must not blow up
	} {
		if got := globMatch(c.s, c.pattern); got != c.want {
			t.Errorf("glob(%.30q, %.30q) = %v, want %v", c.s, c.pattern, got, c.want)
		}
	}
}

// Helpers given the wrong shape fail the rule, reported as rule-error,
// instead of panicking or matching.
func TestHelpersRejectWrongShapes(t *testing.T) {
	p := mustParse(t, `apiVersion: appwarden.io/v1
rules:
  - id: lifetime-of-owner
    title: t
    severity: low
    condition: app.owners.exists(o, lifetime(o) > duration('1h'))
  - id: privileged-owners
    title: t
    severity: low
    condition: privileged(app.owners, 4)
  - id: credentials-of-string
    title: t
    severity: low
    condition: credentials(app.displayName)
  - id: lifetime-ok
    title: t
    severity: low
    condition: credentials(app).exists(c, lifetime(c) == duration('0s'))
`)
	a := cleanApp()
	a.Application.KeyCredentials = []appwarden.Credential{{KeyID: certKeyID}} // no dates: lifetime 0
	d := p.Evaluate(a, enforceEnv())
	f := findingFor(d, RuleError)
	if f == nil {
		t.Fatalf("findings %v", ruleIDs(d))
	}
	var failed []string
	for _, e := range f.Evidence {
		failed = append(failed, e.ID)
	}
	if got := strings.Join(failed, " "); got != "credentials-of-string lifetime-of-owner privileged-owners" {
		t.Fatalf("failed rules %q\n%s", got, formatEvidence(f.Evidence))
	}
	if findingFor(d, "lifetime-ok") == nil {
		t.Fatal("lifetime of a credential without dates is not 0")
	}
}

func BenchmarkEvaluate(b *testing.B) {
	p := mustDefault(b)
	a := kitchenSink()
	for b.Loop() {
		p.Evaluate(a, enforceEnv())
	}
}
