package metrics

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tagdrift/tagdrift/internal/storetest"
	"github.com/tagdrift/tagdrift/store"
)

// TestMain migrates one template database for the package; storetest.New clones it
// for each test.
func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// scrape gets /metrics from a metrics server of g, as Prometheus does.
func scrape(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	res, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %d %v\n%s", res.StatusCode, err, b)
	}
	return string(b)
}

func serve(t *testing.T, g *Gauges, log *slog.Logger) *httptest.Server {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(g)
	srv := httptest.NewServer(Handler(reg, log))
	t.Cleanup(srv.Close)
	return srv
}

func succeededScan(t *testing.T, st *store.Store, clusterID int64, at time.Time) {
	t.Helper()
	ctx := context.Background()
	id, err := st.StartScan(ctx, clusterID, at)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CompleteScan(ctx, id, nil, 0, at.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
}

// TestLastScanFromDatabase: the staleness gauge is read from the database, so that two
// replicas report the same figure, a cluster never scanned has none, a name a
// kubeconfig's context gave (quotes, a backslash) is escaped as Prometheus escapes label
// values, and a deleted cluster leaves the metrics of every replica, not only the one
// that served the delete.
func TestLastScanFromDatabase(t *testing.T) {
	ctx := context.Background()
	st, _ := storetest.New(t, "tagdrift_metrics")
	clk := &clock{now: time.Now()}
	var replicas []*httptest.Server
	for range 2 {
		replicas = append(replicas, serve(t, NewGauges(Config{Source: st, Now: clk.Now}), nil))
	}
	odd := `team "a"\prod`
	var ids []int64
	for _, name := range []string{"eu", odd, "never"} {
		group := "" // the default group
		if name == "eu" {
			group = "tenant-eu"
		}
		c, err := st.CreateCluster(ctx, store.NewCluster{Name: name, Group: group, Server: "https://" + "k.example", Context: name, Credentials: []byte(`{}`), Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	at := time.Unix(1_800_000_000, 0)
	succeededScan(t, st, ids[0], at)
	succeededScan(t, st, ids[1], at.Add(time.Minute))

	want := []string{
		`tagdrift_last_successful_scan_timestamp_seconds{cluster="eu",group="tenant-eu"} 1.8e+09`,
		`tagdrift_last_successful_scan_timestamp_seconds{cluster="team \"a\"\\prod",group="default"} 1.80000006e+09`,
	}
	for i, r := range replicas {
		body := scrape(t, r)
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("replica %d lacks %s:\n%s", i, w, body)
			}
		}
		if strings.Contains(body, `cluster="never"`) {
			t.Errorf("replica %d: a cluster never scanned has a last successful scan:\n%s", i, body)
		}
	}

	if _, err := st.DeleteCluster(ctx, "eu", false, store.Audit{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	// Within the interval, the figures read are kept; past it, the deleted cluster is
	// gone on both replicas.
	if body := scrape(t, replicas[0]); !strings.Contains(body, want[0]) {
		t.Errorf("read again within the interval:\n%s", body)
	}
	clk.Add(DefaultEvery)
	for i, r := range replicas {
		body := scrape(t, r)
		if strings.Contains(body, `cluster="eu"`) || !strings.Contains(body, want[1]) {
			t.Errorf("replica %d after the delete:\n%s", i, body)
		}
	}
}

// countingSource is a Source that counts its readings, optionally slow or failing.
type countingSource struct {
	reads atomic.Int32
	delay time.Duration
	err   atomic.Value // error; nil for none
	scans []store.LastSucceeded
	open  []store.OpenMutationCount
}

func (s *countingSource) LastSucceededScans(context.Context) ([]store.LastSucceeded, error) {
	s.reads.Add(1)
	time.Sleep(s.delay)
	if err, _ := s.err.Load().(error); err != nil {
		return nil, err
	}
	return append([]store.LastSucceeded(nil), s.scans...), nil
}

func (s *countingSource) OpenMutationCounts(context.Context, store.Scope) ([]store.OpenMutationCount, error) {
	return s.open, nil
}

// TestOneReadPerInterval: 40 scrapes at once read the database once, the next scrapes
// within the interval not at all, and one past it once more.
func TestOneReadPerInterval(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	src := &countingSource{delay: 100 * time.Millisecond, scans: []store.LastSucceeded{{Cluster: "eu", StartedAt: &t0}}}
	clk := &clock{now: t0}
	srv := serve(t, NewGauges(Config{Source: src, Now: clk.Now}), nil)
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			res, err := http.Get(srv.URL + "/metrics")
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		})
	}
	wg.Wait()
	if n := src.reads.Load(); n != 1 {
		t.Errorf("40 scrapes at once read the database %d times, want 1", n)
	}
	clk.Add(DefaultEvery - time.Second)
	scrape(t, srv)
	if n := src.reads.Load(); n != 1 {
		t.Errorf("a scrape within the interval read the database (%d reads)", n)
	}
	clk.Add(time.Second)
	if body := scrape(t, srv); !strings.Contains(body, `tagdrift_last_successful_scan_timestamp_seconds{cluster="eu",group=""} 1.8e+09`) {
		t.Errorf("scrape:\n%s", body)
	}
	if n := src.reads.Load(); n != 2 {
		t.Errorf("a scrape past the interval: %d reads, want 2", n)
	}
}

// TestReadErrorsGoToTheLog: a failing reading is logged; the scraper gets the last good
// figures, the time they were read and a failure count, never the error's text; and a
// database that stays down is asked once per interval, not once per scrape.
func TestReadErrorsGoToTheLog(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	src := &countingSource{scans: []store.LastSucceeded{{Cluster: "eu", StartedAt: &t0}}}
	clk := &clock{now: t0}
	var logs bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(slog.NewJSONHandler(lockedWriter{&logMu, &logs}, nil))
	srv := serve(t, NewGauges(Config{Source: src, Now: clk.Now, Logger: log}), log)
	scrape(t, srv)

	const secret = `connect to 10.1.2.3:5432 as "tagdrift": password authentication failed`
	src.err.Store(errors.New(secret))
	clk.Add(DefaultEvery)
	for range 3 {
		body := scrape(t, srv)
		if strings.Contains(body, "10.1.2.3") || strings.Contains(body, "password") {
			t.Errorf("the scraper sees the error:\n%s", body)
		}
		for _, want := range []string{
			`tagdrift_last_successful_scan_timestamp_seconds{cluster="eu",group=""} 1.8e+09`,
			"tagdrift_metrics_database_read_failures_total 1\n",
			"tagdrift_metrics_database_read_timestamp_seconds 1.8e+09\n",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("scrape lacks %q:\n%s", want, body)
			}
		}
	}
	if n := src.reads.Load(); n != 2 {
		t.Errorf("the database was asked %d times, want 2 (once per interval)", n)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logs.String(), "10.1.2.3:5432") {
		t.Errorf("the error is not in the log:\n%s", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestBoundedClusters: past MaxClusters, the clusters after the first by name are left
// out of every per-cluster gauge and counted; counts of clusters that are not live are
// left out; counts spanning clusters stay; invalid UTF-8 in a name is replaced, not a
// failed scrape.
func TestBoundedClusters(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	src := &countingSource{
		scans: []store.LastSucceeded{{Cluster: "a", StartedAt: &t0}, {Cluster: "b\xff", StartedAt: &t0}, {Cluster: "c", StartedAt: &t0}},
		open: []store.OpenMutationCount{{Kind: "tag-divergence", Cluster: "", Group: "t", State: "open", Count: 2},
			{Kind: "workload-divergence", Cluster: "a", Group: "default", State: "open", Count: 1},
			{Kind: "workload-divergence", Cluster: "c", State: "open", Count: 4}, {Kind: "pin-mismatch", Cluster: "gone", State: "open", Count: 1}},
	}
	body := scrape(t, serve(t, NewGauges(Config{Source: src, MaxClusters: 2}), nil))
	for _, want := range []string{
		`tagdrift_last_successful_scan_timestamp_seconds{cluster="a",group=""}`,
		`tagdrift_last_successful_scan_timestamp_seconds{cluster="b` + "\uFFFD" + `",group=""}`,
		`tagdrift_open_mutations{cluster="",group="t",kind="tag-divergence"} 2`,
		`tagdrift_open_mutations{cluster="a",group="default",kind="workload-divergence"} 1`,
		"tagdrift_metrics_clusters_omitted 1\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %s:\n%s", want, body)
		}
	}
	for _, absent := range []string{`cluster="c"`, `cluster="gone"`} {
		if strings.Contains(body, absent) {
			t.Errorf("scrape names %s:\n%s", absent, body)
		}
	}
}

// TestMutationStates: tagdrift_open_mutations counts what needs attention only (an
// acknowledged or expected mutation is not open), and tagdrift_unresolved_mutations
// every state, labelled; the scrape gathers without a duplicate series.
func TestMutationStates(t *testing.T) {
	src := &countingSource{
		scans: []store.LastSucceeded{{Cluster: "a"}},
		open: []store.OpenMutationCount{
			{Kind: "tag-divergence", Cluster: "", Group: "g", State: "expected", Count: 5},
			{Kind: "workload-divergence", Cluster: "a", Group: "g", State: "acknowledged", Count: 2},
			{Kind: "workload-divergence", Cluster: "a", Group: "g", State: "open", Count: 1},
		},
	}
	body := scrape(t, serve(t, NewGauges(Config{Source: src}), nil))
	for _, want := range []string{
		`tagdrift_open_mutations{cluster="a",group="g",kind="workload-divergence"} 1` + "\n",
		`tagdrift_unresolved_mutations{cluster="",group="g",kind="tag-divergence",state="expected"} 5`,
		`tagdrift_unresolved_mutations{cluster="a",group="g",kind="workload-divergence",state="acknowledged"} 2`,
		`tagdrift_unresolved_mutations{cluster="a",group="g",kind="workload-divergence",state="open"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %s:\n%s", want, body)
		}
	}
	if n := strings.Count(body, "\ntagdrift_open_mutations{"); n != 1 {
		t.Errorf("%d open series, want 1 (the open workload-divergence of a):\n%s", n, body)
	}
}

// TestHandlerServesOnlyMetrics: the metrics listener answers /metrics and nothing else.
func TestHandlerServesOnlyMetrics(t *testing.T) {
	srv := httptest.NewServer(Handler(prometheus.NewRegistry(), nil))
	defer srv.Close()
	for path, want := range map[string]int{"/metrics": 200, "/": 404, "/api/v1/clusters": 404, "/healthz": 404} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, res.StatusCode, want)
		}
	}
}
