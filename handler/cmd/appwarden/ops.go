package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/config"
	"github.com/appwarden/appwarden/handler/setup"
	"github.com/appwarden/appwarden/handler/trail"
)

// The operator commands below read and write the state store configured by
// AzureWebJobsStorage (or its identity-based form), the same one the
// deployed handler uses. With no storage configured, state is in memory and
// these commands see an empty history.

// opsEnv loads configuration for an operator command.
func opsEnv(stderr io.Writer) (config.Config, bool) {
	cfg, err := config.FromEnv()
	if err != nil {
		fmt.Fprintf(stderr, "appwarden: invalid configuration:\n%v\n", err)
		return cfg, false
	}
	return cfg, true
}

const storeHelp = `The state store is the one the deployed handler uses: ` + config.Storage + `
(a connection string), or its identity-based form ` + config.StorageAccountName + `
(with ` + config.StorageCredential + `, ` + config.StorageClientID + `, ` + config.StorageTableEndpoint + `).
With neither set, state is in memory and the history is empty.`

func newHistoryCmd() *cobra.Command {
	var appID string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "history --app APPID",
		Short: "Print an app's story: signals, decisions, actions, releases",
		Long: `Prints an app's story in time order: each signal, decision, action (with its
before-state) and release, from the state store.

` + storeHelp,
		Example: `  appwarden history --app 5bee10b5-db93-4475-ae1a-3d87e059d287
  appwarden history --app _poison --json | jq .
  appwarden history --app _inbox`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := notEmpty(cmd, "app"); err != nil {
				return err
			}
			return status(runHistory(cmd.Context(), appID, asJSON, cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&appID, "app", "", "the `APPID` whose story to print (_poison for inputs that could not be decoded, _inbox for signals pending or expired, _tenant for sweeps and registrations)")
	_ = cmd.MarkFlagRequired("app")
	fs.BoolVar(&asJSON, "json", false, "print JSON lines, one record each, for machines")
	return cmd
}

func runHistory(ctx context.Context, appID string, asJSON bool, stdout, stderr io.Writer) int {
	cfg, ok := opsEnv(stderr)
	if !ok {
		return 2
	}
	st, err := setup.OpenStore(ctx, cfg, credentials(cfg))
	if err != nil {
		fmt.Fprintf(stderr, "appwarden history: %v\n", err)
		return 2
	}
	return printHistory(ctx, trail.New(st), appID, asJSON, stdout, stderr)
}

// printHistory writes an app's story.
func printHistory(ctx context.Context, tr *trail.Trail, appID string, asJSON bool, stdout, stderr io.Writer) int {
	entries, err := tr.History(ctx, appID)
	if err != nil {
		fmt.Fprintf(stderr, "appwarden history: %v\n", err)
		return 2
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		for _, e := range entries {
			if err := enc.Encode(e); err != nil {
				return 2
			}
		}
		return 0
	}
	if len(entries) == 0 {
		fmt.Fprintf(stdout, "no records for %s\n", appID)
		return 0
	}
	for _, e := range entries {
		fmt.Fprintf(stdout, "%s  %-12s %s\n", e.Time.Format(time.RFC3339), e.Kind, summarize(e))
	}
	return 0
}

// summarize turns a record into one readable line.
func summarize(e trail.Entry) string {
	var v map[string]any
	if json.Unmarshal(e.Data, &v) != nil {
		return string(e.Data)
	}
	s := func(keys ...string) string {
		var parts []string
		for _, k := range keys {
			if x, ok := v[k]; ok && x != nil && x != "" {
				parts = append(parts, fmt.Sprintf("%s=%v", k, x))
			}
		}
		return strings.Join(parts, " ")
	}
	switch e.Kind {
	case appwarden.KindSignal:
		return s("kind", "source", "activity", "dedupeKey")
	case appwarden.KindDecision:
		line := ""
		if a, ok := v["app"].(map[string]any); ok {
			// Nothing was judged: say why.
			if r, ok := a["unresolvable"].(string); ok && r != "" {
				line = "unresolvable: " + r
			} else if a["deleted"] == true {
				line = "gone (deleted)"
			}
		}
		if d, ok := v["decision"].(map[string]any); ok {
			line = fmt.Sprintf("mode=%v %v", d["mode"], d["explanation"])
		}
		if o, ok := v["outcome"].(map[string]any); ok && o["skipped"] != nil && o["skipped"] != "" {
			line += fmt.Sprintf(" (skipped: %v)", o["skipped"])
		}
		return line + changeSummary(e.Data)
	case appwarden.KindAction:
		// The before-state is what a release restores: show it exactly.
		line := s("kind", "target", "status", "dryRun")
		if b, ok := v["before"]; ok && b != nil {
			raw, _ := json.Marshal(b)
			line += " before=" + string(raw)
		}
		if note := s("note"); note != "" {
			line += " " + note
		}
		return line
	case appwarden.KindRelease:
		return s("by", "reason", "restored", "lost")
	case appwarden.KindPoison:
		return s("function", "errors")
	case appwarden.KindInbox:
		// A signal an invocation could not decide: the timer re-drives it
		// while pending; expired says why it was given up.
		line := s("state", "attempts", "lastError", "reason")
		if sig, ok := v["signal"].(map[string]any); ok {
			line = fmt.Sprintf("%v %v appId=%v dedupeKey=%v ", sig["kind"], sig["source"], sig["appId"], sig["dedupeKey"]) + line
		}
		return line
	}
	return string(e.Data)
}

// changeSummary says what the change a decision judged added to an app
// AppWarden knew before: "; added: credential 1f0c… (ci secret), owner …".
// A new app's decision (everything counts as added) says nothing more.
func changeSummary(data json.RawMessage) string {
	var rec struct {
		App struct {
			Change *appwarden.Change `json:"change"`
		} `json:"app"`
	}
	if json.Unmarshal(data, &rec) != nil || rec.App.Change == nil || rec.App.Change.New {
		return ""
	}
	c := rec.App.Change
	if len(c.Added) == 0 {
		return "; the change added nothing"
	}
	var items []string
	for _, f := range c.Added {
		item := f.Kind + " " + cmp.Or(f.ID, f.Name)
		if f.ID != "" && f.Name != "" {
			item += " (" + f.Name + ")"
		}
		if f.State != "" {
			item += " " + f.State
		}
		items = append(items, item)
	}
	line := "; added: " + strings.Join(items, ", ")
	if !c.Initiator.IsZero() {
		line += " by " + c.Initiator.String()
	}
	return line
}

func newReleaseCmd() *cobra.Command {
	var appID, reason, by string
	cmd := &cobra.Command{
		Use:   "release --app APPID --reason TEXT --by UPN",
		Short: "Undo what AppWarden changed on an app",
		Long: `Restores what AppWarden changed on an app: re-enables the service principal,
reactivates the registration, re-creates removed app role assignments and
grants, restores tags and notes. Removed client secrets cannot come back; the
command says so. The release is recorded, and the same findings will not
quarantine the app again until it changes.

It writes to Microsoft Graph as the deployed handler does (the managed
identity when ` + config.IdentityEndpoint + ` is set, else DefaultAzureCredential; Graph at
` + config.GraphEndpoint + `), and reads the before-states from the state store.
` + storeHelp,
		Example: `  appwarden release --app 5bee10b5-db93-4475-ae1a-3d87e059d287 --reason "approved by CAB-1234" --by alice@contoso.com`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := notEmpty(cmd, "app", "reason", "by"); err != nil {
				return err
			}
			return status(runRelease(cmd.Context(), appID, reason, by, cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&appID, "app", "", "the `APPID` to release")
	fs.StringVar(&reason, "reason", "", "`TEXT`: why the app is released (recorded)")
	addBy(fs, &by, "who releases it, as a `UPN` (recorded)")
	for _, f := range []string{"app", "reason", "by"} {
		_ = cmd.MarkFlagRequired(f)
	}
	return cmd
}

// notEmpty refuses required flags given an empty value.
func notEmpty(cmd *cobra.Command, names ...string) error {
	for _, n := range names {
		if cmd.Flags().Lookup(n).Value.String() == "" {
			return fmt.Errorf("--%s must not be empty", n)
		}
	}
	return nil
}

// addBy defines --by.
func addBy(fs *pflag.FlagSet, by *string, usage string) {
	fs.StringVar(by, "by", "", usage)
}

// opsStages wires AppWarden as the deployed handler does (the same state
// store and Graph) for an operator command that acts; warnings go to
// stderr. false means the error has been printed.
func opsStages(ctx context.Context, command string, stderr io.Writer) (*setup.Stages, bool) {
	cfg, ok := opsEnv(stderr)
	if !ok {
		return nil, false
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	stg, err := setup.Wire(ctx, cfg, log, credentials(cfg))
	if err != nil {
		fmt.Fprintf(stderr, "appwarden %s: %v\n", command, err)
		return nil, false
	}
	return stg, true
}

func runRelease(ctx context.Context, appID, reason, by string, stdout, stderr io.Writer) int {
	stg, ok := opsStages(ctx, "release", stderr)
	if !ok {
		return 2
	}
	rel, err := stg.Remediator.Release(ctx, appID, reason, by)
	for _, r := range rel.Restored {
		fmt.Fprintf(stdout, "restored: %s\n", r)
	}
	for _, l := range rel.Lost {
		fmt.Fprintf(stdout, "cannot be restored: %s\n", l)
	}
	for _, f := range rel.Failed {
		fmt.Fprintf(stdout, "FAILED: %s\n", f)
	}
	if err != nil {
		fmt.Fprintf(stderr, "appwarden release: %v\n", err)
		return 2
	}
	// What the release restored is the operator's decision: it becomes the
	// app's baseline, so that the restored credential or grant is not taken
	// for a new escalation by the next change.
	if app, err := stg.Graph.ResolveSignal(ctx, slog.New(slog.DiscardHandler), appwarden.Signal{Kind: appwarden.AppUpdated, AppID: appID, Source: appwarden.SourceCLI, Time: time.Now()}); err != nil {
		fmt.Fprintf(stderr, "appwarden release: released, but the app could not be read back to record its new baseline (the next change may be judged against the old one): %v\n", err)
	} else if err := stg.Baseline.Record(ctx, app); err != nil {
		fmt.Fprintf(stderr, "appwarden release: released, but its new baseline could not be recorded: %v\n", err)
	}
	fmt.Fprintf(stdout, "released %s by %s: %s\n", rel.AppID, rel.By, rel.Reason)
	return 0
}

func newLimitCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "limit",
		Short:   "Clear the tripped blast-radius limit",
		Long:    "The blast-radius limit (" + config.MaxActionsPerHour + "). See appwarden limit reset --help.",
		Example: "  appwarden limit reset --by alice@contoso.com",
		RunE:    groupRun,
	}
	var by string
	reset := &cobra.Command{
		Use:   "reset --by UPN",
		Short: "Clear the tripped blast-radius limit, so enforce decisions act again",
		Long: `Clears the blast-radius flag that ` + config.MaxActionsPerHour + ` tripped, so
enforce decisions act again. The reset is recorded.

` + storeHelp,
		Example: "  appwarden limit reset --by alice@contoso.com",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := notEmpty(cmd, "by"); err != nil {
				return err
			}
			return status(runLimitReset(cmd.Context(), by, cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
	}
	addBy(reset.Flags(), &by, "who resets the limit, as a `UPN` (recorded)")
	_ = reset.MarkFlagRequired("by")
	cmd.AddCommand(reset)
	return cmd
}

func runLimitReset(ctx context.Context, by string, stdout, stderr io.Writer) int {
	stg, ok := opsStages(ctx, "limit reset", stderr)
	if !ok {
		return 2
	}
	was, err := stg.Remediator.ResetLimit(ctx, by)
	if err != nil {
		fmt.Fprintf(stderr, "appwarden limit reset: %v\n", err)
		return 2
	}
	if !was {
		fmt.Fprintln(stdout, "the blast-radius limit was not tripped")
		return 0
	}
	fmt.Fprintf(stdout, "blast-radius limit reset by %s\n", by)
	return 0
}
