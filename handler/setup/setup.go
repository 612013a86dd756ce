// Package setup builds AppWarden's stages from configuration: the policy,
// the Graph client, the state store, remediation, notification, the inbox,
// the pipeline and the sweep, and the functions the custom handler serves.
// Both programs wire through it: the custom handler (./handler) and the
// operator CLI (./handler/cmd/appwarden), so nothing is wired twice.
package setup

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/auditlog"
	"github.com/appwarden/appwarden/handler/auditpull"
	"github.com/appwarden/appwarden/handler/baseline"
	"github.com/appwarden/appwarden/handler/config"
	"github.com/appwarden/appwarden/handler/expiry"
	"github.com/appwarden/appwarden/handler/functions"
	"github.com/appwarden/appwarden/handler/graph"
	"github.com/appwarden/appwarden/handler/inbox"
	"github.com/appwarden/appwarden/handler/notify"
	"github.com/appwarden/appwarden/handler/pipeline"
	"github.com/appwarden/appwarden/handler/policy"
	"github.com/appwarden/appwarden/handler/remediate"
	"github.com/appwarden/appwarden/handler/store"
	"github.com/appwarden/appwarden/handler/sweep"
	"github.com/appwarden/appwarden/handler/trail"
)

// Evaluator binds a policy to the settings it is judged under.
type Evaluator struct {
	Policy *policy.Policy
	Mode   appwarden.Mode
	Guard  appwarden.Guard
}

// Evaluate implements pipeline.Evaluator. The decision's time is the app's
// resolution time, so the same App always gives the same Decision.
func (e Evaluator) Evaluate(app *appwarden.App) appwarden.Decision {
	return e.Policy.Evaluate(app, policy.Env{Now: app.ResolvedAt, Mode: e.Mode, Guard: e.Guard})
}

// LoadPolicy reads APPWARDEN_POLICY_FILE, or the built-in policy.
func LoadPolicy(cfg config.Config) (*policy.Policy, error) {
	if cfg.PolicyFile != "" {
		p, err := ReadPolicy(cfg.PolicyFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", config.PolicyFile, err)
		}
		return p, nil
	}
	return policy.Default()
}

// Stages are the wired pipeline and what it was built from.
type Stages struct {
	Pipeline *pipeline.Pipeline
	Trail    *trail.Trail
	Graph    *graph.Client
	Store    appwarden.Store
	Inbox    *inbox.Inbox

	Remediator *remediate.Remediator
	Notifier   *notify.Notifier
	// Baseline keeps each app's facts (what a change is judged against).
	Baseline *baseline.Keeper
}

// Server is the custom handler over these stages: the functions AppWarden
// serves, each invocation run through the pipeline. The deployed handler
// and the demo serve exactly this.
func (s *Stages) Server(log *slog.Logger) *functions.Server {
	return &functions.Server{
		Functions: Functions(),
		Processor: s.Pipeline,
		Poison:    s.Trail,
		Inbox:     s.Inbox,
		Log:       log,
		Notices:   notices(s.Notifier),
	}
}

// notices is the Notifier as the server's Notices, or nil (not a typed nil).
func notices(n *notify.Notifier) functions.Notices {
	if n == nil {
		return nil
	}
	return n
}

// InstanceName names this process in action claims.
func InstanceName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", host, os.Getpid())
}

// Wire builds the pipeline from configuration, calling Graph (and Table
// Storage, unless its settings name their own) with creds.
func Wire(ctx context.Context, cfg config.Config, log *slog.Logger, creds graph.Credentials) (*Stages, error) {
	pol, err := LoadPolicy(cfg)
	if err != nil {
		return nil, err
	}
	cred, err := creds(cfg.ClientID)
	if err != nil {
		return nil, err
	}
	gc, err := graph.New(graph.Options{Endpoint: cfg.GraphEndpoint, Credential: cred})
	if err != nil {
		return nil, err
	}
	st, err := OpenStore(ctx, cfg, creds)
	if err != nil {
		return nil, err
	}
	tr := trail.New(st)
	rem := &remediate.Remediator{
		Graph: gc, Store: st, Guard: cfg.Guard(),
		MaxPerHour: cfg.MaxActionsPerHour, Owner: InstanceName(),
	}
	nt := notify.New(notify.Options{
		Store:       st,
		Teams:       cfg.TeamsWebhookURL.Reveal(),
		Security:    cfg.SecurityWebhookURL.Reveal(),
		MailSender:  cfg.MailSender,
		Mailer:      gc,
		MinSeverity: cfg.NotifyMinSeverity,
	})
	rem.Alerter = nt
	ib := &inbox.Inbox{Store: st}
	p := &pipeline.Pipeline{
		Trail:     tr,
		Resolver:  gc,
		Policy:    Evaluator{Policy: pol, Mode: cfg.Mode, Guard: cfg.Guard()},
		Actor:     rem,
		Notifier:  nt,
		Outbox:    nt,
		Decisions: tr,
		Inbox:     ib,
	}
	bl := &baseline.Keeper{Store: st, Lookback: cfg.SweepLookback, JudgeAll: cfg.SweepJudgeAll}
	p.Baseline = bl
	sw := &sweep.Sweeper{Feed: gc, Store: st, Pending: ib, Handle: p.HandleApp, Lock: p.LockApp, Baseline: bl, Lookback: cfg.SweepLookback, JudgeAll: cfg.SweepJudgeAll}
	p.Sweeper = sw
	if pl := AuditPuller(cfg, gc, st, tr, ib); pl != nil {
		p.AuditPull = pl
	}
	if ep := ExpiryPass(cfg, st, gc, nt); ep != nil {
		p.Expiry = ep
	}
	log.Info("pipeline wired", "policyVersion", pol.Version(), "rules", len(pol.RuleIDs()), "state", cfg.Storage.Describe(),
		"auditPull", p.AuditPull != nil, "auditPullInterval", cfg.AuditPullInterval.String(), "expiryPass", p.Expiry != nil)
	return &Stages{Pipeline: p, Trail: tr, Graph: gc, Store: st, Inbox: ib, Remediator: rem, Notifier: nt, Baseline: bl}, nil
}

// AuditPuller is the timer's pull of the Entra audit log
// (APPWARDEN_AUDIT_PULL, APPWARDEN_AUDIT_PULL_INTERVAL): Graph as the
// source, the trail's dedupe markers to skip what the stream delivered, the
// inbox for what fails. Nil when the pull is off.
func AuditPuller(cfg config.Config, src appwarden.AuditSource, st appwarden.Store, tr *trail.Trail, ib *inbox.Inbox) *auditpull.Puller {
	if !cfg.AuditPull {
		return nil
	}
	return &auditpull.Puller{
		Source: src, Store: st, Decode: auditlog.Decode, Seen: tr, Pending: ib, Poison: tr,
		Interval: cfg.AuditPullInterval, Owner: InstanceName(),
	}
}

// ExpiryPass is the timer's daily credential-expiry pass
// (APPWARDEN_EXPIRY_THRESHOLDS, APPWARDEN_EXPIRY_TIME): the facts the
// sweep and decisions recorded, Graph for the owners of an app recorded
// without them and, when owners is also an expiry.CredentialLister (the
// graph.Client), for the two daily credential listings that cover what a
// first sweep's record lacks (certificates, service principal
// credentials); and the notifier's expiry cards and digests when it has
// them (else the warnings are logged). Nil when the warnings are off.
func ExpiryPass(cfg config.Config, st appwarden.Store, owners expiry.OwnerReader, n any) *expiry.Pass {
	if len(cfg.ExpiryThresholds) == 0 {
		return nil
	}
	ep := &expiry.Pass{Store: st, Facts: baseline.Ledger{Store: st}, Thresholds: cfg.ExpiryThresholds, At: cfg.ExpiryTime, Owners: owners, Owner: InstanceName()}
	if l, ok := owners.(expiry.CredentialLister); ok {
		ep.Lister = l
	}
	if en, ok := n.(appwarden.ExpiryNotifier); ok {
		ep.Notifier = en
	}
	return ep
}

// The Graph client reads both what the expiry pass asks of Graph.
var (
	_ expiry.OwnerReader      = (*graph.Client)(nil)
	_ expiry.CredentialLister = (*graph.Client)(nil)
)

// OpenStore opens the configured state store: Table Storage through a
// connection string or the managed identity, in memory when neither is set.
func OpenStore(ctx context.Context, cfg config.Config, creds graph.Credentials) (appwarden.Store, error) {
	sc := cfg.Storage
	switch {
	case sc.InMemory():
		// A process that runs for days in memory mode must not grow with
		// every event: keep recent history; the log lines keep all of it.
		return store.NewMemoryWithHistory(store.DefaultMemoryHistory), nil
	case sc.ConnectionString != "":
		st, err := store.NewTableFromConnectionString(ctx, sc.ConnectionString.Reveal())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", config.Storage, err)
		}
		return st, nil
	}
	endpoint := sc.TableEndpoint
	if endpoint == "" {
		endpoint = "https://" + sc.AccountName + ".table.core.windows.net"
	}
	clientID := sc.ClientID
	if clientID == "" {
		clientID = cfg.ClientID
	}
	if sc.Credential == "managedidentity" {
		creds = graph.ManagedIdentity
	}
	cred, err := creds(clientID)
	if err != nil {
		return nil, err
	}
	st, err := store.NewTableWithCredential(ctx, endpoint, cred)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.StorageAccountName, err)
	}
	return st, nil
}

// ReadPolicy reads and compiles the policy file at path; errors name the
// path as given, with line and field (policy.Error). The policy package
// itself reads no files.
func ReadPolicy(path string) (*policy.Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	return policy.Parse(path, data)
}
