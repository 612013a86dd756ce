// Package graph is AppWarden's Microsoft Graph adapter: it reads the truth
// about an app (msgraph-sdk-go over azidentity) and turns it into one
// appwarden.App, in as few round trips as Graph allows, and it streams the
// delta feeds that catch whatever the events missed.
package graph

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/appwarden/appwarden/handler/transport"
	abs "github.com/microsoft/kiota-abstractions-go"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	auth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
)

// Options configure a Client.
type Options struct {
	// Endpoint is the Graph service root (https://graph.microsoft.com, a
	// sovereign cloud's, or a local stand-in's http://127.0.0.1:port).
	Endpoint string
	// Credential gets tokens for <Endpoint>/.default.
	Credential azcore.TokenCredential
	// Timeout bounds each HTTP request; the invocation's context bounds the whole.
	Timeout time.Duration
	// Transport is the wire transport; transport.New() when nil, which keeps
	// an idle connection for each request in flight.
	Transport http.RoundTripper
	// Retry bounds retries of replication lag and throttling.
	Retry RetryPolicy
	// Now is the clock (tests set it).
	Now func() time.Time
}

// Client reads and writes Microsoft Graph.
type Client struct {
	adapter *msgraphsdk.GraphRequestAdapter
	base    string // <Endpoint>/v1.0
	retry   RetryPolicy
	now     func() time.Time
	trips   atomic.Int64
	perms   *permissionCatalog
	timeout time.Duration
	gate    *gate
	flights flights // resolutions in flight, by appId (see flight)
}

// Credentials makes the credential that Graph and Table Storage calls
// use; clientID names a user-assigned managed identity ("" for the
// system-assigned one, or where it does not apply). Each program picks its
// own, so that the custom handler links only what it can use.
type Credentials func(clientID string) (azcore.TokenCredential, error)

// ManagedIdentity is the Functions app's managed identity
// (IDENTITY_ENDPOINT/IDENTITY_HEADER), user-assigned through clientID.
func ManagedIdentity(clientID string) (azcore.TokenCredential, error) {
	opts := &azidentity.ManagedIdentityCredentialOptions{}
	if clientID != "" {
		opts.ID = azidentity.ClientID(clientID)
	}
	cred, err := azidentity.NewManagedIdentityCredential(opts)
	if err != nil {
		return nil, fmt.Errorf("graph: managed identity credential: %w", err)
	}
	return cred, nil
}

// AzureCLI is the custom handler's credential outside Azure (a local run
// with `az login`). Not DefaultAzureCredential: its environment credential
// can sign in with a username and password through MSAL's public client,
// whose interactive browser login the linker then keeps in the deployed
// binary (tests/infra TestHandlerLinksNoBrowserLauncher).
func AzureCLI(string) (azcore.TokenCredential, error) {
	cred, err := azidentity.NewAzureCLICredential(nil)
	if err != nil {
		return nil, fmt.Errorf("graph: Azure CLI credential: %w", err)
	}
	return cred, nil
}

// Default is the operator CLI's credential outside Azure:
// DefaultAzureCredential (environment, workload identity, managed identity,
// az and azd logins).
func Default(string) (azcore.TokenCredential, error) {
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("graph: default Azure credential: %w", err)
	}
	return cred, nil
}

// New builds a client. Plain http is accepted only for localhost and
// 127.0.0.1 (the SDK's auth provider enforces the same).
func New(opts Options) (*Client, error) {
	u, err := url.Parse(opts.Endpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("graph: endpoint %q is not an absolute URL", opts.Endpoint)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && (u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1")) {
		return nil, fmt.Errorf("graph: endpoint %q must use https (plain http only for localhost)", opts.Endpoint)
	}
	root := u.Scheme + "://" + u.Host
	authp, err := auth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(opts.Credential, []string{root + "/.default"}, []string{u.Hostname()})
	if err != nil {
		return nil, fmt.Errorf("graph: auth provider: %w", err)
	}
	if opts.Timeout == 0 {
		opts.Timeout = 20 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Client{base: root + "/v1.0", retry: opts.Retry.withDefaults(), now: opts.Now, perms: newPermissionCatalog(), timeout: opts.Timeout}
	c.gate = &gate{max: c.retry.MaxWait}
	wire := opts.Transport
	if wire == nil {
		wire = transport.New()
	}
	clientOpts := msgraphsdk.GetDefaultClientOptions()
	middlewares := msgraphcore.GetDefaultMiddlewaresWithOptions(&clientOpts)
	for i, m := range middlewares {
		// The compression handler gzips the body in place and sets
		// Content-Encoding on the request the retry handler resends: the
		// retry of a throttled POST then carries the plain body labelled
		// gzip, which Graph rejects (400). Bodies here are small; send them
		// uncompressed.
		if _, ok := m.(*khttp.CompressionHandler); ok {
			middlewares[i] = khttp.NewCompressionHandlerWithOptions(*khttp.NewCompressionOptionsReference(false))
		}
	}
	httpClient := &http.Client{
		Transport: khttp.NewCustomTransportWithParentTransport(&gated{next: &counter{next: wire, total: &c.trips}, gate: c.gate}, middlewares...),
		Timeout:   opts.Timeout,
	}
	// The adapter parses Graph's error bodies (JSON) into odataerrors. The
	// SDK's default registries are filled only by NewGraphServiceClient,
	// which this package does not use, so it gets its own.
	parsers := absser.NewParseNodeFactoryRegistry()
	parsers.ContentTypeAssociatedFactories["application/json"] = jsonser.NewJsonParseNodeFactory()
	writers := absser.NewSerializationWriterFactoryRegistry()
	writers.ContentTypeAssociatedFactories["application/json"] = jsonser.NewJsonSerializationWriterFactory()
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(authp, parsers, writers, httpClient)
	if err != nil {
		return nil, fmt.Errorf("graph: request adapter: %w", err)
	}
	adapter.SetBaseUrl(c.base)
	c.adapter = adapter
	return c, nil
}

// send sends one request through the SDK's adapter and returns the body.
// The context gets the per-request timeout here, cancelled on return: given
// a context without a deadline, kiota adds a timeout itself and drops its
// cancel func, so every request's timer and contexts, and the connections
// they reference, stayed alive until the timeout fired (memory in proportion
// to requests per Timeout, which grows with the tenant during a sweep).
func (c *Client) send(ctx context.Context, info *abs.RequestInformation) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	v, err := c.adapter.SendPrimitive(ctx, info, "[]byte", errorMapping)
	if err != nil {
		return nil, describe(err)
	}
	b, _ := v.([]byte)
	return b, nil
}

// RoundTrips is the number of HTTP requests this client has sent.
func (c *Client) RoundTrips() int64 { return c.trips.Load() }

// counter counts requests on the wire: the total, and per operation when the
// request's context carries a Trips.
type counter struct {
	next  http.RoundTripper
	total *atomic.Int64
}

func (t *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	t.total.Add(1)
	if n, ok := r.Context().Value(tripsKey{}).(*Trips); ok {
		n.n.Add(1)
	}
	return t.next.RoundTrip(r)
}

// Trips counts the round trips of one operation (a resolution, an action).
type Trips struct{ n atomic.Int64 }

// Count returns the round trips so far.
func (t *Trips) Count() int64 { return t.n.Load() }

type tripsKey struct{}

// WithTrips returns a context whose Graph requests are counted in a new Trips.
func WithTrips(ctx context.Context) (context.Context, *Trips) {
	t := &Trips{}
	return context.WithValue(ctx, tripsKey{}, t), t
}
