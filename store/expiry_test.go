package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/scanner/attention"
)

// TestSettleExpiredClusters: the expiry job names what it ended and the live clusters
// whose annotation must be written again (each place of a mutation spanning clusters,
// none of a cluster no mutation of it changed), and the annotation's reading carries
// the state.
func TestSettleExpiredClusters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	x := mustCluster(t, s, "x", "secret-x")
	y := mustCluster(t, s, "y", "secret-y")
	z := mustCluster(t, s, "z", "secret-z")
	ref := "docker.io/library/nginx:1.25"
	now := time.Now()
	for _, m := range []struct {
		identity, kind string
		cluster        *int64
		name, places   string
	}{
		{"td", "tag-divergence", nil, "", `[{"cluster":"x","pod":"p1"},{"cluster":"y","pod":"q"}]`},
		{"wd z", "workload-divergence", &z.ID, "z", `[{"cluster":"z","namespace":"shop","pod":"r1"},{"cluster":"z","namespace":"shop","pod":"r2"}]`},
	} {
		if _, err := s.pool.Exec(ctx, `
			INSERT INTO mutations (identity, kind, cluster_id, cluster, ref, digests, places, places_json, detected_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $7::text, $8, $8)`,
			m.identity, m.kind, m.cluster, m.name, ref, []string{digest("a"), digest("b")}, m.places, now); err != nil {
			t.Fatal(err)
		}
	}
	admin := Audit{Actor: "user:admin"}
	soon := time.Now().Add(1200 * time.Millisecond)
	ack, err := s.CreateAck(ctx, admin, NewAck{Scope: `kind="tag-divergence"`, Reason: "migration", Until: attention.UntilTime,
		ExpiresAt: &soon, Approved: true})
	if err != nil {
		t.Fatal(err)
	}
	touching := func() []Mutation {
		t.Helper()
		ms, err := s.OpenMutationsTouching(ctx, x.ID)
		if err != nil || len(ms) != 1 {
			t.Fatalf("mutations touching x: %+v, %v", ms, err)
		}
		return ms
	}
	if got := touching(); got[0].State != attention.StateAcknowledged || got[0].Ack != ack.ID {
		t.Fatalf("touching x before expiry: %q by %d", got[0].State, got[0].Ack)
	}
	if e, err := s.SettleExpired(ctx); err != nil || e.Acks != 0 || len(e.ClusterIDs) != 0 {
		t.Fatalf("expiry before the time: %+v, %v", e, err)
	}
	time.Sleep(time.Until(soon) + 100*time.Millisecond)
	e, err := s.SettleExpired(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e.Acks != 1 || e.Settled != 1 || !slices.Equal(e.AckIDs, []int64{ack.ID}) || len(e.RuleIDs) != 0 ||
		!slices.Equal(e.ClusterIDs, []int64{x.ID, y.ID}) {
		t.Fatalf("expiry: %+v, want acknowledgement %d ended and clusters %d, %d", e, ack.ID, x.ID, y.ID)
	}
	if got := touching(); got[0].State != attention.StateOpen || got[0].Ack != 0 {
		t.Fatalf("touching x after expiry: %q by %d", got[0].State, got[0].Ack)
	}
	if e, err := s.SettleExpired(ctx); err != nil || e.Acks != 0 || len(e.ClusterIDs) != 0 {
		t.Fatalf("second run: %+v, %v", e, err)
	}
}
