package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/server/apibody"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/store/keyring"
)

// openStore opens the service's database to watch it.
func openStore(t *testing.T, url, key string) *store.Store {
	t.Helper()
	ring, err := keyring.Parse(key)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), url, ring, apibody.Encoder{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

// succeededSince counts each cluster's succeeded scans that started after since; nil
// while the service has not created its schema yet or the database is down.
func succeededSince(st *store.Store, since time.Time) map[string]int {
	ctx := context.Background()
	clusters, err := st.Clusters(ctx)
	if err != nil {
		return nil
	}
	out := map[string]int{}
	for _, c := range clusters {
		scans, err := st.ScansOfCluster(ctx, c.ID)
		if err != nil {
			return nil
		}
		out[c.Name] = 0
		for _, s := range scans {
			if s.Status == store.ScanSucceeded && s.StartedAt.After(since) {
				out[c.Name]++
			}
		}
	}
	return out
}

func allAtLeast(counts map[string]int, n int) bool {
	for _, c := range counts {
		if c < n {
			return false
		}
	}
	return len(counts) > 0
}

// slowPodLists is a proxy before a cluster's API server that answers each list of
// pods after delay, as a large cluster does: a scan through it keeps its worker busy
// for that long.
func slowPodLists(t *testing.T, c *kubeenv.Cluster, delay time.Duration) kubeenv.Context {
	t.Helper()
	target, err := url.Parse(c.Host)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(c.CAData) {
		t.Fatal("cluster CA does not parse")
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/pods" {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return kubeenv.Context{Server: srv.URL, CAData: ca, Token: c.AdminToken}
}

// TestTwoReplicas runs two `tagdrift serve` on one database with eight clusters: every
// cluster is scanned, no cluster is ever scanned by both at once, and both replicas
// take scans. Each scan waits a second and a half for its pod list while a replica runs
// two at a time, so that one replica alone cannot keep up with the other polling.
func TestTwoReplicas(t *testing.T) {
	db := newDatabase(t)
	c := setup.env.Cluster("gamma")
	buildGamma(t, c)
	slow := slowPodLists(t, c, 1500*time.Millisecond)
	const n = 8
	var contexts []kubeenv.Context
	var args []string
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	for i := range n {
		ctx := slow
		ctx.Name = fmt.Sprintf("replica-test-%d", i)
		contexts = append(contexts, ctx)
		args = append(args, "--cluster-kubeconfig", kc+":"+ctx.Name)
	}
	if err := kubeenv.WriteKubeconfig(kc, contexts[0].Name, contexts...); err != nil {
		t.Fatal(err)
	}
	key := newKeyText()
	env := []string{"TAGDRIFT_DATABASE_URL=" + db.URL, "TAGDRIFT_ENCRYPTION_KEY=" + key}
	args = append(args, "--allow-cluster-network", "127.0.0.0/8", "--scan-interval", "10s", "--scan-concurrency", "2", "--scan-timeout", "10s")
	start := time.Now()
	one := startServe(t, env, args...)
	two := startServe(t, env, args...)
	st := openStore(t, db.URL, key)

	// Both register the same clusters at start; one of each name exists.
	if err := pollUntil(90*time.Second, func() bool { return allAtLeast(succeededSince(st, start), 2) }); err != nil {
		t.Fatalf("not every cluster was scanned twice: %v", succeededSince(st, start))
	}
	clusters, _ := st.Clusters(context.Background())
	if len(clusters) != n {
		t.Errorf("%d clusters registered, want %d", len(clusters), n)
	}
	// No two scans of one cluster overlap in time.
	for _, cl := range clusters {
		scans, _ := st.ScansOfCluster(context.Background(), cl.ID)
		for i := range scans {
			for j := i + 1; j < len(scans); j++ {
				a, b := scans[i], scans[j]
				if a.FinishedAt == nil || b.FinishedAt == nil {
					continue
				}
				if a.StartedAt.Before(*b.FinishedAt) && b.StartedAt.Before(*a.FinishedAt) {
					t.Errorf("cluster %s: scans %d and %d overlap", cl.Name, a.ID, b.ID)
				}
			}
		}
	}
	// Both replicas share the scans.
	for i, s := range []*service{one, two} {
		if n := strings.Count(s.logs.String(), `"msg":"scan succeeded"`); n == 0 {
			t.Errorf("replica %d scanned nothing (the other took all): %.300s", i+1, s.logs.String())
		}
	}

	// Stop one replica: the other goes on scanning every cluster, and no scan is left
	// recorded as running (one cut off by the stop is recorded aborted).
	one.cmd.Process.Signal(syscall.SIGTERM)
	if code := one.wait(t, 40*time.Second); code != 0 {
		t.Errorf("stopped replica: exit %d", code)
	}
	stopped := time.Now()
	if err := pollUntil(90*time.Second, func() bool { return allAtLeast(succeededSince(st, stopped), 1) }); err != nil {
		t.Fatalf("after one replica stopped, not every cluster was scanned: %v", succeededSince(st, stopped))
	}
	two.cmd.Process.Signal(syscall.SIGTERM)
	if code := two.wait(t, 40*time.Second); code != 0 {
		t.Errorf("second replica: exit %d", code)
	}
	for _, cl := range clusters {
		scans, _ := st.ScansOfCluster(context.Background(), cl.ID)
		for _, s := range scans {
			if s.Status == store.ScanRunning {
				t.Errorf("cluster %s: scan %d still running after both replicas stopped", cl.Name, s.ID)
			}
		}
	}
}

// TestDatabaseRestart restarts the PostgreSQL server under a running `tagdrift serve`:
// scans succeed again afterwards, and it is ready, without restarting tagdrift.
func TestDatabaseRestart(t *testing.T) {
	restart := pgRestartCommand(t)
	db := newDatabase(t)
	c := setup.env.Cluster("gamma")
	buildGamma(t, c)
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := kubeenv.WriteKubeconfig(kc, "restart-test", c.Context("restart-test", c.AdminToken)); err != nil {
		t.Fatal(err)
	}
	key := newKeyText()
	s := startServe(t, []string{"TAGDRIFT_DATABASE_URL=" + db.URL, "TAGDRIFT_ENCRYPTION_KEY=" + key},
		"--cluster-kubeconfig", kc, "--allow-cluster-network", "127.0.0.0/8", "--scan-interval", "10s")
	st := openStore(t, db.URL, key)
	if err := pollUntil(60*time.Second, func() bool { return allAtLeast(succeededSince(st, time.Time{}), 1) }); err != nil {
		t.Fatalf("no first scan: %v", err)
	}

	out, err := exec.Command(restart[0], restart[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("restart PostgreSQL: %v\n%s", err, out)
	}
	restarted := time.Now()
	if err := pollUntil(90*time.Second, func() bool { return allAtLeast(succeededSince(st, restarted), 1) }); err != nil {
		t.Fatalf("no scan succeeded after PostgreSQL restarted: %v\n%s", err, s.logs.String())
	}
	if code, body, err := s.get("/readyz"); err != nil || code != 200 {
		t.Errorf("readyz after restart: %d %s %v", code, body, err)
	}
}

// pgRestartCommand returns the command that restarts the local PostgreSQL server the
// tests use, or skips (fails under CI) when the tests do not manage it.
func pgRestartCommand(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("pg_lsclusters", "--no-header").Output()
	fields := strings.Fields(string(out))
	if err != nil || len(fields) < 2 {
		if ciRequired() {
			t.Fatalf("cannot find the local PostgreSQL cluster to restart: %v", err)
		}
		t.Skip("no local PostgreSQL cluster to restart")
	}
	return []string{"pg_ctlcluster", "--skip-systemctl-redirect", fields[0], fields[1], "restart"}
}
