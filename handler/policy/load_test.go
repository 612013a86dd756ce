package policy

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// threeRules is a valid policy whose third rule's condition is on line 14;
// cases replace that line (or add lines) to break it in one place.
const threeRules = `apiVersion: appwarden.io/v1
rules:
  - id: first
    title: First
    severity: low
    condition: "false"
  - id: second
    title: Second
    severity: low
    condition: "false"
  - id: third
    title: Third
    severity: high
    condition: size(app.owners) == 0
`

func withLine14(cond string) string {
	return strings.Replace(threeRules, "    condition: size(app.owners) == 0\n", cond, 1)
}

func TestLoadErrorsNameFileLineAndField(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []string // each must be a whole line of the error text
	}{
		{"bad YAML", "apiVersion: appwarden.io/v1\nrules:\n  - id: x\n    title: \"unclosed\n",
			[]string{"policy.yaml:4: bad YAML: found unexpected end of stream"}},
		{"tab indentation", "apiVersion: appwarden.io/v1\nrules:\n\t- id: x\n",
			[]string{"policy.yaml:3: bad YAML: found character that cannot start any token"}},
		{"unknown field with a suggestion", withLine14("    conditon: size(app.owners) == 0\n"),
			[]string{
				"policy.yaml:14 rules[2].conditon: unknown field (did you mean condition?)",
				"policy.yaml:11 rules[2].condition: required field is missing",
			}},
		{"unknown top-level field", threeRules + "owner: secops\n",
			[]string{"policy.yaml:15 owner: unknown field (want one of allowlist, apiVersion, description, durations, exceptions, kind, lists, notifyMinSeverity, rules)"}},
		{"undeclared reference", withLine14("    condition: size(ap.owners) == 0\n"),
			[]string{"policy.yaml:14 rules[2].condition: undeclared reference to 'ap'"}},
		{"type error", withLine14("    condition: size(app.owners) + 'x'\n"),
			[]string{"policy.yaml:14 rules[2].condition: found no matching overload for '_+_' applied to '(int, string)'"}},
		{"condition yields neither bool nor list", withLine14("    condition: \"'yes'\"\n"),
			[]string{"policy.yaml:14 rules[2].condition: must yield a bool or a list of matched items, but yields string"}},
		{"misspelt field of a list item", withLine14("    condition: app.permissions.exists(p, p.privilage >= 4)\n"),
			[]string{`policy.yaml:14 rules[2].condition: no field "privilage" in Permission (did you mean privilege?)`}},
		{"misspelt field of the app", withLine14("    condition: app.application.redirectUri.size() > 0\n"),
			[]string{`policy.yaml:14 rules[2].condition: no field "redirectUri" in Application (did you mean redirectUris?)`}},
		{"error on the third line of a | block", withLine14("    condition: |\n      app.permissions.filter(p,\n        p.type == 'application' &&\n        p.privilege >= lvl)\n"),
			[]string{"policy.yaml:17 rules[2].condition: undeclared reference to 'lvl'"}},
		{"bad duration literal", withLine14("    condition: |\n      app.application != null &&\n      app.application.passwordCredentials.exists(c, lifetime(c) > duration('180d'))\n"),
			[]string{"policy.yaml:16 rules[2].condition: invalid duration argument: write durations like duration('4320h') (hours, minutes, seconds; no days)"}},
		{"bad duration parameter", threeRules + "durations:\n  maxSecretLifetime: 180d\n",
			[]string{`policy.yaml:16 durations.maxSecretLifetime: bad duration "180d": write hours, minutes or seconds, e.g. 4320h for 180 days`}},
		{"bad regular expression", withLine14("    condition: app.displayName.matches('(unclosed')\n"),
			[]string{"policy.yaml:14 rules[2].condition: invalid matches argument"}},
		{"unknown action", withLine14("    condition: \"true\"\n    actions: [disableServicePrincipals]\n"),
			[]string{`policy.yaml:15 rules[2].actions[0]: unknown action "disableServicePrincipals" (did you mean disableServicePrincipal?)`}},
		{"bad severity and mode", withLine14("    condition: \"true\"\n    mode: enforcing\n    escalate:\n      - when: \"true\"\n        severity: severe\n"),
			[]string{
				`policy.yaml:15 rules[2].mode: unknown mode "enforcing" (want audit or enforce)`,
				`policy.yaml:18 rules[2].escalate[0].severity: unknown severity "severe" (want one of info, low, medium, high, critical)`,
			}},
		{"escalation that does not raise", withLine14("    condition: \"true\"\n    escalate:\n      - when: \"true\"\n        severity: medium\n"),
			[]string{"policy.yaml:17 rules[2].escalate[0].severity: medium does not raise the rule's severity (high)"}},
		{"escalation sees matched, conditions do not", withLine14("    condition: size(matched) > 0\n"),
			[]string{"policy.yaml:14 rules[2].condition: undeclared reference to 'matched'"}},
		{"repeated rule id", strings.Replace(threeRules, "id: second", "id: first", 1),
			[]string{`policy.yaml:7 rules[1].id: repeated rule id "first" (first at line 3)`}},
		{"reserved rule id", strings.Replace(threeRules, "id: second", "id: exception-expired", 1),
			[]string{`policy.yaml:7 rules[1].id: "exception-expired" is reserved for AppWarden's own findings`}},
		{"wrong apiVersion", strings.Replace(threeRules, "appwarden.io/v1", "appwarden.io/v2", 1),
			[]string{`policy.yaml:1 apiVersion: unsupported version "appwarden.io/v2" (want appwarden.io/v1)`}},
		{"missing apiVersion", strings.Replace(threeRules, "apiVersion: appwarden.io/v1\n", "", 1),
			[]string{"policy.yaml:1 apiVersion: required field is missing"}},
		{"empty file", "", []string{"policy.yaml: empty policy: want a YAML document with apiVersion: appwarden.io/v1"}},
		{"list named like a variable", threeRules + "lists:\n  app: [x]\n",
			[]string{`policy.yaml:16 lists.app: "app" is reserved`}},
		{"exception with a bad expiry", threeRules + exceptionYAML("2026-02-30"),
			[]string{`policy.yaml:20 exceptions[0].expires: bad expiry date "2026-02-30" (want a date like 2026-12-31, or an RFC 3339 time)`}},
		{"exception with a blank expiry", threeRules + exceptionYAML(""),
			[]string{"policy.yaml:20 exceptions[0].expires: missing expiry date (want a date like 2026-12-31)"}},
		{"exception without expiry", threeRules + strings.Replace(exceptionYAML("2026-12-31"), "    expires: 2026-12-31\n", "", 1),
			[]string{"policy.yaml:16 exceptions[0].expires: required field is missing"}},
		{"exception for an unknown rule", threeRules + strings.Replace(exceptionYAML("2026-12-31"), "[third]", "[thrid]", 1),
			[]string{`policy.yaml:17 exceptions[0].rules[0]: no rule "thrid" in this policy (did you mean third?)`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("policy.yaml", []byte(c.src))
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			lines := strings.Split(err.Error(), "\n")
			for _, w := range c.want {
				found := false
				for _, l := range lines {
					found = found || l == w
				}
				if !found {
					t.Errorf("error lacks line\n  %s\ngot:\n  %s", w, strings.Join(lines, "\n  "))
				}
			}
			var es Errors
			if !errors.As(err, &es) || len(es) != len(lines) {
				t.Errorf("error is not an Errors with one entry per line: %T", err)
			}
		})
	}
}

func exceptionYAML(expires string) string {
	return `exceptions:
  - appId: ` + payrollAppID + `
    rules: [third]
    reason: Vendor app, replacement planned
    approver: ciso@contoso.example
    expires: ` + expires + "\n"
}

// All problems are reported in one pass and in file order, so a user fixes
// a file once, top to bottom.
func TestLoadReportsEveryError(t *testing.T) {
	src := strings.NewReplacer(
		"severity: low\n    condition: \"false\"\n  - id: second", "severity: lowest\n    condition: \"false\"\n  - id: second",
		"title: Second", "titel: Second",
		"size(app.owners) == 0", "size(ap.owners) == 0",
	).Replace(threeRules)
	_, err := Parse("policy.yaml", []byte(src))
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("want Errors, got %v", err)
	}
	got := make([]string, len(es))
	for i, e := range es {
		got[i] = e.Path
	}
	want := []string{"rules[0].severity", "rules[1].title", "rules[1].titel", "rules[2].condition"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("error paths %v, want %v\n%v", got, want, err)
	}
}

func TestParseAcceptsTheSchema(t *testing.T) {
	p := mustParse(t, threeRules+`lists:
  admins: [a, b]
durations:
  grace: 72h
allowlist:
  - appId: `+payrollAppID+`
    reason: reviewed
`+exceptionYAML("2026-12-31"))
	if got := strings.Join(p.RuleIDs(), ","); got != "first,second,third" {
		t.Fatalf("rules %s", got)
	}
	if !strings.HasPrefix(p.Version(), "appwarden.io/v1@sha256:") {
		t.Fatalf("version %q", p.Version())
	}
	other := mustParse(t, threeRules+"# a comment changes the text\n")
	if other.Version() == mustParse(t, threeRules).Version() {
		t.Fatal("different policy texts have the same version")
	}
}

func TestDefaultPolicy(t *testing.T) {
	p := mustDefault(t)
	want := []string{
		"critical-app-permission", "high-privilege-delegated", "multi-tenant-unverified", "risky-redirect-uri",
		"password-credential", "credential-on-privileged-app", "credential-added-to-privileged-app",
		"untrusted-federated-credential", "first-party-credential", "managed-identity-secret", "privileged-directory-role",
		"hidden-critical-app-role", "owner-added-to-privileged-app", "ownerless-app",
	}
	if got := p.RuleIDs(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("built-in rules %v, want %v", got, want)
	}
	// The rule ids are stable API: the README documents each.
	doc, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range want {
		if !strings.Contains(string(doc), "`"+id+"`") {
			t.Errorf("README.md does not document %s", id)
		}
	}
	// DefaultYAML hands out a copy: callers cannot change the built-in policy.
	b := DefaultYAML()
	b[0] = '!'
	if DefaultYAML()[0] == '!' {
		t.Fatal("DefaultYAML returned the embedded slice")
	}
}
