package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// TestImportDigestKind stores a ReplicaSet whose pods run one pulled image and one that
// ctr imported under a made-up name (kind load): the import is stored as kind import
// (migration 18 widened the check), the two are not a workload-divergence, and the
// migration's down step makes it a repository digest again, its up step an import.
func TestImportDigestKind(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, db := mustStore(t, mustRing(t, newKey(t)))
	c := mustCluster(t, s, "prod", "tok")
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	id, err := s.StartScan(ctx, c.ID, at)
	if err != nil {
		t.Fatal(err)
	}
	pulled := pod("web-a", "u1", "app", digest("a"))
	imported := pod("web-b", "u2", "app", "docker.io/library/import-2026-11-30@sha256:"+strings.Repeat("b", 64))
	if _, err := s.CompleteScan(ctx, id, []inventory.Pod{pulled, imported}, 2, at.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	kinds := func() map[string]string {
		t.Helper()
		obs, err := s.ObservationsOfCluster(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, o := range obs {
			out[o.Pod] = o.DigestKind
		}
		return out
	}
	if got := kinds(); got["web-a"] != "repo" || got["web-b"] != "import" {
		t.Errorf("kinds %v, want web-a repo, web-b import", got)
	}
	open, err := s.OpenMutationsTouching(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 0 {
		t.Errorf("a pulled and an imported digest compared: %+v", open)
	}

	m, err := NewMigrator(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for {
		v, _, err := m.Version()
		if err != nil {
			t.Fatal(err)
		}
		if v < 18 {
			break
		}
		if err := m.Down(1); err != nil {
			t.Fatal(err)
		}
	}
	if got := kinds(); got["web-b"] != "repo" {
		t.Errorf("after migrating down: kinds %v, want web-b repo again", got)
	}
	if err := m.Up(); err != nil {
		t.Fatal(err)
	}
	if got := kinds(); got["web-b"] != "import" {
		t.Errorf("after migrating up: kinds %v, want web-b reclassified as import", got)
	}
}
