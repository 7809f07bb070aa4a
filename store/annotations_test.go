package store

import (
	"context"
	"reflect"
	"testing"
	"time"
)

// TestAnnotationRecords checks what the annotation step reads and writes: the open
// mutations touching a cluster (its own and those spanning clusters with a place in
// it, not another's), warnings recorded once and ended once, and the scan's outcome.
func TestAnnotationRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	x := mustCluster(t, s, "x", "secret-x")
	y := mustCluster(t, s, "y", "secret-y")
	ref := "docker.io/library/nginx:1.25"
	now := time.Now()
	// Three open conditions, as scans leave them: x's own, one spanning x and y, y's own.
	for _, m := range []struct {
		identity, kind string
		cluster        *int64
		name, places   string
	}{
		{"wd x", "workload-divergence", &x.ID, "x", `[{"cluster":"x","namespace":"shop","pod":"p1"},{"cluster":"x","namespace":"shop","pod":"p2"}]`},
		{"td", "tag-divergence", nil, "", `[{"cluster":"x","pod":"p1"},{"cluster":"y","pod":"q"}]`},
		{"wd y", "workload-divergence", &y.ID, "y", `[{"cluster":"y","pod":"q"}]`},
	} {
		if _, err := s.pool.Exec(ctx, `
			INSERT INTO mutations (identity, kind, cluster_id, cluster, ref, digests, places, places_json, detected_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $7::text, $8, $8)`,
			m.identity, m.kind, m.cluster, m.name, ref, []string{digest("a"), digest("b")}, m.places, now); err != nil {
			t.Fatal(err)
		}
	}
	open, err := s.OpenMutationsTouching(ctx, x.ID)
	if err != nil {
		t.Fatal(err)
	}
	var idents []string
	for _, m := range open {
		idents = append(idents, m.Identity)
	}
	if !reflect.DeepEqual(idents, []string{"wd x", "td"}) {
		t.Fatalf("open mutations touching x: %v", idents)
	}

	scanID, err := s.StartScan(ctx, x.ID, now)
	if err != nil {
		t.Fatal(err)
	}
	w := AnnotationWarning{MutationID: open[0].ID, Namespace: "shop", ReplicaSet: "web-1", ReplicaSetUID: "uid-1"}
	for range 2 { // recorded once, however often
		if err := s.RecordAnnotation(ctx, scanID, x.ID, []AnnotationWarning{w}, nil, 3, "", now); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.AnnotationWarnings(ctx, x.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []AnnotationWarning{w}) {
		t.Errorf("warnings %+v", got)
	}
	if got, _ := s.AnnotationWarnings(ctx, y.ID); len(got) != 0 {
		t.Errorf("y has x's warnings: %+v", got)
	}
	if err := s.RecordAnnotation(ctx, scanID, x.ID, nil, []AnnotationWarning{w}, 0, "annotation refused", now); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.AnnotationWarnings(ctx, x.ID); len(got) != 0 {
		t.Errorf("an ended warning is still open: %+v", got)
	}
	sc, err := s.ScanRecordByID(ctx, scanID, Scope{})
	if err != nil {
		t.Fatal(err)
	}
	if sc.AnnotateWrites == nil || *sc.AnnotateWrites != 0 || sc.AnnotateError != "annotation refused" {
		t.Errorf("scan %+v", sc.Scan)
	}
	st, err := s.ClusterStatusByName(ctx, "x", Scope{})
	if err != nil {
		t.Fatal(err)
	}
	if st.LastScan == nil || st.LastScan.AnnotateError != "annotation refused" {
		t.Errorf("cluster's last scan %+v", st.LastScan)
	}
}
