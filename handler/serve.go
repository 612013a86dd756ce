package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/appwarden/appwarden/handler/config"
	"github.com/appwarden/appwarden/handler/graph"
	"github.com/appwarden/appwarden/handler/setup"
)

// memoryLimit is the Go runtime's soft memory limit for the handler, unless
// GOMEMLIMIT is set. Without it the GC lets the heap grow to about twice
// what is live before collecting. Measured with tests/bench (4,000 events,
// 64 in flight, in-memory state, records packed by handler/store): peak RSS
// 56 MB without a limit (24 MB of it code pages), 48-50 MB with this one,
// against issue #16's 50 MB goal; throughput fell from about 1,250 to about
// 1,000 events/s (30 MiB: 49.3-49.7 MB, 1,000-1,230/s). The limit is soft:
// when more is live (tens of thousands of contained apps in memory mode)
// the GC runs more often, capped by the runtime at half the CPUs; it never
// fails an allocation. GOMEMLIMIT (e.g. off) overrides it.
const memoryLimit = 28 << 20

// serve runs the custom handler until ctx ends.
func serve(ctx context.Context, stdout, stderr io.Writer) int {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(memoryLimit)
	}
	cfg, err := config.FromEnv()
	if err != nil {
		fmt.Fprintf(stderr, "handler: invalid configuration:\n%v\n", err)
		return 2
	}
	if cfg.Port == 0 {
		fmt.Fprintf(stderr, "handler: %s: must be set to the port the Functions host calls\n", config.Port)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	for _, w := range cfg.Warnings { // e.g. an unresolved Key Vault reference: that channel is off
		log.Error("configuration problem", "setting", w.Setting, "problem", w.Problem)
	}

	// Listen first: the host polls GET / from the moment it starts us.
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.Port)))
	if err != nil {
		fmt.Fprintf(stderr, "handler: listening on 127.0.0.1:%d: %v\n", cfg.Port, err)
		return 2
	}
	creds := graph.AzureCLI
	if cfg.IdentityEndpoint != "" {
		creds = graph.ManagedIdentity
	}
	stg, err := setup.Wire(ctx, cfg, log, creds)
	if err != nil {
		log.Error("start-up failed", "error", err)
		fmt.Fprintf(stderr, "handler: %v\n", err)
		return 2
	}
	hs := &http.Server{Handler: stg.Server(log).Handler(), ReadHeaderTimeout: 10 * time.Second}
	log.Info("AppWarden custom handler listening", "addr", ln.Addr().String(), "config", cfg)

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			log.Error("server stopped", "error", err)
			return 2
		}
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := hs.Shutdown(shutdown); err != nil {
			// The grace ran out with invocations still in flight.
			log.Warn("shutdown did not wait for every invocation", "error", err)
		}
		log.Info("AppWarden custom handler stopped")
	}
	return 0
}
