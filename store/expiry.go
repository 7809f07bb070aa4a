package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// clustersTouched returns the ids of the live clusters the mutations ids touch: a
// mutation's own cluster, or, for one spanning clusters, each live cluster named by
// one of its places. It mirrors OpenMutationsTouching, which plans their annotation.
func clustersTouched(ctx context.Context, tx pgx.Tx, ids []int64) ([]int64, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := tx.Query(ctx, `
		SELECT DISTINCT c.id FROM mutations m
		JOIN clusters c ON c.deleted_at IS NULL AND (c.id = m.cluster_id OR (m.cluster_id IS NULL AND
		     m.places @> jsonb_build_array(jsonb_build_object('cluster', c.name))))
		WHERE m.id = ANY($1) ORDER BY c.id`, ids)
	if err != nil {
		return nil, fmt.Errorf("read the clusters of mutations: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("read the clusters of mutations: %w", err)
	}
	return out, nil
}
