package scheduler

import (
	"strconv"
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
	// watchState, detection and snapshots are this process's watches.
	watchState *prometheus.GaugeVec
	detection  *prometheus.HistogramVec
	snapshots  *prometheus.CounterVec
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
		watchState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tagdrift_watch_state",
			Help: "1 for the state (live, resyncing, stale, polling) of each watch this process holds, by cluster and cluster group; absent for a watch it does not hold.",
		}, []string{"cluster", "group", "state"}),
		detection: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tagdrift_watch_detection_seconds", Help: "Time from a watch's last change to its record (the mutations opened or resolved), by cluster and cluster group.",
			Buckets: []float64{0.25, 0.5, 1, 1.25, 1.5, 1.75, 2, 2.5, 3, 5, 10, 30},
		}, []string{"cluster", "group"}),
		snapshots: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tagdrift_watch_snapshots_total", Help: "Snapshots of watches recorded, by cluster, cluster group and whether they changed something (an unchanged one adds no scan).",
		}, []string{"cluster", "group", "changed"}),
	}
	reg.MustRegister(m.scans, m.duration, m.opened, m.closed, m.deliveries, m.reposts, m.watchState, m.detection, m.snapshots)
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

// watchStateIs records the state of a watch this process holds; "" when it no longer
// holds it.
func (m *Metrics) watchStateIs(cluster, group, state string) {
	if m == nil {
		return
	}
	for _, s := range []string{"live", "resyncing", "stale", "polling"} {
		if s == state {
			m.watchState.WithLabelValues(cluster, group, s).Set(1)
		} else {
			m.watchState.DeleteLabelValues(cluster, group, s)
		}
	}
}

func (m *Metrics) watchSnapshot(cluster, group string, changed bool, detection time.Duration) {
	if m == nil {
		return
	}
	m.snapshots.WithLabelValues(cluster, group, strconv.FormatBool(changed)).Inc()
	if detection > 0 {
		m.detection.WithLabelValues(cluster, group).Observe(detection.Seconds())
	}
}
