// Package scheduler scans every enabled cluster at its interval with River, the
// Postgres-backed job engine: every replica works scans, at most one scan per cluster
// runs at a time across replicas, and a dead replica's scan is picked up again. After
// each scan, and on every tick, it works off the references queued for a recheck of
// their tag-divergence (store.RecheckRefs), so that one a failure or a crash left
// queued is settled by the next pass of any replica. Every ExpiryInterval it ends the
// acknowledgements and rules whose time has come (expiry.go).
package scheduler

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"k8s.io/client-go/rest"

	"github.com/tagdrift/tagdrift/scanner/kube"
	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
	"github.com/tagdrift/tagdrift/scanner/scanerr"
	"github.com/tagdrift/tagdrift/store"
)

// Config configures the scheduler. Zero values take the defaults.
type Config struct {
	Store  *store.Store
	Dialer *kubeconfig.Dialer
	// Policy is the current kubeconfig policy: every stored configuration is checked
	// against it before each use, whatever policy it was registered under.
	Policy kubeconfig.Policy
	// ScanTimeout bounds one scan. Default 2m.
	ScanTimeout time.Duration
	// Concurrency bounds this replica's parallel scans. Default 4.
	Concurrency int
	// Tick is how often the leader looks for clusters due a scan. Default 5s.
	Tick time.Duration
	// ExpiryInterval is how often the rules and acknowledgements whose time has come
	// are ended (by the database's clock) and what they decided settled. Default 1m.
	ExpiryInterval time.Duration
	// UserAgent is sent to the API servers.
	UserAgent string
	// ExternalURL is the service's public URL: the annotations of ReplicaSets link to
	// their workload's page under it. Empty for no link.
	ExternalURL string
	// Deliveries, when set, has this replica send the notifications of the outbox (in
	// the notifications queue) and re-post open alerts to Alertmanager channels.
	Deliveries *DeliveryConfig
	// Watch configures the watches of the clusters in scan mode watch.
	Watch WatchConfig
	// Metrics, when set, counts scans and deliveries.
	Metrics *Metrics
	Logger  *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (c *Config) withDefaults() error {
	if c.Store == nil || c.Dialer == nil {
		return errors.New("scheduler: Store and Dialer are required")
	}
	c.ScanTimeout = cmp.Or(c.ScanTimeout, 2*time.Minute)
	c.Concurrency = cmp.Or(c.Concurrency, 4)
	c.Tick = cmp.Or(c.Tick, 5*time.Second)
	c.ExpiryInterval = cmp.Or(c.ExpiryInterval, time.Minute)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ScanTimeout <= 0 || c.Concurrency <= 0 || c.Tick <= 0 || c.ExpiryInterval <= 0 {
		return errors.New("scheduler: ScanTimeout, Concurrency, Tick and ExpiryInterval must be positive")
	}
	if err := c.Watch.withDefaults(); err != nil {
		return err
	}
	if c.Deliveries != nil {
		return c.Deliveries.withDefaults()
	}
	return nil
}

// Scheduler runs scans.
type Scheduler struct {
	cfg    Config
	client *river.Client[pgx.Tx]
	// stopWatches ends the watches and watchesDone closes once they stopped; nil when
	// none run.
	stopWatches context.CancelFunc
	watchesDone chan struct{}
	// followDue asks followLoop for a pass (a full buffer: one is asked for already);
	// stopFollow ends the loop and followDone closes once it ended.
	followDue  chan struct{}
	stopFollow context.CancelFunc
	followDone chan struct{}
}

const scanQueue = "scans"

// lockWait is how long a scan waits when another scan of its cluster runs.
const lockWait = 2 * time.Second

// ScanArgs asks for one scan of one cluster.
type ScanArgs struct {
	ClusterID int64 `json:"cluster_id"`
	// Scan is set on a scan asked for while the cluster's job waited for later or ran:
	// the queued scan record it was asked for (asks before it starts share the record,
	// so they merge into one job; an ask after it started queues another record, so it
	// never merges into a job that already listed).
	Scan int64 `json:"scan,omitempty"`
}

// Kind names the job.
func (ScanArgs) Kind() string { return "scan" }

// InsertOpts makes scans unique per cluster while one waits or runs, so that replicas
// and the schedule never queue a second. The worker's cluster lock is what keeps two
// from running at once, whatever inserted them.
func (ScanArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue:       scanQueue,
		MaxAttempts: 3,
		UniqueOpts: river.UniqueOpts{
			ByArgs: true,
			ByState: []rivertype.JobState{
				rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
				rivertype.JobStateRetryable, rivertype.JobStateScheduled,
			},
		},
	}
}

// scheduleArgs is the leader's periodic look for clusters due a scan.
type scheduleArgs struct{}

func (scheduleArgs) Kind() string { return "schedule-scans" }

// recheckArgs asks for the queued references to be rechecked.
type recheckArgs struct{}

func (recheckArgs) Kind() string { return "recheck" }

// InsertOpts keeps at most one recheck waiting or running (it works off everything
// queued before it ends, and what a scan queues that scan's worker works off too); a
// failed one is retried with backoff, and past its attempts the next tick asks again.
func (recheckArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		MaxAttempts: 5,
		UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateScheduled,
		}},
	}
}

// behindPoll is how often the follow-up loop looks whether the data changed without
// this replica asking (another replica's scan) and judges behind the tag then.
const behindPoll = time.Second

// recheckBatch is how many references one transaction rechecks.
const recheckBatch = 100

// New prepares a scheduler on the store's database.
func New(cfg Config) (*Scheduler, error) {
	if err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	s := &Scheduler{cfg: cfg, followDue: make(chan struct{}, 1)}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &scanWorker{s: s}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &scheduleWorker{s: s}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &recheckWorker{s: s}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &expireWorker{s: s}); err != nil {
		return nil, err
	}
	queues := map[string]river.QueueConfig{
		scanQueue:          {MaxWorkers: cfg.Concurrency},
		river.QueueDefault: {MaxWorkers: 1},
	}
	periodic := []*river.PeriodicJob{expiryJob(cfg)}
	if d := cfg.Deliveries; d != nil {
		if err := river.AddWorkerSafely(workers, &deliverWorker{s: s}); err != nil {
			return nil, err
		}
		if err := river.AddWorkerSafely(workers, &repostWorker{s: s}); err != nil {
			return nil, err
		}
		if err := river.AddWorkerSafely(workers, &repeatWorker{s: s}); err != nil {
			return nil, err
		}
		// One more worker than deliveries, so that the re-post of open alerts and the
		// look for reminders due (both short) never wait behind them.
		queues[notifyQueue] = river.QueueConfig{MaxWorkers: d.Concurrency + 1}
		periodic = append(periodic, river.NewPeriodicJob(
			river.PeriodicInterval(d.RepostInterval),
			func() (river.JobArgs, *river.InsertOpts) { return repostArgs{}, nil },
			nil,
		), repeatJob(d))
	}
	client, err := river.NewClient(riverpgxv5.New(cfg.Store.Pool()), &river.Config{
		Logger:  cfg.Logger,
		Queues:  queues,
		Workers: workers,
		PeriodicJobs: append(periodic, []*river.PeriodicJob{
			river.NewPeriodicJob(
				river.PeriodicInterval(cfg.Tick),
				func() (river.JobArgs, *river.InsertOpts) { return scheduleArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true},
			),
			// What a failure or a crash (of any replica) left queued.
			river.NewPeriodicJob(
				river.PeriodicInterval(cfg.Tick),
				func() (river.JobArgs, *river.InsertOpts) { return recheckArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true},
			),
		}...),
		JobTimeout: cfg.ScanTimeout,
		// A scan running past its timeout plus a margin belongs to a dead replica: its
		// job is given to another.
		RescueStuckJobsAfter: cfg.ScanTimeout + 15*time.Second,
		FetchPollInterval:    time.Second,
		// River fetches at most every 100 ms by default, as many jobs as workers are
		// free: five deliveries a tenth of a second, so the 2,000 delivery jobs of a
		// fleet-wide tag move (1,000 mutations, two routes) took 40 s to go through,
		// most of them only to find their delivery carried by another's message.
		// BenchmarkNotifyFleet: median commit-to-delivery 20 s → 2 s.
		FetchCooldown: 5 * time.Millisecond,
	})
	if err != nil {
		return nil, fmt.Errorf("job engine: %w", err)
	}
	s.client = client
	return s, nil
}

// Start starts working scans, on the leader the schedule, and the watches of the
// clusters in scan mode watch whose lease this replica takes.
func (s *Scheduler) Start(ctx context.Context) error {
	if err := s.client.Start(ctx); err != nil {
		return err
	}
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.stopFollow, s.followDone = cancel, make(chan struct{})
	go func() {
		defer close(s.followDone)
		s.followLoop(fctx)
	}()
	if !s.cfg.Watch.Disabled {
		wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		s.stopWatches, s.watchesDone = cancel, make(chan struct{})
		go func() {
			defer close(s.watchesDone)
			newWatches(s).run(wctx)
		}()
	}
	return nil
}

// Stop stops the watches (giving up their leases), cancels the scans in flight (they
// are recorded aborted and retried later, here or by another replica) and waits for
// the workers, at most until ctx ends.
func (s *Scheduler) Stop(ctx context.Context) error {
	if s.stopWatches != nil {
		s.stopWatches()
		select {
		case <-s.watchesDone:
		case <-ctx.Done():
		}
	}
	if s.stopFollow != nil {
		s.stopFollow()
		select {
		case <-s.followDone:
		case <-ctx.Done():
		}
	}
	return s.client.StopAndCancel(ctx)
}

// ScanNow asks for a scan of a cluster now and returns the id of its scan record, queued
// until a worker starts it (asks made before it starts share it). When the cluster's scan
// job is scheduled for later or running (it may have listed before what the caller wants
// seen), another, named after the queued record, is queued to run now.
//
// When a names an actor, the ask is audited in the transaction that queues the scan.
func (s *Scheduler) ScanNow(ctx context.Context, clusterID int64, a store.Audit) (int64, error) {
	scanID, created, err := s.cfg.Store.QueueScan(ctx, clusterID, s.cfg.Now(), a)
	if err != nil {
		return 0, err
	}
	if err := s.enqueueNow(ctx, clusterID, scanID); err != nil {
		if created {
			if dropErr := s.cfg.Store.DropQueuedScan(context.WithoutCancel(ctx), scanID); dropErr != nil {
				s.cfg.Logger.Error("drop queued scan", "scan_id", scanID, "error", dropErr.Error())
			}
		}
		return 0, err
	}
	return scanID, nil
}

// enqueueNow makes sure a scan job of the cluster is available to run now for the queued
// scan record scanID. When the cluster's job is already scheduled for later or running,
// a follow-up job named after the record is inserted instead: it runs now (the lock
// keeps it from overlapping a running scan), and asks sharing the record merge into it.
// A job that reads running may have finished its scan already (River records
// completions asynchronously, and under load several can wait to be recorded): naming
// the follow-up after the record, not after the running job, keeps that from mattering,
// because a job that finished took its record out of the queue and the next ask queues
// a new one.
func (s *Scheduler) enqueueNow(ctx context.Context, clusterID, scanID int64) error {
	res, err := s.client.Insert(ctx, ScanArgs{ClusterID: clusterID}, nil)
	if err != nil {
		return fmt.Errorf("ask for a scan of cluster %d: %w", clusterID, err)
	}
	waiting := res.Job.State == rivertype.JobStateRunning || res.Job.ScheduledAt.After(s.cfg.Now())
	if !res.UniqueSkippedAsDuplicate || !waiting {
		return nil
	}
	if _, err := s.client.Insert(ctx, ScanArgs{ClusterID: clusterID, Scan: scanID}, nil); err != nil {
		return fmt.Errorf("ask for a scan of cluster %d: %w", clusterID, err)
	}
	return nil
}

type scheduleWorker struct {
	river.WorkerDefaults[scheduleArgs]
	s *Scheduler
}

// Work inserts a scan for each enabled cluster, scheduled at its last scan's start plus
// its interval and up to a tenth of it more of jitter, so that clusters registered
// together do not all scan at once. Unique insertion makes this idempotent.
func (w *scheduleWorker) Work(ctx context.Context, _ *river.Job[scheduleArgs]) error {
	due, err := w.s.cfg.Store.ScanSchedule(ctx)
	if err != nil {
		return err
	}
	now := w.s.cfg.Now()
	var params []river.InsertManyParams
	for _, c := range due {
		at := now
		interval := c.Interval
		if c.Watched {
			// The watch finds the changes; a full list is the safety net.
			interval = max(interval, w.s.cfg.Watch.FullList)
		}
		if c.LastStarted != nil {
			jitter := time.Duration(rand.Int64N(int64(interval)/10 + 1))
			if next := c.LastStarted.Add(interval + jitter); next.After(now) {
				at = next
			}
		}
		opts := ScanArgs{}.InsertOpts()
		opts.ScheduledAt = at
		params = append(params, river.InsertManyParams{Args: ScanArgs{ClusterID: c.ClusterID}, InsertOpts: &opts})
	}
	if len(params) == 0 {
		return nil
	}
	if _, err := w.s.client.InsertMany(ctx, params); err != nil {
		return fmt.Errorf("schedule scans: %w", err)
	}
	return nil
}

type scanWorker struct {
	river.WorkerDefaults[ScanArgs]
	s *Scheduler
}

// Work scans one cluster and records what it found. A scan that fails is recorded with
// its error's class and tagdrift's message (the full error goes to the log only) and
// retried with backoff, unless the current policy refuses the cluster's configuration;
// one cut off by shutdown is recorded aborted.
func (w *scanWorker) Work(ctx context.Context, job *river.Job[ScanArgs]) error {
	cfg := w.s.cfg
	st := cfg.Store
	cluster, err := st.ClusterByID(ctx, job.Args.ClusterID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("cluster %d is gone", job.Args.ClusterID))
	}
	if err != nil {
		return err
	}
	if !cluster.Enabled {
		return river.JobCancel(fmt.Errorf("cluster %s is disabled", cluster.Name))
	}
	log := cfg.Logger.With("cluster", cluster.Name, "job_id", job.ID)
	unlock, ok, err := st.LockCluster(ctx, cluster.ID)
	if err != nil {
		return err
	}
	if !ok {
		// Another replica scans this cluster right now: wait for it, then scan.
		return river.JobSnooze(lockWait)
	}
	defer unlock()
	started := cfg.Now()
	scanID, err := st.StartScan(ctx, cluster.ID, started)
	if err != nil {
		return err
	}
	log = log.With("scan_id", scanID)

	restCfg, res, err := w.list(ctx, cluster)
	pods, containers := res.Pods, res.Containers
	if err != nil {
		status := store.ScanFailed
		why := scanerr.Classify(err)
		switch {
		case ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded):
			status = store.ScanAborted // shutdown, not the cluster's fault
			why = scanerr.Error{Class: scanerr.Aborted, Message: "the service stopped during the scan; it is retried"}
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			why = scanerr.Error{Class: scanerr.Timeout, Message: fmt.Sprintf("the scan did not finish within %s", cfg.ScanTimeout)}
		}
		// Record the end even though ctx is done.
		if endErr := st.EndScan(context.WithoutCancel(ctx), scanID, status, store.ScanError{Class: why.Class, Message: why.Message}, cfg.Now()); endErr != nil {
			log.Error("record scan end", "error", endErr.Error())
		}
		log.Warn("scan "+status, "error_class", why.Class, "status_code", why.Status, "error", err.Error(),
			"duration_ms", time.Since(started).Milliseconds())
		cfg.Metrics.scanEnded(cluster.Name, cluster.Group, status, started, time.Since(started), 0, 0)
		var pe *kubeconfig.PolicyError
		if errors.As(err, &pe) {
			// Retrying cannot help; the schedule tries again at the next interval.
			return river.JobCancel(err)
		}
		return err
	}
	counts, err := st.CompleteScan(ctx, scanID, pods, containers, cfg.Now())
	if err != nil {
		why := store.ScanError{Class: scanerr.Internal, Message: "recording the scan failed; the service's log says why"}
		log.Error("record scan", "error", err.Error())
		if endErr := st.EndScan(context.WithoutCancel(ctx), scanID, store.ScanFailed, why, cfg.Now()); endErr != nil {
			log.Error("record scan end", "error", endErr.Error())
		}
		cfg.Metrics.scanEnded(cluster.Name, cluster.Group, store.ScanFailed, started, time.Since(started), 0, 0)
		return err
	}
	cfg.Metrics.scanEnded(cluster.Name, cluster.Group, store.ScanSucceeded, started, time.Since(started), counts.Opened, counts.Closed)
	rec, err := w.s.recheck(ctx)
	if err != nil {
		// The scan stands and what it queued stays queued: the next recheck, here or
		// on another replica, works it off.
		log.Warn("recheck references", "error", err.Error())
	}
	w.s.followUp()
	w.annotate(ctx, cluster, scanID, restCfg, res, log)
	log.Info("scan succeeded", "pods", len(pods), "opened", counts.Opened, "closed", counts.Closed, "events", counts.Events,
		"mutations_opened", counts.Mutations.Opened+rec.Opened, "mutations_resolved", counts.Mutations.Resolved+rec.Resolved,
		"rechecked_refs", rec.Refs, "duration_ms", time.Since(started).Milliseconds())
	return nil
}

// recheck works off the references queued for a recheck until none is left that
// another recheck does not hold.
func (s *Scheduler) recheck(ctx context.Context) (store.Rechecked, error) {
	var total store.Rechecked
	for {
		r, err := s.cfg.Store.RecheckRefs(ctx, recheckBatch, s.cfg.Now())
		if err != nil {
			return total, err
		}
		if r.Refs == 0 {
			return total, nil
		}
		total.Refs += r.Refs
		total.Opened += r.Opened
		total.Updated += r.Updated
		total.Resolved += r.Resolved
	}
}

type recheckWorker struct {
	river.WorkerDefaults[recheckArgs]
	s *Scheduler
}

// Work rechecks the queued references; River retries it when that fails.
func (w *recheckWorker) Work(ctx context.Context, _ *river.Job[recheckArgs]) error {
	rec, err := w.s.recheck(ctx)
	if rec.Refs > 0 {
		w.s.cfg.Logger.Info("rechecked references", "refs", rec.Refs, "mutations_opened", rec.Opened,
			"mutations_updated", rec.Updated, "mutations_resolved", rec.Resolved)
		w.s.followUp()
	}
	return err
}

// followUp asks followLoop for what follows a change (a tag's move or what a cluster
// runs): the recheck of the references it queued across clusters, and the judgement
// of the workloads behind their tags, so that the next page that shows them finds it
// made (store.JudgeBehind).
func (s *Scheduler) followUp() {
	select {
	case s.followDue <- struct{}{}:
	default:
	}
}

// followLoop rechecks the queued references and judges behind the tag each time a
// change asked for it, one pass at a time and never in a scan's or a watch record's
// way: a burst of watch records across clusters asks many times and is followed up
// once or twice, where a recheck in each record rechecked the same reference across
// every cluster once a record. When a pass fails, the next change's pass, the recheck
// job or the next reader does it.
//
// Every behindPoll it also judges when the data changed meanwhile (one read of the
// data version when it did not), so that a replica whose pages another replica's scan
// changed has the judgement made too, about a second after.
func (s *Scheduler) followLoop(ctx context.Context) {
	tick := time.NewTicker(behindPoll)
	defer tick.Stop()
	for {
		asked := false
		select {
		case <-ctx.Done():
			return
		case <-s.followDue:
			asked = true
		case <-tick.C:
		}
		if asked {
			rec, err := s.recheck(ctx)
			if err != nil && ctx.Err() == nil {
				s.cfg.Logger.Warn("recheck references", "error", err.Error())
			}
			if rec.Refs > 0 {
				s.cfg.Logger.Info("rechecked references", "refs", rec.Refs, "mutations_opened", rec.Opened,
					"mutations_updated", rec.Updated, "mutations_resolved", rec.Resolved)
			}
		}
		if err := s.cfg.Store.JudgeBehind(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("judge the workloads behind their tags", "error", err.Error())
		}
	}
}

// Recheck asks for the queued references (a deleted cluster's) to be rechecked now.
// When it fails they stay queued for the next tick.
func (s *Scheduler) Recheck(ctx context.Context) error {
	if _, err := s.client.Insert(ctx, recheckArgs{}, nil); err != nil {
		return fmt.Errorf("ask for a recheck: %w", err)
	}
	return nil
}

// credentials opens a cluster's stored configuration.
func (s *Scheduler) credentials(ctx context.Context, c store.Cluster) (kubeconfig.Reduced, error) {
	raw, err := s.cfg.Store.Credentials(ctx, c.ID)
	if err != nil {
		return kubeconfig.Reduced{}, err
	}
	var creds kubeconfig.Reduced
	if err := json.Unmarshal(raw, &creds); err != nil {
		return kubeconfig.Reduced{}, fmt.Errorf("credentials of %s: %w", c.Name, err)
	}
	return creds, nil
}

// Refused is a stored cluster configuration that the current policy refuses.
type Refused struct {
	Cluster string
	Err     error // a *kubeconfig.PolicyError
}

// Refused lists the enabled clusters whose stored configuration the current policy
// refuses: their scans fail until the configuration is registered again or the policy
// allows it. serve names them at start.
func (s *Scheduler) Refused(ctx context.Context) ([]Refused, error) {
	clusters, err := s.cfg.Store.Clusters(ctx)
	if err != nil {
		return nil, err
	}
	var out []Refused
	for _, c := range clusters {
		if !c.Enabled {
			continue
		}
		creds, err := s.credentials(ctx, c)
		if err != nil {
			return nil, err
		}
		if err := creds.Check(s.cfg.Policy); err != nil {
			out = append(out, Refused{Cluster: c.Name, Err: err})
		}
	}
	return out, nil
}

// list opens the cluster's credentials, checks them against the current policy, and
// lists the cluster.
func (w *scanWorker) list(ctx context.Context, c store.Cluster) (*rest.Config, kube.Result, error) {
	cfg, err := w.s.restConfig(ctx, c)
	if err != nil {
		return nil, kube.Result{}, err
	}
	client, err := kube.NewClient(c.Name, cfg)
	if err != nil {
		return nil, kube.Result{}, err
	}
	res, err := client.Scan(ctx)
	if err != nil {
		return nil, kube.Result{}, err
	}
	return cfg, res, nil
}

// restConfig opens a cluster's credentials, checked against the current policy, as a
// client configuration.
func (s *Scheduler) restConfig(ctx context.Context, c store.Cluster) (*rest.Config, error) {
	cfg, err := s.rawRESTConfig(ctx, c)
	if err != nil {
		return nil, err
	}
	return kube.Configure(cfg, s.cfg.UserAgent), nil
}

// rawRESTConfig is restConfig before kube.Configure: a watch configures it its way.
func (s *Scheduler) rawRESTConfig(ctx context.Context, c store.Cluster) (*rest.Config, error) {
	creds, err := s.credentials(ctx, c)
	if err != nil {
		return nil, err
	}
	return creds.RESTConfig(s.cfg.Dialer, s.cfg.Policy)
}
