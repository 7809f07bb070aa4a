package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// summaryRow is one row of ref_digest_clusters, or of the same aggregate over the raw
// intervals.
type summaryRow struct {
	Ref, Digest string
	ClusterID   int64
	FirstSeen   time.Time
	LastSeen    *time.Time
	Pods        int
	Running     int
}

func summaryRows(t *testing.T, s *Store, sql string) []summaryRow {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []summaryRow
	for rows.Next() {
		var r summaryRow
		if err := rows.Scan(&r.Ref, &r.Digest, &r.ClusterID, &r.FirstSeen, &r.LastSeen, &r.Pods, &r.Running); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// assertSummary checks the summary against a plain aggregate of the intervals.
func assertSummary(t *testing.T, s *Store, step string) {
	t.Helper()
	got := summaryRows(t, s, `
		SELECT ref, digest, cluster_id, first_seen, last_seen, pods, running FROM ref_digest_clusters
		ORDER BY ref, digest, cluster_id`)
	want := summaryRows(t, s, `
		SELECT ref, digest, cluster_id, min(first_seen), max(last_seen), count(DISTINCT pod_uid)::int,
		       (count(DISTINCT pod_uid) FILTER (WHERE closed_at IS NULL))::int
		FROM observations GROUP BY ref, digest, cluster_id ORDER BY ref, digest, cluster_id`)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after %s: summary\n%+v\nwant (from the intervals)\n%+v", step, got, want)
	}
	running := func(sql string) []string {
		t.Helper()
		rows, err := s.pool.Query(context.Background(), sql)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	gotRunning := running(`
		SELECT concat_ws(' ', cluster_id, namespace, kind, name, ref, changed) FROM running_workloads
		ORDER BY cluster_id, namespace, kind, name`)
	wantRunning := running(`
		SELECT concat_ws(' ', cluster_id, namespace, kind, name, min(ref), max(first_seen))
		FROM (SELECT o.cluster_id, o.namespace COLLATE "C" AS namespace, o.workload_kind COLLATE "C" AS kind,
		             o.workload_name COLLATE "C" AS name, o.ref COLLATE "C" AS ref, o.first_seen
		      FROM observations o JOIN clusters c ON c.id = o.cluster_id
		      WHERE o.closed_at IS NULL AND c.deleted_at IS NULL) o
		GROUP BY cluster_id, namespace, kind, name
		ORDER BY cluster_id, namespace, kind, name`)
	if !reflect.DeepEqual(gotRunning, wantRunning) {
		t.Fatalf("after %s: running workloads\n%q\nwant (from the open intervals of live clusters)\n%q", step, gotRunning, wantRunning)
	}
	// running_pods (migration 000047): the pods with an open interval in a live cluster
	// that are not named after their workload.
	gotPods := running(`SELECT concat_ws(' ', pod, namespace, cluster_id, kind, name) FROM running_pods ORDER BY 1`)
	wantPods := running(`
		SELECT DISTINCT concat_ws(' ', o.pod, o.namespace, o.cluster_id, o.workload_kind, o.workload_name)
		FROM observations o JOIN clusters c ON c.id = o.cluster_id
		WHERE o.closed_at IS NULL AND c.deleted_at IS NULL AND ` + oddPodSQL + ` ORDER BY 1`)
	if !reflect.DeepEqual(gotPods, wantPods) {
		t.Fatalf("after %s: running pods\n%q\nwant (from the open intervals of live clusters)\n%q", step, gotPods, wantPods)
	}
	gotMarks := running(`SELECT concat_ws(' ', mutation_id, owner_id, cluster, namespace, kind, name) FROM mutation_marks ORDER BY 1`)
	wantMarks := running(`
		SELECT DISTINCT concat_ws(' ', m.id, m.cluster_id, p->>'cluster', p->>'namespace', p->'workload'->>'kind', p->'workload'->>'name')
		FROM mutations m CROSS JOIN LATERAL jsonb_array_elements(m.places) p WHERE m.resolved_at IS NULL ORDER BY 1`)
	if !reflect.DeepEqual(gotMarks, wantMarks) {
		t.Fatalf("after %s: mutation marks\n%q\nwant (from the open mutations' places)\n%q", step, gotMarks, wantMarks)
	}
	// place_of_open_mutation (migration 000030) against the containment test of the open
	// mutations' places that the workloads list made before it, for every running
	// workload.
	differ := running(`
		SELECT concat_ws(' ', c.name, w.namespace, w.kind, w.name, place_of_open_mutation(w.cluster_id, c.name, w.namespace, w.kind, w.name))
		FROM running_workloads w JOIN clusters c ON c.id = w.cluster_id
		WHERE place_of_open_mutation(w.cluster_id, c.name, w.namespace, w.kind, w.name) <> EXISTS (
			SELECT 1 FROM mutations m
			WHERE m.resolved_at IS NULL AND (m.cluster_id IS NULL OR m.cluster_id = w.cluster_id)
			  AND m.places @> jsonb_build_array(jsonb_build_object('cluster', c.name, 'namespace', w.namespace,
			      'workload', jsonb_build_object('kind', w.kind, 'name', w.name))))`)
	if len(differ) > 0 {
		t.Fatalf("after %s: place_of_open_mutation differs from the open mutations' places for %q", step, differ)
	}
	assertBodies(t, s, step)
}

// assertBodies checks the containers running_workloads keeps, as the API lists them,
// against the same workloads rendered from their open intervals.
func assertBodies(t *testing.T, s *Store, step string) {
	t.Helper()
	ctx := context.Background()
	// Each way a page is read: from the open intervals (cluster), walking
	// running_workloads (ref, changed), from the marks (mutant only), and from both.
	for _, f := range []WorkloadFilter{
		{Sort: SortCluster}, {Sort: SortRef}, {Sort: SortChanged, Desc: true}, {Sort: SortName, MutantOnly: true},
		{Sort: SortMutant}, {Sort: SortMutant, Desc: true},
	} {
		f.Limit = 1000
		sort := fmt.Sprintf("%s (desc %t, mutant only %t)", f.Sort, f.Desc, f.MutantOnly)
		ws, err := s.ListWorkloads(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		bodies, err := s.ListWorkloadBodies(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(ws) != len(bodies) {
			t.Fatalf("after %s, by %s: %d workloads, %d bodies", step, sort, len(ws), len(bodies))
		}
		for i, w := range ws {
			want := mustContainers(t, s.bodies.enc, w)
			if b := bodies[i]; b.WorkloadKey != w.WorkloadKey || string(b.Containers) != string(want) || b.Cursor() != w.Cursor() {
				t.Fatalf("after %s, by %s: workload %d is\n%+v %s\nwant (from its intervals)\n%+v %s", step, sort, i, b.Cursor(), b.Containers, w.Cursor(), want)
			}
		}
	}
}

// TestSummaryProperty plays random sequences of scans (random pods, some sharing pod
// UIDs across digests and containers), failed scans, cluster deletions with and without
// purge and retention runs, and checks after every step that the reference summary and
// the running workloads equal what the raw intervals say.
func TestSummaryProperty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	letters := []string{"a", "b", "c", "d", "e"}
	images := []string{"nginx:1.25", "nginx:1.26", "redis:7"}
	var live []Cluster
	serial := 0
	newCluster := func() {
		serial++
		live = append(live, mustCluster(t, s, fmt.Sprintf("c%d", serial), "tok"))
	}
	newCluster()
	newCluster()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	openSeen, resolvedSeen := 0, 0
	for step := range 120 {
		at = at.Add(time.Minute)
		if len(live) == 0 {
			newCluster()
		}
		c := live[rng.IntN(len(live))]
		var what string
		switch r := rng.IntN(20); {
		case r < 13:
			var pods []inventory.Pod
			for i := range rng.IntN(6) {
				uid := fmt.Sprintf("u%d", rng.IntN(8))
				var containers []string
				for j := range 1 + rng.IntN(2) {
					containers = append(containers, fmt.Sprintf("k%d=%s|%s", j, images[rng.IntN(len(images))],
						"docker.io/library/x@"+sha(letters[rng.IntN(len(letters))])))
				}
				// A few workloads in two namespaces, so that the running workloads
				// gain, change and lose rows.
				p := wpod(fmt.Sprintf("ns%d", rng.IntN(2)), fmt.Sprintf("w%d", rng.IntN(3)), fmt.Sprintf("p%d", i), uid, containers...)
				p.Cluster = c.Name
				if !containsUID(pods, p.UID) {
					pods = append(pods, p)
				}
			}
			id, err := s.StartScan(ctx, c.ID, at)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.CompleteScan(ctx, id, pods, len(pods), at.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			what = fmt.Sprintf("scan of %s with %d pods", c.Name, len(pods))
			if rng.IntN(2) == 0 {
				// The rechecks open and resolve the mutations across clusters.
				fleet{t, s}.recheck(at.Add(2 * time.Second))
				what += " and its rechecks"
			}
		case r < 15:
			id, err := s.StartScan(ctx, c.ID, at)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.EndScan(ctx, id, ScanFailed, ScanError{Class: "unreachable", Message: "listing failed"}, at.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			what = "failed scan of " + c.Name
		case r < 17:
			purge := rng.IntN(2) == 0
			if _, err := s.DeleteCluster(ctx, c.Name, purge, admin); err != nil {
				t.Fatal(err)
			}
			for i := range live {
				if live[i].ID == c.ID {
					live = append(live[:i], live[i+1:]...)
					break
				}
			}
			what = fmt.Sprintf("deletion of %s (purge %v)", c.Name, purge)
			if rng.IntN(2) == 0 {
				newCluster()
			}
		default:
			before := at.Add(-time.Duration(rng.IntN(30)) * time.Minute)
			p, err := s.PruneHistory(ctx, before, 1+rng.IntN(4))
			if err != nil {
				t.Fatal(err)
			}
			what = fmt.Sprintf("retention before %s (%d intervals)", before.Format(time.TimeOnly), p.Intervals)
		}
		assertSummary(t, s, fmt.Sprintf("step %d, %s", step, what))
		var open, resolved int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE resolved_at IS NULL), count(*) FILTER (WHERE resolved_at IS NOT NULL)
			FROM mutations`).Scan(&open, &resolved); err != nil {
			t.Fatal(err)
		}
		openSeen, resolvedSeen = max(openSeen, open), max(resolvedSeen, resolved)
	}
	// The sequences must open and resolve mutations, or the marks were never tried.
	if openSeen == 0 || resolvedSeen == 0 {
		t.Fatalf("at most %d open and %d resolved mutations at a step: the sequence tries no marks", openSeen, resolvedSeen)
	}
	// Rows without rendered containers (as migration 21 makes them) read the same,
	// rendered on the fly, and RefillBodies renders them.
	tag, err := s.pool.Exec(ctx, `UPDATE running_workloads SET containers = NULL`)
	if err != nil {
		t.Fatal(err)
	}
	assertBodies(t, s, "forgetting every rendered body")
	// In one batch, workloads of the same names in several clusters stay apart.
	n, err := s.RefillBodies(ctx, 1000, nil)
	if err != nil || n.Workloads != int(tag.RowsAffected()) {
		t.Fatalf("filled %d of %d: %v", n, tag.RowsAffected(), err)
	}
	assertSummary(t, s, "filling the bodies in one batch")
	if tag, err = s.pool.Exec(ctx, `UPDATE running_workloads SET containers = NULL`); err != nil {
		t.Fatal(err)
	}
	if n, err = s.RefillBodies(ctx, 2, nil); err != nil || n.Workloads != int(tag.RowsAffected()) {
		t.Fatalf("filled %d of %d: %v", n, tag.RowsAffected(), err)
	}
	var unrendered int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM running_workloads WHERE containers IS NULL`).Scan(&unrendered); err != nil || unrendered != 0 {
		t.Fatalf("%d still without containers: %v", unrendered, err)
	}
	assertSummary(t, s, "filling the bodies two at a time")
	if err := s.RebuildSummary(ctx); err != nil {
		t.Fatal(err)
	}
	assertSummary(t, s, "rebuilding the summary")
}

func containsUID(pods []inventory.Pod, uid any) bool {
	for _, p := range pods {
		if any(p.UID) == uid {
			return true
		}
	}
	return false
}
