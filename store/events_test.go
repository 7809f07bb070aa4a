package store

import (
	"context"
	"testing"
	"time"
)

// TestRecentEvents checks that the overview's events are ordered by when each happened:
// a condition opened a month ago and resolved now comes first, before the many events
// recorded after it was opened (ordering resolutions by id hid it behind them).
func TestRecentEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	x := mustCluster(t, s, "x", "secret-x")
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	insert := func(identity, kind string, detected time.Time, resolved *time.Time) int64 {
		t.Helper()
		var id int64
		if err := s.pool.QueryRow(ctx, `
			INSERT INTO mutations (identity, kind, cluster_id, cluster, ref, digests, places, places_json, detected_at, updated_at, resolved_at)
			VALUES ($1, $2, $3, 'x', 'docker.io/library/nginx:1.25', $4, '[]', '[]', $5, $5, $6) RETURNING id`,
			identity, kind, x.ID, []string{digest("a"), digest("b")}, detected, resolved).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	old := insert("wd old", "workload-divergence", now.Add(-30*24*time.Hour), &now)
	for i := range 25 {
		at := now.Add(-time.Duration(25-i) * time.Hour)
		insert("moved "+string(rune('a'+i)), "tag-moved", at, &at)
	}
	open := insert("wd open", "workload-divergence", now.Add(-90*time.Minute), nil)

	got, err := s.RecentEvents(ctx, 20, Scope{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 20 {
		t.Fatalf("%d events, want 20", len(got))
	}
	if got[0].ID != old || !got[0].Resolved || !got[0].At.Equal(now) {
		t.Fatalf("first event: mutation %d resolved %v at %s, want the resolution of %d at %s",
			got[0].ID, got[0].Resolved, got[0].At, old, now)
	}
	sawOpen := false
	for i, e := range got {
		if i > 0 && e.At.After(got[i-1].At) {
			t.Errorf("event %d at %s after event %d at %s", i, e.At, i-1, got[i-1].At)
		}
		if e.Resolved && e.ID != old {
			t.Errorf("event %d: a resolution of %s %d, which is an event", i, e.Kind, e.ID)
		}
		if e.ID == old && !e.Resolved {
			t.Errorf("the opening of %d, a month ago, among the 20 newest", old)
		}
		sawOpen = sawOpen || (e.ID == open && !e.Resolved && e.At.Equal(now.Add(-90*time.Minute)))
	}
	if !sawOpen {
		t.Error("the opening 90 minutes ago is missing")
	}
}
