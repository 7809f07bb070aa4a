package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// scopedFleet is two cluster groups where the same tag moves, each to its own digests:
// eu (team-a) runs nginx a then b, us (team-b) runs c then d; in each, web runs both
// (mutant) and old stays on the first (behind its tag). It returns the clusters and
// the groups' ids by name.
func scopedFleet(t *testing.T, s *Store) (eu, us Cluster, gid map[string]int64) {
	t.Helper()
	f := fleet{t, s}
	eu, us = f.register("eu", "team-a"), f.register("us", "team-b")
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	letters := map[string][2]string{"eu": {"a", "b"}, "us": {"c", "d"}}
	for _, c := range []Cluster{eu, us} {
		l := letters[c.Name]
		f.scan(c, t0, wpod("shop", "web", "web-1", c.Name+"1", nginx(l[0])), wpod("shop", "old", "old-1", c.Name+"3", nginx(l[0])))
		f.scan(c, t0.Add(time.Hour), wpod("shop", "web", "web-1", c.Name+"1", nginx(l[0])),
			wpod("shop", "web", "web-2", c.Name+"2", nginx(l[1])), wpod("shop", "old", "old-1", c.Name+"3", nginx(l[0])))
	}
	f.recheck(t0.Add(time.Hour))
	groups, err := s.Groups(context.Background(), Scope{})
	if err != nil {
		t.Fatal(err)
	}
	gid = map[string]int64{}
	for _, g := range groups {
		gid[g.Name] = g.ID
	}
	return eu, us, gid
}

// TestScopedReads checks that every read of the store filters by the reader's scope
// in its query: a scope of team-a sees eu's clusters, scans, mutations, events,
// counts, search hits, timelines, digests, tag targets, behind counts, audit entries,
// rules and acknowledgements, and nothing of us; what belongs to us is not found.
func TestScopedReads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	eu, us, gid := scopedFleet(t, s)
	a := Scope{Limited: true, GroupIDs: []int64{gid["team-a"]}}
	none := Scope{Limited: true}
	usDigests := []string{sha("c"), sha("d")}
	// leak fails when v, printed, names anything of us.
	leak := func(what string, v any) {
		t.Helper()
		text := fmt.Sprintf("%+v", v)
		for _, bad := range append([]string{"Cluster:us ", "team-b", "\"us\"", "[us]", "Cluster:us}"}, usDigests...) {
			if strings.Contains(text, bad) {
				t.Errorf("%s in team-a's scope shows %q: %s", what, bad, text)
			}
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	cs, err := s.ClusterStatuses(ctx, a)
	must(err)
	if len(cs) != 1 || cs[0].Name != "eu" {
		t.Errorf("clusters: %+v", cs)
	}
	if all, _ := s.ClusterStatuses(ctx, Scope{}); len(all) != 2 {
		t.Errorf("every cluster: %d", len(all))
	}
	if n, _ := s.ClusterStatuses(ctx, none); len(n) != 0 {
		t.Errorf("a scope of no group lists %d clusters", len(n))
	}
	if _, err := s.ClusterStatusByName(ctx, "us", a); !errors.Is(err, ErrNotFound) {
		t.Errorf("us by name: %v, want ErrNotFound", err)
	}
	if _, err := s.ClusterByNameIn(ctx, "us", a); !errors.Is(err, ErrNotFound) {
		t.Errorf("us by name (cluster): %v, want ErrNotFound", err)
	}
	if c, err := s.ClusterStatusByName(ctx, "eu", a); err != nil || c.Name != "eu" {
		t.Errorf("eu by name: %+v, %v", c, err)
	}
	if gs, _ := s.Groups(ctx, a); len(gs) != 1 || gs[0].Name != "team-a" {
		t.Errorf("groups: %+v", gs)
	}

	scans, err := s.ListScans(ctx, ScanFilter{Limit: 100, Scope: a})
	must(err)
	if len(scans) != 2 {
		t.Errorf("scans: %d, want eu's 2", len(scans))
	}
	leak("scans", scans)
	usScans, _ := s.ListScans(ctx, ScanFilter{Cluster: "us", Limit: 100})
	if len(usScans) == 0 {
		t.Fatal("fixture: no scan of us")
	}
	if _, err := s.ScanRecordByID(ctx, usScans[0].ID, a); !errors.Is(err, ErrNotFound) {
		t.Errorf("a scan of us: %v, want ErrNotFound", err)
	}
	if got, _ := s.ListScans(ctx, ScanFilter{Cluster: "us", Limit: 100, Scope: a}); len(got) != 0 {
		t.Errorf("scans filtered on us: %+v", got)
	}

	ms, err := s.ListMutations(ctx, MutationFilter{State: StateAll, Limit: 100, Scope: a})
	must(err)
	allMs, _ := s.ListMutations(ctx, MutationFilter{State: StateAll, Limit: 100})
	if len(ms) == 0 || len(ms) >= len(allMs) {
		t.Errorf("mutations: %d in scope of %d", len(ms), len(allMs))
	}
	leak("mutations", ms)
	for _, m := range allMs {
		_, err := s.MutationByID(ctx, m.ID, a)
		ours := m.Group == "team-a"
		if ours != (err == nil) {
			t.Errorf("mutation %d of %s: %v", m.ID, m.Group, err)
		}
		if !ours && !errors.Is(err, ErrNotFound) {
			t.Errorf("mutation %d of us: %v, want ErrNotFound", m.ID, err)
		}
	}
	counts, err := s.OpenMutationCounts(ctx, a)
	must(err)
	if len(counts) == 0 {
		t.Error("no open mutation counted in team-a")
	}
	leak("counts", counts)
	evs, err := s.RecentEvents(ctx, 100, a)
	must(err)
	if len(evs) == 0 {
		t.Error("no recent event in team-a")
	}
	leak("recent events", evs)

	res, err := s.Search(ctx, "sha256:", nginxRef, "docker.io/library/nginx", "nginx", "u", a)
	must(err)
	leak("search", res)
	if len(res.Refs) != 1 {
		t.Errorf("search refs: %q", res.Refs)
	}
	if res, _ := s.Search(ctx, "sha256:c", "", "", "", "", a); len(res.Digests) != 0 {
		t.Errorf("a digest prefix of us: %q", res.Digests)
	}
	if res, _ := s.Search(ctx, "sha256:", "", "", "", "", a); len(res.Digests) != 2 {
		t.Errorf("an ambiguous prefix counts %q, want eu's two", res.Digests)
	}
	if res, _ := s.Search(ctx, "sha256:", "", "", "", "", Scope{}); len(res.Digests) != 4 {
		t.Errorf("an ambiguous prefix, unscoped: %q", res.Digests)
	}
	if res, _ := s.Search(ctx, "", "", "", "", "e", a); len(res.Clusters) != 1 {
		t.Errorf("cluster names: %+v", res)
	}
	if res, _ := s.Search(ctx, "", "", "", "", "old", a); len(res.Workloads) != 1 || res.Workloads[0].Cluster != "eu" {
		t.Errorf("workloads named old: %+v", res.Workloads)
	}
	if res, _ := s.Search(ctx, "", nginxRef, "docker.io/library/nginx", "", "", none); len(res.Refs) != 0 {
		t.Errorf("refs in no scope: %q", res.Refs)
	}
	if refs, _ := s.KnownRefs(ctx, 10, none); len(refs) != 0 {
		t.Errorf("known refs in no scope: %q", refs)
	}

	tl, seen, err := s.Timeline(ctx, nginxRef, a)
	must(err)
	if len(tl) != 2 {
		t.Errorf("timeline: %d digests, want eu's 2", len(tl))
	}
	leak("timeline", tl)
	if _, ok := seen[us.ID]; ok {
		t.Errorf("timeline sightings name us")
	}
	use, err := s.DigestUses(ctx, sha("c"), HistoryPage{Refs: true, Scope: a})
	must(err)
	if len(use.Running) != 0 || len(use.History) != 0 || len(use.Refs) != 0 {
		t.Errorf("us's digest in team-a's scope: %+v", use)
	}
	use, err = s.DigestUses(ctx, sha("a"), HistoryPage{Refs: true, Scope: a, RunningLimit: 10})
	must(err)
	if len(use.Running) == 0 || len(use.Refs) != 1 {
		t.Errorf("eu's digest in team-a's scope: %+v", use)
	}
	if dm, _ := s.DigestMutations(ctx, sha("c"), []string{nginxRef}, 50, a); len(dm) != 0 {
		t.Errorf("us's digest's mutations: %+v", dm)
	}
	targets, err := s.TagTargets(ctx, []string{nginxRef}, a)
	must(err)
	if len(targets) != 1 || targets[0].Group != "team-a" {
		t.Errorf("tag targets: %+v", targets)
	}
	nAll, _ := s.CountBehind(ctx, Scope{})
	nA, err := s.CountBehind(ctx, a)
	must(err)
	if nAll != 2 || nA != 1 {
		t.Errorf("behind: %d in team-a, %d in all; want 1 and 2", nA, nAll)
	}
	if n, _ := s.CountBehind(ctx, none); n != 0 {
		t.Errorf("behind in no scope: %d", n)
	}

	// Audit: a scoped reader sees what was done to its clusters, nothing else.
	if _, _, err := s.CreateToken(ctx, NewToken{Name: "x", Role: RoleViewer}, cliAudit); err != nil {
		t.Fatal(err)
	}
	aud, err := s.FindAuditEvents(ctx, AuditFilter{Limit: 100, Scope: a})
	must(err)
	if len(aud) != 1 || aud[0].Target != "eu" || aud[0].Action != ActionClusterCreate {
		t.Errorf("audit in team-a's scope: %+v", aud)
	}

	// Rules and acknowledgements: those confined to team-a, and those of its mutations.
	for _, sc := range []string{`group="team-a", reference="docker.io/library/nginx:1.25"`, `{ group = "team-b" }`,
		`reference="docker.io/library/nginx:1.25"`, `group=~"team-a|team-b"`} {
		if _, err := s.CreateRule(ctx, cliAudit, NewRule{Scope: sc, Reason: "r"}); err != nil {
			t.Fatal(err)
		}
	}
	rules, err := s.Rules(ctx, false, a)
	must(err)
	if len(rules) != 1 || !strings.HasPrefix(rules[0].Scope, `group="team-a"`) {
		t.Errorf("rules in team-a's scope: %+v", rules)
	}
	if all, _ := s.Rules(ctx, false, Scope{}); len(all) != 4 {
		t.Errorf("every rule: %d", len(all))
	}
	var usOpen, euOpen Mutation
	for _, m := range allMs {
		if m.ResolvedAt == nil && m.Kind == "workload-divergence" {
			if m.Group == "team-b" {
				usOpen = m
			} else {
				euOpen = m
			}
		}
	}
	if usOpen.ID == 0 || euOpen.ID == 0 {
		t.Fatalf("fixture: open workload-divergences %+v %+v", usOpen, euOpen)
	}
	until := time.Now().Add(24 * time.Hour)
	var ackIDs []int64
	for _, id := range []int64{euOpen.ID, usOpen.ID} {
		k, err := s.CreateAck(ctx, cliAudit, NewAck{MutationID: id, Reason: "known", Until: "time", ExpiresAt: &until})
		must(err)
		ackIDs = append(ackIDs, k.ID)
	}
	acks, err := s.Acks(ctx, AckFilter{Limit: 100, Scope: a})
	must(err)
	if len(acks) != 1 || acks[0].MutationID != euOpen.ID {
		t.Errorf("acknowledgements in team-a's scope: %+v", acks)
	}
	if _, err := s.AckByID(ctx, ackIDs[1], a); !errors.Is(err, ErrNotFound) {
		t.Errorf("us's acknowledgement: %v, want ErrNotFound", err)
	}
	_ = eu
}

// TestPrincipalScopes checks the scopes that authentication reads: a user's, with
// their session; a token's own, bounded by its owner's scope at use time; a token made
// by a scoped owner starts with the owner's scope.
func TestPrincipalScopes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	_, _, gid := scopedFleet(t, s)
	alice := mustUser(t, s, "alice", RoleViewer)
	tok, secret, err := s.CreateToken(ctx, NewToken{Name: "ci", Role: RoleViewer, OwnerID: alice.ID}, uiAudit)
	if err != nil || tok.Grants.ReadScope().Limited {
		t.Fatalf("an unscoped owner's token: %+v, %v", tok.Grants.ReadScope(), err)
	}
	if err := s.SetTokenScope(ctx, tok.ID, []string{"team-a", "team-b"}, uiAudit); err != nil {
		t.Fatal(err)
	}
	got, err := s.TokenBySecret(ctx, secret, time.Now())
	if err != nil || !got.Grants.ReadScope().Limited || len(got.Grants.ReadScope().GroupIDs) != 2 {
		t.Fatalf("token scope: %+v, %v", got.Grants.ReadScope(), err)
	}
	// Alice narrows to team-b: her token, scoped to both, covers team-b only now.
	if err := s.SetUserScope(ctx, "alice", []string{"team-b"}, uiAudit); err != nil {
		t.Fatal(err)
	}
	got, err = s.TokenBySecret(ctx, secret, time.Now())
	if err != nil || !got.Grants.ReadScope().Limited || len(got.Grants.ReadScope().GroupIDs) != 1 || got.Grants.ReadScope().GroupIDs[0] != gid["team-b"] {
		t.Fatalf("token scope under a narrower owner: %+v, %v", got.Grants.ReadScope(), err)
	}
	id, sess, err := s.CreateSession(ctx, alice.ID, time.Now(), uiAudit)
	if err != nil || !sess.User.Grants.ReadScope().Limited {
		t.Fatalf("session: %+v, %v", sess.User.Grants.ReadScope(), err)
	}
	read, err := s.Session(ctx, id, time.Now(), SessionTimeouts{Idle: time.Hour, Absolute: time.Hour})
	if err != nil || !read.User.Grants.ReadScope().Limited || len(read.User.Grants.ReadScope().GroupIDs) != 1 || read.User.Grants.ReadScope().GroupIDs[0] != gid["team-b"] {
		t.Fatalf("session scope: %+v, %v", read.User.Grants.ReadScope(), err)
	}
	// A new token of hers starts with her scope.
	tok2, secret2, err := s.CreateToken(ctx, NewToken{Name: "ci2", Role: RoleViewer, OwnerID: alice.ID}, uiAudit)
	if err != nil || !tok2.Grants.ReadScope().Limited || len(tok2.Grants.ReadScope().GroupIDs) != 1 {
		t.Fatalf("a scoped owner's new token: %+v, %v", tok2.Grants.ReadScope(), err)
	}
	if ts, _ := s.TokenScope(ctx, tok2.ID); !ts.Limited {
		t.Errorf("stored scope of the new token: %+v", ts)
	}
	// An owner scoped to nothing leaves her tokens nothing.
	if err := s.DeleteGroup(ctx, "team-b", cliAudit); err == nil {
		got, err := s.TokenBySecret(ctx, secret2, time.Now())
		if err != nil || !got.Grants.ReadScope().Limited || len(got.Grants.ReadScope().GroupIDs) != 0 {
			t.Errorf("after the owner's only group went: %+v, %v", got.Grants.ReadScope(), err)
		}
	}
	// The intersection itself.
	x := Scope{Limited: true, GroupIDs: []int64{1, 2, 3}}
	if got := x.Intersect(Scope{Limited: true, GroupIDs: []int64{3, 2, 9}}); fmt.Sprint(got.GroupIDs) != "[2 3]" {
		t.Errorf("intersect: %+v", got)
	}
	if got := (Scope{}).Intersect(x); !got.Limited || len(got.GroupIDs) != 3 {
		t.Errorf("all ∩ x: %+v", got)
	}
	if k := x.Key(); k != "g1,2,3" || (Scope{}).Key() != "" || (Scope{Limited: true}).Key() != "g" {
		t.Errorf("keys: %q", k)
	}
}
