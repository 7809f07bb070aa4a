// Package scanner scans clusters: it lists each one (package kube), builds the
// inventory, and detects mutations across all of them (package detect).
package scanner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

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
// across the clusters that succeeded.
func ScanAll(ctx context.Context, targets []kubeconfig.Target, cfg Config) report.Report {
	cfg = cfg.withDefaults()
	scans := make([]report.ClusterScan, len(targets))
	sem := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			scans[i] = scanOne(ctx, t, cfg)
		})
	}
	wg.Wait()

	var pods []inventory.Pod
	for _, s := range scans {
		pods = append(pods, s.Pods...)
	}
	return report.Build(scans, detect.Detect(pods))
}

func scanOne(ctx context.Context, t kubeconfig.Target, cfg Config) report.ClusterScan {
	s := report.ClusterScan{Name: t.Name, Server: t.Server}
	if t.Err != nil {
		s.Err = t.Err
		return s
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	client, err := kube.NewClient(t.Name, kube.Configure(t.Config, cfg.UserAgent))
	if err == nil {
		var res kube.Result
		res, err = client.Scan(ctx)
		s.Pods, s.Containers = res.Pods, res.Containers
	}
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("timed out after %s: %w", cfg.Timeout, err)
		}
		s.Err = err
		cfg.Logger.Warn("scan failed", "cluster", t.Name, "error", err.Error())
		return s
	}
	cfg.Logger.Debug("scanned", "cluster", t.Name, "pods", len(s.Pods), "duration_ms", time.Since(start).Milliseconds())
	return s
}
