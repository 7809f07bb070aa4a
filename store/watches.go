package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// WatchRecord is what RecordWatch did with one snapshot of a watch's cache.
type WatchRecord struct {
	ScanID int64
	Counts ScanCounts
	// Changed tells that the snapshot changed something: it is recorded as a scan of
	// kind watch. One that changed nothing replaced the unchanged watch record before
	// it, counted in its Snapshots.
	Changed bool
}

// RecordWatch records a snapshot of a synced watch's cache through the very diff,
// events, reconciliation, outbox and recheck queue of CompleteScan, in one
// transaction, as a scan of kind watch started and finished at at. A snapshot that
// changed nothing (no interval, event or condition) replaces the cluster's latest
// succeeded scan when that one is an unchanged watch snapshot too, carrying its count
// on: the scans table grows with changes, not with churn, and the cluster's latest
// sighting still moves. Take the cluster's lock (LockCluster) around it, as a scan does.
func (s *Store) RecordWatch(ctx context.Context, clusterID int64, pods []inventory.Pod, containers int, at time.Time) (WatchRecord, error) {
	own := ownConditions(pods)
	var rec WatchRecord
	err := s.tx(ctx, func(tx pgx.Tx) error {
		// A cluster deleted or disabled meanwhile records nothing: the row is held
		// until commit, so a deletion waits for this record or this sees it.
		var live bool
		if err := tx.QueryRow(ctx, `SELECT deleted_at IS NULL AND enabled FROM clusters WHERE id = $1 FOR SHARE`,
			clusterID).Scan(&live); err != nil {
			return fmt.Errorf("the cluster: %w", notFound(err))
		}
		if !live {
			return fmt.Errorf("the cluster is deleted or disabled: %w", ErrNotFound)
		}
		// The cluster's latest succeeded scan, before this one.
		var prevID int64
		var prevKind string
		var prevChanged bool
		var prevSnapshots int
		err := tx.QueryRow(ctx, `
			SELECT id, kind, changed, snapshots FROM scans WHERE cluster_id = $1 AND status = 'succeeded'
			ORDER BY id DESC LIMIT 1`, clusterID).Scan(&prevID, &prevKind, &prevChanged, &prevSnapshots)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("latest scan: %w", err)
		}
		if err := tx.QueryRow(ctx, `
			INSERT INTO scans (cluster_id, status, queued_at, started_at, kind) VALUES ($1, 'running', $2, $2, 'watch')
			RETURNING id`, clusterID, at).Scan(&rec.ScanID); err != nil {
			return fmt.Errorf("insert the watch's scan: %w", err)
		}
		if rec.Counts, err = s.completeScan(ctx, tx, rec.ScanID, own, pods, containers, at); err != nil {
			return err
		}
		rec.Changed = rec.Counts.changed()
		if rec.Changed {
			return nil
		}
		snapshots := 1
		if prevID != 0 && prevKind == ScanKindWatch && !prevChanged {
			if _, err := tx.Exec(ctx, `DELETE FROM scans WHERE id = $1`, prevID); err != nil {
				return fmt.Errorf("drop the unchanged snapshot before: %w", err)
			}
			snapshots = prevSnapshots + 1
		}
		if _, err := tx.Exec(ctx, `UPDATE scans SET changed = false, snapshots = $2 WHERE id = $1`, rec.ScanID, snapshots); err != nil {
			return fmt.Errorf("count the snapshot: %w", err)
		}
		return nil
	})
	if err != nil {
		return WatchRecord{}, fmt.Errorf("record watch of cluster %d: %w", clusterID, err)
	}
	return rec, nil
}

// Watch states, as a cluster's page shows them.
const (
	WatchLive      = "live"
	WatchResyncing = "resyncing"
	WatchStale     = "stale"
	WatchPolling   = "polling"
)

// WatchState is how a watched cluster's watch stands, as its holder last reported.
type WatchState struct {
	Holder     string
	ExpiresAt  time.Time
	State      string
	StaleSince *time.Time
	// Note says why a cluster in watch mode is polled (its credentials may not watch)
	// or why its watch stopped.
	Note         string
	LastChange   *time.Time
	LastDetected *time.Time
	UpdatedAt    time.Time
}

// AcquireWatch takes or renews the lease on a cluster's watch for holder, for ttl by
// the database's clock: it succeeds when no one holds it, holder holds it, or the
// lease of another expired (a replica that died). ok is false when another holds it.
func (s *Store) AcquireWatch(ctx context.Context, clusterID int64, holder string, ttl time.Duration) (ok bool, err error) {
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO cluster_watches (cluster_id, holder, expires_at)
		SELECT $1, $2, now() + $3::interval FROM clusters WHERE id = $1 AND deleted_at IS NULL
		ON CONFLICT (cluster_id) DO UPDATE SET holder = $2, expires_at = now() + $3::interval,
		       state = CASE WHEN cluster_watches.holder = $2 THEN cluster_watches.state ELSE 'resyncing' END,
		       updated_at = now()
		WHERE cluster_watches.holder = $2 OR cluster_watches.expires_at < now()`, clusterID, holder, ttl)
	if err != nil {
		return false, fmt.Errorf("lease of the watch of cluster %d: %w", clusterID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// ReplicaHeartbeat records that holder runs watches, for ttl by the database's clock,
// forgets the replicas whose rows expired, and returns how many replicas run watches
// (holder among them), so that each takes its share of the watched clusters.
func (s *Store) ReplicaHeartbeat(ctx context.Context, holder string, ttl time.Duration) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `
		WITH gone AS (DELETE FROM watch_replicas WHERE expires_at < now() AND holder <> $1),
		     me AS (INSERT INTO watch_replicas (holder, expires_at) VALUES ($1, now() + $2::interval)
		            ON CONFLICT (holder) DO UPDATE SET expires_at = EXCLUDED.expires_at)
		SELECT count(*) + 1 FROM watch_replicas WHERE holder <> $1 AND expires_at >= now()`, holder, ttl).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("heartbeat of watch replica %s: %w", holder, err)
	}
	return n, nil
}

// LeaveReplicas removes holder from the replicas that run watches (it stops), so that
// the others take its share at their next heartbeat.
func (s *Store) LeaveReplicas(ctx context.Context, holder string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM watch_replicas WHERE holder = $1`, holder); err != nil {
		return fmt.Errorf("leave the watch replicas (%s): %w", holder, err)
	}
	return nil
}

// ReleaseWatch gives up holder's lease on a cluster's watch, so that another replica
// may take it at once.
func (s *Store) ReleaseWatch(ctx context.Context, clusterID int64, holder string) error {
	if _, err := s.pool.Exec(ctx, `
		UPDATE cluster_watches SET expires_at = now() - interval '1 second', updated_at = now()
		WHERE cluster_id = $1 AND holder = $2`, clusterID, holder); err != nil {
		return fmt.Errorf("release the watch of cluster %d: %w", clusterID, err)
	}
	return nil
}

// WatchReport is what a holder reports of its watch.
type WatchReport struct {
	State        string
	StaleSince   *time.Time
	Note         string
	LastChange   *time.Time
	LastDetected *time.Time
}

// ReportWatch records how holder's watch of a cluster stands; it changes nothing when
// holder no longer holds the lease.
func (s *Store) ReportWatch(ctx context.Context, clusterID int64, holder string, r WatchReport) error {
	if _, err := s.pool.Exec(ctx, `
		UPDATE cluster_watches SET state = $3, stale_since = $4, note = $5,
		       last_change = COALESCE($6, last_change), last_detected = COALESCE($7, last_detected), updated_at = now()
		WHERE cluster_id = $1 AND holder = $2`,
		clusterID, holder, r.State, r.StaleSince, r.Note, r.LastChange, r.LastDetected); err != nil {
		return fmt.Errorf("report the watch of cluster %d: %w", clusterID, err)
	}
	return nil
}

// WatchTarget is an enabled live cluster in watch mode, with a digest of its sealed
// credentials, so that a holder sees when they change.
type WatchTarget struct {
	Cluster
	CredentialsDigest string
}

// WatchTargets returns the enabled live clusters in watch mode.
func (s *Store) WatchTargets(ctx context.Context) ([]WatchTarget, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+clusterColumns+`, md5(kubeconfig) FROM clusters
		WHERE enabled AND deleted_at IS NULL AND scan_mode = 'watch' ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("watched clusters: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (WatchTarget, error) {
		var t WatchTarget
		c := &t.Cluster
		err := r.Scan(&c.ID, &c.Name, &c.Server, &c.Context, &c.ScanInterval, &c.Annotate, &c.Enabled, &c.CreatedAt, &c.Group,
			&c.ScanMode, &t.CredentialsDigest)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("watched clusters: %w", err)
	}
	return out, nil
}

// WatchStateOf returns how a cluster's watch stands; ErrNotFound when no replica ever
// held it.
func (s *Store) WatchStateOf(ctx context.Context, clusterID int64) (WatchState, error) {
	var w WatchState
	err := s.pool.QueryRow(ctx, `
		SELECT holder, expires_at, state, stale_since, note, last_change, last_detected, updated_at
		FROM cluster_watches WHERE cluster_id = $1`, clusterID).
		Scan(&w.Holder, &w.ExpiresAt, &w.State, &w.StaleSince, &w.Note, &w.LastChange, &w.LastDetected, &w.UpdatedAt)
	if err != nil {
		return WatchState{}, fmt.Errorf("watch of cluster %d: %w", clusterID, notFound(err))
	}
	return w, nil
}
