package scheduler

import (
	"context"
	"errors"
	"fmt"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/tagdrift/tagdrift/store"
)

// expireArgs asks for the rules and acknowledgements whose time has come to be ended
// (store.SettleExpired). It is periodic, so River inserts it on the leader only; any
// replica may work it, and the store locks what it ends, so two runs end each once.
type expireArgs struct{}

func (expireArgs) Kind() string { return "expire" }

// InsertOpts keeps at most one expiry waiting or running: a run ends everything due,
// and one that fails is retried with backoff, and past its attempts the next interval
// asks again.
func (expireArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		MaxAttempts: 3,
		UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateScheduled,
		}},
	}
}

// expiryJob is the periodic expiry, every cfg.ExpiryInterval and once at start (what
// expired while no replica ran).
func expiryJob(cfg Config) *river.PeriodicJob {
	return river.NewPeriodicJob(
		river.PeriodicInterval(cfg.ExpiryInterval),
		func() (river.JobArgs, *river.InsertOpts) { return expireArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true},
	)
}

type expireWorker struct {
	river.WorkerDefaults[expireArgs]
	s *Scheduler
}

// Work ends what is due by the database's clock. The store settles the mutations
// that changes, writes their notifications and moves the data version in one
// transaction; what is left here is the ReplicaSet annotation of the clusters they
// touch, which a scan writes.
func (w *expireWorker) Work(ctx context.Context, _ *river.Job[expireArgs]) error {
	log := w.s.cfg.Logger
	e, err := w.s.cfg.Store.SettleExpired(ctx)
	if err != nil {
		return err
	}
	if e.Rules+e.Acks == 0 {
		return nil
	}
	log.Info("expired", "rules", e.RuleIDs, "acknowledgements", e.AckIDs, "mutations_settled", e.Settled,
		"clusters", e.ClusterIDs)
	// The states are settled whatever happens here: a cluster not asked for now is
	// annotated by its next scheduled scan, so a failure is logged, not retried (a
	// retry would find nothing more to end).
	if err := w.s.Reannotate(ctx, e.ClusterIDs); err != nil {
		log.Warn("ask for the annotation of clusters after expiry", "error", err.Error())
	}
	return nil
}

// Reannotate asks for a scan now of each of clusters whose annotate mode is on (the
// scan lists the ReplicaSets and writes their annotation from the stored states), for
// when the states of their mutations changed without a scan: an expiry, an
// acknowledgement, a rule. Disabled clusters, those not annotated and those deleted
// are skipped. It asks for every cluster and returns the errors of those it could not.
func (s *Scheduler) Reannotate(ctx context.Context, clusters []int64) error {
	var errs []error
	for _, id := range clusters {
		c, err := s.cfg.Store.ClusterByID(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("reannotate cluster %d: %w", id, err))
			continue
		}
		if !c.Enabled || c.Annotate != "on" {
			continue
		}
		if _, err := s.ScanNow(ctx, id, store.Audit{}); err != nil {
			errs = append(errs, fmt.Errorf("reannotate cluster %s: %w", c.Name, err))
			continue
		}
		s.cfg.Logger.Info("reannotate", "cluster", c.Name)
	}
	return errors.Join(errs...)
}
