package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/scanner/attention"
)

// DeleteCluster deletes a live cluster (cluster.delete): its credentials are dropped at
// once and it is never scanned again. Without purge its history (observations, scans,
// mutations) stays queryable; with purge it goes too. ErrNotFound when none has that
// name.
//
// Without purge, the cluster is marked deleted, which frees its name; its queued and
// running scans are aborted, so that a scan still listing it records nothing; and its
// open observations are closed now, last seen by its latest succeeded scan, so that
// what runs means what runs in a cluster still watched. A cluster no longer watched
// must not keep conditions open that no scan will ever resolve: in the same
// transaction its own conditions are resolved, and the unpinned references it ran are
// queued for RecheckRefs, which settles their tag-divergences among the clusters left.
func (s *Store) DeleteCluster(ctx context.Context, name string, purge bool, a Audit) (Deleted, error) {
	return s.DeleteClusterWithin(ctx, name, purge, Scope{}, a)
}

// DeleteClusterWithin is DeleteCluster for a writer of scope sc: a cluster outside it
// is ErrNotFound, checked under the cluster's row lock.
func (s *Store) DeleteClusterWithin(ctx context.Context, name string, purge bool, sc Scope, a Audit) (Deleted, error) {
	var d Deleted
	err := s.tx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT id FROM clusters WHERE name = $1 AND deleted_at IS NULL
			AND ($2::bigint[] IS NULL OR group_id = ANY($2)) FOR UPDATE`, name, sc.groupIDs()).Scan(&d.ID)
		if err != nil {
			return notFound(err)
		}
		id := d.ID
		rows, err := tx.Query(ctx, `
			SELECT DISTINCT ref FROM observations WHERE cluster_id = $1 AND closed_at IS NULL AND NOT pinned ORDER BY ref`, id)
		if err != nil {
			return fmt.Errorf("references run: %w", err)
		}
		if d.Refs, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return fmt.Errorf("references run: %w", err)
		}
		now := time.Now()
		if purge {
			// Receivers must close what they opened: the cluster's open conditions are
			// sent resolved (cluster-deleted) from what they were before the purge
			// deletes them.
			if err := s.resolveBeforePurge(ctx, tx, id, now); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM running_pods WHERE cluster_id = $1`, id); err != nil {
				return fmt.Errorf("forget the running pods: %w", err)
			}
			// Scans, observations and the cluster's own mutations cascade.
			if _, err := tx.Exec(ctx, `DELETE FROM clusters WHERE id = $1`, id); err != nil {
				return fmt.Errorf("purge: %w", err)
			}
		} else {
			// Aborting first waits for a scan completing now, whose rows the next
			// statement then closes.
			if _, err := tx.Exec(ctx, `
				UPDATE scans SET status = 'aborted', error = 'cluster deleted', finished_at = now()
				WHERE cluster_id = $1 AND status IN ('queued', 'running')`, id); err != nil {
				return fmt.Errorf("abort scans: %w", err)
			}
			closing := summaryKeys{}
			if err := closing.addRunning(ctx, tx, id); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `
				UPDATE observations SET closed_at = now(), last_seen = COALESCE(
					(SELECT started_at FROM scans WHERE cluster_id = $1 AND status = 'succeeded' ORDER BY id DESC LIMIT 1),
					first_seen)
				WHERE cluster_id = $1 AND closed_at IS NULL`, id); err != nil {
				return fmt.Errorf("close observations: %w", err)
			}
			if err := refreshSummary(ctx, tx, closing); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM running_workloads WHERE cluster_id = $1`, id); err != nil {
				return fmt.Errorf("forget the running workloads: %w", err)
			}
			if _, err := tx.Exec(ctx, `DELETE FROM running_pods WHERE cluster_id = $1`, id); err != nil {
				return fmt.Errorf("forget the running pods: %w", err)
			}
			if _, err := tx.Exec(ctx, `
				UPDATE clusters SET deleted_at = now(), kubeconfig = NULL, enabled = false WHERE id = $1`, id); err != nil {
				return fmt.Errorf("mark deleted: %w", err)
			}
		}
		// A cluster no longer watched keeps no condition open that no scan will ever
		// resolve: its own resolve now (purged, they are gone), and the tag-divergences of
		// what it ran are rechecked among the clusters left.
		if !purge {
			_, changes, err := reconcile(ctx, tx, s.bodies, scope{clusterID: id}, nil, now)
			if err != nil {
				return fmt.Errorf("resolve the cluster's conditions: %w", err)
			}
			if err := s.writeOutbox(ctx, tx, changes, now, notify.ReasonClusterDeleted, nil, nil); err != nil {
				return fmt.Errorf("write the notifications of the deletion: %w", err)
			}
		}
		if err := queueRechecks(ctx, tx, d.Refs, now, false); err != nil {
			return err
		}
		if err := recordAudit(ctx, tx, a, ActionClusterDelete, name, map[string]any{"purge": purge}); err != nil {
			return err
		}
		return bumpDataVersion(ctx, tx)
	})
	if err != nil {
		return Deleted{}, fmt.Errorf("delete cluster %q: %w", name, err)
	}
	return d, nil
}

// resolveBeforePurge writes the mutation.resolved notifications of the open conditions
// of cluster id, which a purge is about to delete.
func (s *Store) resolveBeforePurge(ctx context.Context, tx pgx.Tx, id int64, at time.Time) error {
	if s.outbox.Jobs == nil {
		return nil
	}
	rows, err := tx.Query(ctx, mutationSQL+`
		WHERE m.cluster_id = $1 AND m.resolved_at IS NULL`, id)
	if err != nil {
		return fmt.Errorf("read the cluster's open conditions: %w", err)
	}
	open, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Mutation, error) { return scanMutation(r) })
	if err != nil {
		return fmt.Errorf("read the cluster's open conditions: %w", err)
	}
	before := make(map[int64]Mutation, len(open))
	changes := make([]mutationChange, 0, len(open))
	for _, m := range open {
		resolved := at
		m.ResolvedAt = &resolved
		before[m.ID] = m
		changes = append(changes, mutationChange{id: m.ID, kind: m.Kind, prev: m.State, cur: attention.StateResolved, prevDigests: m.Digests})
	}
	if err := s.writeOutbox(ctx, tx, changes, at, notify.ReasonClusterDeleted, nil, before); err != nil {
		return fmt.Errorf("write the notifications of the purge: %w", err)
	}
	return nil
}

// Deleted is a deleted cluster: its id, and the unpinned references it ran, queued
// for RecheckRefs.
type Deleted struct {
	ID   int64
	Refs []string
}
