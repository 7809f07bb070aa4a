package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestNoPublicMetrics: the service's listener does not serve /metrics; they have a
// listener of their own (--metrics-listen, server/metrics).
func TestNoPublicMetrics(t *testing.T) {
	srv := httptest.NewServer(New(Config{}))
	defer srv.Close()
	res, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on the service's listener: %d, want 404", res.StatusCode)
	}
}
