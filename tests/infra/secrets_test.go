package infra

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// secretPattern is one kind of secret that must never be committed.
type secretPattern struct {
	name string
	re   *regexp.Regexp
	// group is the submatch holding the secret value (0: the whole match).
	group int
	// real filters matches that are not secrets (GUIDs, identifiers).
	real func(value string) bool
}

var guidOnly = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// secretPatterns are assembled from pieces so this file does not match itself.
var secretPatterns = []secretPattern{
	// Teams Workflows / Power Automate / Logic Apps trigger URLs carry their
	// signature in the query (sig=...); SAS URLs too.
	{name: "signed URL (sig=)", re: regexp.MustCompile(`https?://[^\s"'<>]+[?&]` + `sig=([A-Za-z0-9%_\-]{20,})`), group: 1},
	{name: "Logic Apps trigger URL", re: regexp.MustCompile(`logic\.azure\.com[^\s"'<>]*` + `sig=([A-Za-z0-9%_\-]{10,})`), group: 1},
	// Office 365 connector webhooks (retired, but still secrets).
	{name: "Office 365 connector webhook", re: regexp.MustCompile(`[A-Za-z0-9-]+\.webhook\.office\.com/` + `webhook[b2]*/[^\s"'<>]+`)},
	{name: "storage account key", re: regexp.MustCompile(`Account` + `Key=([A-Za-z0-9+/]{40,}={0,2})`), group: 1},
	{name: "shared access key", re: regexp.MustCompile(`SharedAccess` + `Key=([A-Za-z0-9+/]{30,}={0,2})`), group: 1},
	{name: "private key", re: regexp.MustCompile(`-----BEGIN ` + `([A-Z]+ )*PRIVATE KEY-----`)},
	{name: "JWT", re: regexp.MustCompile(`\bey` + `J[A-Za-z0-9_-]{10,}\.ey` + `J[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{16,}`)},
	// Entra client secrets: the current format has Q~ after four characters.
	{name: "Entra client secret", re: regexp.MustCompile(`(^|[^A-Za-z0-9_~.-])([A-Za-z0-9_~.]{3}[0-9]` + `Q~[A-Za-z0-9_~.-]{31,34})([^A-Za-z0-9_~.-]|$)`), group: 2},
	// Anything long and random assigned to something called *secret*.
	{
		name:  "secret assignment",
		re:    regexp.MustCompile(`(?i)secret[A-Za-z0-9_]*["']?\s*[:=]\s*["']?([A-Za-z0-9~_.\-]{34,})`),
		group: 1,
		real: func(v string) bool {
			if guidOnly.MatchString(v) {
				return false
			}
			hasUpper := strings.ContainsAny(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
			hasLower := strings.ContainsAny(v, "abcdefghijklmnopqrstuvwxyz")
			hasDigit := strings.ContainsAny(v, "0123456789")
			return strings.Contains(v, "~") || (hasUpper && hasLower && hasDigit)
		},
	},
}

// publicValues are well-known, published development values that look like
// secrets. Each needs a reason; nothing else may be allowed.
var publicValues = map[string]string{
	// Azurite's (and the old storage emulator's) published account key for
	// devstoreaccount1, documented at learn.microsoft.com/azure/storage/common/storage-use-azurite.
	"Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==": "Azurite devstoreaccount1 key",
}

type finding struct {
	file    string
	line    int
	pattern string
	value   string
}

// scanText returns the secrets found in one file's text.
func scanText(file, text string) []finding {
	var out []finding
	for _, p := range secretPatterns {
		for _, loc := range p.re.FindAllStringSubmatchIndex(text, -1) {
			start, end := loc[2*p.group], loc[2*p.group+1]
			value := text[start:end]
			if _, ok := publicValues[value]; ok {
				continue
			}
			if p.real != nil && !p.real(value) {
				continue
			}
			out = append(out, finding{file: file, line: 1 + strings.Count(text[:start], "\n"), pattern: p.name, value: value})
		}
	}
	return out
}

// redact shows enough of a value to find it, never the value.
func redact(v string) string {
	if len(v) <= 8 {
		return "[redacted]"
	}
	return v[:4] + "…[" + itoa(len(v)) + " chars]"
}

// TestNoSecretsCommitted scans every tracked file and every untracked file
// that is not ignored (what the next commit could include).
func TestNoSecretsCommitted(t *testing.T) {
	root := repoRoot(t)
	if _, err := exec.LookPath("git"); err != nil {
		needTool(t, "git is not installed")
	}
	if _, err := os.Stat(filepath.Join(root, ".git")); err != nil {
		needTool(t, "%s is not a git checkout", root)
	}
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	scanned := 0
	for _, rel := range strings.Split(string(out), "\x00") {
		if rel == "" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			continue // deleted in the working tree
		}
		if bytes.IndexByte(b[:min(len(b), 8000)], 0) >= 0 {
			continue // binary
		}
		scanned++
		for _, f := range scanText(rel, string(b)) {
			t.Errorf("%s:%d: looks like a %s: %s", f.file, f.line, f.pattern, redact(f.value))
		}
	}
	if scanned == 0 {
		t.Fatal("no files scanned")
	}
	t.Logf("scanned %d files", scanned)
}

// TestSecretPatternsFire proves each pattern catches its kind of secret and
// the allowlist lets only the listed public values through. The samples are
// built at run time so that no secret-shaped text sits in the repository.
func TestSecretPatternsFire(t *testing.T) {
	rnd := "Zq8Lm3Vx9Tb2Wn7Kc4Hd6Jf1Rp5Ys0Ga"
	samples := map[string]string{
		"signed URL (sig=)":            "https://prod-01.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers&sv=1.0&" + "sig=" + rnd,
		"Logic Apps trigger URL":       "prod-01.westeurope.logic.azure.com/workflows/x?" + "sig=" + rnd[:12],
		"Office 365 connector webhook": "https://contoso.webhook.office.com/" + "webhookb2/" + rnd + "@tenant/IncomingWebhook/x/y",
		"storage account key":          "DefaultEndpointsProtocol=https;AccountName=x;Account" + "Key=" + rnd + rnd + "==",
		"shared access key":            "Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=r;SharedAccess" + "Key=" + rnd + "=",
		"private key":                  "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIE...",
		"JWT":                          "ey" + "J" + rnd + ".ey" + "J" + rnd + "." + rnd,
		"Entra client secret":          `"clientSecret": "` + "abc1" + "Q~" + (rnd + rnd)[:34] + `"`,
		"secret assignment":            "mySecret = '" + rnd + "X9'",
	}
	for name, text := range samples {
		found := false
		for _, f := range scanText("sample", text) {
			if f.pattern == name {
				found = true
			}
		}
		if !found {
			t.Errorf("pattern %q does not fire on its sample", name)
		}
	}
	harmless := []string{
		"var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'",
		"teamsWebhookSecretName: 'appwarden-teams-webhook-url-for-the-channel'",
		"AzureWebJobsStorage=UseDevelopmentStorage=true",
		"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;Account" + "Key=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;",
		"the host name webhook.office.com is retired",
		"@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/appwarden-teams-webhook-url/)",
	}
	for _, text := range harmless {
		if f := scanText("sample", text); len(f) > 0 {
			t.Errorf("false positive %q on %q", f[0].pattern, text)
		}
	}
}
