package scanner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tagdrift/tagdrift/scanner/annotate"
)

// AnnotateConfig says how to annotate after a scan. Zero values take the defaults.
type AnnotateConfig struct {
	// DryRun plans the changes and sends nothing.
	DryRun bool
	// Timeout bounds the writes to one cluster, on top of the time the client's rate
	// limit needs to send them all. Default 30s.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Annotation is what annotating one cluster planned, and did.
type Annotation struct {
	Cluster string
	// Skipped is true when the cluster's scan failed: a partial view is never written.
	Skipped bool
	Plan    annotate.Plan
	// Result and Writes are what was sent: nothing in a dry run.
	Result annotate.Result
	Writes int
	Err    error
}

// Annotate writes this scan's verdict onto the ReplicaSets of every cluster scanned
// completely, as the service does, but without a database: the verdict comes from
// this scan's detection alone (annotate.Input.Stateless), so a MutantImage Event is
// sent when a ReplicaSet's is-mutant label turns true, and a second identical run
// sends nothing. Clusters are annotated concurrently, each with its own credentials
// (those the scan used); the annotations come back in the order of the targets.
func (r Result) Annotate(ctx context.Context, cfg AnnotateConfig) []Annotation {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	mutations := annotate.FromDetected(r.Report.Mutations)
	out := make([]Annotation, len(r.listings))
	var wg sync.WaitGroup
	for i := range r.listings {
		l := &r.listings[i]
		out[i] = Annotation{Cluster: l.cluster, Skipped: !l.ok}
		if !l.ok {
			continue
		}
		rss := make([]annotate.ReplicaSet, len(l.replicaSets))
		for j := range l.replicaSets {
			rss[j] = annotate.FromMetadata(&l.replicaSets[j].ObjectMeta)
		}
		out[i].Plan = annotate.Make(annotate.Input{
			Cluster: l.cluster, Pods: l.pods, ReplicaSets: rss, Mutations: mutations, Stateless: true,
		})
		if cfg.DryRun || out[i].Plan.Empty() {
			continue
		}
		wg.Go(func() { apply(ctx, l, &out[i], cfg) })
	}
	wg.Wait()
	return out
}

func apply(ctx context.Context, l *listing, a *Annotation, cfg AnnotateConfig) {
	log := cfg.Logger.With("cluster", l.cluster)
	client, err := annotate.NewClient(l.config, log)
	if err != nil {
		a.Err = err
		return
	}
	p := a.Plan
	pace := time.Duration(len(p.Patches)+len(p.Warnings)+len(p.Resolutions)) * time.Second / annotate.WriteQPS
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout+pace)
	defer cancel()
	a.Result, err = client.Apply(ctx, p)
	a.Writes = client.Writes()
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("timed out after %s: %w", cfg.Timeout+pace, err)
		}
		a.Err = err // the caller reports it
		log.Debug("annotation failed", "error", err.Error())
		return
	}
	log.Debug("annotated", "patched", a.Result.Patched, "gone", a.Result.Gone, "warned", len(a.Result.Warned),
		"resolved", len(a.Result.Resolved), "writes", a.Writes)
}
