package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/internal/pgtest"
)

// openTagDivergences describes the open tag-divergences: "group: cluster cluster…".
func openTagDivergences(t *testing.T, s *Store) []string {
	t.Helper()
	ms, err := s.ListMutations(context.Background(), MutationFilter{Kind: "tag-divergence"})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		var clusters []string
		for _, p := range m.Places {
			if !slices.Contains(clusters, p.Cluster) {
				clusters = append(clusters, p.Cluster)
			}
		}
		out = append(out, m.Group+": "+strings.Join(clusters, " "))
	}
	slices.Sort(out)
	return out
}

// TestGroupsCorrelate: a tag-divergence spans the clusters of one group only. Two
// groups running one reference on different digests raise none; within one group
// they raise one; moving a cluster between groups opens and resolves the right ones,
// and its own conditions move with it.
func TestGroupsCorrelate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	f := fleet{t, s}
	a := Audit{Actor: "test"}
	eu := mustCluster(t, s, "eu", "t")
	if eu.Group != DefaultGroup {
		t.Fatalf("a new cluster's group %q, want %q", eu.Group, DefaultGroup)
	}
	us, err := s.RegisterCluster(ctx, NewCluster{Name: "us", Server: "https://us:6443", Context: "us",
		Credentials: []byte(`{}`), Enabled: true, Group: "team-b"}, a)
	if err != nil || us.Group != "team-b" {
		t.Fatalf("register in team-b: %+v, %v", us, err)
	}
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	f.scan(eu, t0, wpod("shop", "web", "web-1", "u1", nginx("a")))
	f.scan(us, t0, wpod("shop", "web", "web-1", "u2", nginx("b")))
	if got := openTagDivergences(t, s); len(got) != 0 {
		t.Fatalf("two groups, two digests: %v, want none", got)
	}

	// A third cluster in team-b on another digest: one tag-divergence, of team-b.
	ap, err := s.RegisterCluster(ctx, NewCluster{Name: "ap", Server: "https://ap:6443", Context: "ap",
		Credentials: []byte(`{}`), Enabled: true, Group: "team-b"}, a)
	if err != nil {
		t.Fatal(err)
	}
	// ap also runs a workload-divergence of its own: it moves with the cluster.
	f.scan(ap, t0, wpod("shop", "web", "web-1", "u3", nginx("c")),
		wpod("shop", "api", "api-1", "u4", "app=api:1|"+digest("d")), wpod("shop", "api", "api-2", "u5", "app=api:1|"+digest("e")))
	if got, want := openTagDivergences(t, s), []string{"team-b: ap us"}; !slices.Equal(got, want) {
		t.Fatalf("one group, two digests: %v, want %v", got, want)
	}
	for group, want := range map[string]int{"team-b": 2, DefaultGroup: 0} { // team-b: the tag-divergence and ap's own
		if ms, err := s.ListMutations(ctx, MutationFilter{Group: group}); err != nil || len(ms) != want {
			t.Errorf("open mutations of group %s: %d, %v; want %d", group, len(ms), err, want)
		}
	}

	// us joins the default group: team-b's resolves (ap alone), the default group's
	// opens (eu a, us b).
	moved, refs, err := s.UpdateClusterRefs(ctx, "us", ClusterChange{Group: ptr("")}, a)
	if err != nil || moved.Group != DefaultGroup || !slices.Equal(refs, []string{"docker.io/library/nginx:1.25"}) {
		t.Fatalf("move us to the default group: %+v, refs %v, %v", moved, refs, err)
	}
	f.recheck(t0.Add(time.Minute))
	if got, want := openTagDivergences(t, s), []string{"default: eu us"}; !slices.Equal(got, want) {
		t.Fatalf("after us joined the default group: %v, want %v", got, want)
	}
	// The default group's keeps the identity it had before there were groups.
	if ms, _ := s.ListMutations(ctx, MutationFilter{Kind: "tag-divergence"}); len(ms) != 1 ||
		ms[0].Identity != "tag-divergence|docker.io/library/nginx:1.25" {
		t.Errorf("default group's identity: %+v", ms)
	}
	if ms, _ := s.ListMutations(ctx, MutationFilter{Kind: "tag-divergence", State: StateClosed}); len(ms) != 1 ||
		ms[0].Group != "team-b" || ms[0].Identity != "tag-divergence|docker.io/library/nginx:1.25|team-b" {
		t.Errorf("team-b's resolved: %+v", ms)
	}

	// ap joins a group made on demand, team-c, then the default group too: its own
	// workload-divergence follows it, and the default group's tag-divergence gains it.
	if _, err := s.UpdateCluster(ctx, "ap", ClusterChange{Group: ptr("team-c")}, a); err != nil {
		t.Fatal(err)
	}
	own := func() string {
		t.Helper()
		ms, err := s.ListMutations(ctx, MutationFilter{Kind: "workload-divergence"})
		if err != nil || len(ms) != 1 {
			t.Fatalf("ap's workload-divergence: %+v, %v", ms, err)
		}
		return ms[0].Group
	}
	if g := own(); g != "team-c" {
		t.Errorf("ap's workload-divergence in %q, want team-c", g)
	}
	f.recheck(t0.Add(2 * time.Minute))
	if got, want := openTagDivergences(t, s), []string{"default: eu us"}; !slices.Equal(got, want) {
		t.Fatalf("after ap joined team-c: %v, want %v", got, want)
	}
	if _, err := s.UpdateCluster(ctx, "ap", ClusterChange{Group: ptr(DefaultGroup)}, a); err != nil {
		t.Fatal(err)
	}
	f.recheck(t0.Add(3 * time.Minute))
	if got, want := openTagDivergences(t, s), []string{"default: ap eu us"}; !slices.Equal(got, want) {
		t.Fatalf("after ap joined the default group: %v, want %v", got, want)
	}
	if g := own(); g != DefaultGroup {
		t.Errorf("ap's workload-divergence in %q, want default", g)
	}
	// A scan after the move records its conditions in the cluster's group.
	f.scan(ap, t0.Add(4*time.Minute), wpod("shop", "web", "web-1", "u3", nginx("c")),
		wpod("shop", "api", "api-1", "u4", "app=api:1|"+digest("d")), wpod("shop", "api", "api-2", "u5", "app=api:1|"+digest("e")))
	if g := own(); g != DefaultGroup {
		t.Errorf("after a scan, ap's workload-divergence in %q, want default", g)
	}

	groups, err := s.Groups(ctx, Scope{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range groups {
		names = append(names, fmt.Sprintf("%s=%d", g.Name, g.Clusters))
	}
	if want := []string{"default=3", "team-b=0", "team-c=0"}; !slices.Equal(names, want) {
		t.Errorf("groups %v, want %v", names, want)
	}
	events, err := s.FindAuditEvents(ctx, AuditFilter{Action: "group.", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var made []string
	for _, e := range events {
		if e.Action == ActionGroupCreate {
			made = append(made, e.Target)
		}
	}
	slices.Sort(made)
	if want := []string{"team-b", "team-c"}; !slices.Equal(made, want) {
		t.Errorf("groups made on demand, audited: %v, want %v", made, want)
	}
}

// TestGroupRenameKeepsOpen: renaming a group moves its open tag-divergence with it, so
// that the next recheck neither resolves nor opens one.
func TestGroupRenameKeepsOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	f := fleet{t, s}
	a := Audit{Actor: "test"}
	if _, err := s.CreateGroup(ctx, "team-a", a); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateGroup(ctx, "team-a", a); !errors.Is(err, ErrConflict) {
		t.Errorf("create team-a twice: %v, want ErrConflict", err)
	}
	if _, err := s.CreateGroup(ctx, "Team A", a); !errors.Is(err, ErrInvalidGroupName) {
		t.Errorf("create %q: %v, want ErrInvalidGroupName", "Team A", err)
	}
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	for i, d := range []string{"a", "b"} {
		c, err := s.RegisterCluster(ctx, NewCluster{Name: "c" + d, Server: "https://c:6443", Context: "c",
			Credentials: []byte(`{}`), Enabled: true, Group: "team-a"}, a)
		if err != nil {
			t.Fatal(err)
		}
		f.scan(c, t0, wpod("shop", "web", "web-1", fmt.Sprint("u", i), nginx(d)))
	}
	before, err := s.ListMutations(ctx, MutationFilter{Kind: "tag-divergence"})
	if err != nil || len(before) != 1 {
		t.Fatalf("team-a's tag-divergence: %+v, %v", before, err)
	}
	if err := s.DeleteGroup(ctx, "team-a", a); !errors.Is(err, ErrConflict) {
		t.Errorf("delete team-a with two clusters: %v, want ErrConflict", err)
	}
	if _, err := s.RenameGroup(ctx, DefaultGroup, "x", a); !errors.Is(err, ErrConflict) {
		t.Errorf("rename the default group: %v, want ErrConflict", err)
	}
	if err := s.DeleteGroup(ctx, DefaultGroup, a); !errors.Is(err, ErrConflict) {
		t.Errorf("delete the default group: %v, want ErrConflict", err)
	}
	g, err := s.RenameGroup(ctx, "team-a", "shop", a)
	if err != nil || g.Name != "shop" || g.Clusters != 2 {
		t.Fatalf("rename: %+v, %v", g, err)
	}
	if c, err := s.ClusterByName(ctx, "ca"); err != nil || c.Group != "shop" {
		t.Errorf("ca after the rename: %+v, %v", c, err)
	}
	// Queue the reference again, as a scan would: the recheck finds it open.
	f.scan(mustClusterByName(t, s, "ca"), t0.Add(time.Minute), wpod("shop", "web", "web-1", "u0", nginx("a")),
		wpod("shop", "web", "web-2", "u9", nginx("a")))
	after, err := s.ListMutations(ctx, MutationFilter{Kind: "tag-divergence", State: StateAll})
	if err != nil || len(after) != 1 || after[0].ID != before[0].ID || after[0].Group != "shop" || after[0].ResolvedAt != nil ||
		after[0].Identity != "tag-divergence|docker.io/library/nginx:1.25|shop" {
		t.Fatalf("after the rename: %+v, %v; want %d still open, of shop", after, err, before[0].ID)
	}
	if _, err := s.GroupByName(ctx, "team-a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("team-a after the rename: %v, want ErrNotFound", err)
	}
	// Emptied (one cluster moved, one deleted), it can be deleted; the deleted
	// cluster's row moves to the default group.
	if _, err := s.UpdateCluster(ctx, "ca", ClusterChange{Group: ptr(DefaultGroup)}, a); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteCluster(ctx, "cb", false, a); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteGroup(ctx, "shop", a); err != nil {
		t.Fatalf("delete the emptied group: %v", err)
	}
	if groups, err := s.Groups(ctx, Scope{}); err != nil || len(groups) != 1 || groups[0].Name != DefaultGroup {
		t.Errorf("groups left: %+v, %v", groups, err)
	}
}

func mustClusterByName(t *testing.T, s *Store, name string) Cluster {
	t.Helper()
	c, err := s.ClusterByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMigrationDefaultGroup: clusters and mutations that exist when migration 000031
// runs land in the default group.
func TestMigrationDefaultGroup(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t, "tagdrift_groups")
	m, err := NewMigrator(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Up(); err != nil {
		t.Fatal(err)
	}
	for {
		v, _, err := m.Version()
		if err != nil {
			t.Fatal(err)
		}
		if v < 31 {
			break
		}
		if err := m.Down(1); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `
		INSERT INTO clusters (name, server, context, kubeconfig, key_id) VALUES ('old', 'https://old:6443', 'old', '\x00', 1);
		INSERT INTO mutations (identity, kind, cluster_id, cluster, namespace, workload_kind, workload_name, container, ref,
		                       digests, places, places_json, detected_at, updated_at)
		VALUES ('tag-divergence|r', 'tag-divergence', NULL, '', '', '', '', '', 'r', '{}', '[]', '[]', now(), now())`); err != nil {
		t.Fatal(err)
	}
	if err := m.Up(); err != nil {
		t.Fatal(err)
	}
	var cluster, mutation string
	if err := conn.QueryRow(ctx, `SELECT g.name FROM clusters c JOIN cluster_groups g ON g.id = c.group_id WHERE c.name = 'old'`).
		Scan(&cluster); err != nil || cluster != DefaultGroup {
		t.Errorf("existing cluster's group %q, %v", cluster, err)
	}
	if err := conn.QueryRow(ctx, `SELECT cluster_group FROM mutations`).Scan(&mutation); err != nil || mutation != DefaultGroup {
		t.Errorf("existing mutation's group %q, %v", mutation, err)
	}
	var id int64
	if err := conn.QueryRow(ctx, `SELECT id FROM cluster_groups WHERE name = 'default'`).Scan(&id); err != nil || id != defaultGroupID {
		t.Errorf("default group id %d, %v", id, err)
	}
	// The next group made takes another id.
	if err := conn.QueryRow(ctx, `INSERT INTO cluster_groups (name) VALUES ('next') RETURNING id`).Scan(&id); err != nil || id == defaultGroupID {
		t.Errorf("next group id %d, %v", id, err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestGroupsTagMoved: a tag moves within one group: another group's history moves no
// tag in this one, and each group records its own move of the same digests.
func TestGroupsTagMoved(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	f := fleet{t, s}
	eu, us, ap := f.register("eu", "team-a"), f.register("us", "team-b"), f.register("ap", "team-a")
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	moves := func() []string {
		t.Helper()
		ms, err := s.ListMutations(ctx, MutationFilter{Kind: "tag-moved", State: StateAll})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, m.Group+" "+m.Cluster+" "+m.Identity)
		}
		slices.Sort(out)
		return out
	}
	f.scan(eu, t0, wpod("shop", "web", "web-1", "u1", nginx("a")))
	f.scan(us, t0.Add(time.Minute), wpod("shop", "web", "web-1", "u2", nginx("b")))
	if got := moves(); len(got) != 0 {
		t.Fatalf("team-b's first digest after team-a's: %v, want no tag-moved", got)
	}
	f.scan(us, t0.Add(2*time.Minute), wpod("shop", "web", "web-1", "u3", nginx("c")))
	f.scan(ap, t0.Add(3*time.Minute), wpod("shop", "web", "web-1", "u4", nginx("c")))
	ref := "docker.io/library/nginx:1.25"
	sha := func(letter string) string { _, d, _ := strings.Cut(digest(letter), "@"); return d }
	want := []string{
		"team-a ap tag-moved|" + ref + "|" + sha("a") + "|" + sha("c") + "|team-a",
		"team-b us tag-moved|" + ref + "|" + sha("b") + "|" + sha("c") + "|team-b",
	}
	if got := moves(); !slices.Equal(got, want) {
		t.Errorf("tag-moved:\n got  %v\n want %v", got, want)
	}
}

// TestGroupRenameKeepsScope: a resolved tag-divergence spanning clusters stays in the
// scope of the group it was detected in when that group is renamed (kept by the group's
// id, migration 000061), and out of another group's; a group made later under the old
// name does not get it.
func TestGroupRenameKeepsScope(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	f := fleet{t, s}
	a := Audit{Actor: "test"}
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	clusters := map[string]Cluster{}
	for i, c := range []struct{ name, group, digest string }{
		{"ca", "team-a", "a"}, {"cb", "team-a", "b"}, {"cc", "team-b", "c"}, {"cd", "team-b", "d"},
	} {
		cl, err := s.RegisterCluster(ctx, NewCluster{Name: c.name, Server: "https://c:6443", Context: "c",
			Credentials: []byte(`{}`), Enabled: true, Group: c.group}, a)
		if err != nil {
			t.Fatal(err)
		}
		clusters[c.name] = cl
		f.scan(cl, t0, wpod("shop", "web", "web-1", fmt.Sprint("u", i), nginx(c.digest)))
	}
	groupID := func(name string) int64 {
		t.Helper()
		g, err := s.GroupByName(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return g.ID
	}
	teamA, teamB := groupID("team-a"), groupID("team-b")
	// Team-a's divergence resolves: cb runs a too.
	f.scan(clusters["cb"], t0.Add(time.Minute), wpod("shop", "web", "web-1", "u1", nginx("a")))
	all, err := s.ListMutations(ctx, MutationFilter{Kind: "tag-divergence", State: StateAll, Group: "team-a"})
	if err != nil || len(all) != 1 || all[0].ResolvedAt == nil {
		t.Fatalf("team-a's resolved tag-divergence: %+v, %v", all, err)
	}
	resolved := all[0].ID
	if _, err := s.RenameGroup(ctx, "team-a", "shop", a); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateGroup(ctx, "team-a", a); err != nil {
		t.Fatal(err)
	}
	ids := func(sc Scope) []int64 {
		t.Helper()
		ms, err := s.ListMutations(ctx, MutationFilter{Kind: "tag-divergence", State: StateAll, Scope: sc})
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return out
	}
	if got := ids(Scope{Limited: true, GroupIDs: []int64{teamA}}); !slices.Contains(got, resolved) {
		t.Errorf("the renamed group's scope lists tag-divergences %v, want its resolved %d", got, resolved)
	}
	if _, err := s.MutationByID(ctx, resolved, Scope{Limited: true, GroupIDs: []int64{teamA}}); err != nil {
		t.Errorf("the renamed group's scope reads its resolved tag-divergence: %v", err)
	}
	for name, sc := range map[string]Scope{
		"team-b":         {Limited: true, GroupIDs: []int64{teamB}},
		"the new team-a": {Limited: true, GroupIDs: []int64{groupID("team-a")}},
		"no group":       {Limited: true},
	} {
		if got := ids(sc); slices.Contains(got, resolved) {
			t.Errorf("%s's scope lists %v, with the renamed group's resolved %d", name, got, resolved)
		}
		if _, err := s.MutationByID(ctx, resolved, sc); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s's scope reads the renamed group's resolved tag-divergence: %v, want ErrNotFound", name, err)
		}
	}
	// Counted where its group is: the open one of team-b in team-b's counts only.
	counts, err := s.OpenMutationCounts(ctx, Scope{Limited: true, GroupIDs: []int64{teamA}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range counts {
		if c.Kind == "tag-divergence" {
			t.Errorf("the renamed group counts an open tag-divergence: %+v", c)
		}
	}
}
