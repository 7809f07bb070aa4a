package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// OpenMutationsTouching returns the conditions not resolved that bear on a live
// cluster: its own, and those spanning clusters with a place in it, in every state
// (open, acknowledged, expected; Mutation.State). Annotation writes their kinds onto
// the ReplicaSets involved, and tells the acknowledged and expected ones apart.
func (s *Store) OpenMutationsTouching(ctx context.Context, clusterID int64) ([]Mutation, error) {
	rows, err := s.pool.Query(ctx, mutationSQL+`
		WHERE m.resolved_at IS NULL AND (m.cluster_id = $1 OR (m.cluster_id IS NULL AND
		      m.places @> jsonb_build_array(jsonb_build_object('cluster',
		          (SELECT name FROM clusters WHERE id = $1 AND deleted_at IS NULL)))))
		ORDER BY m.id`, clusterID)
	if err != nil {
		return nil, fmt.Errorf("open mutations of cluster %d: %w", clusterID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Mutation, error) { return scanMutation(r) })
	if err != nil {
		return nil, fmt.Errorf("open mutations of cluster %d: %w", clusterID, err)
	}
	return out, nil
}

// AnnotationWarning is a MutantImage Event sent on one ReplicaSet for one mutation.
type AnnotationWarning struct {
	MutationID    int64
	Namespace     string
	ReplicaSet    string
	ReplicaSetUID string
}

// AnnotationWarnings returns the warnings sent in a cluster and not yet resolved.
func (s *Store) AnnotationWarnings(ctx context.Context, clusterID int64) ([]AnnotationWarning, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT mutation_id, namespace, replicaset, replicaset_uid FROM annotation_events
		WHERE cluster_id = $1 AND resolved_at IS NULL ORDER BY mutation_id, replicaset_uid`, clusterID)
	if err != nil {
		return nil, fmt.Errorf("annotation warnings of cluster %d: %w", clusterID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AnnotationWarning, error) {
		var w AnnotationWarning
		return w, r.Scan(&w.MutationID, &w.Namespace, &w.ReplicaSet, &w.ReplicaSetUID)
	})
	if err != nil {
		return nil, fmt.Errorf("annotation warnings of cluster %d: %w", clusterID, err)
	}
	return out, nil
}

// RecordAnnotation records what a scan's annotation step did: the warnings it sent
// (once each: one already recorded stays as it is), the warnings it ended (their
// MutantImageResolved sent, or their ReplicaSet gone), how many writes it sent, and
// its error ("" when it succeeded).
func (s *Store) RecordAnnotation(ctx context.Context, scanID, clusterID int64, warned, ended []AnnotationWarning,
	writes int, annotateErr string, at time.Time) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		for _, w := range warned {
			if _, err := tx.Exec(ctx, `
				INSERT INTO annotation_events (mutation_id, replicaset_uid, cluster_id, namespace, replicaset, warned_at)
				VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
				w.MutationID, w.ReplicaSetUID, clusterID, w.Namespace, w.ReplicaSet, at); err != nil {
				return err
			}
		}
		for _, w := range ended {
			if _, err := tx.Exec(ctx, `
				UPDATE annotation_events SET resolved_at = $3
				WHERE mutation_id = $1 AND replicaset_uid = $2 AND resolved_at IS NULL`,
				w.MutationID, w.ReplicaSetUID, at); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `UPDATE scans SET annotate_writes = $2, annotate_error = $3 WHERE id = $1`,
			scanID, writes, annotateErr)
		return err
	})
	if err != nil {
		return fmt.Errorf("record the annotation of scan %d: %w", scanID, err)
	}
	return nil
}
