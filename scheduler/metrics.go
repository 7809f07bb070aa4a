package scheduler

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tagdrift/tagdrift/store"
)

// Metrics are the scheduler's Prometheus metrics.
type Metrics struct {
	scans       *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	opened      *prometheus.CounterVec
	closed      *prometheus.CounterVec
	lastSuccess *prometheus.GaugeVec
	deliveries  *prometheus.CounterVec
	reposts     *prometheus.CounterVec
}

// NewMetrics registers the scheduler's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		scans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tagdrift_scans_total", Help: "Scans by cluster and status (succeeded, failed, aborted).",
		}, []string{"cluster", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tagdrift_scan_duration_seconds", Help: "Duration of scans, by cluster.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
		}, []string{"cluster"}),
		opened: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tagdrift_observations_opened_total", Help: "Observation intervals opened, by cluster.",
		}, []string{"cluster"}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tagdrift_observations_closed_total", Help: "Observation intervals closed, by cluster.",
		}, []string{"cluster"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tagdrift_last_successful_scan_timestamp_seconds", Help: "When the last successful scan of a cluster started, as a Unix time.",
		}, []string{"cluster"}),
	}
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tagdrift_notification_deliveries_total",
		Help: "Attempts to deliver notifications, by channel and outcome (delivered, retry, failed: gave up), each delivery a message carried counted.",
	}, []string{"channel", "outcome"})
	m.reposts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tagdrift_alert_reposts_total", Help: "Re-posts of open alerts to Alertmanager channels, by channel and outcome.",
	}, []string{"channel", "outcome"})
	reg.MustRegister(m.scans, m.duration, m.opened, m.closed, m.lastSuccess, m.deliveries, m.reposts)
	return m
}

func (m *Metrics) scanEnded(cluster, status string, started time.Time, took time.Duration, opened, closed int) {
	if m == nil {
		return
	}
	m.scans.WithLabelValues(cluster, status).Inc()
	m.duration.WithLabelValues(cluster).Observe(took.Seconds())
	if status == "succeeded" {
		m.opened.WithLabelValues(cluster).Add(float64(opened))
		m.closed.WithLabelValues(cluster).Add(float64(closed))
		m.lastSuccess.WithLabelValues(cluster).Set(float64(started.Unix()))
	}
}

func (m *Metrics) delivery(channel, outcome string, n int) {
	if m == nil {
		return
	}
	m.deliveries.WithLabelValues(channel, outcome).Add(float64(n))
}

func (m *Metrics) repost(channel, outcome string) {
	if m == nil {
		return
	}
	m.reposts.WithLabelValues(channel, outcome).Inc()
}

// openMutations reports the open mutations by kind and cluster from the database at
// each scrape, so that every replica reports the same, current figures.
type openMutations struct {
	store *store.Store
	desc  *prometheus.Desc
}

// NewOpenMutationsCollector registers a collector of open mutations by kind and cluster.
func NewOpenMutationsCollector(reg prometheus.Registerer, st *store.Store) {
	reg.MustRegister(&openMutations{store: st, desc: prometheus.NewDesc(
		"tagdrift_open_mutations", "Open mutations by kind and cluster (empty for those spanning clusters).",
		[]string{"kind", "cluster"}, nil)})
}

func (o *openMutations) Describe(ch chan<- *prometheus.Desc) { ch <- o.desc }

func (o *openMutations) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := o.store.OpenMutationCounts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(o.desc, err)
		return
	}
	for _, c := range counts {
		ch <- prometheus.MustNewConstMetric(o.desc, prometheus.GaugeValue, float64(c.Count), c.Kind, c.Cluster)
	}
}
