package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/config"
	"github.com/appwarden/appwarden/handler/fakegraph"
	"github.com/appwarden/appwarden/handler/graph"
	awpolicy "github.com/appwarden/appwarden/handler/policy"
	"github.com/appwarden/appwarden/handler/setup"
	"github.com/appwarden/appwarden/handler/store"
)

// readOnlyPermissions is what the dry runs (scan, replay, snapshot export)
// need on Microsoft Graph, as application permissions of the identity (or
// delegated, for a signed-in operator with a directory reader role).
const readOnlyPermissions = `Graph permissions (read only; enough for everything but --enforce):
  Application.Read.All   applications, service principals, their delta feeds,
                         owners and app role assignments
  Directory.Read.All     delegated permission grants (oauth2PermissionGrants
                         have no narrower read permission), and owners' names
                         and UPNs (User.ReadBasic.All alone covers owners)
`

// enforcePermissions is what --enforce adds.
const enforcePermissions = `With --enforce, also:
  Application.ReadWrite.All               disable service principals, deactivate
                                          registrations, remove secrets, tag apps
  AppRoleAssignment.ReadWrite.All         remove critical app role assignments
  DelegatedPermissionGrant.ReadWrite.All  revoke delegated grants
(only the ones the policy's enforce-mode actions use).
`

const credentialsHelp = `Credentials: the managed identity when IDENTITY_ENDPOINT is set (as in
Azure; AZURE_CLIENT_ID picks a user-assigned one), otherwise
DefaultAzureCredential (environment, workload identity, az login). The Graph
endpoint is APPWARDEN_GRAPH_ENDPOINT (default https://graph.microsoft.com).
With --tenant FILE no credential is used: the snapshot is served by an
in-process Graph stand-in on 127.0.0.1, through the same Graph client.
`

// cliPolicy loads --policy, else APPWARDEN_POLICY_FILE, else the built-in
// policy, and names it.
func cliPolicy(cfg config.Config, file string) (*awpolicy.Policy, string, error) {
	if file == "" {
		file = cfg.PolicyFile
	}
	if file == "" {
		p, err := awpolicy.Default()
		return p, "built-in", err
	}
	p, err := setup.ReadPolicy(file)
	if err != nil {
		return nil, "", err
	}
	return p, file, nil
}

// cliTarget is the Graph a CLI command talks to: the live tenant, or a
// snapshot served by an in-process Graph stand-in.
type cliTarget struct {
	client   *graph.Client
	server   *fakegraph.Server // nil for the live tenant
	cred     azcore.TokenCredential
	endpoint string
	source   string // what the reports call it
	tenantID string // when known
	objects  int    // applications plus service principals, when known
}

// staticToken is a credential holding one token (the in-process stand-in's).
type staticToken string

func (s staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(s), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// credentials is the CLI's: the managed identity where the Functions host
// gives one, else DefaultAzureCredential.
func credentials(cfg config.Config) graph.Credentials {
	if cfg.IdentityEndpoint != "" {
		return graph.ManagedIdentity
	}
	return graph.Default
}

// openTarget connects to the live tenant, or loads a snapshot and serves it
// on 127.0.0.1. Either way the Graph client is the one the handler uses.
func openTarget(cfg config.Config, snapshot string, retry graph.RetryPolicy) (*cliTarget, error) {
	if snapshot == "" {
		cred, err := credentials(cfg)(cfg.ClientID)
		if err != nil {
			return nil, err
		}
		gc, err := graph.New(graph.Options{Endpoint: cfg.GraphEndpoint, Credential: cred, Retry: retry})
		if err != nil {
			return nil, err
		}
		return &cliTarget{client: gc, cred: cred, endpoint: cfg.GraphEndpoint, source: "the tenant at " + cfg.GraphEndpoint}, nil
	}
	f, err := os.Open(snapshot)
	if err != nil {
		return nil, fmt.Errorf("--tenant: %w", err)
	}
	tenant, err := fakegraph.Load(bufio.NewReaderSize(f, 1<<20))
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("--tenant %s: %w", snapshot, err)
	}
	srv, err := fakegraph.Start(tenant)
	if err != nil {
		return nil, fmt.Errorf("--tenant: starting the Graph stand-in: %w", err)
	}
	cred := staticToken(srv.IssueToken())
	gc, err := graph.New(graph.Options{Endpoint: srv.URL(), Credential: cred, Retry: retry})
	if err != nil {
		srv.Close()
		return nil, err
	}
	apps, sps := tenant.Counts()
	return &cliTarget{client: gc, server: srv, cred: cred, endpoint: srv.URL(),
		source: "snapshot " + snapshot, tenantID: tenant.TenantID(), objects: apps + sps}, nil
}

func (t *cliTarget) Close() {
	if t.server != nil {
		t.server.Close()
	}
}

// stateStore is where --enforce records its actions: the configured store
// for the live tenant (so appwarden release can undo them), memory for a
// snapshot. It says whether undo records are lost when the command ends.
func (t *cliTarget) stateStore(ctx context.Context, cfg config.Config) (appwarden.Store, bool, error) {
	if t.server != nil || cfg.Storage.InMemory() {
		return store.NewMemoryWithHistory(store.DefaultMemoryHistory), t.server == nil, nil
	}
	st, err := setup.OpenStore(ctx, cfg, credentials(cfg))
	return st, false, err
}

// countingWriter counts the writes a command sends to Graph.
type countingWriter struct {
	next appwarden.Writer
	n    atomic.Int64
}

func (c *countingWriter) Apply(ctx context.Context, ws []appwarden.Write) ([]appwarden.WriteResult, error) {
	c.n.Add(int64(len(ws)))
	return c.next.Apply(ctx, ws)
}

// confirm asks the operator to type yes on stdin. Interrupting (ctx ends)
// is a no.
func confirm(ctx context.Context, stdin io.Reader, stderr io.Writer, what string) bool {
	fmt.Fprintf(stderr, "%s\nType yes to continue: ", what)
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		answer <- line
	}()
	var line string
	select {
	case line = <-answer:
	case <-ctx.Done():
		fmt.Fprintln(stderr)
	}
	if strings.TrimSpace(line) != "yes" {
		fmt.Fprintln(stderr, "not confirmed; nothing was changed")
		return false
	}
	return true
}
