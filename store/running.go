package store

import (
	"context"
	"fmt"
	"strings"
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
	freshPod          = 2
	freshWorkloadKind = 7
	freshWorkloadName = 8
)

// addFresh adds the workloads of intervals about to be opened, as copied.
func (k runningKeys) addFresh(fresh [][]any) {
	for _, r := range fresh {
		k[runningKey{r[freshClusterID].(int64), r[freshNamespace].(string), r[freshWorkloadKind].(string), r[freshWorkloadName].(string)}] = struct{}{}
	}
}

// addIntervals adds the workloads of the intervals with the given ids, and returns
// those of their pods that running_pods keeps (oddPod).
func (k runningKeys) addIntervals(ctx context.Context, tx pgx.Tx, ids []int64) ([]podKey, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	// The pod only when odd: a rollout's intervals are one row a workload.
	rows, err := tx.Query(ctx, `
		SELECT DISTINCT cluster_id, namespace, workload_kind, workload_name, CASE WHEN `+oddPodSQL+` THEN pod END
		FROM observations o WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("workloads of intervals: %w", err)
	}
	defer rows.Close()
	var pods []podKey
	for rows.Next() {
		var r runningKey
		var pod *string
		if err := rows.Scan(&r.clusterID, &r.namespace, &r.kind, &r.name, &pod); err != nil {
			return nil, fmt.Errorf("workloads of intervals: %w", err)
		}
		k[r] = struct{}{}
		if pod != nil {
			pods = append(pods, podKey{r, *pod})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("workloads of intervals: %w", err)
	}
	return pods, nil
}

// refreshWorkloads sets the running_workloads rows keys names to what their open
// intervals say now, inside the transaction that changed them: each workload's sort
// keys (Workload.Cursor) and its containers as the API shows them (enc); a
// workload that runs nothing any more goes. A cluster's rows change only in the
// transactions that change its intervals, which its scan lock orders.
// It returns the workloads as read.
func refreshWorkloads(ctx context.Context, tx pgx.Tx, enc bodies, keys runningKeys) ([]Workload, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	page := &workloadPage{}
	for k := range keys {
		page.add(k.clusterID, WorkloadKey{Namespace: k.namespace, Kind: k.kind, Name: k.name}, false)
	}
	ws, err := readRunning(ctx, tx, page)
	if err != nil {
		return nil, fmt.Errorf("refresh the running workloads: %w", err)
	}
	return ws, writeWorkloads(ctx, tx, enc, ws)
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

// refreshWorkloadsOf refreshes the running workloads, and the odd running pods, of the
// intervals a scan opened (fresh, as copied) and closed (gone). When the cluster had no
// open interval before (its first scan), what its workloads run is the fresh rows: no
// need to read them back.
func refreshWorkloadsOf(ctx context.Context, tx pgx.Tx, enc bodies, fresh [][]any, letters map[RefDigest]int, gone []int64, first bool) error {
	if first && len(gone) == 0 {
		if err := writeWorkloads(ctx, tx, enc, freshWorkloads(fresh, letters)); err != nil {
			return err
		}
		return writePods(ctx, tx, fresh, nil)
	}
	keys := runningKeys{}
	keys.addFresh(fresh)
	closed, err := keys.addIntervals(ctx, tx, gone)
	if err != nil {
		return err
	}
	ws, err := refreshWorkloads(ctx, tx, enc, keys)
	if err != nil {
		return err
	}
	// A pod of a closed interval stopped unless its workload, which is among ws, still
	// runs it.
	if len(closed) == 0 {
		return writePods(ctx, tx, fresh, nil)
	}
	running := map[podKey]struct{}{}
	for _, w := range ws {
		for _, c := range w.Running {
			running[podKey{runningKey{w.ClusterID, w.Namespace, w.Kind, w.Name}, c.Pod}] = struct{}{}
		}
	}
	var stopped []podKey
	for _, p := range closed {
		if _, ok := running[p]; !ok {
			stopped = append(stopped, p)
		}
	}
	return writePods(ctx, tx, fresh, stopped)
}

// oddPod says whether a pod's name is not its workload's, nor begins with it and a '-'
// as the pods of Deployments, StatefulSets, DaemonSets, Jobs and CronJobs do: only such
// pods have a running_pods row. The search finds the others from their workload's name
// (Search), so that a scan writes a row for hardly any pod: a row for every pod made
// first scans about 10 % slower.
func oddPod(pod, workload string) bool {
	rest, ok := strings.CutPrefix(pod, workload)
	return !ok || (rest != "" && rest[0] != '-')
}

// oddPodSQL is oddPod on an interval o.
const oddPodSQL = `NOT (o.pod = o.workload_name OR starts_with(o.pod, o.workload_name || '-'))`

// podKey is a running_pods row: a pod of a workload.
type podKey struct {
	runningKey
	pod string
}

// writePods deletes the running_pods rows of the pods that stopped (odd ones) and adds
// those of the odd pods of fresh intervals (as copied).
func writePods(ctx context.Context, tx pgx.Tx, fresh [][]any, stopped []podKey) error {
	if len(stopped) > 0 {
		var c podColumns
		for _, p := range stopped {
			c.add(p)
		}
		_, err := tx.Exec(ctx, `
			DELETE FROM running_pods p
			USING unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[]) AS k (pod, namespace, cluster_id, kind, name)
			WHERE p.pod = k.pod AND p.namespace = k.namespace AND p.cluster_id = k.cluster_id AND p.kind = k.kind AND p.name = k.name`,
			c.pods, c.namespaces, c.ids, c.kinds, c.names)
		if err != nil {
			return fmt.Errorf("forget pods that stopped: %w", err)
		}
	}
	// A pod has a fresh row a container: each pod once.
	var c podColumns
	seen := map[podKey]struct{}{}
	for _, r := range fresh {
		pod, name := r[freshPod].(string), r[freshWorkloadName].(string)
		if !oddPod(pod, name) {
			continue
		}
		p := podKey{runningKey{r[freshClusterID].(int64), r[freshNamespace].(string), r[freshWorkloadKind].(string), name}, pod}
		if _, ok := seen[p]; ok {
			continue
		}
		seen[p] = struct{}{}
		c.add(p)
	}
	if len(c.pods) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO running_pods (pod, namespace, cluster_id, kind, name)
		SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[])
		ON CONFLICT DO NOTHING`,
		c.pods, c.namespaces, c.ids, c.kinds, c.names)
	if err != nil {
		return fmt.Errorf("write the running pods: %w", err)
	}
	return nil
}

// podColumns are rows of running_pods, as the arrays the statements unnest.
type podColumns struct {
	ids                            []int64
	pods, namespaces, kinds, names []string
}

func (c *podColumns) add(p podKey) {
	c.ids, c.namespaces, c.pods = append(c.ids, p.clusterID), append(c.namespaces, p.namespace), append(c.pods, p.pod)
	c.kinds, c.names = append(c.kinds, p.kind), append(c.names, p.name)
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
	if _, err := refreshWorkloads(ctx, tx, enc, keys); err != nil {
		return err
	}
	return rebuildPods(ctx, tx)
}

// rebuildPods sets the whole of running_pods from the open intervals of live clusters,
// as migration 000047 fills it: their odd pods (oddPod).
func rebuildPods(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `LOCK TABLE running_pods IN EXCLUSIVE MODE`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM running_pods`); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO running_pods (pod, namespace, cluster_id, kind, name)
		SELECT DISTINCT o.pod, o.namespace, o.cluster_id, o.workload_kind, o.workload_name
		FROM observations o JOIN clusters c ON c.id = o.cluster_id AND c.deleted_at IS NULL
		WHERE o.closed_at IS NULL AND `+oddPodSQL)
	if err != nil {
		return fmt.Errorf("rebuild the running pods: %w", err)
	}
	return nil
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
