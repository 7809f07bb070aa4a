package store

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The read benchmark's fleet: 10 clusters × 1,000 workloads × 5 pods × 2 containers run
// now (100,000 open observations), after 9 earlier rollouts of every workload (900,000
// closed ones): 1,000,000 rows. Each workload's app runs its own service's reference
// (svc-N:prod, shared by the 10 clusters: 1,000 rows and 10 digests), and its proxy one
// of 20 envoy references (50,000 rows and 10 digests each): the popular ones.
const (
	benchClusters    = 10
	benchWorkloads   = 1000 // per cluster
	benchPodsPer     = 5    // per workload
	benchGenerations = 10   // rollouts, the last one running
	benchEnvoys      = 20
)

func benchDigest(kind string, n, gen int) string {
	return fmt.Sprintf("sha256:%016x%016x%032x", len(kind), n, gen)
}

// populate writes the fleet with COPY, and the mutations, scans and statistics a
// service would have.
func populate(b *testing.B, s *Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rollout := 24 * time.Hour
	var ids []int64
	for c := range benchClusters {
		ids = append(ids, mustCluster(b, s, fmt.Sprintf("cluster-%02d", c), "t").ID)
	}
	// Scans: one per hour since the first rollout, the newest succeeded.
	for _, id := range ids {
		if _, err := s.pool.Exec(ctx, `
			INSERT INTO scans (cluster_id, status, queued_at, started_at, finished_at, pods, containers)
			SELECT $1, CASE WHEN h % 50 = 7 THEN 'failed' ELSE 'succeeded' END, $2::timestamptz + h * interval '1 hour',
			       $2::timestamptz + h * interval '1 hour', $2::timestamptz + h * interval '1 hour' + interval '20 seconds', 5000, 10000
			FROM generate_series(0, $3) h`, id, t0, benchGenerations*24); err != nil {
			b.Fatal(err)
		}
	}
	last := t0.Add(benchGenerations * rollout)

	columns := []string{"cluster_id", "namespace", "pod", "pod_uid", "node", "arch", "workload_kind", "workload_name",
		"controller_kind", "controller_name", "controller_uid", "revision", "container", "container_type", "image", "ref",
		"pinned", "digest", "digest_kind", "image_id", "first_seen", "last_seen", "closed_at"}
	c, w, g, p, k := 0, 0, 0, 0, 0
	done := false
	row := make([]any, len(columns))
	n, err := s.pool.CopyFrom(ctx, pgx.Identifier{"observations"}, columns, pgx.CopyFromFunc(func() ([]any, error) {
		if done {
			return nil, nil
		}
		svc := w // a service per workload slot, deployed in every cluster
		envoy := (c*benchWorkloads + w) % benchEnvoys
		ns := fmt.Sprintf("team-%02d", w%20)
		name := fmt.Sprintf("svc-%04d", svc)
		pod := fmt.Sprintf("%s-g%d-%d", name, g, p)
		first := t0.Add(time.Duration(g) * rollout).Add(time.Duration(w) * time.Second)
		var lastSeen, closed any
		if g < benchGenerations-1 {
			closed = first.Add(rollout)
			lastSeen = first.Add(rollout - time.Hour)
		}
		var image, ref, dgst string
		if k == 0 {
			image = fmt.Sprintf("registry.example/svc-%04d:prod", svc)
			ref, dgst = image, benchDigest("app", svc, g)
		} else {
			image = fmt.Sprintf("envoyproxy/envoy:v1.%d", envoy)
			ref, dgst = "docker.io/"+image, benchDigest("envoy", envoy, g)
		}
		copy(row, []any{ids[c], ns, pod, fmt.Sprintf("%d-%d-%d-%d", c, w, g, p), fmt.Sprintf("node-%d", p), "amd64",
			"Deployment", name, "ReplicaSet", fmt.Sprintf("%s-%d", name, g), fmt.Sprintf("rs-%d-%d-%d", c, w, g), fmt.Sprint(g),
			[]string{"app", "proxy"}[k], "regular", image, ref, false, dgst, "repo", ref + "@" + dgst, first, lastSeen, closed})
		// Next: container, pod, generation, workload, cluster.
		if k++; k == 2 {
			k = 0
			if p++; p == benchPodsPer {
				p = 0
				if g++; g == benchGenerations {
					g = 0
					if w++; w == benchWorkloads {
						w = 0
						if c++; c == benchClusters {
							done = true
						}
					}
				}
			}
		}
		return row, nil
	}))
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d observations", n)
	if err := s.RebuildSummary(ctx); err != nil {
		b.Fatal(err)
	}

	// Open mutations: a workload-divergence in each of 300 workloads, and 10 services
	// diverging across all clusters; resolved ones and events as history.
	mut := func(identity, kind string, cluster int, workload int, places []map[string]any, resolved bool) []any {
		var cid any
		cname := ""
		if cluster >= 0 {
			cid, cname = ids[cluster], fmt.Sprintf("cluster-%02d", cluster)
		}
		pl, _ := json.Marshal(places)
		var res any
		if resolved {
			res = last
		}
		return []any{identity, kind, cid, cname, "", "", "", "", fmt.Sprintf("registry.example/svc-%04d:prod", workload),
			[]string{benchDigest("app", workload, 8), benchDigest("app", workload, 9)}, string(pl), string(pl), 1, last, last, res}
	}
	place := func(c, w, p int) map[string]any {
		return map[string]any{"cluster": fmt.Sprintf("cluster-%02d", c), "namespace": fmt.Sprintf("team-%02d", w%20),
			"workload": map[string]string{"kind": "Deployment", "name": fmt.Sprintf("svc-%04d", w)},
			"pod":      fmt.Sprintf("svc-%04d-g9-%d", w, p), "container": "app", "digest": benchDigest("app", w, 9)}
	}
	var muts [][]any
	for i := range 300 {
		c, w := i%benchClusters, (i*37)%benchWorkloads
		var places []map[string]any
		for p := range benchPodsPer {
			places = append(places, place(c, w, p))
		}
		muts = append(muts, mut(fmt.Sprintf("wd|%d", i), "workload-divergence", c, w, places, false))
	}
	for i := range 10 {
		w := 500 + i
		var places []map[string]any
		for c := range benchClusters {
			for p := range benchPodsPer {
				places = append(places, place(c, w, p))
			}
		}
		muts = append(muts, mut(fmt.Sprintf("td|%d", i), "tag-divergence", -1, w, places, false))
	}
	for i := range 20000 {
		c, w := i%benchClusters, i%benchWorkloads
		kind := []string{"tag-moved", "pod-drift", "workload-divergence"}[i%3]
		muts = append(muts, mut(fmt.Sprintf("old|%d", i), kind, c, w, []map[string]any{place(c, w, 0)}, true))
	}
	if _, err := s.pool.CopyFrom(ctx, pgx.Identifier{"mutations"}, []string{"identity", "kind", "cluster_id", "cluster",
		"namespace", "workload_kind", "workload_name", "container", "ref", "digests", "places", "places_json", "body_version", "detected_at",
		"updated_at", "resolved_at"}, pgx.CopyFromRows(muts)); err != nil {
		b.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		b.Fatal(err)
	}
}

// tracedStore is s on a pool that remembers the last statement sent, to explain it.
func tracedStore(b *testing.B, url string, s *Store) (*Store, *lastQuery) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		b.Fatal(err)
	}
	lq := &lastQuery{}
	cfg.ConnConfig.Tracer = lq
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return &Store{pool: pool, keys: s.keys, bodies: s.bodies}, lq
}

type lastQuery struct {
	queries []string
	args    [][]any
}

func (l *lastQuery) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	l.queries, l.args = append(l.queries, d.SQL), append(l.args, d.Args)
	return ctx
}

func (l *lastQuery) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (l *lastQuery) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (l *lastQuery) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	l.queries, l.args = append(l.queries, d.SQL), append(l.args, d.Args)
}

func (l *lastQuery) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// BenchmarkQueries measures the API's heaviest reads on a history of 1,000,000
// observation rows and 10,000 running workloads: a page of mutant workloads, a page of
// all workloads past a cursor, the timeline of a popular and of a typical reference, and
// where a popular and a typical digest run. It reports each one's p50 and p95. With
// TAGDRIFT_BENCH_EXPLAIN=1 it logs the plans (EXPLAIN ANALYZE) of each call's statements;
// TAGDRIFT_BENCH_SQL is run once the history is written, to try an index.
func BenchmarkQueries(b *testing.B) {
	s, db := mustStore(b, mustRing(b, newKey(b)))
	t0 := time.Now()
	populate(b, s)
	b.Logf("populated in %s", time.Since(t0).Round(time.Second))
	// TAGDRIFT_BENCH_SQL tries a schema change (an index) on the populated history.
	if extra := os.Getenv("TAGDRIFT_BENCH_SQL"); extra != "" {
		if _, err := s.pool.Exec(context.Background(), extra); err != nil {
			b.Fatal(err)
		}
		if _, err := s.pool.Exec(context.Background(), `VACUUM ANALYZE observations`); err != nil {
			b.Fatal(err)
		}
	}
	benchQueries(b, s, db.URL)
}

// BenchmarkRefillBodies measures what `tagdrift serve` does at start after a change of
// the body version, on BenchmarkQueries' history of 1,000,000 observation rows: every
// running workload's containers (10,000 workloads, 100,000 open rows) and every
// mutation's places (20,310) written again, 500 a transaction.
func BenchmarkRefillBodies(b *testing.B) {
	ctx := context.Background()
	s, db := mustStore(b, mustRing(b, newKey(b)))
	populate(b, s)
	for b.Loop() {
		b.StopTimer()
		if _, err := s.pool.Exec(ctx, `UPDATE running_workloads SET body_version = NULL`); err != nil {
			b.Fatal(err)
		}
		if _, err := s.pool.Exec(ctx, `UPDATE mutations SET body_version = NULL`); err != nil {
			b.Fatal(err)
		}
		if _, err := s.pool.Exec(ctx, `VACUUM ANALYZE running_workloads, mutations`); err != nil {
			b.Fatal(err)
		}
		fresh, err := Open(ctx, db.URL, s.keys, testBodies{2})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		r, err := fresh.RefillBodies(ctx, 500, nil)
		if err != nil || r.Workloads != benchClusters*benchWorkloads || r.Mutations != 20310 {
			b.Fatalf("refilled %+v: %v", r, err)
		}
		b.Logf("refilled %d workloads and %d mutations in %s", r.Workloads, r.Mutations, time.Since(t0).Round(time.Millisecond))
		fresh.Close()
	}
}

// benchQueries runs the read benchmarks on a populated store s at url.
func benchQueries(b *testing.B, s *Store, url string) {
	ctx := context.Background()
	// The -scoped cases read as a role scoped to a group of half the clusters
	// (cluster-00 to cluster-04): the cost of the scope in the query.
	g, err := s.CreateGroup(ctx, "bench-a", Audit{Actor: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE clusters SET group_id = $1 WHERE name < 'cluster-05'`, g.ID); err != nil {
		b.Fatal(err)
	}
	sc := Scope{Limited: true, GroupIDs: []int64{g.ID}}
	cases := []struct {
		name string
		call func(*Store) (int, error)
	}{
		{"workloads-mutant", func(s *Store) (int, error) {
			ws, err := s.ListWorkloads(ctx, WorkloadFilter{MutantOnly: true, Limit: 100})
			return len(ws), err
		}},
		{"workloads-after", func(s *Store) (int, error) {
			ws, err := s.ListWorkloads(ctx, WorkloadFilter{Limit: 100,
				After: &WorkloadCursor{WorkloadKey: WorkloadKey{"cluster-04", "team-07", "Deployment", "svc-0507"}}})
			return len(ws), err
		}},
		{"timeline-popular", func(s *Store) (int, error) {
			tl, _, err := s.Timeline(ctx, "docker.io/envoyproxy/envoy:v1.3", Scope{})
			return len(tl), err
		}},
		{"timeline-service", func(s *Store) (int, error) {
			tl, _, err := s.Timeline(ctx, "registry.example/svc-0042:prod", Scope{})
			return len(tl), err
		}},
		{"digest-popular", func(s *Store) (int, error) {
			u, err := s.DigestUses(ctx, benchDigest("envoy", 3, benchGenerations-1), HistoryPage{})
			return len(u.Running) + len(u.History), err
		}},
		{"digest-service", func(s *Store) (int, error) {
			u, err := s.DigestUses(ctx, benchDigest("app", 42, 4), HistoryPage{})
			return len(u.Running) + len(u.History), err
		}},
		{"workloads-mutant-scoped", func(s *Store) (int, error) {
			ws, err := s.ListWorkloads(ctx, WorkloadFilter{MutantOnly: true, Limit: 100, Scope: sc})
			return len(ws), err
		}},
		{"workloads-after-scoped", func(s *Store) (int, error) {
			ws, err := s.ListWorkloads(ctx, WorkloadFilter{Limit: 100, Scope: sc,
				After: &WorkloadCursor{WorkloadKey: WorkloadKey{"cluster-02", "team-07", "Deployment", "svc-0507"}}})
			return len(ws), err
		}},
		{"timeline-popular-scoped", func(s *Store) (int, error) {
			tl, _, err := s.Timeline(ctx, "docker.io/envoyproxy/envoy:v1.3", sc)
			return len(tl), err
		}},
		{"digest-popular-scoped", func(s *Store) (int, error) {
			u, err := s.DigestUses(ctx, benchDigest("envoy", 3, benchGenerations-1), HistoryPage{Scope: sc})
			return len(u.Running) + len(u.History), err
		}},
		{"digest-service-scoped", func(s *Store) (int, error) {
			u, err := s.DigestUses(ctx, benchDigest("app", 42, 4), HistoryPage{Scope: sc})
			return len(u.Running) + len(u.History), err
		}},
		{"workload-bodies-mutant", func(s *Store) (int, error) {
			ws, err := s.ListWorkloadBodies(ctx, WorkloadFilter{MutantOnly: true, Limit: 100})
			return len(ws), err
		}},
		{"workload-bodies-mutant-scoped", func(s *Store) (int, error) {
			ws, err := s.ListWorkloadBodies(ctx, WorkloadFilter{MutantOnly: true, Limit: 100, Scope: sc})
			return len(ws), err
		}},
		{"timeline-service-scoped", func(s *Store) (int, error) {
			tl, _, err := s.Timeline(ctx, "registry.example/svc-0042:prod", sc)
			return len(tl), err
		}},
		{"letters-scoped", func(s *Store) (int, error) {
			keys := make([]RefDigest, 0, 40)
			for n := range 20 {
				keys = append(keys, RefDigest{fmt.Sprintf("docker.io/envoyproxy/envoy:v1.%d", n), benchDigest("envoy", n, benchGenerations-1)},
					RefDigest{fmt.Sprintf("registry.example/svc-%04d:prod", n), benchDigest("app", n, benchGenerations-1)})
			}
			l, err := s.Letters(ctx, keys, sc)
			return len(l), err
		}},
		{"mutations-scoped", func(s *Store) (int, error) {
			ms, err := s.ListMutations(ctx, MutationFilter{State: StateAll, Limit: 100, Scope: sc})
			return len(ms), err
		}},
		{"search-digest-prefix-scoped", func(s *Store) (int, error) {
			r, err := s.Search(ctx, "sha256:0000000000000003", "", "", "", "svc-00", sc)
			return len(r.Digests) + len(r.Workloads), err
		}},
	}
	// Each sort of the workloads list, both ways, at its middle: the page after the
	// 5,000th workload.
	for _, sort := range WorkloadSorts[1:] {
		for _, desc := range []bool{false, true} {
			f := WorkloadFilter{Sort: sort, Desc: desc, Limit: 1000}
			for range 5 {
				ws, err := s.ListWorkloads(ctx, f)
				if err != nil || len(ws) == 0 {
					b.Fatalf("workloads by %s: %d, %v", sort, len(ws), err)
				}
				c := ws[len(ws)-1].Cursor()
				f.After = &c
			}
			f.Limit = 51 // a page of the UI's
			name := "workloads-by-" + string(sort)
			if desc {
				name += "-desc"
			}
			cases = append(cases, struct {
				name string
				call func(*Store) (int, error)
			}{name, func(s *Store) (int, error) {
				ws, err := s.ListWorkloads(ctx, f)
				return len(ws), err
			}})
		}
	}
	explain := os.Getenv("TAGDRIFT_BENCH_EXPLAIN") == "1"
	for _, tc := range cases {
		if explain {
			ts, lq := tracedStore(b, url, s)
			if _, err := tc.call(ts); err != nil {
				b.Fatal(err)
			}
			for i, q := range lq.queries {
				rows, err := s.pool.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+q, lq.args[i]...)
				if err != nil {
					b.Fatalf("explain %s: %v", tc.name, err)
				}
				lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
				if err != nil {
					b.Fatal(err)
				}
				b.Logf("%s, statement %d:\n%s", tc.name, i+1, strings.Join(lines, "\n"))
			}
		}
		b.Run(tc.name, func(b *testing.B) {
			var took []time.Duration
			results := 0
			for b.Loop() {
				t := time.Now()
				n, err := tc.call(s)
				if err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(t))
				results = n
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(took[len(took)*95/100].Microseconds())/1000, "p95-ms")
			b.ReportMetric(float64(results), "results")
		})
	}
}
