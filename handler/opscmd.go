package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/appwarden/appwarden/handler/config"
	"github.com/appwarden/appwarden/handler/store"
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
		fmt.Fprintf(stderr, "handler: invalid configuration:\n%v\n", err)
		return cfg, false
	}
	return cfg, true
}

func runHistory(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("history", flag.ContinueOnError)
	fs.SetOutput(stderr)
	appID := fs.String("app", "", "the appId whose story to print (`_poison` for inputs that could not be decoded, `_inbox` for signals pending or expired, `_tenant` for sweeps and registrations)")
	asJSON := fs.Bool("json", false, "print JSON lines, one record each, for machines")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: handler history --app <appId> [--json]

Prints an app's story in time order: each signal, decision, action (with its
before-state) and release, from the state store in AzureWebJobsStorage.

Examples:
  handler history --app 5bee10b5-db93-4475-ae1a-3d87e059d287
  handler history --app _poison --json | jq .
  handler history --app _inbox
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *appID == "" {
		fmt.Fprintln(stderr, "handler history: --app is required")
		fs.Usage()
		return 2
	}
	cfg, ok := opsEnv(stderr)
	if !ok {
		return 2
	}
	st, err := openStore(ctx, cfg, cfg.IdentityEndpoint != "")
	if err != nil {
		fmt.Fprintf(stderr, "handler history: %v\n", err)
		return 2
	}
	return printHistory(ctx, trail.New(st), *appID, *asJSON, stdout, stderr)
}

// printHistory writes an app's story.
func printHistory(ctx context.Context, tr *trail.Trail, appID string, asJSON bool, stdout, stderr io.Writer) int {
	entries, err := tr.History(ctx, appID)
	if err != nil {
		fmt.Fprintf(stderr, "handler history: %v\n", err)
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
	case store.KindSignal:
		return s("kind", "source", "activity", "dedupeKey")
	case store.KindDecision:
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
		return line
	case store.KindAction:
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
	case store.KindRelease:
		return s("by", "reason", "restored", "lost")
	case store.KindPoison:
		return s("function", "errors")
	case store.KindInbox:
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

func runRelease(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("release", flag.ContinueOnError)
	fs.SetOutput(stderr)
	appID := fs.String("app", "", "the appId to release")
	reason := fs.String("reason", "", "why the app is released (recorded)")
	by := fs.String("by", "", "who releases it, as a UPN (recorded)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: handler release --app <appId> --reason "..." --by <upn>

Restores what AppWarden changed on an app: re-enables the service principal,
reactivates the registration, re-creates removed app role assignments and
grants, restores tags and notes. Removed client secrets cannot come back; the
command says so. The release is recorded, and the same findings will not
quarantine the app again until it changes.

Example:
  handler release --app 5bee10b5-db93-4475-ae1a-3d87e059d287 --reason "approved by CAB-1234" --by alice@contoso.com
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *appID == "" || *reason == "" || *by == "" {
		fmt.Fprintln(stderr, "handler release: --app, --reason and --by are all required")
		fs.Usage()
		return 2
	}
	cfg, ok := opsEnv(stderr)
	if !ok {
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	stg, err := wire(ctx, cfg, log, cfg.IdentityEndpoint != "")
	if err != nil {
		fmt.Fprintf(stderr, "handler release: %v\n", err)
		return 2
	}
	rel, err := stg.remediator.Release(ctx, *appID, *reason, *by)
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
		fmt.Fprintf(stderr, "handler release: %v\n", err)
		return 2
	}
	fmt.Fprintf(stdout, "released %s by %s: %s\n", rel.AppID, rel.By, rel.Reason)
	return 0
}

func runLimit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("limit reset", flag.ContinueOnError)
	fs.SetOutput(stderr)
	by := fs.String("by", "", "who resets the limit, as a UPN (recorded)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: handler limit reset --by <upn>

Clears the blast-radius flag that APPWARDEN_MAX_ACTIONS_PER_HOUR tripped, so
enforce decisions act again.

Example:
  handler limit reset --by alice@contoso.com
`)
		fs.PrintDefaults()
	}
	if len(args) == 0 || args[0] != "reset" {
		fs.Usage()
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *by == "" {
		fmt.Fprintln(stderr, "handler limit reset: --by is required")
		return 2
	}
	cfg, ok := opsEnv(stderr)
	if !ok {
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	stg, err := wire(ctx, cfg, log, cfg.IdentityEndpoint != "")
	if err != nil {
		fmt.Fprintf(stderr, "handler limit: %v\n", err)
		return 2
	}
	was, err := stg.remediator.ResetLimit(ctx, *by)
	if err != nil {
		fmt.Fprintf(stderr, "handler limit reset: %v\n", err)
		return 2
	}
	if !was {
		fmt.Fprintln(stdout, "the blast-radius limit was not tripped")
		return 0
	}
	fmt.Fprintf(stdout, "blast-radius limit reset by %s\n", *by)
	return 0
}
