package scheduler

import (
	"context"
	"log/slog"
	"time"

	"github.com/tagdrift/tagdrift/store"
)

// Retention deletes the history older than Keep (closed intervals, resolved mutations)
// every Every, in bounded batches (store.PruneHistory). Keep 0 keeps everything.
type Retention struct {
	Store  *store.Store
	Keep   time.Duration
	Every  time.Duration
	Batch  int
	Logger *slog.Logger
}

// Run prunes at once and then every r.Every until ctx ends.
func (r Retention) Run(ctx context.Context) {
	if r.Keep <= 0 {
		return
	}
	every := r.Every
	if every <= 0 {
		every = time.Hour
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		p, err := r.Store.PruneHistory(ctx, time.Now().Add(-r.Keep), r.Batch)
		switch {
		case err != nil && ctx.Err() == nil:
			r.Logger.Error("history retention", "err", err.Error())
		case p.Intervals > 0 || p.Mutations > 0:
			r.Logger.Info("history retention", "intervals", p.Intervals, "mutations", p.Mutations)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
