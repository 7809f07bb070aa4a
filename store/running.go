package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// runningKey is one row of running_workloads: a workload of a cluster.
type runningKey struct {
	clusterID             int64
	namespace, kind, name string
}

// runningKeys collects the running_workloads rows a change touches, once each.
type runningKeys map[runningKey]struct{}

// Columns of the rows CompleteScan copies into observations, for their workload.
const (
	freshNamespace    = 1
	freshWorkloadKind = 7
	freshWorkloadName = 8
)

// addFresh adds the workloads of intervals about to be opened, as copied.
func (k runningKeys) addFresh(fresh [][]any) {
	for _, r := range fresh {
		k[runningKey{r[freshClusterID].(int64), r[freshNamespace].(string), r[freshWorkloadKind].(string), r[freshWorkloadName].(string)}] = struct{}{}
	}
}

// addIntervals adds the workloads of the intervals with the given ids.
func (k runningKeys) addIntervals(ctx context.Context, tx pgx.Tx, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `
		SELECT DISTINCT cluster_id, namespace, workload_kind, workload_name FROM observations WHERE id = ANY($1)`, ids)
	if err != nil {
		return fmt.Errorf("workloads of intervals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r runningKey
		if err := rows.Scan(&r.clusterID, &r.namespace, &r.kind, &r.name); err != nil {
			return fmt.Errorf("workloads of intervals: %w", err)
		}
		k[r] = struct{}{}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("workloads of intervals: %w", err)
	}
	return nil
}

// runningSQL is what one workload k runs now, from its open observations through
// observations_open_workload: the least reference (by bytes) and the latest first
// sighting; NULLs when it runs nothing.
const runningSQL = `
	SELECT min(o.ref COLLATE "C") AS ref, max(o.first_seen) AS changed FROM observations o
	WHERE o.cluster_id = k.cluster_id AND o.closed_at IS NULL AND o.namespace COLLATE "C" = k.namespace
	  AND o.workload_kind COLLATE "C" = k.kind AND o.workload_name COLLATE "C" = k.name`

// refreshWorkloads sets the running_workloads rows keys names to what their open
// intervals say now, inside the transaction that changed them: a workload that runs
// nothing any more goes. A cluster's rows change only in the transactions that change
// its intervals, which its scan lock orders.
func refreshWorkloads(ctx context.Context, tx pgx.Tx, keys runningKeys) error {
	if len(keys) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(keys))
	var namespaces, kinds, names []string
	for k := range keys {
		ids, namespaces, kinds, names = append(ids, k.clusterID), append(namespaces, k.namespace), append(kinds, k.kind), append(names, k.name)
	}
	_, err := tx.Exec(ctx, `
		WITH k AS (
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS k (cluster_id, namespace, kind, name)
		), agg AS (
			SELECT k.cluster_id, k.namespace, k.kind, k.name, a.ref, a.changed FROM k CROSS JOIN LATERAL (`+runningSQL+`) a
		), gone AS (
			DELETE FROM running_workloads w USING agg
			WHERE agg.ref IS NULL AND w.cluster_id = agg.cluster_id AND w.namespace = agg.namespace
			  AND w.kind = agg.kind AND w.name = agg.name
		)
		INSERT INTO running_workloads (cluster_id, namespace, kind, name, ref, changed)
		SELECT cluster_id, namespace, kind, name, ref, changed FROM agg WHERE ref IS NOT NULL
		ORDER BY cluster_id, namespace, kind, name
		ON CONFLICT (cluster_id, namespace, kind, name) DO UPDATE SET ref = excluded.ref, changed = excluded.changed
		WHERE (running_workloads.ref, running_workloads.changed) IS DISTINCT FROM (excluded.ref, excluded.changed)`,
		ids, namespaces, kinds, names)
	if err != nil {
		return fmt.Errorf("refresh the running workloads: %w", err)
	}
	return nil
}

// refreshWorkloadsOf refreshes the running workloads of the intervals a scan opened
// (fresh, as copied) and closed (gone).
func refreshWorkloadsOf(ctx context.Context, tx pgx.Tx, fresh [][]any, gone []int64) error {
	keys := runningKeys{}
	keys.addFresh(fresh)
	if err := keys.addIntervals(ctx, tx, gone); err != nil {
		return err
	}
	return refreshWorkloads(ctx, tx, keys)
}

// rebuildWorkloads sets the whole of running_workloads from the open intervals.
func rebuildWorkloads(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `LOCK TABLE running_workloads IN EXCLUSIVE MODE`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM running_workloads`); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO running_workloads (cluster_id, namespace, kind, name, ref, changed)
		SELECT cluster_id, namespace, workload_kind, workload_name, min(ref COLLATE "C"), max(first_seen)
		FROM observations WHERE closed_at IS NULL
		GROUP BY cluster_id, namespace, workload_kind, workload_name`)
	if err != nil {
		return fmt.Errorf("rebuild the running workloads: %w", err)
	}
	return nil
}
