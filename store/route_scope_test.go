package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/notify"
)

// TestRouteScope checks the routes of scoped admins: a route made in team-a's scope
// delivers team-a's events only; once a global admin moves it to team-b (its scope
// stays), it delivers nothing new, and what it had queued is dropped when sent (the
// scope checked again at delivery); a global admin's route of team-b delivers team-b's.
// A scope reads only the routes of its groups.
func TestRouteScope(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	var jobs []QueuedDelivery
	s.SetOutbox(Outbox{
		Jobs: func(_ context.Context, _ pgx.Tx, ds []QueuedDelivery) error {
			jobs = append(jobs, ds...)
			return nil
		},
		Payload: notify.PayloadConfig{BaseURL: "https://tagdrift.example.com"},
	})
	f := fleet{t, s}
	eu, us := f.register("eu", "team-a"), f.register("us", "team-b")
	groups, err := s.Groups(ctx, Scope{})
	if err != nil {
		t.Fatal(err)
	}
	gid := map[string]int64{}
	for _, g := range groups {
		gid[g.Name] = g.ID
	}
	a := Scope{Limited: true, GroupIDs: []int64{gid["team-a"]}}
	hookA := mustChannel(t, s, "a", ChannelWebhook, []byte("whsec_c2VjcmV0LXRva2Vu"))
	hookB := mustChannel(t, s, "b", ChannelWebhook, []byte("whsec_c2VjcmV0LXRva2Vu"))
	routeA, err := s.CreateRoute(ctx, testAudit, Route{ChannelID: hookA.ID, ClusterGroup: "team-a", SendBaseline: true, Enabled: true, Scope: a})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRoute(ctx, testAudit, Route{ChannelID: hookB.ID, ClusterGroup: "team-b", SendBaseline: true, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if rs, _ := s.Routes(ctx, a); len(rs) != 1 || rs[0].ID != routeA.ID {
		t.Errorf("team-a's routes: %+v", rs)
	}
	if _, err := s.Route(ctx, routeA.ID+1, a); err == nil {
		t.Error("team-a reads team-b's route")
	}
	count := func(ch Channel) int {
		t.Helper()
		ds, err := s.DeliveryLog(ctx, ch.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		return len(ds)
	}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	f.scan(eu, t0, wpod("shop", "web", "web-1", "e1", nginx("a")), wpod("shop", "web", "web-2", "e2", nginx("b")))
	f.scan(us, t0, wpod("shop", "web", "web-1", "u1", nginx("c")), wpod("shop", "web", "web-2", "u2", nginx("d")))
	nA, nB := count(hookA), count(hookB)
	if nA == 0 || nB == 0 {
		t.Fatalf("deliveries: team-a's route %d, team-b's %d; want some each", nA, nB)
	}
	queuedA := slices.Clone(jobs)
	// A global admin moves team-a's route to team-b: its scope stays team-a's.
	routeA.ClusterGroup, routeA.Scope = "team-b", Scope{}
	moved, err := s.UpdateRoute(ctx, testAudit, routeA)
	if err != nil || !moved.Scope.Limited {
		t.Fatalf("moved route: %+v, %v", moved, err)
	}
	// What it queued for team-a is dropped when sent: it no longer delivers.
	dropped := 0
	for _, q := range queuedA {
		_, _, n, err := s.ClaimGroup(ctx, q.ID, t0.Add(time.Hour), true)
		if err != nil {
			t.Fatal(err)
		}
		dropped += n
	}
	if dropped < nA {
		t.Errorf("dropped %d of the moved route's %d deliveries", dropped, nA)
	}
	// New events of team-b: only the global route delivers them.
	f.scan(us, t0.Add(time.Minute), wpod("shop", "web", "web-1", "u1", nginx("c")))
	if got := count(hookA); got != nA {
		t.Errorf("the moved route delivered team-b's events: %d deliveries, had %d", got, nA)
	}
	if got := count(hookB); got <= nB {
		t.Errorf("team-b's route delivered nothing new: %d", got)
	}
}
