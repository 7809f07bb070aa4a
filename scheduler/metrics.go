package scheduler

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the scheduler's Prometheus metrics: what this process's scans did. The
// gauges read from the database (the last successful scan of each cluster, the open
// mutations) are server/metrics', the same on every replica.
type Metrics struct {
	scans    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	opened   *prometheus.CounterVec
	closed   *prometheus.CounterVec
	// deliveries and reposts are what this process sent to notification channels.
	deliveries *prometheus.CounterVec
	reposts    *prometheus.CounterVec
}

// NewMetrics registers the scheduler's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		scans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tagdrift_scans_total", Help: "Scans by cluster, cluster group and status (succeeded, failed, aborted).",
		}, []string{"cluster", "group", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tagdrift_scan_duration_seconds", Help: "Duration of scans, by cluster and cluster group.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
		}, []string{"cluster", "group"}),
		opened: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tagdrift_observations_opened_total", Help: "Observation intervals opened, by cluster and cluster group.",
		}, []string{"cluster", "group"}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tagdrift_observations_closed_total", Help: "Observation intervals closed, by cluster and cluster group.",
		}, []string{"cluster", "group"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tagdrift_notification_deliveries_total",
			Help: "Attempts to deliver notifications, by channel and outcome (delivered, retry, failed: gave up, dropped: no route sends it any more), each delivery a message carried counted.",
		}, []string{"channel", "outcome"}),
		reposts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tagdrift_alert_reposts_total", Help: "Re-posts of open alerts to Alertmanager channels, by channel and outcome.",
		}, []string{"channel", "outcome"}),
	}
	reg.MustRegister(m.scans, m.duration, m.opened, m.closed, m.deliveries, m.reposts)
	return m
}

func (m *Metrics) scanEnded(cluster, group, status string, started time.Time, took time.Duration, opened, closed int) {
	if m == nil {
		return
	}
	m.scans.WithLabelValues(cluster, group, status).Inc()
	m.duration.WithLabelValues(cluster, group).Observe(took.Seconds())
	if status == "succeeded" {
		m.opened.WithLabelValues(cluster, group).Add(float64(opened))
		m.closed.WithLabelValues(cluster, group).Add(float64(closed))
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
