package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// ScanCounts is what a completed scan changed.
type ScanCounts struct {
	Opened int
	Closed int
	// Events counts the tag-moved and pod-drift events the scan recorded.
	Events int
	// ChangedRefs are the unpinned references whose intervals the scan opened or closed:
	// the only ones whose tag-divergence this scan can have changed.
	ChangedRefs []string
}

// obsKey identifies an open observation: one container of one pod running one imageID.
type obsKey struct {
	podUID    string
	container string
	imageID   string
}

// CompleteScan records a scan that listed the whole cluster: observations it saw for the
// first time are opened (in bulk, with COPY), open ones it no longer saw are closed, and
// the scan is marked succeeded, all in one transaction. A scan in which nothing changed
// writes no observation rows. The scan must still be running: one that was aborted
// meanwhile records nothing. Running it twice for one listing changes nothing more.
func (s *Store) CompleteScan(ctx context.Context, scanID int64, pods []inventory.Pod, containers int, at time.Time) (ScanCounts, error) {
	var counts ScanCounts
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var clusterID int64
		var status string
		var started time.Time
		err := tx.QueryRow(ctx, `SELECT cluster_id, status, started_at FROM scans WHERE id = $1 FOR UPDATE`, scanID).
			Scan(&clusterID, &status, &started)
		if err != nil {
			return notFound(err)
		}
		if status != ScanRunning {
			return fmt.Errorf("scan is %s, not running", status)
		}
		// The last scan that saw what is now gone, for last_seen.
		var previous *time.Time
		err = tx.QueryRow(ctx, `
			SELECT started_at FROM scans WHERE cluster_id = $1 AND status = 'succeeded' ORDER BY id DESC LIMIT 1`,
			clusterID).Scan(&previous)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("previous scan: %w", err)
		}

		open, err := openObservations(ctx, tx, clusterID)
		if err != nil {
			return err
		}
		changed := map[string]bool{}
		var fresh [][]any
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
				if c.Ref.Valid() && !c.Ref.Pinned() {
					changed[c.Ref.Normalized] = true
				}
				fresh = append(fresh, []any{
					clusterID, p.Namespace, p.Name, string(p.UID), p.Node, p.Arch, p.Runtime,
					p.Workload.Kind, p.Workload.Name, p.Controller.Kind, p.Controller.Name, string(p.Controller.UID), p.Controller.Revision,
					c.Name, string(c.Type), c.Ref.Written, c.Ref.Normalized, c.Ref.Pinned(),
					c.ID.Digest, string(c.ID.Kind), c.ID.Raw, started,
				})
				// A pod of one scan cannot list one container twice; guard anyway so
				// that COPY never trips over the open-interval index.
				open[k] = openObs{id: -1}
			}
		}
		if len(fresh) > 0 {
			n, err := tx.CopyFrom(ctx, pgx.Identifier{"observations"}, []string{
				"cluster_id", "namespace", "pod", "pod_uid", "node", "arch", "runtime",
				"workload_kind", "workload_name", "controller_kind", "controller_name", "controller_uid", "revision",
				"container", "container_type", "image", "ref", "pinned",
				"digest", "digest_kind", "image_id", "first_seen",
			}, pgx.CopyFromRows(fresh))
			if err != nil {
				return fmt.Errorf("open observations: %w", err)
			}
			counts.Opened = int(n)
		}
		var gone []int64
		for _, o := range open {
			if o.id > 0 {
				gone = append(gone, o.id)
				if !o.pinned {
					changed[o.ref] = true
				}
			}
		}
		for ref := range changed {
			counts.ChangedRefs = append(counts.ChangedRefs, ref)
		}
		slices.Sort(counts.ChangedRefs)
		if len(gone) > 0 {
			tag, err := tx.Exec(ctx, `
				UPDATE observations SET closed_at = $2, last_seen = COALESCE($3, first_seen)
				WHERE id = ANY($1) AND closed_at IS NULL`, gone, started, previous)
			if err != nil {
				return fmt.Errorf("close observations: %w", err)
			}
			counts.Closed = int(tag.RowsAffected())
		}
		if counts.Opened > 0 {
			if counts.Events, err = recordEvents(ctx, tx, clusterID, gone, started, at); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `
			UPDATE scans SET status = 'succeeded', finished_at = $2, pods = $3, containers = $4, opened = $5, closed = $6
			WHERE id = $1`, scanID, at, len(pods), containers, counts.Opened, counts.Closed)
		if err != nil {
			return err
		}
		// Even a scan that changed no interval moves the last sighting of what runs.
		return bumpDataVersion(ctx, tx)
	})
	if err != nil {
		return ScanCounts{}, fmt.Errorf("complete scan %d: %w", scanID, err)
	}
	return counts, nil
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
		return nil, fmt.Errorf("read open observations: %w", err)
	}
	defer rows.Close()
	open := make(map[obsKey]openObs)
	for rows.Next() {
		var o openObs
		var k obsKey
		if err := rows.Scan(&o.id, &k.podUID, &k.container, &k.imageID, &o.ref, &o.pinned); err != nil {
			return nil, err
		}
		open[k] = o
	}
	return open, rows.Err()
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
