package graph_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/appwarden/appwarden/handler/graph"
)

type staticToken struct{}

func (staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "test-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// batchRecorder answers $batch, recording each item; the first `throttle`
// items answer 429.
type batchRecorder struct {
	mu       sync.Mutex
	items    []map[string]any
	throttle int
	status   int
}

func (b *batchRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1.0/$batch" {
		http.NotFound(w, r)
		return
	}
	var rd io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		rd = gz
	}
	var req struct {
		Requests []map[string]any `json:"requests"`
	}
	if err := json.NewDecoder(rd).Decode(&req); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	var out []map[string]any
	b.mu.Lock()
	for _, it := range req.Requests {
		b.items = append(b.items, it)
		st := b.status
		if b.throttle > 0 {
			b.throttle--
			st = 429
		}
		resp := map[string]any{"id": it["id"], "status": st, "headers": map[string]string{"Retry-After": "0"}}
		if st >= 400 {
			resp["body"] = map[string]any{"error": map[string]any{"code": "ErrorAccessDenied", "message": "Access is denied."}}
		}
		out = append(out, resp)
	}
	b.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"responses": out})
}

func TestSendMail(t *testing.T) {
	rec := &batchRecorder{throttle: 1, status: 202}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	c, err := graph.New(graph.Options{Endpoint: srv.URL, Credential: staticToken{}, Retry: graph.RetryPolicy{MaxWait: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	html := `<p>Fix <b>it</b> &amp; release</p>`
	to := []string{"alice@contoso.example", " ", "bob@contoso.example"}
	if err := c.SendMail(context.Background(), "appwarden@contoso.example", to, "AppWarden: subject", html); err != nil {
		t.Fatal(err)
	}
	if len(rec.items) != 2 {
		t.Fatalf("got %d batch items, want 2 (one throttled, one retried)", len(rec.items))
	}
	it := rec.items[1]
	if it["method"] != "POST" || it["url"] != "/users/appwarden@contoso.example/sendMail" {
		t.Errorf("request = %v %v", it["method"], it["url"])
	}
	got, _ := json.Marshal(it["body"])
	want := `{"message":{"body":{"content":"\u003cp\u003eFix \u003cb\u003eit\u003c/b\u003e \u0026amp; release\u003c/p\u003e","contentType":"HTML"},"subject":"AppWarden: subject","toRecipients":[{"emailAddress":{"address":"alice@contoso.example"}},{"emailAddress":{"address":"bob@contoso.example"}}]},"saveToSentItems":false}`
	if string(got) != want {
		t.Errorf("body =\n%s\nwant\n%s", got, want)
	}

	if err := c.SendMail(context.Background(), "appwarden@contoso.example", nil, "s", "h"); err == nil {
		t.Error("no recipients: want an error")
	}
	rec.status = 403
	err = c.SendMail(context.Background(), "appwarden@contoso.example", to, "s", "h")
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "ErrorAccessDenied") {
		t.Errorf("403: err = %v", err)
	}
}
