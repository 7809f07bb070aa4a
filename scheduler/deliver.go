package scheduler

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/store"
)

// Deliveries (issue 26): each delivery the store's outbox writes has a River job,
// inserted in the same transaction (InsertDeliveries), that sends it in the
// notifications queue: its own workers, so that a receiver that hangs never holds a
// scan or a re-check back, nor they it.

const notifyQueue = "notifications"

// DeliveryConfig configures the delivery of notifications. Zero values take the
// defaults.
type DeliveryConfig struct {
	// Client sends every HTTP request (notify.NewChannelClient's: the address policy,
	// no redirects, capped bodies); email dials through its dialer.
	Client *http.Client
	// AttemptTimeout bounds one attempt. Default 10 s.
	AttemptTimeout time.Duration
	// MaxAttempts is how many attempts a delivery gets before it is failed. Default 10
	// (River's backoff, attempts⁴ seconds: about four hours).
	MaxAttempts int
	// RetryBase, when set, replaces River's backoff by RetryBase·2ⁿ⁻¹ after the nth
	// failure (tests: seconds rather than hours).
	RetryBase time.Duration
	// RepostInterval is how often the open alerts are posted to Alertmanager again.
	// Default 1 min.
	RepostInterval time.Duration
	// EventTTL is when an event.recorded alert ends by itself. Default 1 h.
	EventTTL time.Duration
	// RepeatCheck is how often the reminders of routes with a repeat interval that are
	// due are written (repeat.go): a reminder is late by up to this. Default 1 min.
	RepeatCheck time.Duration
	// Concurrency bounds this replica's parallel deliveries. Default 4.
	Concurrency int
}

func (c *DeliveryConfig) withDefaults() error {
	c.AttemptTimeout = cmp.Or(c.AttemptTimeout, notify.DefaultAttemptTimeout)
	c.MaxAttempts = cmp.Or(c.MaxAttempts, 10)
	c.RepostInterval = cmp.Or(c.RepostInterval, notify.DefaultRepostInterval)
	c.EventTTL = cmp.Or(c.EventTTL, notify.DefaultEventTTL)
	c.RepeatCheck = cmp.Or(c.RepeatCheck, DefaultRepeatCheck)
	c.Concurrency = cmp.Or(c.Concurrency, 4)
	if c.Client == nil {
		c.Client = notify.NewChannelClient(nil, c.AttemptTimeout)
	}
	if c.AttemptTimeout <= 0 || c.MaxAttempts <= 0 || c.RepostInterval <= 0 || c.EventTTL <= 0 || c.RepeatCheck <= 0 || c.Concurrency <= 0 || c.RetryBase < 0 {
		return errors.New("scheduler: the delivery durations, attempts and concurrency must be positive")
	}
	return nil
}

// DefaultRepeatCheck is DeliveryConfig.RepeatCheck's default.
const DefaultRepeatCheck = time.Minute

// DeliverArgs sends one delivery of the outbox.
type DeliverArgs struct {
	DeliveryID int64 `json:"delivery_id"`
}

// Kind names the job.
func (DeliverArgs) Kind() string { return "deliver-notification" }

// InsertDeliveries inserts the jobs of deliveries inside tx, the transaction that
// wrote them: the store.DeliveryJobs that serve hands the store (store.SetOutbox).
func (s *Scheduler) InsertDeliveries(ctx context.Context, tx pgx.Tx, ds []store.QueuedDelivery) error {
	if s.cfg.Deliveries == nil {
		return errors.New("scheduler: deliveries are not configured")
	}
	params := make([]river.InsertManyParams, len(ds))
	now := time.Now()
	for i, d := range ds {
		opts := &river.InsertOpts{Queue: notifyQueue, MaxAttempts: s.cfg.Deliveries.MaxAttempts}
		if !d.Lead {
			// Most likely carried by its group's lead, it ends at one read: it runs
			// after the leads of later groups (River fetches by priority first).
			opts.Priority = followerPriority
		}
		// River makes any job with a ScheduledAt "scheduled", which waits for its
		// scheduler's next round (up to 5 s) even when the time has come: one due now
		// is inserted available.
		if d.NotBefore.After(now) {
			opts.ScheduledAt = d.NotBefore
		}
		params[i] = river.InsertManyParams{Args: DeliverArgs{DeliveryID: d.ID}, InsertOpts: opts}
	}
	if _, err := s.client.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("insert %d delivery jobs: %w", len(ds), err)
	}
	return nil
}

// followerPriority is the River priority of a delivery job that is not its group's
// lead (store.QueuedDelivery.Lead); the others have River's default, 1, the highest.
const followerPriority = 2

// deliveryOrderWait is how long a delivery waits before it looks again at the earlier
// delivery of its mutation that it waits behind.
const deliveryOrderWait = time.Second

type deliverWorker struct {
	river.WorkerDefaults[DeliverArgs]
	s *Scheduler
}

// Timeout bounds the job: the attempt, and the reads and writes around it.
func (w *deliverWorker) Timeout(*river.Job[DeliverArgs]) time.Duration {
	return w.s.cfg.Deliveries.AttemptTimeout + 30*time.Second
}

// NextRetry is River's backoff, or RetryBase's when set.
func (w *deliverWorker) NextRetry(job *river.Job[DeliverArgs]) time.Time {
	base := w.s.cfg.Deliveries.RetryBase
	if base == 0 {
		return time.Time{}
	}
	n := max(len(job.Errors), 1)
	return time.Now().Add(min(base<<(n-1), time.Hour))
}

func (w *deliverWorker) Work(ctx context.Context, job *river.Job[DeliverArgs]) error {
	st, log := w.s.cfg.Store, w.s.cfg.Logger
	d, err := st.Delivery(ctx, job.Args.DeliveryID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // its channel was deleted
	}
	if err != nil {
		return err
	}
	// Carried by another delivery's message (group wait), delivered or failed: nothing
	// to wait for or claim. Most jobs of a fleet-wide change end here, at one read.
	if d.Status != store.DeliveryPending || d.MergedInto != 0 {
		return nil
	}
	// One mutation's events reach a channel in order: wait while an earlier one is
	// pending (a snooze is not an attempt).
	if wait, err := st.WaitsBehind(ctx, d.ID); err != nil {
		return err
	} else if wait {
		return river.JobSnooze(deliveryOrderWait)
	}
	// Only the job's first attempt gathers its group: a later one (a retry, or a job
	// rescued from a replica that died after sending) sends what the first gathered,
	// so that a message under one webhook-id never grows.
	merge := notify.MergesMessages(d.Channel.Kind) && job.Attempt == 1
	group, carried, dropped, err := st.ClaimGroup(ctx, d.ID, w.s.cfg.Now(), merge)
	if err != nil {
		return err
	}
	if dropped > 0 {
		// No route that chose them sends them any more (edited while they waited).
		log.Info("notifications dropped", "delivery", d.ID, "channel", d.Channel.Name, "dropped", dropped)
		w.s.cfg.Metrics.delivery(d.Channel.Name, "dropped", dropped)
	}
	if !carried {
		return nil // delivered, failed, or carried by another delivery's message
	}
	final := job.Attempt >= job.MaxAttempts
	class, sendErr := w.send(ctx, d, group)
	retry := sendErr != nil && notify.Retryable(sendErr) && !final
	if err := st.RecordAttempt(ctx, d.ID, w.s.cfg.Now(), class, !retry); err != nil {
		// Not recorded: the attempt is retried, and a receiver drops the repeat by id.
		return err
	}
	outcome := "delivered"
	switch {
	case sendErr == nil:
		log.Info("notification delivered", "delivery", d.ID, "event", d.PublicID, "type", d.Type, "channel", d.Channel.Name,
			"attempt", job.Attempt, "carried", len(group))
	case retry:
		outcome = "retry"
		log.Warn("notification not delivered, will retry", "delivery", d.ID, "event", d.PublicID, "channel", d.Channel.Name,
			"attempt", job.Attempt, "error", class)
	default:
		outcome = "failed"
		log.Error("notification failed", "delivery", d.ID, "event", d.PublicID, "channel", d.Channel.Name,
			"attempt", job.Attempt, "error", class)
	}
	w.s.cfg.Metrics.delivery(d.Channel.Name, outcome, 1+len(group))
	switch {
	case sendErr == nil:
		return nil
	case retry:
		return sendErr
	default:
		// Recorded failed: River is not to try again.
		return river.JobCancel(sendErr)
	}
}

// send sends d, with the deliveries of its group, once, and returns the error class
// to record ("" when delivered).
func (w *deliverWorker) send(ctx context.Context, d store.Delivery, group []store.Delivery) (string, error) {
	cfg := w.s.cfg.Deliveries
	if !d.Channel.Enabled {
		return "channel-disabled", errors.New("channel disabled")
	}
	secret, err := w.s.cfg.Store.ChannelSecret(ctx, d.Channel.ID)
	if err != nil {
		// A key that does not open it now may after a restart with the right keys.
		return "secret-unavailable", &notify.Error{Channel: d.Channel.Kind, Class: "secret-unavailable", Retry: true}
	}
	sender, err := notify.Build(d.Channel.Kind, d.Channel.Config, secret, cfg.Client,
		notify.WithAttemptTimeout(cfg.AttemptTimeout), notify.WithAlertmanagerTimes(cfg.RepostInterval, cfg.EventTTL))
	if err != nil {
		return "bad-channel", err
	}
	payloads := make([]notify.Payload, 0, 1+len(group))
	for _, x := range append([]store.Delivery{d}, group...) {
		p, err := payloadOf(x.PublicID, x.Payload)
		if err != nil {
			return "bad-payload", err
		}
		payloads = append(payloads, p)
	}
	attempt, cancel := context.WithTimeout(ctx, cfg.AttemptTimeout)
	defer cancel()
	if err := notify.SendGroup(attempt, sender, payloads); err != nil {
		var ne *notify.Error
		if errors.As(err, &ne) {
			return ne.Class, err
		}
		return "error", err
	}
	return "", nil
}

// payloadOf decodes a stored payload and gives it its event's public id.
func payloadOf(publicID string, raw json.RawMessage) (notify.Payload, error) {
	var p notify.Payload
	if err := json.Unmarshal(raw, &p); err != nil {
		return p, fmt.Errorf("decode payload of event %s: %w", publicID, err)
	}
	p.ID = publicID
	return p, nil
}

// repostArgs posts the open alerts to every Alertmanager channel again.
type repostArgs struct{}

func (repostArgs) Kind() string { return "repost-alerts" }

func (repostArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue: notifyQueue, MaxAttempts: 1,
		UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateScheduled,
		}},
	}
}

type repostWorker struct {
	river.WorkerDefaults[repostArgs]
	s *Scheduler
}

// Work posts, to each enabled Alertmanager channel, the alerts of the mutations still
// open that it was told of, as Alertmanager's client contract asks (an alert not
// posted again expires): one request per channel. A channel that fails is logged and
// tried again at the next interval.
func (w *repostWorker) Work(ctx context.Context, _ *river.Job[repostArgs]) error {
	cfg, st, log := w.s.cfg.Deliveries, w.s.cfg.Store, w.s.cfg.Logger
	channels, err := st.Channels(ctx)
	if err != nil {
		return err
	}
	for _, c := range channels {
		if c.Kind != notify.KindAlertmanager || !c.Enabled {
			continue
		}
		alerts, err := st.OpenAlerts(ctx, c.ID)
		if err != nil {
			return err
		}
		if len(alerts) == 0 {
			continue
		}
		payloads := make([]notify.Payload, 0, len(alerts))
		for _, a := range alerts {
			p, err := payloadOf(a.PublicID, a.Payload)
			if err != nil {
				return err
			}
			payloads = append(payloads, p)
		}
		secret, err := st.ChannelSecret(ctx, c.ID)
		if err != nil {
			log.Error("repost alerts: channel secret", "channel", c.Name, "error", err)
			continue
		}
		sender, err := notify.Build(c.Kind, c.Config, secret, cfg.Client, notify.WithAlertmanagerTimes(cfg.RepostInterval, cfg.EventTTL))
		if err != nil {
			log.Error("repost alerts: channel", "channel", c.Name, "error", err)
			continue
		}
		am, ok := sender.(*notify.Alertmanager)
		if !ok {
			continue
		}
		attempt, cancel := context.WithTimeout(ctx, cfg.AttemptTimeout)
		err = am.Repost(attempt, payloads)
		cancel()
		if err != nil {
			log.Warn("repost alerts failed", "channel", c.Name, "alerts", len(payloads), "error", err)
			w.s.cfg.Metrics.repost(c.Name, "failed")
			continue
		}
		w.s.cfg.Metrics.repost(c.Name, "delivered")
	}
	return nil
}
