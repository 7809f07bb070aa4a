package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/internal/storetest"
	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
	"github.com/tagdrift/tagdrift/scheduler"
	"github.com/tagdrift/tagdrift/store"
)

// floodEnv is the service as serve runs it, in process: a real PostgreSQL database, the
// scheduler scanning clusters of a real kube-apiserver, and the API on a loopback
// listener, so that requests come from real 127.0.0.x source addresses.
type floodEnv struct {
	st       *store.Store
	sched    *scheduler.Scheduler
	url      string
	clusters []int64
}

// floodClusters is how many clusters are scanned (all on one API server with floodPods
// pods of two containers).
const floodClusters, floodPods = 3, 50

func newFloodEnv(tb testing.TB) *floodEnv {
	tb.Helper()
	ctx := context.Background()
	st, _ := storetest.New(tb, "tagdrift_flood")
	env, err := kubeenv.Start(ctx, kubeenv.Options{Clusters: []kubeenv.ClusterOptions{{Name: "flood"}}})
	if err != nil {
		if os.Getenv("CI") != "true" && os.Getenv("KUBEBUILDER_ASSETS") == "" {
			tb.Skipf("no Kubernetes binaries (run make test): %v", err)
		}
		tb.Fatal(err)
	}
	tb.Cleanup(func() { env.Stop() })
	c := env.Clusters[0]
	if err := c.Namespace(ctx, "shop"); err != nil {
		tb.Fatal(err)
	}
	for i := range floodPods {
		name := fmt.Sprintf("p-%03d", i)
		if _, err := c.Admin.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "app", Image: fmt.Sprintf("registry.example.com/app-%d:v1", i%5)},
				{Name: "proxy", Image: "envoyproxy/envoy:v1.31"},
			}},
		}, metav1.CreateOptions{}); err != nil {
			tb.Fatal(err)
		}
		if err := c.SetContainerStatuses(ctx, "shop", name, kubeenv.PodStatus{Containers: []kubeenv.ContainerStatus{
			{Name: "app", ImageID: fmt.Sprintf("registry.example.com/app-%d@sha256:%064x", i%5, i%5)},
			{Name: "proxy", ImageID: "docker.io/envoyproxy/envoy@sha256:" + strings.Repeat("e", 64)},
		}}); err != nil {
			tb.Fatal(err)
		}
	}
	path := filepath.Join(tb.TempDir(), "kubeconfig")
	if err := kubeenv.WriteKubeconfig(path, "x", c.Context("x", c.AdminToken)); err != nil {
		tb.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	reduced, err := kubeconfig.Vet(raw, "", kubeconfig.Policy{})
	if err != nil {
		tb.Fatal(err)
	}
	creds, err := json.Marshal(reduced)
	if err != nil {
		tb.Fatal(err)
	}
	e := &floodEnv{st: st}
	for i := range floodClusters {
		cl, err := st.CreateCluster(ctx, store.NewCluster{Name: fmt.Sprintf("c%d", i), Server: c.Host, Context: "x",
			Credentials: creds, ScanInterval: time.Hour, Enabled: true})
		if err != nil {
			tb.Fatal(err)
		}
		e.clusters = append(e.clusters, cl.ID)
	}
	e.sched, err = scheduler.New(scheduler.Config{Store: st, Tick: time.Second,
		Dialer: &kubeconfig.Dialer{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}})
	if err != nil {
		tb.Fatal(err)
	}
	if err := e.sched.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.sched.Stop(context.Background()) })
	// The defaults serve uses: a burst of 20 unknown tokens per address, 4 look-ups at once.
	srv := httptest.NewServer(New(Config{Store: st, Scans: e.sched}))
	tb.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

// floodResult is what one phase of scans under (or without) a flood measured.
type floodResult struct {
	// scans are the durations (start to finish) of the scans that ran in the phase.
	scans []time.Duration
	// failed counts scans that did not succeed.
	failed int
	// gaps is the longest time each cluster went without a scan finishing.
	gaps []time.Duration
	// status counts the flood's answers; retryAfter counts 429s and 503s that said when
	// to retry.
	status     map[int]int
	retryAfter int
	// maxAcquired is the most pool connections seen held at once; atMax how many of the
	// pool samples found it full.
	maxAcquired, atMax int
	elapsed            time.Duration
}

func (r floodResult) floodRequests() int {
	n := 0
	for _, c := range r.status {
		n += c
	}
	return n
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// floodWorkers is how many goroutines flood from 127.0.0.1, and how many more from
// addresses of their own (127.0.1.x and up, a new one for every request).
const floodWorkers = 8

// run asks every cluster for a scan again as soon as its last one finished, for d, while
// flooding (when flood is set) the API with unknown bearer tokens, and measures.
func (e *floodEnv) run(tb testing.TB, d time.Duration, flood bool) floodResult {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	res := floodResult{status: map[int]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()

	// Sample the pool the scans share.
	pool := e.st.Pool()
	maxConns := pool.Config().MaxConns
	wg.Go(func() {
		for ctx.Err() == nil {
			n := pool.Stat().AcquiredConns()
			mu.Lock()
			res.maxAcquired = max(res.maxAcquired, int(n))
			if n >= maxConns {
				res.atMax++
			}
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	})

	for _, id := range e.clusters {
		wg.Go(func() {
			last := start
			var gap time.Duration
			for ctx.Err() == nil {
				scanID, err := e.sched.ScanNow(context.Background(), id, store.Audit{Actor: "test"})
				if err != nil {
					tb.Errorf("scan now: %v", err)
					return
				}
				sc := waitScan(tb, e.st, scanID)
				if sc.FinishedAt == nil {
					return
				}
				gap = max(gap, sc.FinishedAt.Sub(last))
				last = *sc.FinishedAt
				mu.Lock()
				if sc.Status == "succeeded" {
					res.scans = append(res.scans, sc.FinishedAt.Sub(*sc.StartedAt))
				} else {
					res.failed++
					tb.Logf("scan %d of cluster %d: %s %s %s", sc.ID, id, sc.Status, sc.ErrorClass, sc.Error)
				}
				mu.Unlock()
			}
			mu.Lock()
			res.gaps = append(res.gaps, max(gap, time.Since(last)))
			mu.Unlock()
		})
	}

	if flood {
		var next atomic.Uint32
		for w := range 2 * floodWorkers {
			spread := w >= floodWorkers
			tr := &http.Transport{MaxIdleConnsPerHost: 1}
			if spread {
				// A new connection for every request, each from an address of its own:
				// an attacker holding many addresses.
				tr.DisableKeepAlives = true
				tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
					n := 256 + next.Add(1)%60000 // 127.0.1.0 onwards, never 127.0.0.1
					ip := net.IPv4(127, byte(n>>16), byte(n>>8), byte(n))
					dl := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
					return dl.DialContext(ctx, network, addr)
				}
			}
			client := &http.Client{Transport: tr}
			wg.Go(func() {
				defer tr.CloseIdleConnections()
				for ctx.Err() == nil {
					req, _ := http.NewRequestWithContext(ctx, "GET", e.url+"/api/v1/clusters", nil)
					req.Header.Set("Authorization", "Bearer tdt_"+fmt.Sprintf("%043d", next.Add(1)))
					r, err := client.Do(req)
					if err != nil {
						continue // the phase ended mid-request
					}
					io.Copy(io.Discard, r.Body)
					r.Body.Close()
					mu.Lock()
					res.status[r.StatusCode]++
					if r.StatusCode == http.StatusTooManyRequests || r.StatusCode == http.StatusServiceUnavailable {
						if r.Header.Get("Retry-After") != "" {
							res.retryAfter++
						}
					}
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

// waitScan waits for a scan record to finish, at most a minute.
func waitScan(tb testing.TB, st *store.Store, id int64) store.ScanRecord {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		sc, err := st.ScanRecordByID(context.Background(), id, store.Scope{})
		if err != nil {
			tb.Errorf("scan %d: %v", id, err)
			return sc
		}
		if sc.FinishedAt != nil {
			return sc
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Errorf("scan %d did not finish within a minute", id)
	return store.ScanRecord{}
}

// TestBadTokenFloodWhileScanning floods the API with unknown bearer tokens, from
// 127.0.0.1 and from a new loopback address for every request, while three clusters are
// scanned again and again, and checks the proof issue 7 asks for: the flood gets 429s
// with Retry-After (the per-address limit) and the look-ups it makes never take the
// pool (the bound on look-ups at once), and the scans go on: every one succeeds, no
// cluster goes long without one, and they do not slow down beyond a generous factor
// (the machine's two cores also serve the flood).
func TestBadTokenFloodWhileScanning(t *testing.T) {
	e := newFloodEnv(t)
	// Warm up: the first scans store the history; later ones find nothing changed.
	e.run(t, 2*time.Second, false)
	quiet := e.run(t, 3*time.Second, false)
	loud := e.run(t, 8*time.Second, true)
	t.Logf("without flood: %d scans, median %s; with: %d scans, median %s, %d flood requests in %s (%v), pool at most %d held",
		len(quiet.scans), median(quiet.scans), len(loud.scans), median(loud.scans), loud.floodRequests(),
		loud.elapsed.Round(time.Millisecond), loud.status, loud.maxAcquired)

	if loud.status[http.StatusTooManyRequests] == 0 {
		t.Errorf("no 429 in the flood: %v", loud.status)
	}
	if n := loud.status[http.StatusTooManyRequests] + loud.status[http.StatusServiceUnavailable]; loud.retryAfter != n {
		t.Errorf("%d of %d refusals said when to retry", loud.retryAfter, n)
	}
	for code := range loud.status {
		switch code {
		case http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusServiceUnavailable:
		default:
			t.Errorf("flood answered %d: %v", code, loud.status)
		}
	}
	if loud.atMax > 0 {
		t.Errorf("the pool was full in %d samples during the flood (at most %d held of %d)",
			loud.atMax, loud.maxAcquired, e.st.Pool().Config().MaxConns)
	}
	if loud.failed > 0 || quiet.failed > 0 {
		t.Errorf("%d scans failed during the flood, %d without", loud.failed, quiet.failed)
	}
	// A scan is asked for as soon as the last one finished: a cluster waiting longer than
	// this for one is a scan held up, not a scan on time.
	const onTime = 5 * time.Second
	for _, g := range loud.gaps {
		if g > onTime {
			t.Errorf("a cluster went %s without a scan finishing during the flood (gaps %v)", g, loud.gaps)
		}
	}
	if len(loud.scans) < 3*floodClusters {
		t.Errorf("%d scans during the flood, want at least %d", len(loud.scans), 3*floodClusters)
	}
	if m, q := median(loud.scans), median(quiet.scans); m > 10*q+time.Second {
		t.Errorf("median scan %s during the flood, %s without", m, q)
	}
}

// BenchmarkBadTokenFlood measures what a flood of unknown tokens costs the scans: each
// round scans the three clusters for 3 s without a flood, then 5 s with one (8
// goroutines from 127.0.0.1, 8 from a new address each request), and the medians over
// the rounds are reported: the flood's requests answered per second, the share answered
// 429, and the median scan duration without and with the flood.
//
//	go test -run '^$' -bench BadTokenFlood -benchtime 5x ./server/
func BenchmarkBadTokenFlood(b *testing.B) {
	e := newFloodEnv(b)
	e.run(b, 2*time.Second, false)
	var perSec, share, quietMs, loudMs []float64
	for b.Loop() {
		quiet := e.run(b, 3*time.Second, false)
		loud := e.run(b, 5*time.Second, true)
		n := float64(loud.floodRequests())
		perSec = append(perSec, n/loud.elapsed.Seconds())
		share = append(share, float64(loud.status[http.StatusTooManyRequests])/n)
		quietMs = append(quietMs, float64(median(quiet.scans).Microseconds())/1000)
		loudMs = append(loudMs, float64(median(loud.scans).Microseconds())/1000)
		b.Logf("round: %.0f bad req/s, %.1f%% 429 (%v), scans %d quiet median %.1f ms, %d flooded median %.1f ms, pool at most %d held",
			perSec[len(perSec)-1], 100*share[len(share)-1], loud.status, len(quiet.scans), quietMs[len(quietMs)-1],
			len(loud.scans), loudMs[len(loudMs)-1], loud.maxAcquired)
	}
	mid := func(v []float64) float64 { s := slices.Clone(v); slices.Sort(s); return s[len(s)/2] }
	b.ReportMetric(mid(perSec), "bad-req/s")
	b.ReportMetric(100*mid(share), "%429")
	b.ReportMetric(mid(quietMs), "scan-ms-quiet")
	b.ReportMetric(mid(loudMs), "scan-ms-flood")
}
