package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
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

// refreshWorkloads sets the running_workloads rows keys names to what their open
// intervals say now, inside the transaction that changed them: each workload's sort
// keys (Workload.Cursor) and its containers as the API shows them (enc); a
// workload that runs nothing any more goes. A cluster's rows change only in the
// transactions that change its intervals, which its scan lock orders.
func refreshWorkloads(ctx context.Context, tx pgx.Tx, enc bodies, keys runningKeys) error {
	if len(keys) == 0 {
		return nil
	}
	page := &workloadPage{}
	for k := range keys {
		page.add(k.clusterID, WorkloadKey{Namespace: k.namespace, Kind: k.kind, Name: k.name}, false)
	}
	ws, err := readRunning(ctx, tx, page)
	if err != nil {
		return fmt.Errorf("refresh the running workloads: %w", err)
	}
	return writeWorkloads(ctx, tx, enc, ws)
}

// writeWorkloads writes the running_workloads rows of ws, as read by readRunning:
// those that run something are set, with their body and its version, the others
// deleted.
func writeWorkloads(ctx context.Context, tx pgx.Tx, enc bodies, ws []Workload) error {
	var set, gone workloadColumns
	running := make([]Workload, 0, len(ws))
	for _, w := range ws {
		if len(w.Running) == 0 {
			gone.add(w, WorkloadCursor{}, nil)
			continue
		}
		running = append(running, w)
	}
	encoded, err := enc.containers(running)
	if err != nil {
		return err
	}
	for i, w := range running {
		set.add(w, w.Cursor(), encoded[i])
	}
	if len(gone.ids) > 0 {
		_, err := tx.Exec(ctx, `
			DELETE FROM running_workloads w USING unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS k (cluster_id, namespace, kind, name)
			WHERE w.cluster_id = k.cluster_id AND w.namespace = k.namespace AND w.kind = k.kind AND w.name = k.name`,
			gone.ids, gone.namespaces, gone.kinds, gone.names)
		if err != nil {
			return fmt.Errorf("forget workloads that stopped: %w", err)
		}
	}
	if len(set.ids) > 0 {
		_, err := tx.Exec(ctx, `
			INSERT INTO running_workloads (cluster_id, namespace, kind, name, ref, changed, containers, body_version)
			SELECT *, $8::integer FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::text[])
			ORDER BY 1, 2, 3, 4
			ON CONFLICT (cluster_id, namespace, kind, name) DO UPDATE
			SET ref = excluded.ref, changed = excluded.changed, containers = excluded.containers, body_version = excluded.body_version
			WHERE (running_workloads.ref, running_workloads.changed, running_workloads.containers, running_workloads.body_version)
			      IS DISTINCT FROM (excluded.ref, excluded.changed, excluded.containers, excluded.body_version)`,
			set.ids, set.namespaces, set.kinds, set.names, set.refs, set.changed, set.bodies, enc.version())
		if err != nil {
			return fmt.Errorf("write the running workloads: %w", err)
		}
	}
	return nil
}

// workloadColumns are rows of running_workloads, as the arrays the statements unnest.
type workloadColumns struct {
	ids                            []int64
	namespaces, kinds, names, refs []string
	changed                        []time.Time
	bodies                         []*string // nil: not rendered
}

func (c *workloadColumns) add(w Workload, k WorkloadCursor, body []byte) {
	c.ids, c.namespaces, c.kinds, c.names = append(c.ids, w.ClusterID), append(c.namespaces, w.Namespace), append(c.kinds, w.Kind), append(c.names, w.Name)
	var b *string
	if body != nil {
		s := string(body)
		b = &s
	}
	c.refs, c.changed, c.bodies = append(c.refs, k.Ref), append(c.changed, k.Changed), append(c.bodies, b)
}

// refreshWorkloadsOf refreshes the running workloads of the intervals a scan opened
// (fresh, as copied) and closed (gone). When the cluster had no open interval before
// (its first scan), what its workloads run is the fresh rows: no need to read them back.
func refreshWorkloadsOf(ctx context.Context, tx pgx.Tx, enc bodies, fresh [][]any, letters map[RefDigest]int, gone []int64, first bool) error {
	if first && len(gone) == 0 {
		return writeWorkloads(ctx, tx, enc, freshWorkloads(fresh, letters))
	}
	keys := runningKeys{}
	keys.addFresh(fresh)
	if err := keys.addIntervals(ctx, tx, gone); err != nil {
		return err
	}
	return refreshWorkloads(ctx, tx, enc, keys)
}

// rebuildWorkloads sets the whole of running_workloads from the open intervals.
func rebuildWorkloads(ctx context.Context, tx pgx.Tx, enc bodies) error {
	if _, err := tx.Exec(ctx, `LOCK TABLE running_workloads IN EXCLUSIVE MODE`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM running_workloads`); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `
		SELECT DISTINCT cluster_id, namespace, workload_kind, workload_name FROM observations WHERE closed_at IS NULL`)
	if err != nil {
		return fmt.Errorf("rebuild the running workloads: %w", err)
	}
	keys := runningKeys{}
	for rows.Next() {
		var k runningKey
		if err := rows.Scan(&k.clusterID, &k.namespace, &k.kind, &k.name); err != nil {
			rows.Close()
			return fmt.Errorf("rebuild the running workloads: %w", err)
		}
		keys[k] = struct{}{}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("rebuild the running workloads: %w", err)
	}
	return refreshWorkloads(ctx, tx, enc, keys)
}

// freshWorkloads groups rows about to be copied into observations (intervalColumns
// order) by workload, as readRunning would read them once copied, with the letters of
// their digests.
func freshWorkloads(fresh [][]any, letters map[RefDigest]int) []Workload {
	page := &workloadPage{}
	key := func(r []any) runningKey {
		return runningKey{r[freshClusterID].(int64), r[freshNamespace].(string), r[freshWorkloadKind].(string), r[freshWorkloadName].(string)}
	}
	// Each workload's containers counted first, so that its list is allocated once: a
	// first scan's garbage is collected during the scans after it.
	sizes := map[runningKey]int{}
	for _, r := range fresh {
		sizes[key(r)]++
	}
	at := make(map[runningKey]int, len(sizes))
	for _, r := range fresh {
		k := key(r)
		i, ok := at[k]
		if !ok {
			page.add(k.clusterID, WorkloadKey{Namespace: k.namespace, Kind: k.kind, Name: k.name}, false)
			i = len(page.out) - 1
			at[k] = i
			page.out[i].Running = make([]RunningContainer, 0, sizes[k])
		}
		page.out[i].Running = append(page.out[i].Running, RunningContainer{
			Pod: r[2].(string), PodUID: r[3].(string), Node: r[4].(string), Runtime: r[6].(string),
			Container: r[13].(string), Type: inventory.ContainerType(r[14].(string)), Image: r[15].(string),
			Ref: r[16].(string), Pinned: r[17].(bool), Digest: r[18].(string), Kind: imageref.Kind(r[19].(string)),
			ImageID: r[20].(string), FirstSeen: r[21].(time.Time).UTC(),
		})
		if seq, ok := letters[RefDigest{r[16].(string), r[18].(string)}]; ok {
			page.out[i].Running[len(page.out[i].Running)-1].Letter = LetterName(seq)
		}
	}
	sortRunning(page.out)
	return page.out
}
