package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/config"
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

// evaluator binds a policy to the settings it is judged under.
type evaluator struct {
	policy *policy.Policy
	mode   appwarden.Mode
	guard  appwarden.Guard
}

// Evaluate implements pipeline.Evaluator. The decision's time is the app's
// resolution time, so the same App always gives the same Decision.
func (e evaluator) Evaluate(app *appwarden.App) appwarden.Decision {
	return e.policy.Evaluate(app, policy.Env{Now: app.ResolvedAt, Mode: e.mode, Guard: e.guard})
}

// loadPolicy reads APPWARDEN_POLICY_FILE, or the built-in policy.
func loadPolicy(cfg config.Config) (*policy.Policy, error) {
	if cfg.PolicyFile != "" {
		p, err := policy.Load(cfg.PolicyFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", config.PolicyFile, err)
		}
		return p, nil
	}
	return policy.Default()
}

// stages are the wired pipeline and what it was built from.
type stages struct {
	pipeline *pipeline.Pipeline
	trail    *trail.Trail
	graph    *graph.Client
	store    store.Store
	inbox    *inbox.Inbox

	remediator *remediate.Remediator
	notifier   *notify.Notifier
}

// graphWriter adapts the Graph client to remediation's small interface.
type graphWriter struct{ c *graph.Client }

func (g graphWriter) Apply(ctx context.Context, ws []remediate.Write) ([]remediate.Result, error) {
	in := make([]graph.Write, len(ws))
	for i, w := range ws {
		in[i] = graph.Write{Method: w.Method, Path: w.Path, Body: w.Body}
	}
	res, err := g.c.Apply(ctx, in)
	if err != nil {
		return nil, err
	}
	out := make([]remediate.Result, len(res))
	for i, r := range res {
		out[i] = remediate.Result{Status: r.Status, Err: r.Err, Created: r.Created}
	}
	return out, nil
}

// graphTransport keeps an idle connection to Graph for each invocation in
// flight. http.DefaultTransport keeps 2 per host, so under concurrency most
// requests paid a new TCP (in Azure, TLS) handshake.
func graphTransport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 100
	return t
}

// instanceName names this process in action claims.
func instanceName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", host, os.Getpid())
}

// wire builds the pipeline from configuration. managedIdentity selects the
// Functions credential; the CLI uses DefaultAzureCredential.
func wire(ctx context.Context, cfg config.Config, log *slog.Logger, managedIdentity bool) (*stages, error) {
	pol, err := loadPolicy(cfg)
	if err != nil {
		return nil, err
	}
	cred, err := graph.NewCredential(managedIdentity, cfg.ClientID)
	if err != nil {
		return nil, err
	}
	gc, err := graph.New(graph.Options{Endpoint: cfg.GraphEndpoint, Credential: cred, Transport: graphTransport()})
	if err != nil {
		return nil, err
	}
	st, err := openStore(ctx, cfg, managedIdentity)
	if err != nil {
		return nil, err
	}
	tr := trail.New(st)
	rem := &remediate.Remediator{
		Graph: graphWriter{gc}, Store: st, Guard: cfg.Guard(),
		MaxPerHour: cfg.MaxActionsPerHour, Owner: instanceName(),
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
		Policy:    evaluator{policy: pol, mode: cfg.Mode, guard: cfg.Guard()},
		Actor:     rem,
		Notifier:  nt,
		Outbox:    nt,
		Decisions: tr,
		Inbox:     ib,
	}
	sw := &sweep.Sweeper{Feed: gc, Store: st, Pending: ib, Handle: p.HandleApp, Lookback: cfg.SweepLookback, JudgeAll: cfg.SweepJudgeAll}
	p.Sweeper = sweepAdapter{sw}
	log.Info("pipeline wired", "policyVersion", pol.Version(), "rules", len(pol.RuleIDs()), "state", cfg.Storage.Describe())
	return &stages{pipeline: p, trail: tr, graph: gc, store: st, inbox: ib, remediator: rem, notifier: nt}, nil
}

// sweepAdapter drops the sweep's stats for the pipeline.
type sweepAdapter struct{ s *sweep.Sweeper }

func (a sweepAdapter) Sweep(ctx context.Context, log *slog.Logger) error {
	_, err := a.s.Sweep(ctx, log)
	return err
}

// openStore opens the configured state store: Table Storage through a
// connection string or the managed identity, in memory when neither is set.
func openStore(ctx context.Context, cfg config.Config, managedIdentity bool) (store.Store, error) {
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
	cred, err := graph.NewCredential(managedIdentity || sc.Credential == "managedidentity", clientID)
	if err != nil {
		return nil, err
	}
	st, err := store.NewTableWithCredential(ctx, endpoint, cred)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.StorageAccountName, err)
	}
	return st, nil
}
