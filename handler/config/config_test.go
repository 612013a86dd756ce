package config_test

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/config"
)

func load(env map[string]string) (config.Config, error) {
	return config.Load(func(k string) string { return env[k] })
}

// settingErrors lists the *config.Error values joined in err.
func settingErrors(t *testing.T, err error) []*config.Error {
	t.Helper()
	if err == nil {
		return nil
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var out []*config.Error
	for _, e := range errs {
		var ce *config.Error
		if !errors.As(e, &ce) {
			t.Fatalf("error %q is not a *config.Error", e)
		}
		out = append(out, ce)
	}
	return out
}

const (
	guid      = "0D7E3F6B-8A9C-4B1D-9E2F-3A4B5C6D7E8F"
	guidLower = "0d7e3f6b-8a9c-4b1d-9e2f-3a4b5c6d7e8f"
	guid2     = "5bee10b5-db93-4475-ae1a-3d87e059d287"
)

// settingCase is one setting: a good value and what it must give, bad values
// that must be rejected with an error naming the setting, and the default.
type settingCase struct {
	setting   string
	with      map[string]string // other settings the good and bad values need
	good      string
	isGood    func(c config.Config) bool
	bad       []string
	isDefault func(c config.Config) bool
}

func settingCases(t *testing.T) []settingCase {
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte("rules: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	webhook := "https://prod-00.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=s3cr3t"
	return []settingCase{
		{setting: config.Port, good: " 7071 ", isGood: func(c config.Config) bool { return c.Port == 7071 },
			bad: []string{"http", "0", "65536", "-1"}, isDefault: func(c config.Config) bool { return c.Port == 0 }},
		{setting: config.IdentityEndpoint, with: map[string]string{config.IdentityHeader: "h"},
			good: "http://127.0.0.1:41000/msi/token", isGood: func(c config.Config) bool { return c.IdentityEndpoint == "http://127.0.0.1:41000/msi/token" },
			bad: []string{"not a url", "ftp://127.0.0.1/token", "/msi/token"}, isDefault: func(c config.Config) bool { return c.IdentityEndpoint == "" }},
		{setting: config.IdentityHeader, with: map[string]string{config.IdentityEndpoint: "http://127.0.0.1:41000/msi/token"},
			good: "header-value", isGood: func(c config.Config) bool { return c.IdentityHeader.Reveal() == "header-value" },
			bad: []string{"", "  "}, isDefault: func(c config.Config) bool { return c.IdentityHeader == "" }},
		{setting: config.ClientID, good: guid, isGood: func(c config.Config) bool { return c.ClientID == guidLower },
			bad: []string{"appwarden", guid + "0"}, isDefault: func(c config.Config) bool { return c.ClientID == "" }},
		{setting: config.GraphEndpoint, good: "https://graph.microsoft.us/", isGood: func(c config.Config) bool {
			return c.GraphEndpoint == "https://graph.microsoft.us" && c.GraphBaseURL() == "https://graph.microsoft.us/v1.0" &&
				c.GraphScope() == "https://graph.microsoft.us/.default"
		}, bad: []string{"http://graph.example", "https://graph.microsoft.com/v1.0", "ftp://graph.example", "graph.microsoft.com"},
			isDefault: func(c config.Config) bool { return c.GraphEndpoint == config.DefaultGraphEndpoint }},
		{setting: config.ModeSetting, good: "Enforce", isGood: func(c config.Config) bool { return c.Mode == appwarden.ModeEnforce },
			bad: []string{"chaos", "auditing"}, isDefault: func(c config.Config) bool { return c.Mode == appwarden.ModeAudit }},
		{setting: config.PolicyFile, good: policy, isGood: func(c config.Config) bool { return c.PolicyFile == policy },
			bad: []string{filepath.Join(dir, "missing.yaml"), dir}, isDefault: func(c config.Config) bool { return c.PolicyFile == "" }},
		{setting: config.TeamsWebhookURL, good: webhook, isGood: func(c config.Config) bool { return c.TeamsWebhookURL.Reveal() == webhook },
			bad: []string{"http://hooks.example/x", "hooks", "https://"}, isDefault: func(c config.Config) bool { return c.TeamsWebhookURL == "" }},
		{setting: config.SecurityWebhookURL, good: "http://localhost:9000/hook", isGood: func(c config.Config) bool {
			return c.SecurityWebhookURL.Reveal() == "http://localhost:9000/hook"
		}, bad: []string{"http://hooks.example/x", "mailto:soc@contoso.example"}, isDefault: func(c config.Config) bool { return c.SecurityWebhookURL == "" }},
		{setting: config.MailSender, good: "appwarden@contoso.example", isGood: func(c config.Config) bool { return c.MailSender == "appwarden@contoso.example" },
			bad: []string{"appwarden", "@contoso.example", "appwarden@", "App Warden <appwarden@contoso.example>"}, isDefault: func(c config.Config) bool { return c.MailSender == "" }},
		{setting: config.NotifyMinSeverity, good: "HIGH", isGood: func(c config.Config) bool { return c.NotifyMinSeverity == appwarden.SeverityHigh },
			bad: []string{"urgent", "3"}, isDefault: func(c config.Config) bool { return c.NotifyMinSeverity == appwarden.SeverityMedium }},
		{setting: config.MaxActionsPerHour, good: "0", isGood: func(c config.Config) bool { return c.MaxActionsPerHour == 0 },
			bad: []string{"-1", "many", "100001", "1.5"}, isDefault: func(c config.Config) bool { return c.MaxActionsPerHour == 20 }},
		{setting: config.SweepLookback, good: "30m", isGood: func(c config.Config) bool { return c.SweepLookback == 30*time.Minute },
			bad: []string{"-1h", "soon", "30"}, isDefault: func(c config.Config) bool { return c.SweepLookback == time.Hour }},
		{setting: config.SweepJudgeAll, good: "true", isGood: func(c config.Config) bool { return c.SweepJudgeAll },
			bad: []string{"maybe", "yes"}, isDefault: func(c config.Config) bool { return !c.SweepJudgeAll }},
		{setting: config.ActOnMicrosoftApps, good: "true", isGood: func(c config.Config) bool { return c.ActOnMicrosoftApps && c.Guard().ActOnMicrosoftApps },
			bad: []string{"maybe", "yes"}, isDefault: func(c config.Config) bool { return !c.ActOnMicrosoftApps && !c.Guard().ActOnMicrosoftApps }},
		{setting: config.ActOnManagedIDs, good: "true", isGood: func(c config.Config) bool { return c.ActOnManagedIDs && c.Guard().ActOnManagedIdentities },
			bad: []string{"maybe", "yes"}, isDefault: func(c config.Config) bool { return !c.ActOnManagedIDs && !c.Guard().ActOnManagedIdentities }},
		{setting: config.AuditPull, good: "false", isGood: func(c config.Config) bool { return !c.AuditPull },
			bad: []string{"off", "no"}, isDefault: func(c config.Config) bool { return c.AuditPull }},
		{setting: config.AuditPullInterval, good: "5m", isGood: func(c config.Config) bool { return c.AuditPullInterval == 5*time.Minute },
			bad: []string{"0", "1s", "-1m", "2h", "60", "often"}, isDefault: func(c config.Config) bool { return c.AuditPullInterval == time.Minute }},
		{setting: config.ExpiryThresholds, good: "7d, 30d,12h,7d", isGood: func(c config.Config) bool {
			return slices.Equal(c.ExpiryThresholds, []time.Duration{30 * 24 * time.Hour, 7 * 24 * time.Hour, 12 * time.Hour})
		}, bad: []string{"30", "0d", "-1d", "soon", "30d,x"}, isDefault: func(c config.Config) bool {
			return slices.Equal(c.ExpiryThresholds, []time.Duration{30 * 24 * time.Hour, 14 * 24 * time.Hour, 7 * 24 * time.Hour, 24 * time.Hour})
		}},
		{setting: config.ExpiryTime, good: "6:30", isGood: func(c config.Config) bool { return c.ExpiryTime == 6*time.Hour+30*time.Minute },
			bad: []string{"24:00", "8", "08:60", "8am", "08:00:00", "-1:00", "08:5"}, isDefault: func(c config.Config) bool { return c.ExpiryTime == 8*time.Hour }},
		{setting: config.BreakGlassAppIDs, good: guid + ", " + guid2 + ";" + guid2, isGood: func(c config.Config) bool {
			return slices.Equal(c.BreakGlassAppIDs, []string{guidLower, guid2, guid2}) && slices.Equal(c.Guard().BreakGlass, c.BreakGlassAppIDs)
		}, bad: []string{guid + ",nope", "x"}, isDefault: func(c config.Config) bool { return c.BreakGlassAppIDs == nil }},
		{setting: config.LogLevel, good: "debug", isGood: func(c config.Config) bool { return c.LogLevel == slog.LevelDebug },
			bad: []string{"loud", "verbose"}, isDefault: func(c config.Config) bool { return c.LogLevel == slog.LevelInfo }},
		{setting: config.Storage, good: "DefaultEndpointsProtocol=https;AccountName=appwarden;AccountKey=a2V5;EndpointSuffix=core.windows.net",
			isGood: func(c config.Config) bool {
				return !c.Storage.InMemory() && strings.HasPrefix(c.Storage.ConnectionString.Reveal(), "Default")
			},
			bad: []string{"AccountKey=a2V5", "hello"}, isDefault: func(c config.Config) bool { return c.Storage.ConnectionString == "" && c.Storage.InMemory() }},
		{setting: config.StorageAccountName, good: "appwardenstate", isGood: func(c config.Config) bool {
			return c.Storage.AccountName == "appwardenstate" && !c.Storage.InMemory()
		}, bad: []string{"AppWarden_State", "ab", strings.Repeat("a", 25)}, isDefault: func(c config.Config) bool { return c.Storage.AccountName == "" }},
		{setting: config.StorageCredential, good: "managedidentity", isGood: func(c config.Config) bool { return c.Storage.Credential == "managedidentity" },
			bad: []string{"accountkey", "ManagedIdentity "}, isDefault: func(c config.Config) bool { return c.Storage.Credential == "" }},
		{setting: config.StorageClientID, good: guid, isGood: func(c config.Config) bool { return c.Storage.ClientID == guidLower },
			bad: []string{"client"}, isDefault: func(c config.Config) bool { return c.Storage.ClientID == "" }},
		{setting: config.StorageTableEndpoint, good: "https://appwarden.table.core.windows.net", isGood: func(c config.Config) bool {
			return c.Storage.TableEndpoint == "https://appwarden.table.core.windows.net" && !c.Storage.InMemory()
		}, bad: []string{"table storage", "appwarden.table.core.windows.net"}, isDefault: func(c config.Config) bool { return c.Storage.TableEndpoint == "" }},
	}
}

func withEnv(base map[string]string, k, v string) map[string]string {
	env := map[string]string{}
	for bk, bv := range base {
		env[bk] = bv
	}
	env[k] = v
	return env
}

func TestSettings(t *testing.T) {
	for _, tc := range settingCases(t) {
		t.Run(tc.setting, func(t *testing.T) {
			t.Run("good", func(t *testing.T) {
				c, err := load(withEnv(tc.with, tc.setting, tc.good))
				if err != nil {
					t.Fatalf("%s=%q: %v", tc.setting, tc.good, err)
				}
				if !tc.isGood(c) {
					t.Errorf("%s=%q gave %+v", tc.setting, tc.good, c)
				}
			})
			for _, bad := range tc.bad {
				t.Run(fmt.Sprintf("bad %q", bad), func(t *testing.T) {
					_, err := load(withEnv(tc.with, tc.setting, bad))
					errs := settingErrors(t, err)
					if len(errs) != 1 || errs[0].Setting != tc.setting || !strings.HasPrefix(err.Error(), tc.setting+": ") {
						t.Fatalf("%s=%q: error %v, want one naming %s", tc.setting, bad, err, tc.setting)
					}
				})
			}
			t.Run("default", func(t *testing.T) {
				c, err := load(nil)
				if err != nil {
					t.Fatal(err)
				}
				if !tc.isDefault(c) {
					t.Errorf("default %+v", c)
				}
			})
		})
	}
}

// TestEverySettingIsCovered reads the setting constants from config.go, so
// a new setting without a case fails here.
func TestEverySettingIsCovered(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "config.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, tc := range settingCases(t) {
		covered[tc.setting] = true
	}
	n := 0
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING || name.Name == "DefaultGraphEndpoint" {
					continue
				}
				value, _ := strconv.Unquote(lit.Value)
				n++
				if !covered[value] {
					t.Errorf("setting %s (%s) has no case in settingCases", name.Name, value)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("found no setting constants in config.go")
	}
}

func TestEmptyEnvironmentIsValid(t *testing.T) {
	c, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Storage.InMemory() || c.Storage.Describe() != "in memory" {
		t.Errorf("state is %q, want in memory", c.Storage.Describe())
	}
}

func TestConnectionStringAndAccountNameConflict(t *testing.T) {
	_, err := load(map[string]string{
		config.Storage:            "UseDevelopmentStorage=true",
		config.StorageAccountName: "appwardenstate",
	})
	errs := settingErrors(t, err)
	if len(errs) != 1 || errs[0].Setting != config.StorageAccountName {
		t.Fatalf("error %v, want one naming %s", err, config.StorageAccountName)
	}
}

func TestMultipleBadSettingsAreReportedTogether(t *testing.T) {
	_, err := load(map[string]string{
		config.Port:              "http",
		config.ModeSetting:       "chaos",
		config.MaxActionsPerHour: "many",
		config.LogLevel:          "loud",
		config.ClientID:          "me",
	})
	var got []string
	for _, e := range settingErrors(t, err) {
		got = append(got, e.Setting)
	}
	slices.Sort(got)
	want := []string{config.ClientID, config.LogLevel, config.MaxActionsPerHour, config.ModeSetting, config.Port}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("errors name %q, want %q", got, want)
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if !slices.ContainsFunc(want, func(s string) bool { return strings.HasPrefix(line, s+": ") }) {
			t.Errorf("error line %q does not start with a setting name", line)
		}
	}
}

// The secret values below carry markers that must never be printed.
const (
	markHeader   = "HDR-MARK-1"
	markTeams    = "TEAMS-MARK-2"
	markSecurity = "SEC-MARK-3"
	markStorage  = "STORE-MARK-4"
)

var marks = []string{markHeader, markTeams, markSecurity, markStorage}

func checkNoSecret(t *testing.T, where, text string) {
	t.Helper()
	for _, m := range marks {
		if strings.Contains(text, m) {
			t.Errorf("%s reveals a secret (%s):\n%s", where, m, text)
		}
	}
}

func TestSecretsNeverInErrors(t *testing.T) {
	tests := []map[string]string{
		{
			config.TeamsWebhookURL:    "http://hooks.example/x?sig=" + markTeams,
			config.SecurityWebhookURL: "not a url " + markSecurity,
			config.Storage:            "AccountKey=" + markStorage,
		},
		{
			config.TeamsWebhookURL:    "https://" + markTeams + "%zz",
			config.SecurityWebhookURL: "ftp://hooks.example/" + markSecurity,
			config.Storage:            "AccountName=acct;AccountKey=" + markStorage,
			config.StorageAccountName: "acct",
		},
		{
			config.IdentityEndpoint: "not a url",
			config.IdentityHeader:   markHeader,
			config.Storage:          markStorage,
		},
	}
	for i, env := range tests {
		_, err := load(env)
		if err == nil {
			t.Fatalf("case %d: no error", i)
		}
		checkNoSecret(t, fmt.Sprintf("case %d error", i), err.Error())
	}
}

func TestSecretsNeverLogged(t *testing.T) {
	c, err := load(map[string]string{
		config.IdentityEndpoint:   "http://127.0.0.1:41000/msi/token",
		config.IdentityHeader:     markHeader,
		config.TeamsWebhookURL:    "https://hooks.example/x?sig=" + markTeams,
		config.SecurityWebhookURL: "https://hooks.example/y?sig=" + markSecurity,
		config.Storage:            "AccountName=acct;AccountKey=" + markStorage,
	})
	if err != nil {
		t.Fatal(err)
	}
	var js, txt bytes.Buffer
	slog.New(slog.NewJSONHandler(&js, nil)).Info("start", "config", c)
	slog.New(slog.NewTextHandler(&txt, nil)).Info("start", "config", c, "storage", c.Storage, "header", c.IdentityHeader)
	checkNoSecret(t, "JSON log", js.String())
	checkNoSecret(t, "text log", txt.String())
	for _, want := range []string{`"teamsWebhook":true`, `"securityWebhook":true`, `"managedIdentity":true`, `"state":"table storage (connection string)"`} {
		if !strings.Contains(js.String(), want) {
			t.Errorf("JSON log lacks %s:\n%s", want, js.String())
		}
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		checkNoSecret(t, "fmt "+verb, fmt.Sprintf(verb, c))
	}
	if c.TeamsWebhookURL.Reveal() != "https://hooks.example/x?sig="+markTeams {
		t.Error("Reveal does not give the value back")
	}
}

// An unresolved Key Vault reference in a webhook setting turns that channel
// off with a warning naming the setting; the handler still starts.
func TestUnresolvedKeyVaultReferenceTurnsChannelOff(t *testing.T) {
	ref := "@Microsoft.KeyVault(SecretUri=https://kv-appwarden.vault.azure.net/secrets/teams-webhook/)"
	resolved := "https://prod-00.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=s3cr3t"
	tests := []struct {
		name         string
		teams, sec   string
		wantTeams    string
		wantSec      string
		warnSettings []string
	}{
		{name: "teams unresolved, security resolved", teams: ref, sec: resolved, wantSec: resolved, warnSettings: []string{config.TeamsWebhookURL}},
		{name: "both unresolved", teams: ref, sec: strings.ToLower(ref), warnSettings: []string{config.TeamsWebhookURL, config.SecurityWebhookURL}},
		{name: "both resolved", teams: resolved, sec: resolved, wantTeams: resolved, wantSec: resolved},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(map[string]string{config.TeamsWebhookURL: tc.teams, config.SecurityWebhookURL: tc.sec})
			if err != nil {
				t.Fatalf("an unresolved Key Vault reference stopped the start: %v", err)
			}
			if c.TeamsWebhookURL.Reveal() != tc.wantTeams || c.SecurityWebhookURL.Reveal() != tc.wantSec {
				t.Errorf("channels: teams on=%v security on=%v; want teams on=%v security on=%v",
					c.TeamsWebhookURL != "", c.SecurityWebhookURL != "", tc.wantTeams != "", tc.wantSec != "")
			}
			var got []string
			for _, w := range c.Warnings {
				got = append(got, w.Setting)
				if !strings.HasPrefix(w.Error(), w.Setting+": unresolved Key Vault reference") || !strings.Contains(w.Problem, "OFF") {
					t.Errorf("warning %q does not say the channel is off because of an unresolved Key Vault reference", w)
				}
				for _, leak := range []string{"kv-appwarden", "vault.azure.net", "teams-webhook/", "SecretUri"} {
					if strings.Contains(strings.ToLower(w.Error()), strings.ToLower(leak)) {
						t.Errorf("warning %q repeats the reference (%s)", w, leak)
					}
				}
			}
			if !slices.Equal(got, tc.warnSettings) {
				t.Errorf("warnings name %v, want %v", got, tc.warnSettings)
			}
		})
	}
}

// A malformed webhook URL that is not a Key Vault reference still stops the
// start, even next to an unresolved reference; and a Key Vault reference in
// a setting that is not a notification channel is still an error.
func TestMalformedWebhookStillFails(t *testing.T) {
	ref := "@Microsoft.KeyVault(SecretUri=https://kv-appwarden.vault.azure.net/secrets/security-webhook/)"
	c, err := load(map[string]string{config.TeamsWebhookURL: "http://hooks.example/x", config.SecurityWebhookURL: ref})
	errs := settingErrors(t, err)
	if len(errs) != 1 || errs[0].Setting != config.TeamsWebhookURL {
		t.Fatalf("errors = %v; want one naming %s", err, config.TeamsWebhookURL)
	}
	if len(c.Warnings) != 1 || c.Warnings[0].Setting != config.SecurityWebhookURL {
		t.Errorf("warnings = %v; want one naming %s", c.Warnings, config.SecurityWebhookURL)
	}

	_, err = load(map[string]string{config.StorageTableEndpoint: "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/t/)"})
	errs = settingErrors(t, err)
	if len(errs) != 1 || errs[0].Setting != config.StorageTableEndpoint || !strings.Contains(errs[0].Problem, "unresolved Key Vault reference") {
		t.Fatalf("a Key Vault reference in %s: err = %v; want the start-up error naming it", config.StorageTableEndpoint, err)
	}
}

// TestExpiryThresholdsEmptyTurnsOff: APPWARDEN_EXPIRY_THRESHOLDS present
// but empty (as Bicep sets it when the parameter is empty), or "off", turns
// the expiry warnings off; not set at all is the default.
func TestExpiryThresholdsEmptyTurnsOff(t *testing.T) {
	for _, v := range []string{"", "  ", "off", "OFF"} {
		c, err := config.LoadLookup(func(k string) (string, bool) {
			if k == config.ExpiryThresholds {
				return v, true
			}
			return "", false
		})
		if err != nil || c.ExpiryThresholds != nil {
			t.Errorf("%s=%q: thresholds %v, %v; want none (off)", config.ExpiryThresholds, v, c.ExpiryThresholds, err)
		}
	}
	c, err := config.LoadLookup(func(string) (string, bool) { return "", false })
	if err != nil || len(c.ExpiryThresholds) != 4 {
		t.Errorf("not set: thresholds %v, %v; want the default", c.ExpiryThresholds, err)
	}
}
