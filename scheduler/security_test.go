package scheduler

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
	"github.com/tagdrift/tagdrift/scanner/scanerr"
	"github.com/tagdrift/tagdrift/store"
)

// storeReduced registers a cluster whose stored configuration is r, as a replica with
// another policy could have.
func storeReduced(t *testing.T, st *store.Store, name string, r kubeconfig.Reduced) store.Cluster {
	t.Helper()
	creds, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.CreateCluster(context.Background(), store.NewCluster{
		Name: name, Server: r.Server, Context: name, Credentials: creds, ScanInterval: time.Hour, Enabled: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func startScheduler(t *testing.T, cfg Config) *Scheduler {
	t.Helper()
	cfg.ScanTimeout, cfg.Tick = 20*time.Second, 200*time.Millisecond
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(context.Background()) })
	return s
}

var loopback = &kubeconfig.Dialer{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}

// TestScanRefusesRedirects points a cluster at a TLS server that answers every request
// with a redirect to a plain-http server, with a body of its own: the scan fails as
// "redirect refused" with the status, no request reaches the plain-http server (so no
// token either), and the stored error holds nothing the server sent.
func TestScanRefusesRedirects(t *testing.T) {
	st := newStore(t)
	var reached atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		fmt.Fprint(w, "internal-page-body")
	}))
	defer target.Close()
	redirector := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", target.URL+"/latest/meta-data/iam")
		w.WriteHeader(http.StatusFound)
		fmt.Fprint(w, "redirect-body-text")
	}))
	defer redirector.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: redirector.Certificate().Raw})
	c := storeReduced(t, st, "redirects", kubeconfig.Reduced{Context: "redirects", Server: redirector.URL, CAData: ca, Token: "cluster-token"})

	startScheduler(t, Config{Store: st, Dialer: loopback})
	h := &harness{store: st}
	sc := h.waitScans(t, c.ID, 1)
	if sc.Status != store.ScanFailed || sc.ErrorClass != scanerr.RedirectRefused || !strings.Contains(sc.Error, "302") {
		t.Errorf("scan: %+v, want failed, redirect refused, 302", sc)
	}
	for _, leak := range []string{"body", "meta-data", target.Listener.Addr().String(), "cluster-token"} {
		if strings.Contains(sc.Error, leak) {
			t.Errorf("the stored error %q holds %q", sc.Error, leak)
		}
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("%d requests followed the redirect", n)
	}
}

// TestStoredConfigCheckedAtUse stores configurations a looser policy (or an older
// version) accepted: insecure TLS, an exec profile since removed, an exec command stored
// before profiles. Under the current, stricter policy, Refused names each, and each
// scan fails with the class "policy" without a connection being made.
func TestStoredConfigCheckedAtUse(t *testing.T) {
	st := newStore(t)
	var reached atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))
	defer srv.Close()
	stored := map[string]kubeconfig.Reduced{
		"insecure":        {Server: srv.URL, Insecure: true, Token: "t"},
		"gone-profile":    {Server: srv.URL, Exec: &kubeconfig.Exec{Profile: "eks", Values: map[string]string{"cluster": "prod"}}},
		"before-profiles": {Server: srv.URL, Exec: &kubeconfig.Exec{Command: "aws"}},
	}
	ids := map[string]int64{}
	for name, r := range stored {
		r.Context = name
		ids[name] = storeReduced(t, st, name, r).ID
	}
	s := startScheduler(t, Config{Store: st, Dialer: loopback, Policy: kubeconfig.Policy{}})
	refused, err := s.Refused(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(refused) != len(stored) {
		t.Errorf("Refused = %v, want the %d stored clusters", refused, len(stored))
	}
	for _, r := range refused {
		if _, ok := stored[r.Cluster]; !ok || !strings.Contains(r.Err.Error(), "policy") {
			t.Errorf("refused %s: %v", r.Cluster, r.Err)
		}
	}
	h := &harness{store: st}
	for name, id := range ids {
		sc := h.waitScans(t, id, 1)
		if sc.Status != store.ScanFailed || sc.ErrorClass != scanerr.Policy || !strings.Contains(sc.Error, "policy") {
			t.Errorf("%s: scan %+v, want failed by policy", name, sc)
		}
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("%d requests reached the cluster", n)
	}
}
