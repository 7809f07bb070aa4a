package store

import (
	"cmp"
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// TestBehindTheTag checks DESIGN section 3's "behind the tag" as the store answers it:
// a workload of a live cluster that runs, for a reference, only digests its tag moved
// away from in the workload's cluster group. Not one in another group where the tag
// never moved, not one that runs the tag's digest too (mixed: a mutation, not behind),
// not one of another reference or a pinned one, not one of a deleted cluster; the list,
// its filter, the count and each workload's detail agree.
func TestBehindTheTag(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	f := fleet{t, s}
	eu, eu2, us := f.register("eu", "team-a"), f.register("eu2", "team-a"), f.register("us", "team-b")
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	pinned := "web=nginx@" + sha("a") + "|" + digest("a")
	other := "web=nginx:1.26|" + digest("a")
	eu2Pods := func(api string) []inventory.Pod {
		return []inventory.Pod{
			wpod("shop", "api", "api-1", "e1", nginx(api)),
			wpod("shop", "mixed", "mixed-1", "e2", nginx("a")),
			wpod("shop", "pinned", "pinned-1", "e4", pinned),
			wpod("shop", "older", "older-1", "e5", other),
		}
	}
	f.scan(eu, t0, wpod("shop", "web", "web-1", "u1", nginx("a")))
	f.scan(eu2, t0, eu2Pods("a")...)
	f.scan(us, t0, wpod("shop", "web", "web-1", "u2", nginx("a")))
	// In eu the tag moves a→b; eu2's mixed workload starts a pod on b beside its a.
	f.scan(eu, t0.Add(time.Hour), wpod("shop", "web", "web-2", "u3", nginx("b")))
	f.scan(eu2, t0.Add(time.Hour), append(eu2Pods("a"), wpod("shop", "mixed", "mixed-2", "e3", nginx("b")))...)
	f.recheck(t0.Add(time.Hour))

	type row struct {
		cluster, name, digests, tag, where string
	}
	list := func(filter WorkloadFilter) []row {
		t.Helper()
		ws, err := s.ListWorkloads(ctx, filter)
		if err != nil {
			t.Fatal(err)
		}
		var out []row
		for _, w := range ws {
			for _, b := range w.Behind {
				if b.Ref != nginxRef {
					t.Errorf("%s/%s behind %s", w.Cluster, w.Name, b.Ref)
				}
				var ds []string
				for _, d := range b.Digests {
					ds = append(ds, d[7:8])
				}
				out = append(out, row{w.Cluster, w.Name, strings.Join(ds, ","), b.Tag[7:8], strings.Join(b.TagClusters, ",")})
			}
			if filter.BehindOnly && len(w.Behind) == 0 {
				t.Errorf("the behind filter lists %s/%s, which is not behind", w.Cluster, w.Name)
			}
		}
		return out
	}
	check := func(when string, want []row) {
		t.Helper()
		if got := list(WorkloadFilter{}); !slices.Equal(got, want) {
			t.Errorf("%s: behind in the whole list\n got  %v\n want %v", when, got, want)
		}
		if got := list(WorkloadFilter{BehindOnly: true}); !slices.Equal(got, want) {
			t.Errorf("%s: the behind filter\n got  %v\n want %v", when, got, want)
		}
		n, err := s.CountBehind(ctx, Scope{})
		if err != nil || n != len(want) {
			t.Errorf("%s: count %d, %v; want %d", when, n, err, len(want))
		}
		bodies, err := s.ListWorkloadBodies(ctx, WorkloadFilter{BehindOnly: true})
		if err != nil || len(bodies) != len(want) {
			t.Fatalf("%s: %d bodies behind, %v; want %d", when, len(bodies), err, len(want))
		}
		for i, b := range bodies {
			if b.Cluster != want[i].cluster || b.Name != want[i].name || len(b.Behind) != 1 || b.Behind[0].Tag != sha(want[i].tag) {
				t.Errorf("%s: body %d: %s/%s behind %+v, want %v", when, i, b.Cluster, b.Name, b.Behind, want[i])
			}
		}
	}
	// eu2's api runs a, which the tag left for b in team-a; us is team-b, where it
	// never moved; mixed runs b too.
	check("after a→b", []row{{"eu2", "api", "a", "b", "eu,eu2"}})

	// The tag moves on to c in eu2's own api; eu's web, on b, is now behind c.
	f.scan(eu2, t0.Add(2*time.Hour), append(eu2Pods("c"), wpod("shop", "mixed", "mixed-2", "e3", nginx("b")))...)
	f.recheck(t0.Add(2 * time.Hour))
	check("after b→c", []row{{"eu", "web", "b", "c", "eu2"}, {"eu2", "mixed", "a,b", "c", "eu2"}})

	// A deleted cluster's workloads are behind nothing.
	if _, err := s.DeleteCluster(ctx, "eu", false, Audit{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	check("eu deleted", []row{{"eu2", "mixed", "a,b", "c", "eu2"}})
}

// TestSortMutantRanksBehind: the mutant order lists the places of open mutations, then
// the workloads behind a tag, then the rest, and reversed the other way round, page by
// page through its cursors, each workload once.
func TestSortMutantRanksBehind(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	f := fleet{t, s}
	p, st := f.register("p", ""), f.register("s", "")
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	// cli sorts before web (namespace apps before shop): only the parts put web first.
	cli := wpod("apps", "cli", "cli-1", "c1", "web=nginx:1.26|"+digest("c"))
	f.scan(st, t0, wpod("shop", "web", "web-s", "s1", nginx("a")), cli)
	f.scan(p, t0, wpod("shop", "web", "web-a", "p1", nginx("a")))
	// p's web goes mixed (a and b): a mutation, and the tag moved a→b; s's web is
	// behind; s's cli is neither.
	f.scan(p, t0.Add(time.Hour), wpod("shop", "web", "web-a", "p1", nginx("a")), wpod("shop", "web", "web-b", "p2", nginx("b")))
	f.recheck(t0.Add(time.Hour))

	walk := func(desc bool) []string {
		t.Helper()
		var out []string
		var after *WorkloadCursor
		for range 10 {
			ws, err := s.ListWorkloads(ctx, WorkloadFilter{Sort: SortMutant, Desc: desc, Limit: 1, After: after})
			if err != nil {
				t.Fatal(err)
			}
			if len(ws) == 0 {
				return out
			}
			w := ws[0]
			out = append(out, w.Cluster+"/"+w.Name)
			c := w.Cursor()
			after = &c
		}
		t.Fatalf("more pages than workloads: %v", out)
		return nil
	}
	if got, want := walk(false), []string{"p/web", "s/web", "s/cli"}; !slices.Equal(got, want) {
		t.Errorf("mutant order: %v, want %v", got, want)
	}
	if got, want := walk(true), []string{"s/cli", "s/web", "p/web"}; !slices.Equal(got, want) {
		t.Errorf("mutant order reversed: %v, want %v", got, want)
	}
}

// TestBehindPagesInRuns pages through many workloads behind a tag in the cluster order,
// which passes the judged keys after the cursor a run at a time: forwards and back, with
// a filter that thins the runs out and in the mutant order, every workload comes once
// and in the order the full list gives.
func TestBehindPagesInRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	f := fleet{t, s}
	moved, a, b := f.register("moved", ""), f.register("a", ""), f.register("b-cluster", "")
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	// 150 workloads in a and 40 in b-cluster run the digest the tag leaves; names and
	// namespaces chosen so that byte order differs from a locale's (upper case first).
	var inA, inB []inventory.Pod
	for i := range 150 {
		ns := []string{"shop", "Shop", "apps"}[i%3]
		name := fmt.Sprintf("w%03d", 149-i)
		inA = append(inA, wpod(ns, name, name+"-1", fmt.Sprintf("a%d", i), nginx("a")))
	}
	for i := range 40 {
		name := fmt.Sprintf("W%02d", i)
		inB = append(inB, wpod("shop", name, name+"-1", fmt.Sprintf("b%d", i), nginx("a")))
	}
	f.scan(a, t0, inA...)
	f.scan(b, t0, inB...)
	f.scan(moved, t0, wpod("shop", "web", "web-1", "m1", nginx("a")))
	f.scan(moved, t0.Add(time.Hour), wpod("shop", "web", "web-2", "m2", nginx("b")))
	f.recheck(t0.Add(time.Hour))

	key := func(w Workload) string { return w.Cluster + "/" + w.Namespace + "/" + w.Name }
	all, err := s.ListWorkloads(ctx, WorkloadFilter{BehindOnly: true, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, w := range all {
		want = append(want, key(w))
	}
	if len(want) != 190 || !slices.IsSortedFunc(all, func(x, y Workload) int {
		return cmp.Or(cmp.Compare(x.Cluster, y.Cluster), cmp.Compare(x.Namespace, y.Namespace), cmp.Compare(x.Name, y.Name))
	}) {
		t.Fatalf("behind in one page: %d, in byte order: %v", len(want), want)
	}
	walk := func(filter WorkloadFilter) []string {
		t.Helper()
		var out []string
		for range 200 {
			ws, err := s.ListWorkloads(ctx, filter)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range ws {
				out = append(out, key(w))
			}
			if len(ws) < filter.Limit {
				return out
			}
			c := ws[len(ws)-1].Cursor()
			filter.After = &c
		}
		t.Fatalf("more pages than workloads: %d", len(out))
		return nil
	}
	if got := walk(WorkloadFilter{BehindOnly: true, Limit: 7}); !slices.Equal(got, want) {
		t.Errorf("paged by 7:\n got  %v\n want %v", got, want)
	}
	rev := slices.Clone(want)
	slices.Reverse(rev)
	if got := walk(WorkloadFilter{BehindOnly: true, Limit: 7, Desc: true}); !slices.Equal(got, rev) {
		t.Errorf("paged by 7 reversed:\n got  %v\n want %v", got, rev)
	}
	// One namespace of three: the runs come back a third full.
	var apps []string
	for _, k := range want {
		if strings.Contains(k, "/apps/") {
			apps = append(apps, k)
		}
	}
	if got := walk(WorkloadFilter{BehindOnly: true, Limit: 30, Namespace: "apps"}); !slices.Equal(got, apps) {
		t.Errorf("namespace apps paged by 30:\n got  %v\n want %v", got, apps)
	}
	// Another cluster, sorted after a's 150: the first run holds none of it.
	var inBCluster []string
	for _, k := range want {
		if strings.HasPrefix(k, "b-cluster/") {
			inBCluster = append(inBCluster, k)
		}
	}
	if got := walk(WorkloadFilter{BehindOnly: true, Limit: 30, Cluster: "b-cluster"}); len(got) != 40 || !slices.Equal(got, inBCluster) {
		t.Errorf("cluster b-cluster paged by 30:\n got  %v\n want %v", got, inBCluster)
	}
	// The mutant order: moved's web is not behind (it runs the tag's digest), the
	// behind ones follow in the same order.
	if got := walk(WorkloadFilter{Sort: SortMutant, Limit: 9}); !slices.Equal(got, append(slices.Clone(want), "moved/shop/web")) {
		t.Errorf("mutant order paged by 9:\n got  %v\n want %v and moved/shop/web", got, want)
	}
}

// TestBehindAfterReturn: a tag that goes back to a digest it had is no tag-moved, but a
// running container that restarts onto it (a pod-drift) shows where the tag points
// now: the workloads on the digest it returned to are no longer behind, those still on
// the one it left are. A pinned reference's drift moves no tag.
func TestBehindAfterReturn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	f := fleet{t, s}
	eu, us := f.register("eu", ""), f.register("us", "")
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	pinned := func(l string) string { return "web=nginx@" + sha("e") + "|" + digest(l) }
	usPods := func(api, pin string) []inventory.Pod {
		return []inventory.Pod{
			wpod("shop", "api", "api-1", "u1", nginx(api)),
			wpod("shop", "cron", "cron-1", "u2", pinned(pin)),
			wpod("shop", "batch", "batch-1", "u3", pinned("a")),
		}
	}
	f.scan(eu, t0, wpod("shop", "web", "web-1", "e1", nginx("a")))
	f.scan(us, t0, usPods("a", "a")...)
	// The tag moves a→b in eu: us's api is behind b.
	f.scan(eu, t0.Add(time.Hour), wpod("shop", "web", "web-2", "e2", nginx("b")))
	f.recheck(t0.Add(time.Hour))
	behind := func(when string, want ...string) {
		t.Helper()
		ws, err := s.ListWorkloads(ctx, WorkloadFilter{BehindOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, w := range ws {
			got = append(got, w.Cluster+"/"+w.Name+"@"+w.Behind[0].Tag[7:8])
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: behind %v, want %v", when, got, want)
		}
	}
	behind("after a→b", "us/api@b")

	// eu's web-2 restarts onto a (the tag went back); us's cron, pinned, drifts too,
	// which leaves batch, on the pin's a, behind nothing.
	f.scan(eu, t0.Add(2*time.Hour), wpod("shop", "web", "web-2", "e2", nginx("a")), wpod("shop", "old", "old-1", "e3", nginx("b")))
	f.scan(us, t0.Add(2*time.Hour), usPods("a", "b")...)
	f.recheck(t0.Add(2 * time.Hour))
	behind("after the return to a", "eu/old@a")
}

// TestBehindJudgedAgainOnlyWhereRunsMoved: after a change, the judgement reads again
// only the clusters whose runs moved (a scan that opened or closed intervals), and
// keeps the others' verdicts; a tag's new target, a cluster deleted or moved to
// another group judges every one. At every step its answer equals a judgement made
// from nothing.
func TestBehindJudgedAgainOnlyWhereRunsMoved(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	f := fleet{t, s}
	eu, us, ap, other := f.register("eu", "team-a"), f.register("us", "team-a"), f.register("ap", "team-a"), f.register("other", "team-b")
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	for _, c := range []Cluster{eu, us, ap, other} {
		f.scan(c, t0, wpod("shop", "web", "web-1", c.Name+"1", nginx("a")), wpod("shop", "api", "api-1", c.Name+"2", nginx("a")))
	}
	step := 0
	check := func(when string, read int) {
		t.Helper()
		step++
		got, err := s.behindNow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		full, err := s.judgeBehind(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.workloads, full.workloads) || !slices.Equal(got.ids, full.ids) ||
			!slices.Equal(got.clusters, full.clusters) || !slices.Equal(got.namespaces, full.namespaces) ||
			!slices.Equal(got.kinds, full.kinds) || !slices.Equal(got.names, full.names) {
			t.Errorf("%d %s: kept %v %v, judged from nothing %v %v", step, when, got.workloads, got.names, full.workloads, full.names)
		}
		if read >= 0 && got.read != read {
			t.Errorf("%d %s: read %d clusters again, want %d", step, when, got.read, read)
		}
	}
	check("first", -1)
	// The tag moves a→b in eu: every cluster is judged again.
	f.scan(eu, t0.Add(time.Hour), wpod("shop", "web", "web-2", "eu3", nginx("b")), wpod("shop", "api", "api-1", "eu2", nginx("a")))
	f.recheck(t0.Add(time.Hour))
	check("a→b", 4)
	// us rolls its web onto b: only us is read again; its web is no longer behind.
	f.scan(us, t0.Add(2*time.Hour), wpod("shop", "web", "web-2", "us3", nginx("b")), wpod("shop", "api", "api-1", "us2", nginx("a")))
	check("us's web onto b", 1)
	// A scan that changes nothing of what runs; then one of ap that only scales api up.
	f.scan(ap, t0.Add(3*time.Hour), wpod("shop", "web", "web-1", "ap1", nginx("a")), wpod("shop", "api", "api-1", "ap2", nginx("a")))
	check("ap unchanged (no judgement: the data version did not move)", -1)
	f.scan(ap, t0.Add(4*time.Hour), wpod("shop", "web", "web-1", "ap1", nginx("a")), wpod("shop", "api", "api-1", "ap2", nginx("a")),
		wpod("shop", "api", "api-2", "ap4", nginx("a")))
	check("ap's api scaled up", 1)
	// Where the tag's digest runs changes with us's pods: ap's verdicts, kept, must
	// still name us among those clusters; us rolls back to a.
	f.scan(us, t0.Add(5*time.Hour), wpod("shop", "web", "web-1", "us1", nginx("a")), wpod("shop", "api", "api-1", "us2", nginx("a")))
	check("us back on a", 1)
	// us moves to team-b: every cluster again.
	if _, err := s.UpdateCluster(ctx, "us", ClusterChange{Group: ptr("team-b")}, Audit{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	check("us to team-b", 4)
	// ap deleted: every cluster again (of three left).
	if _, err := s.DeleteCluster(ctx, "ap", false, Audit{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	check("ap deleted", 3)
	// A scan of other, in team-b with us now: only other.
	f.scan(other, t0.Add(6*time.Hour), wpod("shop", "web", "web-9", "ot9", nginx("b")))
	check("other onto b", 1)
}
