package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestWorkloadsScope checks the workloads list filtered by a scope in its query: two
// cluster groups where the same tag moves, each with a mutant workload, one behind its
// tag and a quiet one; a scope of one group lists that group's workloads and nothing of
// the other, whatever the sort, direction, filter or page size; a scope of both, or
// none, lists all; a scoped role left with no group lists nothing.
func TestWorkloadsScope(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	f := fleet{t, s}
	eu, us := f.register("eu", "team-a"), f.register("us", "team-b")
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	for _, c := range []Cluster{eu, us} {
		f.scan(c, t0, wpod("shop", "web", "web-1", c.Name+"1", nginx("a")), wpod("shop", "old", "old-1", c.Name+"3", nginx("a")),
			wpod("ops", "quiet", "quiet-1", c.Name+"4", "app=busybox:1|"+digest("c")))
		// The tag moves a→b; web starts a second pod on b beside its a (mutant), old
		// stays on a (behind its tag).
		f.scan(c, t0.Add(time.Hour), wpod("shop", "web", "web-1", c.Name+"1", nginx("a")), wpod("shop", "web", "web-2", c.Name+"2", nginx("b")),
			wpod("shop", "old", "old-1", c.Name+"3", nginx("a")), wpod("ops", "quiet", "quiet-1", c.Name+"4", "app=busybox:1|"+digest("c")))
	}
	f.recheck(t0.Add(time.Hour))
	groups, err := s.Groups(ctx, Scope{})
	if err != nil {
		t.Fatal(err)
	}
	gid := map[string]int64{}
	for _, g := range groups {
		gid[g.Name] = g.ID
	}
	list := func(filter WorkloadFilter) []string {
		t.Helper()
		var out []string
		for {
			ws, err := s.ListWorkloads(ctx, filter)
			if err != nil {
				t.Fatalf("%+v: %v", filter, err)
			}
			for _, w := range ws {
				out = append(out, w.Cluster+"/"+w.Namespace+"/"+w.Name)
			}
			if len(ws) < filter.Limit || filter.Limit == 0 {
				break
			}
			c := ws[len(ws)-1].Cursor()
			filter.After = &c
		}
		slices.Sort(out)
		return out
	}
	all := list(WorkloadFilter{Limit: 100})
	if len(all) != 6 {
		t.Fatalf("unscoped list: %q, want 3 workloads in each cluster", all)
	}
	if mut := list(WorkloadFilter{MutantOnly: true, Limit: 100}); !slices.Equal(mut, []string{"eu/shop/web", "us/shop/web"}) {
		t.Fatalf("fixture: mutants %q", mut)
	}
	if beh := list(WorkloadFilter{BehindOnly: true, Limit: 100}); !slices.Equal(beh, []string{"eu/shop/old", "us/shop/old"}) {
		t.Fatalf("fixture: behind %q", beh)
	}
	only := func(cluster string, in []string) []string {
		var out []string
		for _, w := range in {
			if len(w) > len(cluster) && w[:len(cluster)+1] == cluster+"/" {
				out = append(out, w)
			}
		}
		return out
	}
	scopes := map[string]Scope{
		"team-a": {Limited: true, GroupIDs: []int64{gid["team-a"]}},
		"team-b": {Limited: true, GroupIDs: []int64{gid["team-b"]}},
		"both":   {Limited: true, GroupIDs: []int64{gid["team-a"], gid["team-b"]}},
		"none":   {Limited: true},
		"all":    {},
	}
	sorts := []WorkloadSort{SortCluster, SortNamespace, SortName, SortKind, SortRef, SortChanged, SortMutant}
	for name, sc := range scopes {
		for _, sort := range sorts {
			for _, desc := range []bool{false, true} {
				for _, mode := range []string{"all", "mutant", "behind", "ref", "cluster"} {
					for _, limit := range []int{1, 100} {
						f := WorkloadFilter{Sort: sort, Desc: desc, Limit: limit, Scope: sc}
						base := WorkloadFilter{Sort: sort, Desc: desc, Limit: 100}
						switch mode {
						case "mutant":
							f.MutantOnly, base.MutantOnly = true, true
						case "behind":
							f.BehindOnly, base.BehindOnly = true, true
						case "ref":
							f.Ref, base.Ref = nginxRef, nginxRef
						case "cluster":
							f.Cluster, base.Cluster = "us", "us"
						}
						unscoped := list(base)
						var want []string
						switch name {
						case "team-a":
							want = only("eu", unscoped)
						case "team-b":
							want = only("us", unscoped)
						case "none":
						default:
							want = unscoped
						}
						got := list(f)
						if !slices.Equal(got, want) {
							t.Errorf("scope %s, sort %s desc %t, %s, limit %d: %q, want %q", name, sort, desc, mode, limit, got, want)
						}
					}
				}
			}
		}
	}
	// The bodies read the same pages.
	bodies, err := s.ListWorkloadBodies(ctx, WorkloadFilter{Limit: 100, Scope: scopes["team-b"]})
	if err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 3 {
		t.Errorf("bodies in team-b's scope: %d, want 3", len(bodies))
	}
}

// TestScopes checks setting and reading scopes: a user's, audited; a token's never
// wider than its owner's; a deleted group leaves a scoped role with less, never with
// every cluster.
func TestScopes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	f := fleet{t, s}
	f.register("eu", "team-a")
	f.register("us", "team-b")
	if _, err := s.CreateGroup(ctx, "team-c", cliAudit); err != nil {
		t.Fatal(err)
	}
	alice := mustUser(t, s, "alice", RoleViewer)
	if sc, err := s.UserScope(ctx, alice.ID); err != nil || sc.Limited {
		t.Fatalf("a new user's scope: %+v, %v; want every cluster", sc, err)
	}
	if err := s.SetUserScope(ctx, "alice", []string{"team-a", "team-c", "team-a"}, uiAudit); err != nil {
		t.Fatal(err)
	}
	sc, err := s.UserScope(ctx, alice.ID)
	if err != nil || !sc.Limited || len(sc.GroupIDs) != 2 {
		t.Fatalf("scope after setting team-a, team-c: %+v, %v", sc, err)
	}
	if err := s.SetUserScope(ctx, "alice", []string{"nope"}, uiAudit); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown group: %v", err)
	}
	if err := s.SetUserScope(ctx, "nobody", []string{"team-a"}, uiAudit); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}
	// Her token: within her scope, yes; wider, no.
	tok, _, err := s.CreateToken(ctx, NewToken{Name: "ci", Role: RoleViewer, OwnerID: alice.ID}, uiAudit)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetTokenScope(ctx, tok.ID, nil, uiAudit); !errors.Is(err, ErrScopeWider) {
		t.Errorf("token scoped to every cluster under a scoped owner: %v", err)
	}
	if err := s.SetTokenScope(ctx, tok.ID, []string{"team-b"}, uiAudit); !errors.Is(err, ErrScopeWider) {
		t.Errorf("token scoped to another group than its owner's: %v", err)
	}
	if err := s.SetTokenScope(ctx, tok.ID, []string{"team-a"}, uiAudit); err != nil {
		t.Fatal(err)
	}
	if ts, err := s.TokenScope(ctx, tok.ID); err != nil || !ts.Limited || len(ts.GroupIDs) != 1 {
		t.Fatalf("token scope: %+v, %v", ts, err)
	}
	// team-c goes: alice keeps team-a only; a role whose every group went covers none.
	if err := s.DeleteGroup(ctx, "team-c", cliAudit); err != nil {
		t.Fatal(err)
	}
	if sc, _ := s.UserScope(ctx, alice.ID); !sc.Limited || len(sc.GroupIDs) != 1 {
		t.Fatalf("after deleting team-c: %+v", sc)
	}
	bob := mustUser(t, s, "bob", RoleViewer)
	if _, err := s.CreateGroup(ctx, "temp", cliAudit); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUserScope(ctx, "bob", []string{"temp"}, uiAudit); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteGroup(ctx, "temp", cliAudit); err != nil {
		t.Fatal(err)
	}
	if sc, _ := s.UserScope(ctx, bob.ID); !sc.Limited || len(sc.GroupIDs) != 0 {
		t.Fatalf("bob's only group deleted: %+v, want a scope of no cluster", sc)
	}
	// Back to every cluster; audited each time.
	if err := s.SetUserScope(ctx, "alice", nil, uiAudit); err != nil {
		t.Fatal(err)
	}
	evs, err := s.FindAuditEvents(ctx, AuditFilter{Target: "alice", Action: ActionUserScope, Limit: 10})
	if err != nil || len(evs) != 2 || fmt.Sprint(evs[1].Detail["to"]) != "[team-a team-c]" || evs[0].Detail["to"] != "all" {
		t.Fatalf("scope audit: %+v, %v", evs, err)
	}
}

// TestClusterWritesWithin: a change or deletion of a cluster by a writer of a scope
// finds only the clusters of that scope, under the row lock: another group's cluster
// (one moved there a moment before included) is ErrNotFound and stays as it was.
func TestClusterWritesWithin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	f := fleet{t, s}
	eu := f.register("eu", "team-a")
	f.register("us", "team-b")
	teamA := Scope{Limited: true, GroupIDs: []int64{groupOf(t, s, "team-a")}}
	off := false
	if _, err := s.UpdateCluster(ctx, "us", ClusterChange{Enabled: &off, Within: teamA}, Audit{Actor: "test"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("team-a changes us (team-b): %v, want ErrNotFound", err)
	}
	if _, err := s.DeleteClusterWithin(ctx, "us", false, teamA, Audit{Actor: "test"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("team-a deletes us (team-b): %v, want ErrNotFound", err)
	}
	if _, err := s.UpdateCluster(ctx, "eu", ClusterChange{Enabled: &off, Within: teamA}, Audit{Actor: "test"}); err != nil {
		t.Errorf("team-a changes eu (team-a): %v", err)
	}
	// eu moved to team-b by an admin of every cluster: team-a can no longer touch it.
	if _, err := s.UpdateCluster(ctx, "eu", ClusterChange{Group: ptr("team-b")}, Audit{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteClusterWithin(ctx, "eu", false, teamA, Audit{Actor: "test"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("team-a deletes eu after its move to team-b: %v, want ErrNotFound", err)
	}
	none := Scope{Limited: true}
	if _, err := s.DeleteClusterWithin(ctx, "eu", false, none, Audit{Actor: "test"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("a scope of no group deletes eu: %v, want ErrNotFound", err)
	}
	cs, err := s.ClusterStatuses(ctx, Scope{})
	if err != nil || len(cs) != 2 {
		t.Fatalf("clusters after: %d, %v; want both", len(cs), err)
	}
	for _, c := range cs {
		if c.Name == "us" && !c.Enabled {
			t.Error("us was disabled by team-a")
		}
		if c.ID == eu.ID && c.Enabled {
			t.Error("eu's change by team-a did not stand")
		}
	}
}

// groupOf is the id of a cluster group.
func groupOf(t *testing.T, s *Store, name string) int64 {
	t.Helper()
	var id int64
	if err := s.pool.QueryRow(context.Background(), `SELECT id FROM cluster_groups WHERE name = $1`, name).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}
