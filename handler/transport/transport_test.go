package transport_test

import (
	"net/http"
	"testing"

	"github.com/appwarden/appwarden/handler/transport"
)

func TestNew(t *testing.T) {
	tr := transport.New()
	if tr.MaxIdleConnsPerHost != transport.MaxIdlePerHost {
		t.Errorf("MaxIdleConnsPerHost = %d; want %d", tr.MaxIdleConnsPerHost, transport.MaxIdlePerHost)
	}
	if tr.MaxIdleConns < tr.MaxIdleConnsPerHost {
		t.Errorf("MaxIdleConns = %d caps the per-host %d", tr.MaxIdleConns, tr.MaxIdleConnsPerHost)
	}
	if tr.IdleConnTimeout <= 0 {
		t.Error("idle connections are never closed")
	}
	def := http.DefaultTransport.(*http.Transport)
	if tr.Proxy == nil || !tr.ForceAttemptHTTP2 || tr.TLSHandshakeTimeout != def.TLSHandshakeTimeout {
		t.Error("New lost http.DefaultTransport's proxy, HTTP/2 or TLS settings")
	}
	if tr == def || def.MaxIdleConnsPerHost == transport.MaxIdlePerHost {
		t.Error("New changed http.DefaultTransport instead of a copy")
	}
	if transport.New() == tr {
		t.Error("New returned a shared transport")
	}
}
