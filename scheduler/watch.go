package scheduler

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/tagdrift/tagdrift/scanner/kube"
	"github.com/tagdrift/tagdrift/scanner/scanerr"
	"github.com/tagdrift/tagdrift/scanner/watch"
	"github.com/tagdrift/tagdrift/store"
)

// WatchConfig configures the watches of the clusters in scan mode watch. Zero values
// take the defaults.
type WatchConfig struct {
	// Disabled runs no watch on this replica (watched clusters are still listed every
	// FullList, here or elsewhere).
	Disabled bool
	// Holder names this replica in the leases; default the host name and a random
	// suffix.
	Holder string
	// Heartbeat is how often the leases are renewed and the watched clusters looked
	// up again. Default 5s.
	Heartbeat time.Duration
	// LeaseTTL is how long a lease holds without a heartbeat, by the database's clock:
	// a replica that dies loses its watches to another after it. Default 15s.
	LeaseTTL time.Duration
	// Quiet is how long the cache must stay unchanged before a change is recorded;
	// MaxDelay bounds the wait under constant churn. Defaults 1s and 1.5s.
	Quiet, MaxDelay time.Duration
	// StaleAfter is how long a watch may stay broken before its cluster shows stale.
	// Default 60s.
	StaleAfter time.Duration
	// FullList is the interval of a watched cluster's listing, the safety net.
	// Default 30m.
	FullList time.Duration
	// Starts bounds how many watches list at once. Default 4.
	Starts int
	// Records bounds how many snapshots this replica records at once: each holds two
	// database connections (the cluster's lock and the transaction), and the pool is
	// shared with the scans, the job engine and the API. Default 4.
	Records int
	// MaxObjects, MaxEventBytes and MaxKeptBytes bound one cluster's cache
	// (watch.Config).
	MaxObjects, MaxEventBytes, MaxKeptBytes int64
}

func (c *WatchConfig) withDefaults() error {
	if c.Holder == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		c.Holder = cmp.Or(host, "tagdrift") + "-" + hex.EncodeToString(b[:])
	}
	c.Heartbeat = cmp.Or(c.Heartbeat, 5*time.Second)
	c.LeaseTTL = cmp.Or(c.LeaseTTL, 15*time.Second)
	c.Quiet = cmp.Or(c.Quiet, time.Second)
	c.MaxDelay = cmp.Or(c.MaxDelay, 1500*time.Millisecond)
	c.StaleAfter = cmp.Or(c.StaleAfter, time.Minute)
	c.FullList = cmp.Or(c.FullList, 30*time.Minute)
	c.Starts = cmp.Or(c.Starts, 4)
	c.Records = cmp.Or(c.Records, 4)
	if c.Heartbeat <= 0 || c.LeaseTTL <= c.Heartbeat || c.Quiet <= 0 || c.MaxDelay < c.Quiet || c.StaleAfter <= 0 ||
		c.FullList <= 0 || c.Starts <= 0 || c.Records <= 0 {
		return errors.New("scheduler: watch durations must be positive, LeaseTTL longer than Heartbeat, MaxDelay at least Quiet")
	}
	return nil
}

// watches runs this replica's watches: every Heartbeat it takes or renews the lease of
// each enabled cluster in watch mode and starts its watch, and stops the watches of
// clusters disabled, deleted, switched to polling, whose credentials changed, or
// whose lease it lost.
type watches struct {
	s       *Scheduler
	cfg     WatchConfig
	log     *slog.Logger
	starts  chan struct{} // the semaphore of starting watches
	records chan struct{} // the semaphore of snapshots being recorded
	running map[int64]*watched
	wg      sync.WaitGroup
}

// watched is one running watch.
type watched struct {
	target store.WatchTarget
	cancel context.CancelFunc
	done   chan struct{}
	// Set when the watch ended by itself: lasting tells an end that only a change of
	// the cluster can mend (credentials that may not watch, a cap reached); another
	// (an unreachable API server) is tried again after StaleAfter.
	lasting bool
	ended   time.Time
}

func newWatches(s *Scheduler) *watches {
	return &watches{s: s, cfg: s.cfg.Watch, log: s.cfg.Logger, starts: make(chan struct{}, s.cfg.Watch.Starts),
		records: make(chan struct{}, s.cfg.Watch.Records), running: map[int64]*watched{}}
}

// run manages the watches until ctx ends, then stops them all and gives up their
// leases.
func (m *watches) run(ctx context.Context) {
	t := time.NewTicker(m.cfg.Heartbeat)
	defer t.Stop()
	for {
		if err := m.pass(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("watches", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			for id := range m.running {
				m.stop(id)
			}
			m.wg.Wait()
			lctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := m.s.cfg.Store.LeaveReplicas(lctx, m.cfg.Holder); err != nil {
				m.log.Warn("leave the watch replicas", "error", err.Error())
			}
			return
		case <-t.C:
		}
	}
}

// pass is one heartbeat. This replica takes at most its share of the watched
// clusters (their number divided by the replicas', rounded up) and hands over what it
// holds beyond it, so that clusters spread over the replicas: a replica that starts
// beside one that holds them all gets its share within a heartbeat or two, and one
// that stops leaves its share to the others.
func (m *watches) pass(ctx context.Context) error {
	st := m.s.cfg.Store
	replicas, err := st.ReplicaHeartbeat(ctx, m.cfg.Holder, m.cfg.LeaseTTL)
	if err != nil {
		return err
	}
	targets, err := st.WatchTargets(ctx)
	if err != nil {
		return err
	}
	share := (len(targets) + replicas - 1) / replicas
	want := map[int64]store.WatchTarget{}
	for _, t := range targets {
		want[t.ID] = t
	}
	for id, w := range m.running {
		t, ok := want[id]
		select {
		case <-w.done:
			// Ended by itself: a lasting end is started again when its cluster
			// changes, another after StaleAfter. The lease is kept meanwhile: the
			// cluster is polled, and no other replica tries in vain.
			retry := !w.lasting && m.s.cfg.Now().Sub(w.ended) >= m.cfg.StaleAfter
			if ok && !retry && t.CredentialsDigest == w.target.CredentialsDigest && t.Group == w.target.Group {
				if _, err := m.s.cfg.Store.AcquireWatch(ctx, id, m.cfg.Holder, m.cfg.LeaseTTL); err != nil {
					return err
				}
				delete(want, id)
				continue
			}
			m.stop(id)
			continue
		default:
		}
		if !ok || t.CredentialsDigest != w.target.CredentialsDigest || t.Group != w.target.Group || t.Name != w.target.Name {
			m.log.Info("watch stopped", "cluster", w.target.Name, "because", "the cluster changed")
			m.stop(id)
		}
	}
	// Beyond its share: hand over the watches of the highest cluster ids.
	for _, id := range slices.Backward(slices.Sorted(maps.Keys(m.running))) {
		if len(m.running) <= share {
			break
		}
		m.log.Info("watch handed over", "cluster", m.running[id].target.Name, "because", fmt.Sprintf("clusters spread over %d replicas", replicas))
		m.stop(id)
		delete(want, id)
	}
	for _, id := range slices.Sorted(maps.Keys(want)) {
		t := want[id]
		_, running := m.running[id]
		if !running && len(m.running) >= share {
			continue // its share is full: another replica takes it
		}
		held, err := st.AcquireWatch(ctx, id, m.cfg.Holder, m.cfg.LeaseTTL)
		if err != nil {
			return err
		}
		switch {
		case held && !running:
			m.start(ctx, t)
		case !held && running:
			m.log.Warn("watch stopped", "cluster", t.Name, "because", "another replica took its lease")
			m.stop(id)
		}
	}
	return nil
}

// stop cancels a watch, waits for it and gives up its lease.
func (m *watches) stop(id int64) {
	w := m.running[id]
	delete(m.running, id)
	w.cancel()
	<-w.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.s.cfg.Store.ReleaseWatch(ctx, id, m.cfg.Holder); err != nil {
		m.log.Warn("release watch", "cluster", w.target.Name, "error", err.Error())
	}
}

func (m *watches) start(ctx context.Context, t store.WatchTarget) {
	ctx, cancel := context.WithCancel(ctx)
	w := &watched{target: t, cancel: cancel, done: make(chan struct{})}
	m.running[t.ID] = w
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(w.done)
		w.lasting = m.watch(ctx, t.Cluster)
		w.ended = m.s.cfg.Now()
	}()
}

// report records how the cluster's watch stands.
func (m *watches) report(ctx context.Context, c store.Cluster, r store.WatchReport) {
	if err := m.s.cfg.Store.ReportWatch(context.WithoutCancel(ctx), c.ID, m.cfg.Holder, r); err != nil {
		m.log.Warn("report watch", "cluster", c.Name, "error", err.Error())
	}
}

// watch runs one cluster's watch until ctx ends or it fails, recording each change
// once the cache has been quiet for Quiet (at most MaxDelay after the first), and
// every ScanInterval a snapshot that confirms what runs (one that changed nothing
// replaces the one before: store.RecordWatch). It reports whether it ended for a
// lasting reason: credentials that may not watch, a cap reached, a refused
// configuration.
func (m *watches) watch(ctx context.Context, c store.Cluster) (lasting bool) {
	log := m.log.With("cluster", c.Name)
	stopped := func(err error) {
		why := scanerr.Classify(err)
		var fe *watch.ForbiddenError
		note := why.Class + ": " + why.Message + "; the cluster is polled at its interval"
		switch {
		case errors.As(err, &fe):
			note = "the credentials may list but not watch (" + fe.What + "): the cluster is polled at its interval"
			lasting = true
		case why.Class == scanerr.TooLarge || why.Class == scanerr.Policy || why.Class == scanerr.Forbidden:
			lasting = true
		}
		log.Warn("watch stopped", "error_class", why.Class, "error", err.Error())
		m.report(ctx, c, store.WatchReport{State: store.WatchPolling, Note: note})
		m.s.cfg.Metrics.watchStateIs(c.Name, c.Group, store.WatchPolling)
	}
	// At most Starts watches list at once.
	select {
	case m.starts <- struct{}{}:
	case <-ctx.Done():
		return
	}
	released := false
	release := func() {
		if !released {
			released = true
			<-m.starts
		}
	}
	defer release()
	m.report(ctx, c, store.WatchReport{State: store.WatchResyncing})
	m.s.cfg.Metrics.watchStateIs(c.Name, c.Group, store.WatchResyncing)
	defer m.s.cfg.Metrics.watchStateIs(c.Name, c.Group, "")
	raw, err := m.s.rawRESTConfig(ctx, c)
	if err != nil {
		stopped(err)
		return
	}
	rc := watch.Configure(raw, m.s.cfg.UserAgent, m.cfg.MaxEventBytes)
	nodes, err := watch.CanListNodes(ctx, rc)
	if err != nil {
		stopped(err)
		return
	}
	w, err := watch.New(watch.Config{Cluster: c.Name, REST: rc, MaxObjects: m.cfg.MaxObjects,
		MaxEventBytes: m.cfg.MaxEventBytes, MaxKeptBytes: m.cfg.MaxKeptBytes, NodeRefresh: m.cfg.FullList,
		Logger: log, Now: m.s.cfg.Now}, nodes)
	if err != nil {
		stopped(err)
		return
	}
	ended := make(chan error, 1)
	go func() { ended <- w.Run(ctx) }()

	// The state is looked at every second (or Heartbeat, when shorter), a change when
	// its debounce is due: an idle watch wakes once a second.
	tick := time.NewTicker(min(m.cfg.Heartbeat, time.Second))
	defer tick.Stop()
	due := time.NewTimer(time.Hour)
	due.Stop()
	defer due.Stop()
	var (
		first, last time.Time // of the changes not recorded yet
		pending     bool
		confirmed   = m.s.cfg.Now()
		state       = store.WatchResyncing
	)
	for {
		select {
		case err := <-ended:
			if err != nil {
				stopped(err)
			}
			return
		case <-w.Changed():
			now := m.s.cfg.Now()
			if !pending {
				first, pending = now, true
			}
			last = now
			due.Reset(DebounceDue(first, last, m.cfg.Quiet, m.cfg.MaxDelay).Sub(now))
			continue
		case <-due.C:
		case <-tick.C:
		}
		st := w.State()
		next := store.WatchReport{State: store.WatchLive}
		switch {
		case !st.BrokenSince.IsZero() && m.s.cfg.Now().Sub(st.BrokenSince) >= m.cfg.StaleAfter:
			since := st.BrokenSince
			next = store.WatchReport{State: store.WatchStale, StaleSince: &since}
		case !st.Synced:
			next.State = store.WatchResyncing
		}
		// The start is over once synced, or broken (an unreachable cluster must not
		// hold up the others' starts).
		if st.Synced || !st.BrokenSince.IsZero() {
			release()
		}
		if next.State != state {
			if next.State == store.WatchStale {
				log.Warn("watch stale", "broken_since", st.BrokenSince)
			}
			state = next.State
			m.report(ctx, c, next)
			m.s.cfg.Metrics.watchStateIs(c.Name, c.Group, state)
		}
		now := m.s.cfg.Now()
		ripe := pending && !now.Before(DebounceDue(first, last, m.cfg.Quiet, m.cfg.MaxDelay))
		confirm := !pending && now.Sub(confirmed) >= c.ScanInterval
		// Nothing is recorded from a cache that is not synced or a watch that is
		// broken: it may miss what changed. What is not recorded now is tried again
		// at the next tick.
		if (!ripe && !confirm) || !st.Synced || !st.BrokenSince.IsZero() {
			continue
		}
		lastChange := last
		changed, err := m.record(ctx, c, w, log)
		if errors.Is(err, store.ErrNotFound) {
			return // deleted or disabled: the next heartbeat stops the watch
		}
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, errBusy) && !errors.Is(err, watch.ErrNotSynced) {
				log.Warn("record watch", "error", err.Error())
			}
			continue // tried again at the next tick
		}
		detected := m.s.cfg.Now()
		confirmed, pending = detected, false
		var took time.Duration
		if changed && !lastChange.IsZero() {
			took = detected.Sub(lastChange)
		}
		m.s.cfg.Metrics.watchSnapshot(c.Name, c.Group, changed, took)
		if !lastChange.IsZero() {
			m.report(ctx, c, store.WatchReport{State: state, LastChange: &lastChange, LastDetected: &detected})
		}
	}
}

// DebounceDue is when changes first seen at first and last seen at last are
// recorded: once the cache was quiet for quiet, and at most max after the first.
func DebounceDue(first, last time.Time, quiet, max time.Duration) time.Time {
	due := last.Add(quiet)
	if limit := first.Add(max); limit.Before(due) {
		return limit
	}
	return due
}

// errBusy is a cluster whose scan runs: the change is recorded once it ends.
var errBusy = errors.New("the cluster's scan runs")

// record records a snapshot of the watch's cache as a scan does its listing: under
// the cluster's lock, through store.RecordWatch (CompleteScan's diff); when it changed
// something, the recheck of the references it queued (by the follow-up loop, or here
// before the annotation when the cluster is annotated) and the annotation.
func (m *watches) record(ctx context.Context, c store.Cluster, w *watch.Watch, log *slog.Logger) (changed bool, err error) {
	cfg := m.s.cfg
	select {
	case m.records <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-m.records }()
	snap, err := w.Snapshot()
	if err != nil {
		return false, err
	}
	unlock, ok, err := cfg.Store.LockCluster(ctx, c.ID)
	if err != nil {
		return false, err
	}
	if !ok {
		return false, errBusy
	}
	defer unlock()
	started := cfg.Now()
	rec, err := cfg.Store.RecordWatch(ctx, c.ID, snap.Pods, snap.Containers, started)
	if err != nil {
		return false, err
	}
	if !rec.Changed {
		return false, nil
	}
	cfg.Metrics.scanEnded(c.Name, c.Group, store.ScanSucceeded, started, time.Since(started), rec.Counts.Opened, rec.Counts.Closed)
	// The annotation writes the verdict across clusters: it needs the recheck first.
	// Otherwise the follow-up loop rechecks, once for a burst of records.
	var r store.Rechecked
	if c.Annotate == "on" {
		if r, err = m.s.recheck(ctx); err != nil {
			log.Warn("recheck references", "error", err.Error())
		}
	}
	m.s.followUp()
	log = log.With("scan_id", rec.ScanID)
	if c.Annotate == "on" {
		m.annotate(ctx, c, rec.ScanID, snap, w, log)
	}
	log.Info("watch recorded", "pods", len(snap.Pods), "opened", rec.Counts.Opened, "closed", rec.Counts.Closed,
		"events", rec.Counts.Events, "mutations_opened", rec.Counts.Mutations.Opened+r.Opened,
		"mutations_resolved", rec.Counts.Mutations.Resolved+r.Resolved, "duration_ms", time.Since(started).Milliseconds())
	return true, nil
}

// annotate writes the verdict onto the cluster's ReplicaSets, as a scan does, with the
// ReplicaSets of the watch's cache (which keeps of them what the annotation reads):
// nothing is listed again.
func (m *watches) annotate(ctx context.Context, c store.Cluster, scanID int64, snap watch.Snapshot, w *watch.Watch, log *slog.Logger) {
	restCfg, err := m.s.restConfig(ctx, c)
	if err != nil {
		log.Warn("annotate", "error", err.Error())
		return
	}
	rss, err := w.ReplicaSets()
	if err != nil {
		log.Warn("annotate: replicasets of the cache", "error", err.Error())
		return
	}
	(&scanWorker{s: m.s}).annotate(ctx, c, scanID, restCfg,
		kube.Result{Pods: snap.Pods, Containers: snap.Containers, NodesListed: snap.NodesListed, ReplicaSets: rss}, log)
}
