package fakegraph_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"sync"
	"testing"

	"github.com/appwarden/appwarden/handler/fakegraph"
)

var (
	bigOnce   sync.Once
	bigTenant *fakegraph.Tenant
	bigAppID  string
)

// big is a 100,000-app tenant (an application and a service principal each),
// built once per test binary.
func big(b *testing.B) (*fakegraph.Tenant, string) {
	bigOnce.Do(func() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		bigTenant = fakegraph.NewTenant("")
		bigTenant.AddMicrosoftGraph()
		for i := 0; i < 100_000; i++ {
			bigAppID = bigTenant.AddApp(fakegraph.AppSpec{
				Secrets:   []fakegraph.Credential{{}},
				Requested: []fakegraph.Permission{fakegraph.GraphRole("User.Read.All")},
			}).AppID
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.Logf("100,000 apps: %d MB of heap", (after.HeapAlloc-before.HeapAlloc)>>20)
	})
	return bigTenant, bigAppID
}

// BenchmarkDeltaFullSync100k pages through /applications/delta of a
// 100,000-app tenant with a plain HTTP client (200 objects per page).
func BenchmarkDeltaFullSync100k(b *testing.B) {
	tenant, _ := big(b)
	srv, err := fakegraph.Start(tenant, fakegraph.WithoutAuth())
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		link := srv.GraphURL() + "/applications/delta"
		n := 0
		for link != "" {
			resp, err := http.Get(link)
			if err != nil {
				b.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var page struct {
				Value []json.RawMessage `json:"value"`
				Next  string            `json:"@odata.nextLink"`
			}
			if err := json.Unmarshal(body, &page); err != nil {
				b.Fatal(err)
			}
			n += len(page.Value)
			link = page.Next
		}
		if n != 100_000 {
			b.Fatalf("%d apps", n)
		}
	}
}

// BenchmarkLookupByAppID reads one app by appId from the 100,000-app tenant.
func BenchmarkLookupByAppID(b *testing.B) {
	tenant, appID := big(b)
	srv, err := fakegraph.Start(tenant, fakegraph.WithoutAuth())
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	url := srv.GraphURL() + "/applications(appId='" + appID + "')"
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := http.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
}

// BenchmarkLoad100k loads a snapshot of the 100,000-app tenant.
func BenchmarkLoad100k(b *testing.B) {
	tenant, _ := big(b)
	var buf bytes.Buffer
	if err := tenant.Save(&buf); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := fakegraph.Load(bytes.NewReader(buf.Bytes())); err != nil {
			b.Fatal(err)
		}
	}
}
