package store

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/scanner/detect"
)

// TestReconcileOwnsMutationsByName checks that a mutation a scan of one cluster finds
// inside another belongs to the other: it counts there, and purging the scanning
// cluster leaves it.
func TestReconcileOwnsMutationsByName(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	x := mustCluster(t, s, "x", "secret-x")
	y := mustCluster(t, s, "y", "secret-y")
	ref := "docker.io/library/nginx:1.25"
	found := []detect.Mutation{
		{Kind: detect.TagDivergence, Cluster: "y", Namespace: "shop", Ref: ref, Digests: []string{digest("a"), digest("b")},
			Places: []detect.Place{{Cluster: "y", Namespace: "shop", Pod: "p", Container: "app", Digest: digest("a")}}, Identity: "tag-divergence " + ref},
		{Kind: detect.TagDivergence, Ref: ref + "-spanning", Digests: []string{digest("a"), digest("b")},
			Places: []detect.Place{{Cluster: "x", Pod: "q", Digest: digest("a")}, {Cluster: "y", Pod: "p", Digest: digest("b")}}, Identity: "tag-divergence spanning"},
	}
	if err := s.tx(ctx, func(tx pgx.Tx) error {
		_, _, err := reconcile(ctx, tx, s.bodies, scope{clusterID: x.ID, refs: []string{ref, ref + "-spanning"}}, found, time.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	rows, err := s.pool.Query(ctx, `SELECT identity, cluster_id FROM mutations ORDER BY identity`)
	if err != nil {
		t.Fatal(err)
	}
	owners := map[string]*int64{}
	for rows.Next() {
		var ident string
		var id *int64
		if err := rows.Scan(&ident, &id); err != nil {
			t.Fatal(err)
		}
		owners[ident] = id
	}
	if o := owners["tag-divergence "+ref]; o == nil || *o != y.ID {
		t.Errorf("a tag-divergence inside y found by x's scan belongs to %v, want %d", o, y.ID)
	}
	if o := owners["tag-divergence spanning"]; o != nil {
		t.Errorf("a tag-divergence spanning clusters belongs to cluster %d", *o)
	}
}
