// Package scanner scans clusters: it lists each one (package kube), builds the
// inventory, detects mutations across all of them (package detect) and, when asked,
// writes the verdict onto their ReplicaSets (package annotate).
package scanner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/scanner/kube"
	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
	"github.com/tagdrift/tagdrift/scanner/report"
)

// Config says how to scan. Zero values take the defaults.
type Config struct {
	// Timeout bounds the scan of one cluster. Default 30s.
	Timeout time.Duration
	// Concurrency bounds how many clusters are scanned at once. Default 8.
	Concurrency int
	// UserAgent is sent to the API servers.
	UserAgent string
	Logger    *slog.Logger
	// Groups puts clusters (by name) in cluster groups: a tag-divergence spans the
	// clusters of one group only. A cluster it does not name is in the default group,
	// so by default every cluster scanned is correlated with every other.
	Groups map[string]string
}

func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// ScanAll scans the targets concurrently and reports on all of them: a cluster that
// fails is reported with its error and the others complete. Mutations are detected
// across the clusters that succeeded (tag-divergences within each of Config.Groups).
func ScanAll(ctx context.Context, targets []kubeconfig.Target, cfg Config) report.Report {
	return Scan(ctx, targets, cfg).Report
}

// Result is a scan of several clusters: the report, and what annotating the clusters
// afterwards needs of each (Annotate).
type Result struct {
	Report   report.Report
	listings []listing
}

// listing is one cluster's scan as its annotation needs it; ok is false when the scan
// failed.
type listing struct {
	cluster     string
	config      *rest.Config
	pods        []inventory.Pod
	replicaSets []metav1.PartialObjectMetadata
	ok          bool
}

// Scan is ScanAll, keeping what Annotate needs.
func Scan(ctx context.Context, targets []kubeconfig.Target, cfg Config) Result {
	cfg = cfg.withDefaults()
	scans := make([]report.ClusterScan, len(targets))
	listings := make([]listing, len(targets))
	sem := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			scans[i], listings[i] = scanOne(ctx, t, cfg)
		})
	}
	wg.Wait()

	var pods []inventory.Pod
	for _, s := range scans {
		n := len(pods)
		pods = append(pods, s.Pods...)
		if g := cfg.Groups[s.Name]; g != "" {
			for i := range pods[n:] {
				pods[n+i].Group = g
			}
		}
	}
	return Result{Report: report.Build(scans, detect.Detect(pods)), listings: listings}
}

func scanOne(ctx context.Context, t kubeconfig.Target, cfg Config) (report.ClusterScan, listing) {
	s := report.ClusterScan{Name: t.Name, Server: t.Server}
	l := listing{cluster: t.Name}
	if t.Err != nil {
		s.Err = t.Err
		return s, l
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	client, err := kube.NewClient(t.Name, kube.Configure(t.Config, cfg.UserAgent))
	if err == nil {
		var res kube.Result
		res, err = client.Scan(ctx)
		s.Pods, s.Containers = res.Pods, res.Containers
		l.pods, l.replicaSets = res.Pods, res.ReplicaSets
	}
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("timed out after %s: %w", cfg.Timeout, err)
		}
		s.Err = err
		cfg.Logger.Warn("scan failed", "cluster", t.Name, "error", err.Error())
		return s, listing{cluster: t.Name}
	}
	cfg.Logger.Debug("scanned", "cluster", t.Name, "pods", len(s.Pods), "duration_ms", time.Since(start).Milliseconds())
	l.config, l.ok = rest.CopyConfig(t.Config), true
	if cfg.UserAgent != "" {
		l.config.UserAgent = cfg.UserAgent
	}
	return s, l
}
