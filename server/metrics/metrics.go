// Package metrics serves tagdrift's Prometheus metrics on a listener of their own
// (--metrics-listen), never on the service's public one, and computes the gauges that
// read the database: when each live cluster's last scan succeeded, and the open
// mutations. Those are read at most once per interval, by one query at a time whatever
// the number of scrapers, kept for the next scrapes, and bounded in the clusters they
// name. What goes wrong goes to the log; a scraper sees the last good figures and the
// time they were read, never an error's text.
//
// tagdrift_open_mutations keeps the meaning it had before acknowledgements (issue 27):
// what needs attention, the state open only, so that an alert on it stops firing when
// a mutation is acknowledged or its tag declared mutable, as a silence would; every
// state not resolved is in tagdrift_unresolved_mutations{state}.
package metrics

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tagdrift/tagdrift/store"
)

// Source is what the database gauges read; *store.Store is one.
type Source interface {
	LastSucceededScans(ctx context.Context) ([]store.LastSucceeded, error)
	OpenMutationCounts(ctx context.Context, sc store.Scope) ([]store.OpenMutationCount, error)
}

// Defaults of Config.
const (
	DefaultEvery       = 15 * time.Second
	DefaultMaxClusters = 1000
	defaultTimeout     = 10 * time.Second
)

// Config is what the database gauges need; zero values take the defaults.
type Config struct {
	Source Source
	// Every is how long one reading of the database serves the scrapes; default 15 s.
	Every time.Duration
	// MaxClusters bounds the clusters the gauges name (the first by name); the others
	// are counted in tagdrift_metrics_clusters_omitted. Default 1000.
	MaxClusters int
	// Timeout bounds one reading, and how long a scrape waits for it (past it the
	// scrape gets the previous figures); default 10 s.
	Timeout time.Duration
	Logger  *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Gauges is the prometheus.Collector of the gauges read from the database.
type Gauges struct {
	cfg Config

	lastScan, open, unresolved, omitted, readAt, failures *prometheus.Desc

	mu      sync.Mutex
	at      time.Time     // when the last reading ended, good or not; zero before
	snap    snapshot      // the last good reading
	failed  int           // readings that failed, since start
	running chan struct{} // closed when the running reading ends; nil when none runs
}

// snapshot is one reading of the database, already bounded.
type snapshot struct {
	lastScan []store.LastSucceeded
	open     []store.OpenMutationCount
	omitted  int
	at       time.Time
}

// NewGauges makes the collector; register it with the metrics' registry.
func NewGauges(cfg Config) *Gauges {
	cfg.Every = cmp.Or(cfg.Every, DefaultEvery)
	cfg.MaxClusters = cmp.Or(cfg.MaxClusters, DefaultMaxClusters)
	cfg.Timeout = cmp.Or(cfg.Timeout, defaultTimeout)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Gauges{
		cfg: cfg,
		lastScan: prometheus.NewDesc("tagdrift_last_successful_scan_timestamp_seconds",
			"When the last successful scan of a live cluster started, as a Unix time; absent for a cluster never scanned successfully. Read from the database: the same on every replica.",
			[]string{"cluster", "group"}, nil),
		open: prometheus.NewDesc("tagdrift_open_mutations",
			"Open mutations (needing attention: not acknowledged, not expected) by kind, cluster (empty for those spanning clusters) and cluster group.",
			[]string{"kind", "cluster", "group"}, nil),
		unresolved: prometheus.NewDesc("tagdrift_unresolved_mutations",
			"Mutations not resolved by kind, cluster (empty for those spanning clusters), cluster group and state: open (needs attention), acknowledged or expected.",
			[]string{"kind", "cluster", "group", "state"}, nil),
		omitted: prometheus.NewDesc("tagdrift_metrics_clusters_omitted",
			"Live clusters left out of the per-cluster gauges, past the bound on the clusters they name.", nil, nil),
		readAt: prometheus.NewDesc("tagdrift_metrics_database_read_timestamp_seconds",
			"When the database gauges were last read successfully, as a Unix time; 0 before the first reading.", nil, nil),
		failures: prometheus.NewDesc("tagdrift_metrics_database_read_failures_total",
			"Readings of the database gauges that failed (the log says why).", nil, nil),
	}
}

// Describe sends the gauges' descriptions.
func (g *Gauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.lastScan
	ch <- g.open
	ch <- g.unresolved
	ch <- g.omitted
	ch <- g.readAt
	ch <- g.failures
}

// Collect sends the last reading, first reading the database when it is older than
// Every.
func (g *Gauges) Collect(ch chan<- prometheus.Metric) {
	snap, failed := g.current()
	for _, l := range snap.lastScan {
		if l.StartedAt != nil {
			g.send(ch, g.lastScan, prometheus.GaugeValue, float64(l.StartedAt.Unix()), l.Cluster, l.Group)
		}
	}
	for _, o := range snap.open {
		// The store counts by state: one row of a kind and cluster is open.
		if o.State == store.StateOpen {
			g.send(ch, g.open, prometheus.GaugeValue, float64(o.Count), o.Kind, o.Cluster, o.Group)
		}
		g.send(ch, g.unresolved, prometheus.GaugeValue, float64(o.Count), o.Kind, o.Cluster, o.Group, o.State)
	}
	g.send(ch, g.omitted, prometheus.GaugeValue, float64(snap.omitted))
	var at float64
	if !snap.at.IsZero() {
		at = float64(snap.at.Unix())
	}
	g.send(ch, g.readAt, prometheus.GaugeValue, at)
	g.send(ch, g.failures, prometheus.CounterValue, float64(failed))
}

// send sends one metric; one that cannot be made is logged and left out.
func (g *Gauges) send(ch chan<- prometheus.Metric, d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
	m, err := prometheus.NewConstMetric(d, t, v, labels...)
	if err != nil {
		g.cfg.Logger.Error("metric left out", "metric", d.String(), "error", err.Error())
		return
	}
	ch <- m
}

// current is the reading to serve: the kept one while younger than Every, else a new
// one, read by one caller at a time while the others wait for it (at most Timeout;
// then they serve the kept one).
func (g *Gauges) current() (snapshot, int) {
	g.mu.Lock()
	if !g.at.IsZero() && g.cfg.Now().Sub(g.at) < g.cfg.Every {
		defer g.mu.Unlock()
		return g.snap, g.failed
	}
	done := g.running
	if done == nil {
		done = make(chan struct{})
		g.running = done
		go g.read(done)
	}
	g.mu.Unlock()
	select {
	case <-done:
	case <-time.After(g.cfg.Timeout):
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.snap, g.failed
}

// read reads the database once, under its own deadline (the scrape that started it
// may leave), and keeps the result; a failure keeps the previous one and is logged.
func (g *Gauges) read(done chan struct{}) {
	defer close(done)
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.Timeout)
	defer cancel()
	snap, err := g.readDatabase(ctx)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.at, g.running = g.cfg.Now(), nil
	if err != nil {
		g.failed++
		g.cfg.Logger.Warn("metrics: read the database gauges", "error", err.Error(), "failures", g.failed)
		return
	}
	g.snap = snap
}

func (g *Gauges) readDatabase(ctx context.Context) (snapshot, error) {
	scans, err := g.cfg.Source.LastSucceededScans(ctx)
	if err != nil {
		return snapshot{}, err
	}
	open, err := g.cfg.Source.OpenMutationCounts(ctx, store.Scope{}) // the operator's: every cluster
	if err != nil {
		return snapshot{}, err
	}
	return bound(scans, open, g.cfg.MaxClusters, g.cfg.Now()), nil
}

// bound keeps the first max live clusters (they come by name) and the open mutations
// of those and of none (spanning clusters). A count left by a cluster no longer live
// is left out too: only live clusters are named.
func bound(scans []store.LastSucceeded, open []store.OpenMutationCount, max int, at time.Time) snapshot {
	s := snapshot{at: at}
	if len(scans) > max {
		s.omitted = len(scans) - max
		scans = scans[:max]
	}
	named := make(map[string]bool, len(scans))
	for i := range scans {
		scans[i].Cluster = labelValue(scans[i].Cluster)
		named[scans[i].Cluster] = true
	}
	s.lastScan = scans
	for _, o := range open {
		o.Cluster = labelValue(o.Cluster)
		if o.Cluster == "" || named[o.Cluster] {
			s.open = append(s.open, o)
		}
	}
	return s
}

// labelValue is a cluster name as a label value: Prometheus takes any UTF-8 (the
// exposition escapes quotes, backslashes and newlines); invalid bytes become U+FFFD, as
// a name from a kubeconfig's context may hold them.
func labelValue(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// Handler serves the metrics of g on GET /metrics and nothing else. An error gathering
// them goes to log; the scraper gets what could be gathered.
func Handler(g prometheus.Gatherer, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:            logAdapter{log},
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             30 * time.Second,
	}))
	return mux
}

// NewServer is the metrics listener's server, with the timeouts of the service's.
func NewServer(g prometheus.Gatherer, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           Handler(g, log),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
}

// logAdapter is promhttp's error log on slog.
type logAdapter struct{ log *slog.Logger }

func (l logAdapter) Println(v ...any) {
	if l.log != nil {
		l.log.Warn("metrics: gather", "error", strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
	}
}
