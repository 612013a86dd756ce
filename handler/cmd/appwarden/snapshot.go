package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/spf13/cobra"

	"github.com/appwarden/appwarden/handler/config"
	"github.com/appwarden/appwarden/handler/graph"
	"github.com/appwarden/appwarden/handler/snapshot"
)

const snapshotLong = `Reads a live tenant's app registrations, service principals, their owners,
app role assignments and delegated permission grants, and writes them as a
snapshot: the file that appwarden scan --tenant, appwarden replay --tenant
and the Graph stand-in (fakegraph.Load) read. Objects are copied as Graph sends
them (owners with id, displayName, userPrincipalName and mail only). The
JSON is written as it is read, page by page, so memory stays flat however
large the tenant (owners and assignments wait in temporary files until
their section). It only reads: every request is a GET.

The snapshot holds the tenant's app configuration, not secrets (Graph never
returns secret values), but it names people and apps: treat it as internal.

Format: {"tenantId": "...", "applications": [...], "servicePrincipals": [...],
"owners": {"<object id>": [...]}, "appRoleAssignments": [...],
"oauth2PermissionGrants": [...]}, one object per line. The tenant id comes
from --tenant-id, the access token, or GET /organization.

Graph permissions (read only):
  Application.Read.All   applications, service principals, owners, app role
                         assignments
  Directory.Read.All     delegated permission grants, owners' names and UPNs
                         (User.ReadBasic.All alone covers owners), and the
                         tenant id from /organization when the token has none
` + credentialsHelp + `
Exit codes: 0 exported, 2 usage or runtime error (with --out, nothing is
left at FILE; on stdout the JSON is cut short). Never 1: export judges
nothing.`

const snapshotExamples = `  appwarden snapshot export > snapshot.json
  appwarden snapshot export --out snapshot.json && appwarden scan --tenant snapshot.json
  APPWARDEN_GRAPH_ENDPOINT=https://graph.microsoft.us appwarden snapshot export --out gov.json`

func newSnapshotCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "snapshot",
		Short:   "Write a tenant's apps as a snapshot file (read only)",
		Long:    "Snapshots of a tenant's apps: the file that appwarden scan --tenant, appwarden\nreplay --tenant and the Graph stand-in read. See appwarden snapshot export --help.",
		Example: "  appwarden snapshot export > snapshot.json",
		RunE:    groupRun,
	}
	cmd.AddCommand(newSnapshotExportCmd())
	return cmd
}

// exportOptions are snapshot export's flags.
type exportOptions struct {
	out, tenantID *string
	parallel      *int
	quiet         *bool
}

func newSnapshotExportCmd() *cobra.Command {
	var o exportOptions
	cmd := &cobra.Command{
		Use:     "export",
		Short:   "Read a live tenant's apps into a snapshot file (read only)",
		Long:    snapshotLong,
		Example: snapshotExamples,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return status(runSnapshotExport(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
	}
	fs := cmd.Flags()
	o.out = fs.String("out", "", "write the snapshot to `FILE` (atomically) instead of stdout")
	o.tenantID = fs.String("tenant-id", "", "the tenant `ID` to record (default: from the token, else GET /organization)")
	o.parallel = fs.Int("parallel", 4, "$batch requests in flight (`N`, 1 to 16)")
	o.quiet = addQuiet(fs)
	return cmd
}

func runSnapshotExport(ctx context.Context, o exportOptions, stdout, stderr io.Writer) int {
	out, tenantID, parallel, quiet := o.out, o.tenantID, o.parallel, o.quiet
	if *parallel < 1 || *parallel > 16 {
		fmt.Fprintln(stderr, "appwarden snapshot export: --parallel: want 1 to 16")
		return 2
	}
	cfg, err := config.FromEnv()
	if err != nil {
		fmt.Fprintf(stderr, "appwarden snapshot export: invalid configuration:\n%v\n", err)
		return 2
	}
	target, err := openTarget(cfg, "", graph.RetryPolicy{})
	if err != nil {
		fmt.Fprintf(stderr, "appwarden snapshot export: %v\n", err)
		return 2
	}
	defer target.Close()

	dst := stdout
	var tmp *os.File
	if *out != "" {
		tmp, err = os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".partial-*")
		if err != nil {
			fmt.Fprintf(stderr, "appwarden snapshot export: --out: %v\n", err)
			return 2
		}
		defer func() {
			if tmp != nil {
				tmp.Close()
				os.Remove(tmp.Name())
			}
		}()
		dst = tmp
	}
	tid := *tenantID
	if tid == "" {
		tid = tokenTenantID(ctx, target)
	}
	if tid == "" {
		if tid, err = target.client.TenantID(ctx); err != nil {
			fmt.Fprintf(stderr, "appwarden snapshot export: no tenant id (%v); give --tenant-id\n", err)
			return 2
		}
	}
	ex := &exporter{c: target.client, w: snapshot.NewWriter(dst, tid), parallel: *parallel, started: time.Now()}
	if !*quiet {
		ex.progress = stderr
	}
	err = ex.run(ctx)
	if err == nil && tmp != nil {
		if err = tmp.Close(); err == nil {
			err = os.Rename(tmp.Name(), *out)
		}
		if err == nil {
			tmp = nil
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "appwarden snapshot export: %v\n", err)
		return 2
	}
	where := "stdout"
	if *out != "" {
		where = *out
	}
	fmt.Fprintf(stderr, "exported %d applications, %d service principals, %d owner lists, %d app role assignments and %d delegated grants of tenant %s to %s in %s (%d Graph requests)\n",
		ex.apps, ex.sps, ex.ownerLists, ex.assignments, ex.grants, tid, where, time.Since(ex.started).Round(100*time.Millisecond), target.client.RoundTrips())
	return 0
}

// tokenTenantID reads the tid claim of an access token for the endpoint; ""
// when the token is not a JWT with one (the Graph stand-in's are not).
func tokenTenantID(ctx context.Context, t *cliTarget) string {
	u, err := url.Parse(t.endpoint)
	if err != nil {
		return ""
	}
	tok, err := t.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{u.Scheme + "://" + u.Host + "/.default"}})
	if err != nil {
		return ""
	}
	parts := strings.Split(tok.Token, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		Tid string `json:"tid"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return ""
	}
	return claims.Tid
}

// exporter writes a snapshot as it reads the tenant, through
// snapshot.Writer: applications and service principals page by page, their
// owners and app role assignments held (in temporary files) until their
// sections.
type exporter struct {
	c        *graph.Client
	w        *snapshot.Writer
	parallel int
	progress io.Writer
	started  time.Time

	apps, sps, ownerLists, assignments, grants int
}

// ownerSelect keeps owners to what AppWarden reads.
const ownerSelect = "?$select=id,displayName,userPrincipalName,mail"

// run reads the tenant into the snapshot and closes it.
func (e *exporter) run(ctx context.Context) error {
	defer e.w.Discard()
	err := e.list(ctx, "/applications?$top=999", snapshot.Applications, &e.apps, "applications", func(ids []string) error {
		return e.readOwners(ctx, "/applications/", ids)
	})
	if err != nil {
		return err
	}
	err = e.list(ctx, "/servicePrincipals?$top=999", snapshot.ServicePrincipals, &e.sps, "service principals", func(ids []string) error {
		if err := e.readOwners(ctx, "/servicePrincipals/", ids); err != nil {
			return err
		}
		paths := make([]string, len(ids))
		for i, id := range ids {
			paths[i] = "/servicePrincipals/" + url.PathEscape(id) + "/appRoleAssignments"
		}
		cols, err := e.c.ReadCollections(ctx, paths, e.parallel)
		if err != nil {
			return err
		}
		for _, col := range cols {
			for _, raw := range col {
				if err := e.w.Hold(snapshot.AppRoleAssignments, raw); err != nil {
					return err
				}
				e.assignments++
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = e.c.ListPages(ctx, "/oauth2PermissionGrants", func(objs []json.RawMessage) error {
		for _, raw := range objs {
			if err := e.w.Add(snapshot.OAuth2PermissionGrants, raw); err != nil {
				return err
			}
			e.grants++
		}
		return nil
	})
	if err != nil {
		return err
	}
	return e.w.Close()
}

// list copies a collection into its section, page by page, and hands each
// page's object ids to more.
func (e *exporter) list(ctx context.Context, path string, section snapshot.Section, count *int, what string, more func(ids []string) error) error {
	return e.c.ListPages(ctx, path, func(objs []json.RawMessage) error {
		ids := make([]string, 0, len(objs))
		for _, raw := range objs {
			var v struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(raw, &v); err != nil || v.ID == "" {
				return fmt.Errorf("%s: an object without an id", what)
			}
			if err := e.w.Add(section, raw); err != nil {
				return err
			}
			ids = append(ids, v.ID)
			*count++
		}
		if err := more(ids); err != nil {
			return err
		}
		if e.progress != nil {
			fmt.Fprintf(e.progress, "exported %d %s…\n", *count, what)
		}
		return e.w.Flush()
	})
}

// readOwners reads the owners of a page of objects and holds them for the
// owners section.
func (e *exporter) readOwners(ctx context.Context, set string, ids []string) error {
	paths := make([]string, len(ids))
	for i, id := range ids {
		paths[i] = set + url.PathEscape(id) + "/owners" + ownerSelect
	}
	cols, err := e.c.ReadCollections(ctx, paths, e.parallel)
	if err != nil {
		return err
	}
	for i, col := range cols {
		if len(col) == 0 {
			continue
		}
		if err := e.w.HoldOwners(ids[i], col); err != nil {
			return err
		}
		e.ownerLists++
	}
	return nil
}
