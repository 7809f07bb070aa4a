package store

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/scanner/detect"
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
	found := []detect.Mutation{
		{Kind: detect.WorkloadDivergence, Cluster: "x", Namespace: "shop", Container: "app", Ref: ref, Digests: []string{digest("a"), digest("b")},
			Places:   []detect.Place{{Cluster: "x", Namespace: "shop", Pod: "p1", Digest: digest("a")}, {Cluster: "x", Namespace: "shop", Pod: "p2", Digest: digest("b")}},
			Identity: "wd x"},
		{Kind: detect.TagDivergence, Ref: ref, Digests: []string{digest("a"), digest("c")},
			Places: []detect.Place{{Cluster: "x", Pod: "p1", Digest: digest("a")}, {Cluster: "y", Pod: "q", Digest: digest("c")}}, Identity: "td"},
	}
	if _, err := s.ReconcileMutations(ctx, x.ID, []string{ref}, found, now); err != nil {
		t.Fatal(err)
	}
	other := []detect.Mutation{{Kind: detect.WorkloadDivergence, Cluster: "y", Namespace: "shop", Ref: ref, Digests: []string{digest("c"), digest("d")},
		Places: []detect.Place{{Cluster: "y", Pod: "q", Digest: digest("c")}}, Identity: "wd y"}}
	if _, err := s.ReconcileMutations(ctx, y.ID, nil, other, now); err != nil {
		t.Fatal(err)
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
	sc, err := s.ScanRecordByID(ctx, scanID)
	if err != nil {
		t.Fatal(err)
	}
	if sc.AnnotateWrites == nil || *sc.AnnotateWrites != 0 || sc.AnnotateError != "annotation refused" {
		t.Errorf("scan %+v", sc.Scan)
	}
	st, err := s.ClusterStatusByName(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if st.LastScan == nil || st.LastScan.AnnotateError != "annotation refused" {
		t.Errorf("cluster's last scan %+v", st.LastScan)
	}
}
