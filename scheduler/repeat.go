package scheduler

import (
	"context"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Reminders (issue 26): every DeliveryConfig.RepeatCheck, the store writes the
// reminders that routes with a repeat interval owe their channels (store.EnqueueRepeats:
// what is due, by the database's clock, with the delivery jobs in its transaction),
// which the delivery worker then sends as any other notification.

// repeatArgs asks for the reminders due. It is periodic, so River inserts it on the
// leader only; the store serializes two runs, so that each reminder is written once.
type repeatArgs struct{}

func (repeatArgs) Kind() string { return "repeat-notifications" }

// InsertOpts keeps at most one run waiting or running, in the notifications queue; one
// that fails is not retried: the next interval asks again.
func (repeatArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue: notifyQueue, MaxAttempts: 1,
		UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateScheduled,
		}},
	}
}

// repeatJob is the periodic run, every d.RepeatCheck and once at start (what fell due
// while no replica ran).
func repeatJob(d *DeliveryConfig) *river.PeriodicJob {
	return river.NewPeriodicJob(
		river.PeriodicInterval(d.RepeatCheck),
		func() (river.JobArgs, *river.InsertOpts) { return repeatArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true},
	)
}

type repeatWorker struct {
	river.WorkerDefaults[repeatArgs]
	s *Scheduler
}

func (w *repeatWorker) Work(ctx context.Context, _ *river.Job[repeatArgs]) error {
	r, err := w.s.cfg.Store.EnqueueRepeats(ctx)
	if err != nil {
		return err
	}
	if r.Events > 0 {
		w.s.cfg.Logger.Info("reminders written", "mutations", r.Events, "deliveries", r.Deliveries)
	}
	return nil
}
