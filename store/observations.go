package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/scanner/attention"
	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// ScanCounts is what a completed scan changed.
type ScanCounts struct {
	Opened int
	Closed int
	// Events counts the tag-moved and pod-drift events the scan recorded.
	Events int
	// Mutations is what the scan changed of the cluster's own conditions
	// (workload-divergences and pin-mismatches).
	Mutations Reconciled
	// ChangedRefs are the unpinned references whose intervals the scan opened or closed:
	// the only ones whose tag-divergence this scan can have changed. They are queued for
	// RecheckRefs.
	ChangedRefs []string
}

// changed says whether the scan changed anything beyond its cluster's last sighting.
func (c ScanCounts) changed() bool {
	return c.Opened+c.Closed+c.Events > 0 || c.Mutations.Changed()
}

// obsKey identifies an open observation: one container of one pod running one imageID.
type obsKey struct {
	podUID    string
	container string
	imageID   string
}

// CompleteScan records a scan that listed the whole cluster, in one transaction:
// observations it saw for the first time are opened (in bulk, with COPY), open ones it
// no longer saw are closed, the tag-moved and pod-drift events among them recorded, the
// cluster's own conditions reconciled with what its listing shows, the references whose
// intervals changed queued for RecheckRefs, and the scan marked succeeded. A scan in
// which nothing changed writes no observation rows and leaves the data version as it
// is: it moves only the cluster's sighting version. The scan must still be running: one
// that was aborted meanwhile records nothing. Running it twice for one listing changes
// nothing more.
func (s *Store) CompleteScan(ctx context.Context, scanID int64, pods []inventory.Pod, containers int, at time.Time) (ScanCounts, error) {
	own := ownConditions(pods) // pure: before the transaction
	var counts ScanCounts
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		counts, err = s.completeScan(ctx, tx, scanID, own, pods, containers, at)
		return err
	})
	if err != nil {
		return ScanCounts{}, fmt.Errorf("complete scan %d: %w", scanID, err)
	}
	return counts, nil
}

// completeScan is CompleteScan inside tx.
func (s *Store) completeScan(ctx context.Context, tx pgx.Tx, scanID int64, own []detect.Mutation, pods []inventory.Pod,
	containers int, at time.Time) (ScanCounts, error) {
	var counts ScanCounts
	err := func() error {
		sc, err := runningScan(ctx, tx, scanID)
		if err != nil {
			return err
		}
		open, err := openObservations(ctx, tx, sc.clusterID)
		if err != nil {
			return err
		}
		first := len(open) == 0 // diff consumes open
		d := diff(sc, open, pods)
		counts.ChangedRefs = d.changedRefs
		// A cluster's first scan into an empty history (no interval of it at all)
		// summarizes its fresh rows as they are; any other reads back the intervals.
		empty := false
		if first {
			if err := tx.QueryRow(ctx, `SELECT NOT EXISTS (SELECT 1 FROM observations WHERE cluster_id = $1)`, sc.clusterID).Scan(&empty); err != nil {
				return fmt.Errorf("history of the cluster: %w", err)
			}
		}
		if counts.Opened, err = openIntervals(ctx, tx, d.fresh); err != nil {
			return err
		}
		if counts.Closed, err = closeIntervals(ctx, tx, sc, d.gone); err != nil {
			return err
		}
		letters, err := assignLetters(ctx, tx, d.fresh)
		if err != nil {
			return err
		}
		if err := recordSightings(ctx, tx, d.fresh); err != nil {
			return err
		}
		if err := refreshSummaryOf(ctx, tx, d.fresh, d.gone, empty); err != nil {
			return err
		}
		if err := refreshWorkloadsOf(ctx, tx, s.bodies, d.fresh, letters, d.gone, first); err != nil {
			return err
		}
		recorded, err := recordEvents(ctx, tx, s.bodies, sc, d, at)
		if err != nil {
			return err
		}
		counts.Events = len(recorded)
		var changes []mutationChange
		if counts.Mutations, changes, err = reconcile(ctx, tx, s.bodies, scope{clusterID: sc.clusterID}, own, at); err != nil {
			return fmt.Errorf("reconcile the cluster's conditions: %w", err)
		}
		events := make([]mutationChange, 0, len(recorded))
		for _, id := range recorded {
			events = append(events, mutationChange{id: id, prev: attention.StateAbsent})
		}
		if err := settleChanges(ctx, tx, events); err != nil {
			return err
		}
		changes = append(changes, events...)
		// The first scan of a newly registered cluster (no history of it at all) is a
		// baseline: what it opens, and the tag-divergences its references then open
		// with other clusters, go only to routes that ask for the baseline.
		baseline := first && empty
		if err := s.writeOutbox(ctx, tx, changes, at, notify.ReasonConverged,
			func(Mutation) bool { return baseline }, nil); err != nil {
			return fmt.Errorf("write the notifications of the scan: %w", err)
		}
		if err := queueRechecks(ctx, tx, d.changedRefs, at, baseline); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			UPDATE scans SET status = 'succeeded', finished_at = $2, pods = $3, containers = $4, opened = $5, closed = $6
			WHERE id = $1`, scanID, at, len(pods), containers, counts.Opened, counts.Closed); err != nil {
			return fmt.Errorf("record the scan succeeded: %w", err)
		}
		if !counts.changed() {
			// The scan moved only the cluster's sighting version (its latest
			// succeeded scan, marked above), not the data version: answers that show
			// no sighting of this cluster stay true.
			return nil
		}
		if counts.Opened > 0 || counts.Closed > 0 {
			return bumpRunsVersion(ctx, tx, sc.clusterID)
		}
		return bumpDataVersion(ctx, tx)
	}()
	return counts, err
}

// scanState is a running scan as CompleteScan records it.
type scanState struct {
	clusterID int64
	cluster   string // its name
	// groupID and group are its cluster group's id and name: a tag moves within it.
	groupID int64
	group   string
	started time.Time
	// previous is when the cluster's last succeeded scan started (nil for none): the
	// last sighting of what this scan no longer sees.
	previous *time.Time
}

// runningScan locks a scan that must still be running.
func runningScan(ctx context.Context, tx pgx.Tx, scanID int64) (scanState, error) {
	var sc scanState
	var status string
	err := tx.QueryRow(ctx, `
		SELECT s.cluster_id, c.name, c.group_id, g.name, s.status, s.started_at
		FROM scans s JOIN clusters c ON c.id = s.cluster_id JOIN cluster_groups g ON g.id = c.group_id
		WHERE s.id = $1 FOR UPDATE OF s`, scanID).
		Scan(&sc.clusterID, &sc.cluster, &sc.groupID, &sc.group, &status, &sc.started)
	if err != nil {
		return sc, notFound(err)
	}
	if status != ScanRunning {
		return sc, fmt.Errorf("scan is %s, not running", status)
	}
	err = tx.QueryRow(ctx, `
		SELECT started_at FROM scans WHERE cluster_id = $1 AND status = 'succeeded' ORDER BY id DESC LIMIT 1`,
		sc.clusterID).Scan(&sc.previous)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return sc, fmt.Errorf("previous scan: %w", err)
	}
	return sc, nil
}

// intervalDiff is what a listing changes of a cluster's open intervals.
type intervalDiff struct {
	fresh [][]any // rows to open, in intervalColumns order
	// sightings are the same new intervals as the history rules read them, and
	// pinned says which are of pinned references.
	sightings   []detect.Sighting
	pinned      []bool
	gone        []int64 // ids of open intervals the listing no longer shows
	changedRefs []string
}

// intervalColumns are the columns openIntervals writes.
var intervalColumns = []string{
	"cluster_id", "namespace", "pod", "pod_uid", "node", "arch", "runtime",
	"workload_kind", "workload_name", "controller_kind", "controller_name", "controller_uid", "revision",
	"container", "container_type", "image", "ref", "pinned",
	"digest", "digest_kind", "image_id", "first_seen",
}

// diff compares a listing with the open intervals (which it consumes).
func diff(sc scanState, open map[obsKey]openObs, pods []inventory.Pod) intervalDiff {
	// At least this many intervals open (all of them in a first scan): room made once,
	// as a first scan's 10,000 rows would otherwise grow each list a dozen times.
	listed := 0
	for i := range pods {
		for j := range pods[i].Containers {
			if pods[i].Containers[j].Observed() {
				listed++
			}
		}
	}
	fresh := max(listed-len(open), 0)
	d := intervalDiff{fresh: make([][]any, 0, fresh), sightings: make([]detect.Sighting, 0, fresh), pinned: make([]bool, 0, fresh)}
	opened := make(map[obsKey]bool, fresh)
	changed := map[string]bool{}
	for i := range pods {
		p := &pods[i]
		for j := range p.Containers {
			c := &p.Containers[j]
			if !c.Observed() {
				continue
			}
			k := obsKey{string(p.UID), c.Name, c.ID.Raw}
			if _, ok := open[k]; ok {
				delete(open, k)
				continue
			}
			// A pod of one scan cannot list one container twice; guard anyway so
			// that COPY never trips over the open-interval index.
			if opened[k] {
				continue
			}
			opened[k] = true
			if c.Ref.Valid() && !c.Ref.Pinned() {
				changed[c.Ref.Normalized] = true
			}
			d.fresh = append(d.fresh, []any{
				sc.clusterID, p.Namespace, p.Name, string(p.UID), p.Node, p.Arch, p.Runtime,
				p.Workload.Kind, p.Workload.Name, p.Controller.Kind, p.Controller.Name, string(p.Controller.UID), p.Controller.Revision,
				c.Name, string(c.Type), c.Ref.Written, c.Ref.Normalized, c.Ref.Pinned(),
				c.ID.Digest, string(c.ID.Kind), c.ID.Raw, sc.started,
			})
			d.sightings = append(d.sightings, detect.Sighting{
				Place: detect.Place{Cluster: sc.cluster, Namespace: p.Namespace, Workload: p.Workload, Pod: p.Name,
					Container: c.Name, Digest: c.ID.Digest},
				Group: sc.group, PodUID: string(p.UID), Ref: c.Ref.Normalized, Kind: c.ID.Kind, Node: p.Node, Arch: p.Arch, FirstSeen: sc.started,
			})
			d.pinned = append(d.pinned, c.Ref.Pinned())
		}
	}
	for _, o := range open {
		d.gone = append(d.gone, o.id)
		if !o.pinned {
			changed[o.ref] = true
		}
	}
	d.changedRefs = slices.Sorted(maps.Keys(changed))
	return d
}

// openIntervals writes the intervals a scan saw for the first time, with COPY.
func openIntervals(ctx context.Context, tx pgx.Tx, fresh [][]any) (int, error) {
	if len(fresh) == 0 {
		return 0, nil
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"observations"}, intervalColumns, pgx.CopyFromRows(fresh))
	if err != nil {
		return 0, fmt.Errorf("open intervals: %w", err)
	}
	return int(n), nil
}

// closeIntervals closes the intervals a scan no longer saw, at its start, last seen by
// the previous scan.
func closeIntervals(ctx context.Context, tx pgx.Tx, sc scanState, gone []int64) (int, error) {
	if len(gone) == 0 {
		return 0, nil
	}
	tag, err := tx.Exec(ctx, `
		UPDATE observations SET closed_at = $2, last_seen = COALESCE($3, first_seen)
		WHERE id = ANY($1) AND closed_at IS NULL`, gone, sc.started, sc.previous)
	if err != nil {
		return 0, fmt.Errorf("close intervals: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// openObs is an open interval as a scan diffs against it.
type openObs struct {
	id     int64
	ref    string
	pinned bool
}

func openObservations(ctx context.Context, tx pgx.Tx, clusterID int64) (map[obsKey]openObs, error) {
	rows, err := tx.Query(ctx, `
		SELECT id, pod_uid, container, image_id, ref, pinned FROM observations WHERE cluster_id = $1 AND closed_at IS NULL`, clusterID)
	if err != nil {
		return nil, fmt.Errorf("read open intervals: %w", err)
	}
	defer rows.Close()
	open := make(map[obsKey]openObs)
	for rows.Next() {
		var o openObs
		var k obsKey
		if err := rows.Scan(&o.id, &k.podUID, &k.container, &k.imageID, &o.ref, &o.pinned); err != nil {
			return nil, fmt.Errorf("read open intervals: %w", err)
		}
		open[k] = o
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read open intervals: %w", err)
	}
	return open, nil
}

// Observation is one stored interval.
type Observation struct {
	ID         int64
	ClusterID  int64
	Namespace  string
	Pod        string
	PodUID     string
	Container  string
	Ref        string
	Digest     string
	DigestKind string
	ImageID    string
	FirstSeen  time.Time
	LastSeen   *time.Time
	ClosedAt   *time.Time
}

// ObservationsOfCluster returns a cluster's observations, open and closed, oldest first.
func (s *Store) ObservationsOfCluster(ctx context.Context, clusterID int64) ([]Observation, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, cluster_id, namespace, pod, pod_uid, container, ref, digest, digest_kind, image_id, first_seen, last_seen, closed_at
		FROM observations WHERE cluster_id = $1 ORDER BY id`, clusterID)
	if err != nil {
		return nil, fmt.Errorf("observations of cluster %d: %w", clusterID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Observation, error) {
		var o Observation
		err := r.Scan(&o.ID, &o.ClusterID, &o.Namespace, &o.Pod, &o.PodUID, &o.Container, &o.Ref, &o.Digest, &o.DigestKind,
			&o.ImageID, &o.FirstSeen, &o.LastSeen, &o.ClosedAt)
		return o, err
	})
	if err != nil {
		return nil, fmt.Errorf("observations of cluster %d: %w", clusterID, err)
	}
	return out, nil
}
