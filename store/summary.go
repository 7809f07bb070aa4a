package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// summaryKey is one row of ref_digest_clusters: what one cluster ran of one digest of
// one reference.
type summaryKey struct {
	clusterID   int64
	ref, digest string
}

// summaryKeys collects the summary rows a change touches, once each.
type summaryKeys map[summaryKey]struct{}

func (k summaryKeys) add(clusterID int64, ref, digest string) {
	k[summaryKey{clusterID, ref, digest}] = struct{}{}
}

// addIntervals adds the summary rows of the intervals with the given ids.
func (k summaryKeys) addIntervals(ctx context.Context, tx pgx.Tx, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT DISTINCT cluster_id, ref, digest FROM observations WHERE id = ANY($1)`, ids)
	if err != nil {
		return fmt.Errorf("summary rows of intervals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c int64
		var ref, digest string
		if err := rows.Scan(&c, &ref, &digest); err != nil {
			return fmt.Errorf("summary rows of intervals: %w", err)
		}
		k.add(c, ref, digest)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("summary rows of intervals: %w", err)
	}
	return nil
}

// summarySQL is the summary of one (cluster, reference, digest) from its intervals,
// through the observations_ref_digest index.
const summarySQL = `
	SELECT min(o.first_seen) AS first_seen, max(o.last_seen) AS last_seen, count(DISTINCT o.pod_uid) AS pods,
	       count(DISTINCT o.pod_uid) FILTER (WHERE o.closed_at IS NULL) AS running
	FROM observations o WHERE o.ref = k.ref AND o.digest = k.digest AND o.cluster_id = k.cluster_id`

// refreshSummary sets the summary rows keys names to what their intervals say now,
// inside the transaction that changed the intervals: a row whose intervals are all gone
// goes too. The rows of one cluster are only ever changed by the transactions that
// change its intervals, which its scan lock and row locks order.
func refreshSummary(ctx context.Context, tx pgx.Tx, keys summaryKeys) error {
	if len(keys) == 0 {
		return nil
	}
	var ids []int64
	var refs, digests []string
	for k := range keys {
		ids, refs, digests = append(ids, k.clusterID), append(refs, k.ref), append(digests, k.digest)
	}
	// Lock the rows first, in one order, then read the intervals in a statement of its
	// own: a concurrent change of the same rows (a retention run and a scan) waits, and
	// then reads what the other committed.
	_, err := tx.Exec(ctx, `
		SELECT 1 FROM ref_digest_clusters s
		JOIN unnest($1::bigint[], $2::text[], $3::text[]) AS k (cluster_id, ref, digest)
		  ON s.ref = k.ref AND s.digest = k.digest AND s.cluster_id = k.cluster_id
		ORDER BY s.ref, s.digest, s.cluster_id
		FOR UPDATE OF s`, ids, refs, digests)
	if err != nil {
		return fmt.Errorf("lock the reference summary: %w", err)
	}
	_, err = tx.Exec(ctx, `
		WITH k AS (
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[]) AS k (cluster_id, ref, digest)
		), agg AS (
			SELECT k.cluster_id, k.ref, k.digest, a.* FROM k CROSS JOIN LATERAL (`+summarySQL+`) a
		), gone AS (
			DELETE FROM ref_digest_clusters s USING agg
			WHERE agg.pods = 0 AND s.ref = agg.ref AND s.digest = agg.digest AND s.cluster_id = agg.cluster_id
		)
		INSERT INTO ref_digest_clusters (ref, digest, cluster_id, first_seen, last_seen, pods, running)
		SELECT ref, digest, cluster_id, first_seen, last_seen, pods, running FROM agg WHERE pods > 0
		ORDER BY ref, digest, cluster_id
		ON CONFLICT (ref, digest, cluster_id) DO UPDATE SET first_seen = excluded.first_seen,
			last_seen = excluded.last_seen, pods = excluded.pods, running = excluded.running
		WHERE (ref_digest_clusters.first_seen, ref_digest_clusters.last_seen, ref_digest_clusters.pods, ref_digest_clusters.running)
		      IS DISTINCT FROM (excluded.first_seen, excluded.last_seen, excluded.pods, excluded.running)`,
		ids, refs, digests)
	if err != nil {
		return fmt.Errorf("refresh the reference summary: %w", err)
	}
	return nil
}

// runningSummary adds the summary rows of what a cluster runs now.
func (k summaryKeys) addRunning(ctx context.Context, tx pgx.Tx, clusterID int64) error {
	rows, err := tx.Query(ctx, `SELECT ref, digest FROM ref_digest_clusters WHERE cluster_id = $1 AND running > 0`, clusterID)
	if err != nil {
		return fmt.Errorf("what cluster %d runs: %w", clusterID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var ref, digest string
		if err := rows.Scan(&ref, &digest); err != nil {
			return fmt.Errorf("what cluster %d runs: %w", clusterID, err)
		}
		k.add(clusterID, ref, digest)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("what cluster %d runs: %w", clusterID, err)
	}
	return nil
}

// Columns of the rows CompleteScan copies into observations, for their summary keys.
const (
	freshClusterID = 0
	freshPodUID    = 3
	freshRef       = 16
	freshDigest    = 18
	freshFirstSeen = 21
)

// refreshSummaryOf refreshes the summary rows of the intervals a scan opened (fresh, as
// copied) and closed (gone). When the cluster had no interval at all before (its first
// scan into an empty history), its summary is the fresh rows': no need to read them
// back.
func refreshSummaryOf(ctx context.Context, tx pgx.Tx, fresh [][]any, gone []int64, empty bool) error {
	if empty && len(gone) == 0 {
		return writeFreshSummary(ctx, tx, fresh)
	}
	keys := summaryKeys{}
	for _, r := range fresh {
		keys.add(r[freshClusterID].(int64), r[freshRef].(string), r[freshDigest].(string))
	}
	if err := keys.addIntervals(ctx, tx, gone); err != nil {
		return err
	}
	return refreshSummary(ctx, tx, keys)
}

// RebuildSummary sets the whole reference summary and the running workloads from the
// intervals, for tools that load observations in bulk outside CompleteScan
// (benchmarks), and as a repair.
func (s *Store) RebuildSummary(ctx context.Context) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE ref_digest_clusters IN EXCLUSIVE MODE`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM ref_digest_clusters`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO ref_digest_clusters (ref, digest, cluster_id, first_seen, last_seen, pods, running)
			SELECT ref, digest, cluster_id, min(first_seen), max(last_seen), count(DISTINCT pod_uid),
			       count(DISTINCT pod_uid) FILTER (WHERE closed_at IS NULL)
			FROM observations GROUP BY ref, digest, cluster_id`)
		if err != nil {
			return err
		}
		if err := fillLetters(ctx, tx); err != nil {
			return err
		}
		if err := rebuildWorkloads(ctx, tx, s.bodies); err != nil {
			return err
		}
		return bumpDataVersion(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("rebuild the reference summary: %w", err)
	}
	return nil
}

// writeFreshSummary writes the summary of a cluster's first intervals, as summarySQL
// would read it from them once copied: each (reference, digest) first seen at its
// earliest first sighting, last seen never (they are all open), and its distinct pods,
// all running.
func writeFreshSummary(ctx context.Context, tx pgx.Tx, fresh [][]any) error {
	type agg struct {
		first time.Time
		pods  map[string]struct{}
	}
	sums := map[summaryKey]*agg{}
	for _, r := range fresh {
		k := summaryKey{r[freshClusterID].(int64), r[freshRef].(string), r[freshDigest].(string)}
		first := r[freshFirstSeen].(time.Time)
		a, ok := sums[k]
		if !ok {
			a = &agg{first: first, pods: map[string]struct{}{}}
			sums[k] = a
		}
		if first.Before(a.first) {
			a.first = first
		}
		a.pods[r[freshPodUID].(string)] = struct{}{}
	}
	if len(sums) == 0 {
		return nil
	}
	var ids, pods []int64
	var refs, digests []string
	var firsts []time.Time
	for k, a := range sums {
		ids, refs, digests = append(ids, k.clusterID), append(refs, k.ref), append(digests, k.digest)
		firsts, pods = append(firsts, a.first), append(pods, int64(len(a.pods)))
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO ref_digest_clusters (ref, digest, cluster_id, first_seen, last_seen, pods, running)
		SELECT ref, digest, cluster_id, first_seen, NULL, pods, pods
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::bigint[]) AS k (cluster_id, ref, digest, first_seen, pods)
		ORDER BY ref, digest, cluster_id
		ON CONFLICT (ref, digest, cluster_id) DO UPDATE SET first_seen = excluded.first_seen,
			last_seen = excluded.last_seen, pods = excluded.pods, running = excluded.running`, ids, refs, digests, firsts, pods)
	if err != nil {
		return fmt.Errorf("write the reference summary of a first scan: %w", err)
	}
	return nil
}
