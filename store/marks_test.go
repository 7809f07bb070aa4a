package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// TestMutationMarksMigration: migration 27 gives the open mutations written before it
// the marks its trigger gives new ones, and none to a resolved one.
func TestMutationMarksMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, db := mustStore(t, mustRing(t, newKey(t)))
	c := mustCluster(t, s, "prod", "tok")
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	scan := func(pods ...inventory.Pod) {
		t.Helper()
		id, err := s.StartScan(ctx, c.ID, at)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CompleteScan(ctx, id, pods, len(pods), at.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		at = at.Add(time.Minute)
	}
	// web diverges and settles (resolved); api diverges and stays (open).
	scan(pod("web-a", "u1", "web", digest("a")), pod("web-b", "u2", "web", digest("b")))
	scan(pod("web-a", "u1", "web", digest("a")))
	api := func(name, uid, d string) inventory.Pod {
		p := pod(name, uid, "app", d)
		p.Workload.Name, p.Controller.Name, p.Controller.UID = "api", "api-1", "rs-api"
		return p
	}
	scan(pod("web-a", "u1", "web", digest("a")), api("api-a", "u3", digest("c")), api("api-b", "u4", digest("d")))
	marks := func() []string {
		t.Helper()
		rows, err := s.pool.Query(ctx, `SELECT concat_ws(' ', mutation_id, owner_id, cluster, namespace, kind, name) FROM mutation_marks ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	var open, resolved int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE resolved_at IS NULL), count(*) FILTER (WHERE resolved_at IS NOT NULL)
		FROM mutations`).Scan(&open, &resolved); err != nil || open != 1 || resolved == 0 {
		t.Fatalf("%d open and %d resolved mutations, want 1 and some: %v", open, resolved, err)
	}
	before := marks()
	if len(before) == 0 {
		t.Fatal("no marks for the open mutation")
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
		if v < 27 {
			break
		}
		if err := m.Down(1); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Up(); err != nil {
		t.Fatal(err)
	}
	if after := marks(); !slices.Equal(after, before) {
		t.Errorf("marks after migration 27:\n%q\nwant (the trigger's)\n%q", after, before)
	}
}
