package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tagdrift/tagdrift/store"
)

// populate loads the fleet into an empty, migrated database.
//
// Loading is the benchmark's setup, not what it measures, so most of it is raw SQL and
// COPY here rather than store methods: the store writes what one scan saw, and replaying
// ten weeks of scans of 10 clusters through CompleteScan would take far longer than
// writing the resulting rows directly. Clusters still go through the store, so that
// their credentials are sealed as the schema expects.
func populate(ctx context.Context, st *store.Store, f *fleet, stdout io.Writer) (observations int64, err error) {
	start := time.Now()
	for _, name := range f.clusters {
		c, err := st.CreateCluster(ctx, store.NewCluster{
			Name: name, Server: "https://" + name + ".example.com:6443", Context: name,
			Credentials: []byte("benchmark: not a kubeconfig"), Enabled: true,
		})
		if err != nil {
			return 0, err
		}
		f.clusterIDs = append(f.clusterIDs, c.ID)
	}
	pool := st.Pool()

	// One succeeded scan an hour over the whole history, the last one at f.now: the
	// timeline takes each cluster's latest as lastSeen of what still runs.
	tag, err := pool.Exec(ctx, `
		INSERT INTO scans (cluster_id, status, queued_at, started_at, finished_at, pods, containers)
		SELECT c, 'succeeded', t, t, t + interval '20 seconds', $3, $4
		FROM generate_series($2::timestamptz - $5::interval, $2::timestamptz, interval '1 hour') t, unnest($1::bigint[]) c
		ORDER BY t, c`,
		f.clusterIDs, f.now, f.workloads/len(f.clusters)*podsPerWorkload, f.workloads/len(f.clusters)*podsPerWorkload*2,
		time.Duration(f.generations)*generationLength)
	if err != nil {
		return 0, fmt.Errorf("insert scans: %w", err)
	}
	scans := tag.RowsAffected()

	// Building the indexes of observations once, after the rows are in, is several times
	// faster than keeping them up row by row: 10,000,000 rows load in minutes, not an
	// hour.
	copyStart := time.Now()
	rebuild, err := dropIndexes(ctx, pool, "observations")
	if err != nil {
		return 0, err
	}
	rows := &observationRows{f: f}
	n, err := pool.CopyFrom(ctx, pgx.Identifier{"observations"}, []string{
		"cluster_id", "namespace", "pod", "pod_uid", "node", "arch", "runtime",
		"workload_kind", "workload_name", "controller_kind", "controller_name", "controller_uid", "revision",
		"container", "container_type", "image", "ref", "pinned",
		"digest", "digest_kind", "image_id", "first_seen", "last_seen", "closed_at",
	}, rows)
	if err != nil {
		return 0, fmt.Errorf("copy observations: %w", err)
	}
	copied := time.Since(copyStart)
	indexStart := time.Now()
	if err := rebuild(ctx); err != nil {
		return 0, err
	}
	indexed := time.Since(indexStart)

	// Mutations as store/mutations.go writes them (reconcile): places are the
	// JSON of []detect.Place, so the API reads them back and the gin index on places
	// serves them. The resolved ones of past rollouts come first, as they were detected.
	var mrows [][]any
	open := 0
	for _, m := range slices.Concat(f.tagMoves(), f.pastMutations(), f.mutations()) {
		if m.resolved == nil {
			open++
		}
		places, err := json.Marshal(m.Places)
		if err != nil {
			return 0, err
		}
		var clusterID *int64
		if m.clusterID != 0 {
			clusterID = &m.clusterID
		}
		mrows = append(mrows, []any{
			m.Identity, string(m.Kind), clusterID, m.Cluster, m.Namespace, m.Workload.Kind, m.Workload.Name,
			m.Container, m.Ref, m.Digests, json.RawMessage(places), string(places), m.detected, m.detected, m.resolved,
		})
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"mutations"}, []string{
		"identity", "kind", "cluster_id", "cluster", "namespace", "workload_kind", "workload_name",
		"container", "ref", "digests", "places", "places_json", "detected_at", "updated_at", "resolved_at",
	}, pgx.CopyFromRows(mrows)); err != nil {
		return 0, fmt.Errorf("copy mutations: %w", err)
	}

	// Observations loaded with COPY bypass CompleteScan, which keeps the summary.
	summaryStart := time.Now()
	if err := st.RebuildSummary(ctx); err != nil {
		return 0, err
	}
	summarized := time.Since(summaryStart)
	// A database in service has been vacuumed and analyzed by autovacuum (visibility map
	// set, statistics fresh); one just loaded with COPY has not.
	vacuumStart := time.Now()
	if _, err := pool.Exec(ctx, `VACUUM (ANALYZE)`); err != nil {
		return 0, fmt.Errorf("vacuum: %w", err)
	}
	r := func(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }
	fmt.Fprintf(stdout, "populated %d clusters, %d workloads, %d observations (%d open, %d closed), %d open and %d resolved mutations, %d scans in %s "+
		"(COPY of the observations %s, their indexes %s, summary %s, VACUUM ANALYZE %s)\n",
		len(f.clusters), f.workloads, n, rows.open, int(n)-rows.open, open, len(mrows)-open, scans,
		r(time.Since(start)), r(copied), r(indexed), r(summarized), r(time.Since(vacuumStart)))
	return n, nil
}

// dropIndexes drops the indexes of table that back no constraint (the primary key
// stays) and returns a function that creates them again as they were.
func dropIndexes(ctx context.Context, pool *pgxpool.Pool, table string) (rebuild func(context.Context) error, err error) {
	rows, err := pool.Query(ctx, `
		SELECT i.relname, pg_get_indexdef(i.oid)
		FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
		WHERE x.indrelid = $1::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
		ORDER BY i.relname`, table)
	if err != nil {
		return nil, fmt.Errorf("indexes of %s: %w", table, err)
	}
	type index struct{ name, def string }
	indexes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (index, error) {
		var i index
		return i, r.Scan(&i.name, &i.def)
	})
	if err != nil {
		return nil, fmt.Errorf("indexes of %s: %w", table, err)
	}
	for _, i := range indexes {
		if _, err := pool.Exec(ctx, `DROP INDEX `+pgx.Identifier{i.name}.Sanitize()); err != nil {
			return nil, fmt.Errorf("drop index %s: %w", i.name, err)
		}
	}
	return func(ctx context.Context) error {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			return err
		}
		defer conn.Release()
		// For this session only: sorting in memory builds each index in one pass.
		if _, err := conn.Exec(ctx, `SET maintenance_work_mem = '512MB'`); err != nil {
			return fmt.Errorf("set maintenance_work_mem: %w", err)
		}
		for _, i := range indexes {
			if _, err := conn.Exec(ctx, i.def); err != nil {
				return fmt.Errorf("create index %s: %w", i.name, err)
			}
		}
		return nil
	}, nil
}

// popularDigest is the digest of ref that runs in the most pods now.
func popularDigest(ctx context.Context, st *store.Store, ref string) (digest string, pods int, err error) {
	err = st.Pool().QueryRow(ctx, `
		SELECT digest, count(DISTINCT pod_uid) FROM observations WHERE ref = $1 AND closed_at IS NULL
		GROUP BY digest ORDER BY count(DISTINCT pod_uid) DESC, digest LIMIT 1`, ref).Scan(&digest, &pods)
	if err != nil {
		return "", 0, fmt.Errorf("find the popular digest of %s: %w", ref, err)
	}
	return digest, pods, nil
}

// footprint is what a loaded database takes on disk.
type footprint struct {
	database     int64 // pg_database_size
	observations int64 // pg_total_relation_size of observations: heap, TOAST and indexes
	rows         int64 // observation rows
}

func (fp footprint) bytesPerRow() float64 { return float64(fp.observations) / float64(fp.rows) }

// measureFootprint reads the database's size and that of its observations. rows is
// their count, or 0 to count them.
func measureFootprint(ctx context.Context, st *store.Store, rows int64) (footprint, error) {
	fp := footprint{rows: rows}
	err := st.Pool().QueryRow(ctx, `SELECT pg_database_size(current_database()), pg_total_relation_size('observations')`).
		Scan(&fp.database, &fp.observations)
	if err == nil && fp.rows == 0 {
		err = st.Pool().QueryRow(ctx, `SELECT count(*) FROM observations`).Scan(&fp.rows)
	}
	if err != nil {
		return fp, fmt.Errorf("database size: %w", err)
	}
	return fp, nil
}
