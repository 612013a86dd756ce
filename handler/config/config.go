// Package config reads AppWarden's settings from app settings (the process
// environment), once, at start. Every bad value gives one error that names
// the setting; secrets are never part of an error or a log line.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/expiry"
)

// Setting names: a fixed contract shared with function.json, Bicep, the
// README and local.settings.sample.json (a test checks they agree).
const (
	Port                 = "FUNCTIONS_CUSTOMHANDLER_PORT"
	IdentityEndpoint     = "IDENTITY_ENDPOINT"
	IdentityHeader       = "IDENTITY_HEADER"
	ClientID             = "AZURE_CLIENT_ID"
	GraphEndpoint        = "APPWARDEN_GRAPH_ENDPOINT"
	ModeSetting          = "APPWARDEN_MODE"
	PolicyFile           = "APPWARDEN_POLICY_FILE"
	TeamsWebhookURL      = "APPWARDEN_TEAMS_WEBHOOK_URL"
	SecurityWebhookURL   = "APPWARDEN_SECURITY_WEBHOOK_URL"
	MailSender           = "APPWARDEN_MAIL_SENDER"
	NotifyMinSeverity    = "APPWARDEN_NOTIFY_MIN_SEVERITY"
	MaxActionsPerHour    = "APPWARDEN_MAX_ACTIONS_PER_HOUR"
	SweepLookback        = "APPWARDEN_SWEEP_LOOKBACK"
	SweepJudgeAll        = "APPWARDEN_SWEEP_JUDGE_ALL"
	BreakGlassAppIDs     = "APPWARDEN_BREAK_GLASS_APP_IDS"
	LogLevel             = "APPWARDEN_LOG_LEVEL"
	AuditPull            = "APPWARDEN_AUDIT_PULL"
	AuditPullInterval    = "APPWARDEN_AUDIT_PULL_INTERVAL"
	ActOnMicrosoftApps   = "APPWARDEN_ACT_ON_MICROSOFT_APPS"
	ActOnManagedIDs      = "APPWARDEN_ACT_ON_MANAGED_IDENTITIES"
	ExpiryThresholds     = "APPWARDEN_EXPIRY_THRESHOLDS"
	ExpiryTime           = "APPWARDEN_EXPIRY_TIME"
	Storage              = "AzureWebJobsStorage"
	StorageAccountName   = "AzureWebJobsStorage__accountName"
	StorageCredential    = "AzureWebJobsStorage__credential"
	StorageClientID      = "AzureWebJobsStorage__clientId"
	StorageTableEndpoint = "AzureWebJobsStorage__tableServiceUri"
)

// DefaultGraphEndpoint is the global Microsoft Graph service root.
const DefaultGraphEndpoint = "https://graph.microsoft.com"

// Bounds of APPWARDEN_AUDIT_PULL_INTERVAL. The pull runs on the timer's
// ticks (every 30 s by default), so a shorter interval than the tick only
// means every tick; a longer one than an hour leaves owner, grant,
// credential and role changes unseen for that long in pull-only mode.
const (
	DefaultAuditPullInterval = time.Minute
	MinAuditPullInterval     = 10 * time.Second
	MaxAuditPullInterval     = time.Hour
)

// Config is every setting, validated.
type Config struct {
	Port int
	// IdentityEndpoint and IdentityHeader are the managed identity endpoint
	// (read by azidentity itself; kept here so start-up can check them).
	IdentityEndpoint string
	IdentityHeader   Secret
	ClientID         string

	GraphEndpoint string
	Mode          appwarden.Mode
	PolicyFile    string

	TeamsWebhookURL    Secret
	SecurityWebhookURL Secret
	MailSender         string
	NotifyMinSeverity  appwarden.Severity

	MaxActionsPerHour int
	SweepLookback     time.Duration
	SweepJudgeAll     bool
	BreakGlassAppIDs  []string
	LogLevel          slog.Level
	// ActOnMicrosoftApps and ActOnManagedIDs are the operator's opt-in to
	// let policy write to Microsoft first-party apps and managed
	// identities (see appwarden.Guard); off by default.
	ActOnMicrosoftApps bool
	ActOnManagedIDs    bool

	// AuditPull reads the Entra audit log from Graph on the timer, every
	// AuditPullInterval: the only audit source without the Event Hub
	// stream, and what closes the stream's gaps with it. On by default.
	AuditPull         bool
	AuditPullInterval time.Duration

	// ExpiryThresholds are the credential-expiry warning thresholds,
	// longest first (default 30d,14d,7d,1d); none (the setting present
	// but empty, or "off") turns the daily expiry pass off. ExpiryTime is
	// the time of day, UTC, from which the day's pass runs, as an offset
	// from midnight (default 08:00).
	ExpiryThresholds []time.Duration
	ExpiryTime       time.Duration

	Storage StorageConfig

	// Warnings are settings that were ignored rather than fatal: a webhook
	// URL that is an unresolved Key Vault reference turns its channel off
	// instead of stopping the handler (and the sweep with it). serve logs
	// each at ERROR level on start. They never hold a setting's value.
	Warnings []*Error
}

// StorageConfig says where state lives. With neither a connection string nor
// an account name, state is in memory (the embedded default).
type StorageConfig struct {
	ConnectionString Secret
	AccountName      string
	Credential       string
	ClientID         string
	TableEndpoint    string
}

// InMemory reports whether no state store is configured.
func (s StorageConfig) InMemory() bool {
	return s.ConnectionString == "" && s.AccountName == "" && s.TableEndpoint == ""
}

// GraphScope is the token scope for the configured Graph endpoint.
func (c Config) GraphScope() string { return c.GraphEndpoint + "/.default" }

// GraphBaseURL is the v1.0 service URL requests go to.
func (c Config) GraphBaseURL() string { return c.GraphEndpoint + "/v1.0" }

// Guard is the set of apps never acted on.
func (c Config) Guard() appwarden.Guard {
	return appwarden.Guard{SelfAppID: c.ClientID, BreakGlass: c.BreakGlassAppIDs,
		ActOnMicrosoftApps: c.ActOnMicrosoftApps, ActOnManagedIdentities: c.ActOnManagedIDs}
}

// Secret is a setting value that must never be printed. Its String and
// LogValue redact it; use Reveal where the value is really needed.
type Secret string

// String redacts.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// LogValue redacts in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// GoString redacts in %#v.
func (s Secret) GoString() string { return s.String() }

// Reveal returns the value itself.
func (s Secret) Reveal() string { return string(s) }

// FromEnv reads the configuration from the process environment, where a
// setting present but empty differs from one not set (see LoadLookup).
func FromEnv() (Config, error) { return LoadLookup(os.LookupEnv) }

// Load reads and validates every setting through getenv. It reports every
// bad setting at once, each error naming its setting. An empty value is
// taken for a setting not set.
func Load(getenv func(string) string) (Config, error) {
	return LoadLookup(func(k string) (string, bool) {
		v := getenv(k)
		return v, v != ""
	})
}

// LoadLookup is Load through lookup (os.LookupEnv), which tells a setting
// present but empty from one not set: the few settings whose empty value
// means something (APPWARDEN_EXPIRY_THRESHOLDS: off) read that.
func LoadLookup(lookup func(string) (string, bool)) (Config, error) {
	r := reader{getenv: func(k string) string { v, _ := lookup(k); return v }, lookup: lookup}
	c := Config{
		Port:               r.port(Port),
		IdentityEndpoint:   r.url(IdentityEndpoint, false),
		IdentityHeader:     Secret(r.str(IdentityHeader)),
		ClientID:           r.guid(ClientID),
		GraphEndpoint:      r.graphEndpoint(GraphEndpoint),
		Mode:               r.mode(ModeSetting),
		PolicyFile:         r.file(PolicyFile),
		TeamsWebhookURL:    Secret(r.webhook(TeamsWebhookURL)),
		SecurityWebhookURL: Secret(r.webhook(SecurityWebhookURL)),
		MailSender:         r.mailbox(MailSender),
		NotifyMinSeverity:  r.severity(NotifyMinSeverity, appwarden.SeverityMedium),
		MaxActionsPerHour:  r.intRange(MaxActionsPerHour, 20, 0, 100000),
		SweepLookback:      r.duration(SweepLookback, time.Hour),
		SweepJudgeAll:      r.boolean(SweepJudgeAll),
		BreakGlassAppIDs:   r.guidList(BreakGlassAppIDs),
		LogLevel:           r.level(LogLevel),
		ActOnMicrosoftApps: r.boolean(ActOnMicrosoftApps),
		ActOnManagedIDs:    r.boolean(ActOnManagedIDs),
		AuditPull:          r.booleanDefault(AuditPull, true),
		AuditPullInterval:  r.durationRange(AuditPullInterval, DefaultAuditPullInterval, MinAuditPullInterval, MaxAuditPullInterval),
		ExpiryThresholds:   r.thresholds(ExpiryThresholds),
		ExpiryTime:         r.timeOfDay(ExpiryTime, expiry.DefaultTime),
		Storage: StorageConfig{
			ConnectionString: Secret(r.connectionString(Storage)),
			AccountName:      r.accountName(StorageAccountName),
			Credential:       r.credential(StorageCredential),
			ClientID:         r.guid(StorageClientID),
			TableEndpoint:    r.url(StorageTableEndpoint, false),
		},
	}
	if c.IdentityEndpoint != "" && c.IdentityHeader == "" {
		r.fail(IdentityHeader, "must be set when %s is set", IdentityEndpoint)
	}
	if c.Storage.ConnectionString != "" && c.Storage.AccountName != "" {
		r.fail(StorageAccountName, "set either %s or %s, not both", Storage, StorageAccountName)
	}
	c.Warnings = r.warnings
	return c, errors.Join(r.errs...)
}

// Error is one bad setting.
type Error struct {
	Setting string
	Problem string
}

func (e *Error) Error() string { return e.Setting + ": " + e.Problem }

type reader struct {
	getenv   func(string) string
	lookup   func(string) (string, bool)
	errs     []error
	warnings []*Error
}

func (r *reader) fail(name, format string, args ...any) {
	r.errs = append(r.errs, &Error{Setting: name, Problem: fmt.Sprintf(format, args...)})
}

func (r *reader) str(name string) string { return strings.TrimSpace(r.getenv(name)) }

func (r *reader) port(name string) int {
	v := r.str(name)
	if v == "" {
		return 0 // checked by the serve command, which is the only one that listens
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		r.fail(name, "%q is not a TCP port (1-65535)", v)
		return 0
	}
	return n
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (r *reader) guid(name string) string {
	v := r.str(name)
	if v != "" && !guidRE.MatchString(v) {
		r.fail(name, "%q is not a GUID", v)
		return ""
	}
	return strings.ToLower(v)
}

func (r *reader) guidList(name string) []string {
	v := r.str(name)
	if v == "" {
		return nil
	}
	var out []string
	for i, f := range strings.FieldsFunc(v, func(c rune) bool { return c == ',' || c == ';' || c == ' ' }) {
		if !guidRE.MatchString(f) {
			r.fail(name, "item %d %q is not a GUID", i+1, f)
			continue
		}
		out = append(out, strings.ToLower(f))
	}
	return out
}

// isKeyVaultReference reports whether v is an App Service Key Vault
// reference, which the platform leaves in place when it cannot resolve it.
func isKeyVaultReference(v string) bool {
	const prefix = "@Microsoft.KeyVault("
	return len(v) >= len(prefix) && strings.EqualFold(v[:len(prefix)], prefix)
}

// webhook reads a notification channel's webhook URL (a secret). An
// unresolved Key Vault reference turns the channel off with a warning; any
// other bad value is an error, as for every setting.
func (r *reader) webhook(name string) string {
	if isKeyVaultReference(r.str(name)) {
		r.warnings = append(r.warnings, &Error{Setting: name, Problem: "unresolved Key Vault reference: this notification channel is OFF until the platform can read the secret " +
			"(check that the identity in keyVaultReferenceIdentity has Key Vault Secrets User on the vault, then restart the app)"})
		return ""
	}
	return r.url(name, true)
}

// url validates an absolute http(s) URL. A secret URL is never echoed back.
func (r *reader) url(name string, secret bool) string {
	v := r.str(name)
	if v == "" {
		return ""
	}
	if isKeyVaultReference(v) {
		r.fail(name, "is an unresolved Key Vault reference: the platform could not read the secret (check that the identity in keyVaultReferenceIdentity has Key Vault Secrets User on the vault)")
		return ""
	}
	shown := fmt.Sprintf("%q", v)
	if secret {
		shown = "the value"
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		r.fail(name, "%s is not an absolute http(s) URL", shown)
		return ""
	}
	if secret && u.Scheme != "https" && !isLoopback(u.Hostname()) {
		r.fail(name, "must use https (plain http is accepted only for localhost)")
		return ""
	}
	return v
}

func (r *reader) graphEndpoint(name string) string {
	v := r.str(name)
	if v == "" {
		return DefaultGraphEndpoint
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		r.fail(name, "%q is not an absolute URL such as %s", v, DefaultGraphEndpoint)
		return DefaultGraphEndpoint
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	case u.Scheme == "http":
		r.fail(name, "%q uses plain http, which is accepted only for localhost and 127.0.0.1", v)
		return DefaultGraphEndpoint
	default:
		r.fail(name, "%q must be an https URL", v)
		return DefaultGraphEndpoint
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		r.fail(name, "%q must be the service root without a path (requests go to <root>/v1.0)", v)
		return DefaultGraphEndpoint
	}
	return u.Scheme + "://" + u.Host
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (r *reader) mode(name string) appwarden.Mode {
	v := r.str(name)
	if v == "" {
		return appwarden.ModeAudit
	}
	m, err := appwarden.ParseMode(v)
	if err != nil {
		r.fail(name, "%v", err)
		return appwarden.ModeAudit
	}
	return m
}

func (r *reader) file(name string) string {
	v := r.str(name)
	if v == "" {
		return ""
	}
	st, err := os.Stat(v)
	if err != nil {
		r.fail(name, "cannot read policy file %q: %v", v, errors.Unwrap(err))
		return ""
	}
	if st.IsDir() {
		r.fail(name, "%q is a directory, not a policy file", v)
		return ""
	}
	return v
}

func (r *reader) mailbox(name string) string {
	v := r.str(name)
	if v == "" {
		return ""
	}
	if at := strings.IndexByte(v, '@'); at < 1 || at == len(v)-1 || strings.ContainsAny(v, " <>") {
		r.fail(name, "%q is not a mailbox address (user@domain)", v)
		return ""
	}
	return v
}

func (r *reader) severity(name string, def appwarden.Severity) appwarden.Severity {
	v := r.str(name)
	if v == "" {
		return def
	}
	s, err := appwarden.ParseSeverity(v)
	if err != nil {
		r.fail(name, "%v", err)
		return def
	}
	return s
}

func (r *reader) intRange(name string, def, min, max int) int {
	v := r.str(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		r.fail(name, "%q is not a whole number from %d to %d", v, min, max)
		return def
	}
	return n
}

func (r *reader) duration(name string, def time.Duration) time.Duration {
	v := r.str(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		r.fail(name, "%q is not a duration such as 1h or 30m", v)
		return def
	}
	return d
}

func (r *reader) boolean(name string) bool { return r.booleanDefault(name, false) }

func (r *reader) booleanDefault(name string, def bool) bool {
	v := r.str(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, "%q is not true or false", v)
		return def
	}
	return b
}

// durationRange reads a duration from min to max.
func (r *reader) durationRange(name string, def, min, max time.Duration) time.Duration {
	v := r.str(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < min || d > max {
		r.fail(name, "%q is not a duration from %s to %s, such as 1m or 90s", v, min, max)
		return def
	}
	return d
}

// thresholds reads the expiry warning thresholds: unset is the default,
// present but empty (or "off") is none.
func (r *reader) thresholds(name string) []time.Duration {
	v, set := r.lookup(name)
	v = strings.TrimSpace(v)
	switch {
	case !set:
		return slices.Clone(expiry.DefaultThresholds)
	case v == "" || strings.EqualFold(v, "off"):
		return nil
	}
	ths, err := expiry.ParseThresholds(v)
	if err != nil {
		r.fail(name, "%v: want a comma-separated list of days or durations such as 30d,14d,7d,1d (empty turns expiry warnings off)", err)
		return slices.Clone(expiry.DefaultThresholds)
	}
	if len(ths) == 0 {
		return nil
	}
	return ths
}

// timeOfDay reads a time of day, UTC, as HH:MM: the offset from midnight.
func (r *reader) timeOfDay(name string, def time.Duration) time.Duration {
	v := r.str(name)
	if v == "" {
		return def
	}
	h, m, ok := strings.Cut(v, ":")
	hh, herr := strconv.Atoi(h)
	mm, merr := strconv.Atoi(m)
	if !ok || herr != nil || merr != nil || len(h) < 1 || len(h) > 2 || len(m) != 2 || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		r.fail(name, "%q is not a time of day, UTC, as HH:MM (00:00 to 23:59), such as 08:00", v)
		return def
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute
}

func (r *reader) level(name string) slog.Level {
	v := r.str(name)
	if v == "" {
		return slog.LevelInfo
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		r.fail(name, "%q is not a log level (debug, info, warn, error)", v)
		return slog.LevelInfo
	}
	return l
}

func (r *reader) connectionString(name string) string {
	v := r.str(name)
	if v == "" {
		return ""
	}
	if v == "UseDevelopmentStorage=true" {
		return v
	}
	keys := map[string]bool{}
	for _, part := range strings.Split(v, ";") {
		if k, _, ok := strings.Cut(part, "="); ok {
			keys[strings.ToLower(strings.TrimSpace(k))] = true
		}
	}
	if !keys["accountname"] && !keys["tableendpoint"] {
		r.fail(name, "is not a storage connection string (it needs AccountName= or TableEndpoint=, or UseDevelopmentStorage=true)")
		return ""
	}
	return v
}

var accountRE = regexp.MustCompile(`^[a-z0-9]{3,24}$`)

func (r *reader) accountName(name string) string {
	v := r.str(name)
	if v != "" && !accountRE.MatchString(v) {
		r.fail(name, "%q is not a storage account name (3-24 lowercase letters and digits)", v)
		return ""
	}
	return v
}

func (r *reader) credential(name string) string {
	v := r.str(name)
	if v != "" && v != "managedidentity" {
		r.fail(name, "%q is not supported (the only value is managedidentity)", v)
		return ""
	}
	return v
}

// LogValue lists the settings for the start-up log line, secrets redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int("port", c.Port),
		slog.String("graphEndpoint", c.GraphEndpoint),
		slog.String("mode", string(c.Mode)),
		slog.String("policyFile", c.PolicyFile),
		slog.Bool("managedIdentity", c.IdentityEndpoint != ""),
		slog.String("clientId", c.ClientID),
		slog.Bool("teamsWebhook", c.TeamsWebhookURL != ""),
		slog.Bool("securityWebhook", c.SecurityWebhookURL != ""),
		slog.String("mailSender", c.MailSender),
		slog.String("notifyMinSeverity", c.NotifyMinSeverity.String()),
		slog.Int("maxActionsPerHour", c.MaxActionsPerHour),
		slog.Duration("sweepLookback", c.SweepLookback),
		slog.Bool("sweepJudgeAll", c.SweepJudgeAll),
		slog.Bool("auditPull", c.AuditPull),
		slog.Duration("auditPullInterval", c.AuditPullInterval),
		slog.String("expiryThresholds", thresholdList(c.ExpiryThresholds)),
		slog.String("expiryTime", fmt.Sprintf("%02d:%02d", int(c.ExpiryTime.Hours()), int(c.ExpiryTime.Minutes())%60)),
		slog.Int("breakGlassApps", len(c.BreakGlassAppIDs)),
		slog.Bool("actOnMicrosoftApps", c.ActOnMicrosoftApps),
		slog.Bool("actOnManagedIdentities", c.ActOnManagedIDs),
		slog.String("state", c.Storage.Describe()),
	)
}

// thresholdList writes the thresholds as the setting would ("off" for none).
func thresholdList(ths []time.Duration) string {
	if len(ths) == 0 {
		return "off"
	}
	var parts []string
	for _, d := range ths {
		if d%(24*time.Hour) == 0 {
			parts = append(parts, strconv.Itoa(int(d/(24*time.Hour)))+"d")
		} else {
			parts = append(parts, d.String())
		}
	}
	return strings.Join(parts, ",")
}

// Describe names the state store without revealing a key.
func (s StorageConfig) Describe() string {
	switch {
	case s.ConnectionString != "":
		return "table storage (connection string)"
	case s.AccountName != "":
		return "table storage account " + s.AccountName + " (managed identity)"
	case s.TableEndpoint != "":
		return "table storage " + s.TableEndpoint + " (managed identity)"
	}
	return "in memory"
}
