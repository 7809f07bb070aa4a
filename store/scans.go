package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Scan statuses.
const (
	ScanQueued    = "queued"
	ScanRunning   = "running"
	ScanSucceeded = "succeeded"
	ScanFailed    = "failed"
	ScanAborted   = "aborted"
)

// Scan is one scan of one cluster.
type Scan struct {
	ID         int64
	ClusterID  int64
	Status     string
	QueuedAt   time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
	Pods       int
	Containers int
	Opened     int
	Closed     int
	// ErrorClass and Error say why a scan failed: a short class (ScanError) and a
	// message tagdrift wrote; empty otherwise.
	ErrorClass string
	Error      string
	// AnnotateWrites is how many writes the scan's annotation step sent; nil when it
	// did not run. AnnotateError is why it failed ("" when it did not): the scan
	// itself still succeeded.
	AnnotateWrites *int
	AnnotateError  string
	// Kind is how the scan was made: ScanKindPoll (a listing) or ScanKindWatch (a
	// snapshot of a watch's cache). Snapshots counts the watch snapshots the record
	// stands for: one that changed nothing replaces the unchanged record before it.
	Kind      string
	Snapshots int
}

// Scan kinds.
const (
	ScanKindPoll  = "poll"
	ScanKindWatch = "watch"
)

// ScanError is why a scan failed: Class is one of a few short words (unreachable, tls,
// unauthorized, forbidden, timeout, redirect refused, not found, policy, ...), Message a
// sentence tagdrift wrote. Neither ever holds text a cluster sent.
type ScanError struct {
	Class   string
	Message string
}

const scanColumns = `id, cluster_id, status, queued_at, started_at, finished_at, pods, containers, opened, closed, error_class, error,
	annotate_writes, annotate_error, kind, snapshots`

// QueueScan records that a scan of a cluster was asked for at, and returns its id. When
// one is already queued, that one is returned: one scan answers every ask made before
// it starts. When a names an actor, the ask is audited (scan.request) in the same
// transaction.
func (s *Store) QueueScan(ctx context.Context, clusterID int64, at time.Time, a Audit) (id int64, created bool, err error) {
	err = s.tx(ctx, func(tx pgx.Tx) error {
		// Serialize asks for one cluster, so that two never both create a queued scan.
		var name string
		if err := tx.QueryRow(ctx, `SELECT name FROM clusters WHERE id = $1 FOR UPDATE`, clusterID).Scan(&name); err != nil {
			return fmt.Errorf("lock the cluster: %w", notFound(err))
		}
		err := tx.QueryRow(ctx, `SELECT id FROM scans WHERE cluster_id = $1 AND status = 'queued' ORDER BY id LIMIT 1`, clusterID).Scan(&id)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			created = true
			if err := tx.QueryRow(ctx, `INSERT INTO scans (cluster_id, status, queued_at) VALUES ($1, 'queued', $2) RETURNING id`,
				clusterID, at).Scan(&id); err != nil {
				return fmt.Errorf("insert a queued scan: %w", err)
			}
		case err != nil:
			return fmt.Errorf("find a queued scan: %w", err)
		}
		if a.Actor == "" {
			return nil
		}
		return recordAudit(ctx, tx, a, ActionScanRequest, name, map[string]any{"scan_id": id})
	})
	if err != nil {
		return 0, false, fmt.Errorf("queue a scan of cluster %d: %w", clusterID, err)
	}
	return id, created, nil
}

// DropQueuedScan removes a queued scan that no job will run (its job could not be
// inserted).
func (s *Store) DropQueuedScan(ctx context.Context, id int64) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM scans WHERE id = $1 AND status = 'queued'`, id); err != nil {
		return fmt.Errorf("drop queued scan %d: %w", id, err)
	}
	return nil
}

// StartScan records a scan of a cluster as running from at: the queued scan asked for,
// if there is one, or a new one.
func (s *Store) StartScan(ctx context.Context, clusterID int64, at time.Time) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `
		WITH queued AS (
			UPDATE scans SET status = 'running', started_at = $2
			WHERE id = (SELECT id FROM scans WHERE cluster_id = $1 AND status = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
			RETURNING id
		), created AS (
			INSERT INTO scans (cluster_id, status, queued_at, started_at)
			SELECT $1, 'running', $2, $2 WHERE NOT EXISTS (SELECT 1 FROM queued)
			RETURNING id
		)
		SELECT id FROM queued UNION ALL SELECT id FROM created`,
		clusterID, at).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("start scan of cluster %d: %w", clusterID, err)
	}
	return id, nil
}

// EndScan records a scan that did not succeed (failed or aborted) with why. It changes
// nothing of the history: a scan that did not finish listing closes nothing.
func (s *Store) EndScan(ctx context.Context, scanID int64, status string, why ScanError, at time.Time) error {
	if status != ScanFailed && status != ScanAborted {
		return fmt.Errorf("end scan %d: status %q is not failed or aborted", scanID, status)
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE scans SET status = $2, error_class = $3, error = $4, finished_at = $5 WHERE id = $1 AND status = 'running'`,
		scanID, status, why.Class, why.Message, at)
	if err != nil {
		return fmt.Errorf("end scan %d: %w", scanID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("end scan %d: %w (or no longer running)", scanID, ErrNotFound)
	}
	return nil
}

// ScansOfCluster returns a cluster's scans, newest first.
func (s *Store) ScansOfCluster(ctx context.Context, clusterID int64) ([]Scan, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+scanColumns+` FROM scans WHERE cluster_id = $1 ORDER BY id DESC`, clusterID)
	if err != nil {
		return nil, fmt.Errorf("scans of cluster %d: %w", clusterID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Scan, error) {
		var sc Scan
		err := r.Scan(&sc.ID, &sc.ClusterID, &sc.Status, &sc.QueuedAt, &sc.StartedAt, &sc.FinishedAt,
			&sc.Pods, &sc.Containers, &sc.Opened, &sc.Closed, &sc.ErrorClass, &sc.Error, &sc.AnnotateWrites, &sc.AnnotateError, &sc.Kind, &sc.Snapshots)
		return sc, err
	})
	if err != nil {
		return nil, fmt.Errorf("scans of cluster %d: %w", clusterID, err)
	}
	return out, nil
}

// lockSpace keeps tagdrift's advisory locks apart from any other application's.
const lockSpace = 0x74616764 // "tagd"

// LockCluster takes the cluster's scan lock, a session advisory lock held on a connection
// of its own until unlock is called, so that at most one scan of a cluster runs at a time
// across every replica. A replica that dies drops its connection and with it the lock.
// ok is false when another scan holds it.
func (s *Store) LockCluster(ctx context.Context, clusterID int64) (unlock func(), ok bool, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("lock cluster %d: %w", clusterID, err)
	}
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, lockSpace, int32(clusterID)).Scan(&ok); err != nil {
		conn.Release()
		return nil, false, fmt.Errorf("lock cluster %d: %w", clusterID, err)
	}
	if !ok {
		conn.Release()
		return nil, false, nil
	}
	return func() {
		// Unlock even when the caller's context has ended; a connection that cannot
		// unlock is closed, which unlocks too.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1, $2)`, lockSpace, int32(clusterID)); err != nil {
			conn.Conn().Close(ctx)
		}
		conn.Release()
	}, true, nil
}

// ScanFilter selects scans, newest first.
type ScanFilter struct {
	Cluster  string // a cluster name; "" for all
	BeforeID int64  // ids below this one; 0 from the newest
	Limit    int
	// Scope keeps the scans of the clusters the reader's role covers.
	Scope Scope
}

// ScanRecord is a scan with its cluster's name.
type ScanRecord struct {
	Scan
	Cluster string
}

const scanRecordSQL = `
	SELECT s.id, s.cluster_id, s.status, s.queued_at, s.started_at, s.finished_at, s.pods, s.containers,
	       s.opened, s.closed, s.error_class, s.error, s.annotate_writes, s.annotate_error, s.kind, s.snapshots, c.name
	FROM scans s JOIN clusters c ON c.id = s.cluster_id`

func scanScanRecord(row pgx.Row) (ScanRecord, error) {
	var r ScanRecord
	sc := &r.Scan
	err := row.Scan(&sc.ID, &sc.ClusterID, &sc.Status, &sc.QueuedAt, &sc.StartedAt, &sc.FinishedAt,
		&sc.Pods, &sc.Containers, &sc.Opened, &sc.Closed, &sc.ErrorClass, &sc.Error, &sc.AnnotateWrites, &sc.AnnotateError, &sc.Kind, &sc.Snapshots, &r.Cluster)
	return r, err
}

// ListScans returns scans matching f, newest first. Scans of deleted clusters are listed
// under their name too.
func (s *Store) ListScans(ctx context.Context, f ScanFilter) ([]ScanRecord, error) {
	var q query
	q.where("s.id < " + q.arg(cmp.Or(f.BeforeID, 1<<63-1)))
	if f.Cluster != "" {
		q.where("c.name = " + q.arg(f.Cluster))
	}
	q.whereScope(f.Scope.groupSQL(&q, "c.group_id"))
	rows, err := s.pool.Query(ctx, scanRecordSQL+q.clause()+` ORDER BY s.id DESC LIMIT `+q.arg(limitOf(f.Limit)), q.args...)
	if err != nil {
		return nil, fmt.Errorf("list scans: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ScanRecord, error) { return scanScanRecord(r) })
	if err != nil {
		return nil, fmt.Errorf("list scans: %w", err)
	}
	return out, nil
}

// ScanRecordByID returns one scan of a cluster in scope sc; ErrNotFound when there is
// none, or its cluster is outside sc.
func (s *Store) ScanRecordByID(ctx context.Context, id int64, sc Scope) (ScanRecord, error) {
	q := query{args: []any{id}}
	r, err := scanScanRecord(s.pool.QueryRow(ctx, scanRecordSQL+` WHERE s.id = $1`+sc.groupSQL(&q, "c.group_id"), q.args...))
	if err != nil {
		return ScanRecord{}, fmt.Errorf("scan %d: %w", id, notFound(err))
	}
	return r, nil
}
