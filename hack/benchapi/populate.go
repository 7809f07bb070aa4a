package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/store"
)

// populate loads the fleet into an empty, migrated database.
//
// Loading is the benchmark's setup, not what it measures, so most of it is raw SQL and
// COPY here rather than store methods: the store writes what one scan saw, and replaying
// ten weeks of scans of 10 clusters through CompleteScan would take far longer than
// writing the resulting rows directly. Clusters still go through the store, so that
// their credentials are sealed as the schema expects.
func populate(ctx context.Context, st *store.Store, f *fleet, stdout io.Writer) error {
	start := time.Now()
	for _, name := range f.clusters {
		c, err := st.CreateCluster(ctx, store.NewCluster{
			Name: name, Server: "https://" + name + ".example.com:6443", Context: name,
			Credentials: []byte("benchmark: not a kubeconfig"), Enabled: true,
		})
		if err != nil {
			return err
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
		return fmt.Errorf("insert scans: %w", err)
	}
	scans := tag.RowsAffected()

	rows := &observationRows{f: f}
	n, err := pool.CopyFrom(ctx, pgx.Identifier{"observations"}, []string{
		"cluster_id", "namespace", "pod", "pod_uid", "node", "arch", "runtime",
		"workload_kind", "workload_name", "controller_kind", "controller_name", "controller_uid", "revision",
		"container", "container_type", "image", "ref", "pinned",
		"digest", "digest_kind", "image_id", "first_seen", "last_seen", "closed_at",
	}, rows)
	if err != nil {
		return fmt.Errorf("copy observations: %w", err)
	}
	loaded := time.Since(start)

	// Mutations as store/mutations.go writes them (reconcile): places are the
	// JSON of []detect.Place, so the API reads them back and the gin index on places
	// serves them.
	var mrows [][]any
	for _, m := range f.mutations() {
		places, err := json.Marshal(m.Places)
		if err != nil {
			return err
		}
		var clusterID *int64
		if m.clusterID != 0 {
			clusterID = &m.clusterID
		}
		mrows = append(mrows, []any{
			m.Identity, string(m.Kind), clusterID, m.Cluster, m.Namespace, m.Workload.Kind, m.Workload.Name,
			m.Container, m.Ref, m.Digests, json.RawMessage(places), m.detected, m.detected,
		})
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"mutations"}, []string{
		"identity", "kind", "cluster_id", "cluster", "namespace", "workload_kind", "workload_name",
		"container", "ref", "digests", "places", "detected_at", "updated_at",
	}, pgx.CopyFromRows(mrows)); err != nil {
		return fmt.Errorf("copy mutations: %w", err)
	}

	// Observations loaded with COPY bypass CompleteScan, which keeps the summary.
	if err := st.RebuildSummary(ctx); err != nil {
		return err
	}
	// A database in service has been vacuumed and analyzed by autovacuum (visibility map
	// set, statistics fresh); one just loaded with COPY has not.
	if _, err := pool.Exec(ctx, `VACUUM (ANALYZE)`); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	fmt.Fprintf(stdout, "populated %d clusters, %d workloads, %d observations (%d open, %d closed), %d open mutations, %d scans in %s (COPY %s)\n",
		len(f.clusters), f.workloads, n, rows.open, int(n)-rows.open, len(mrows), scans,
		time.Since(start).Round(100*time.Millisecond), loaded.Round(100*time.Millisecond))
	return nil
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
