package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// TestSearchRefs looks up references as the search box does: one reference exactly, and
// the tags of its repository, from the history (a tag that runs no more is still found)
// of every cluster, and not those of a repository whose name only begins the same; and
// the references a digest ran under, for its page.
func TestSearchRefs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	f := fleet{t, s}
	prod, stage := mustCluster(t, s, "prod", "t"), mustCluster(t, s, "stage", "t")
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	f.scan(prod, t0, wpod("shop", "web", "web-1", "u1", "web=nginx:1.25|"+digest("a")))
	f.scan(prod, t0.Add(time.Minute), wpod("shop", "web", "web-2", "u2", "web=nginx:1.26|"+digest("b")))
	f.scan(stage, t0, wpod("shop", "web", "web-3", "u3", "web=nginx:1.27|"+digest("c"),
		"side=nginx-extra:1.25|"+digest("d"), "mirror=mirror.example/nginx:1.25|"+digest("a")))

	const repo = "docker.io/library/nginx"
	for _, tc := range []struct {
		ref, repo string
		want      []string
	}{
		{repo + ":1.25", repo, []string{repo + ":1.25", repo + ":1.26", repo + ":1.27"}},
		{repo + ":9.99", repo, []string{repo + ":1.25", repo + ":1.26", repo + ":1.27"}},
		{repo + "-extra:1.25", repo + "-extra", []string{repo + "-extra:1.25"}},
		{"docker.io/library/redis:7", "docker.io/library/redis", nil},
	} {
		got, err := s.Search(ctx, "", tc.ref, tc.repo, "", "", Scope{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Refs, tc.want) {
			t.Errorf("search %s: %v, want %v", tc.ref, got.Refs, tc.want)
		}
	}

	// Part of a reference: whole path segments at its end, or before its tag.
	for _, tc := range []struct {
		part string
		want []string
	}{
		{"nginx:1.25", []string{repo + ":1.25", "mirror.example/nginx:1.25"}},
		{"library/nginx", []string{repo + ":1.25", repo + ":1.26", repo + ":1.27"}},
		{"nginx:1.2", nil},
		{"nginx:1x25", nil}, // a '.' is a dot, not any character
		{"ginx", nil},
	} {
		got, err := s.Search(ctx, "", "", "", tc.part, "", Scope{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Refs, tc.want) {
			t.Errorf("search %s: %v, want %v", tc.part, got.Refs, tc.want)
		}
	}
	known, err := s.KnownRefs(ctx, 10, Scope{})
	if err != nil || len(known) != 5 || !slices.IsSorted(known) {
		t.Errorf("known references: %v, %v", known, err)
	}

	// Digest a ran as nginx:1.25 in prod (no more) and from a mirror in stage.
	use, err := s.DigestUses(ctx, sha("a"), HistoryPage{Refs: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{repo + ":1.25", "mirror.example/nginx:1.25"}; !slices.Equal(use.Refs, want) {
		t.Errorf("references of digest a: %v, want %v", use.Refs, want)
	}
	if use, err = s.DigestUses(ctx, sha("e"), HistoryPage{Refs: true}); err != nil || len(use.Refs) != 0 {
		t.Errorf("references of a digest never seen: %v, %v", use.Refs, err)
	}
}

// TestSearchNames looks up a name as the search box does: the workloads running now
// that are named so or have a pod named so, in every live cluster, once each, sorted by
// bytes; not a pod that ran under that name before, nor a deleted cluster's workloads.
func TestSearchNames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	f := fleet{t, s}
	prod, stage, old := mustCluster(t, s, "prod", "t"), mustCluster(t, s, "stage", "t"), mustCluster(t, s, "old", "t")
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	f.scan(prod, t0,
		wpod("shop", "web", "web-1", "u1", nginx("a"), "side=nginx:1.25|"+digest("a")),
		wpod("shop", "api", "web", "u2", nginx("a")), // a pod named like the other workload
		wpod("Zoo", "web", "web-9", "u3", nginx("a")),
		wpod("tools", "cron", "gone-1", "u4", nginx("b")))
	// gone-1 stops running, and another pod takes its place.
	f.scan(prod, t0.Add(time.Minute),
		wpod("shop", "web", "web-1", "u1", nginx("a"), "side=nginx:1.25|"+digest("a")),
		wpod("shop", "api", "web", "u2", nginx("a")),
		wpod("Zoo", "web", "web-9", "u3", nginx("a")),
		wpod("tools", "cron", "cron-2", "u5", nginx("b")))
	f.scan(stage, t0, wpod("shop", "web", "web-1", "u6", nginx("a")))
	f.scan(old, t0, wpod("shop", "web", "web-1", "u7", nginx("a")))
	if _, err := s.DeleteCluster(ctx, "old", false, admin); err != nil {
		t.Fatal(err)
	}

	key := func(cluster, ns, name string) WorkloadKey { return WorkloadKey{cluster, ns, "Deployment", name} }
	for _, tc := range []struct {
		name string
		want []WorkloadKey
	}{
		{"web", []WorkloadKey{key("prod", "Zoo", "web"), key("prod", "shop", "api"), key("prod", "shop", "web"), key("stage", "shop", "web")}},
		{" web-1 ", []WorkloadKey{key("prod", "shop", "web"), key("stage", "shop", "web")}},
		{"cron-2", []WorkloadKey{key("prod", "tools", "cron")}},
		{"gone-1", nil},
		{"nothing", nil},
	} {
		got, err := s.Search(ctx, "", "", "", "", tc.name, Scope{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Workloads, tc.want) {
			t.Errorf("search %q: %v, want %v", tc.name, got.Workloads, tc.want)
		}
	}
	// Beginnings of names: pods, workloads, namespaces and live clusters.
	got, err := s.Search(ctx, "", "", "", "", "cro", Scope{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []WorkloadKey{key("prod", "tools", "cron")}; !slices.Equal(got.Workloads, want) {
		t.Errorf("search cro: %v", got.Workloads)
	}
	if got, err = s.Search(ctx, "", "", "", "", "sho", Scope{}); err != nil || !slices.Equal(got.Namespaces, []string{"shop"}) {
		t.Errorf("namespaces of sho: %v, %v", got.Namespaces, err)
	}
	if got, err = s.Search(ctx, "", "", "", "", "pro", Scope{}); err != nil || !slices.Equal(got.Clusters, []string{"prod"}) {
		t.Errorf("clusters of pro: %v, %v", got.Clusters, err)
	}
	if got, err = s.Search(ctx, "", "", "", "", "ol", Scope{}); err != nil || len(got.Clusters) != 0 {
		t.Errorf("a deleted cluster is found: %v, %v", got.Clusters, err)
	}
}

// TestSearchPods finds a workload by the beginning of a pod's name while the pod runs,
// and not once a scan no longer sees it, nor once its cluster is deleted or purged: pods
// named after their workload (found through it) and pods that are not (running_pods,
// checked against the open intervals at every step).
func TestSearchPods(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	f := fleet{t, s}
	prod, stage, dev := mustCluster(t, s, "prod", "t"), mustCluster(t, s, "stage", "t"), mustCluster(t, s, "dev", "t")
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	key := func(cluster, name string) WorkloadKey { return WorkloadKey{cluster, "shop", "Deployment", name} }
	search := func(step, term string, want ...WorkloadKey) {
		t.Helper()
		assertSummary(t, s, step)
		got, err := s.Search(ctx, "", "", "", "", term, Scope{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Workloads, want) {
			t.Errorf("after %s: search %q: %v, want %v", step, term, got.Workloads, want)
		}
	}

	// prod's pods are named after their workload; stage's and dev's are not.
	f.scan(prod, t0,
		wpod("shop", "api", "api-7f9c-x1", "u1", nginx("a"), "side=nginx:1.25|"+digest("a")),
		wpod("shop", "api", "api-7f9c-x2", "u2", nginx("a")))
	f.scan(stage, t0, wpod("shop", "etl", "api-7f9c-x1", "u3", nginx("a")))
	f.scan(dev, t0, wpod("shop", "etl", "api-7f9c-x1", "u4", nginx("a")))
	search("the first scans", "api-7f9c", key("dev", "etl"), key("prod", "api"), key("stage", "etl"))
	search("the first scans", "api-", key("dev", "etl"), key("prod", "api"), key("stage", "etl"))
	search("the first scans", "api-7f9c-x2", key("prod", "api"))
	search("the first scans", "api-7f9c-x3")

	// x2 stops; x1 restarts with another digest (its interval closes, another opens).
	f.scan(prod, t0.Add(time.Minute), wpod("shop", "api", "api-7f9c-x1", "u1", nginx("b")))
	search("x2 stopped", "api-7f9c-x2")
	search("x2 stopped", "api-7f9c-x1", key("dev", "etl"), key("prod", "api"), key("stage", "etl"))

	// A pod of another workload takes x1's name in prod (a StatefulSet's pods keep theirs).
	f.scan(prod, t0.Add(2*time.Minute), wpod("shop", "db", "api-7f9c-x1", "u5", nginx("b")))
	search("another workload took the name", "api-7f9c-x1", key("dev", "etl"), key("prod", "db"), key("stage", "etl"))

	if _, err := s.DeleteCluster(ctx, "stage", false, admin); err != nil {
		t.Fatal(err)
	}
	search("stage deleted", "api-7f9c", key("dev", "etl"), key("prod", "db"))
	if _, err := s.DeleteCluster(ctx, "dev", true, admin); err != nil {
		t.Fatal(err)
	}
	search("dev purged", "api-7f9c", key("prod", "db"))
	var left int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM running_pods WHERE cluster_id <> $1`, prod.ID).Scan(&left); err != nil || left != 0 {
		t.Errorf("running pods of the deleted clusters: %d, %v", left, err)
	}
	if err := s.RebuildSummary(ctx); err != nil {
		t.Fatal(err)
	}
	search("the rebuild", "api-7f9c", key("prod", "db"))
	f.scan(prod, t0.Add(3*time.Minute))
	search("prod runs nothing", "api-7f9c")
}

func TestOddPod(t *testing.T) {
	for _, tc := range []struct {
		pod, workload string
		odd           bool
	}{
		{"web", "web", false},
		{"web-0", "web", false},
		{"web-7d4b9c-x2x9k", "web", false},
		{"web2-0", "web", true},
		{"webapp", "web", true},
		{"driver-1", "etl", true},
		{"we", "web", true},
	} {
		if got := oddPod(tc.pod, tc.workload); got != tc.odd {
			t.Errorf("oddPod(%q, %q) = %v, want %v", tc.pod, tc.workload, got, tc.odd)
		}
	}
	if got, want := dashPrefixes("web-7d4b-x"), []string{"web", "web-7d4b"}; !slices.Equal(got, want) {
		t.Errorf("dashPrefixes: %q, want %q", got, want)
	}
	if got := dashPrefixes("-web"); len(got) != 0 {
		t.Errorf("dashPrefixes(-web): %q", got)
	}
}

// TestSearchDigests looks up digests by a prefix: each once however many intervals ran
// it, sorted, at most SearchLimit, and none past the prefix.
func TestSearchDigests(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	f := fleet{t, s}
	prod, stage := mustCluster(t, s, "prod", "t"), mustCluster(t, s, "stage", "t")
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	hex := func(i int) string { return fmt.Sprintf("ab%062x", i) }
	var pods []inventory.Pod
	for i := range SearchLimit + 5 {
		// Two pods, two clusters and a restart for each: several intervals a digest.
		for _, n := range []int{0, 1} {
			pods = append(pods, wpod("shop", fmt.Sprintf("w%d", i), fmt.Sprintf("w%d-%d", i, n), fmt.Sprintf("u%d-%d", i, n),
				"web=nginx:1.25|docker.io/library/nginx@sha256:"+hex(i)))
		}
	}
	pods = append(pods, wpod("shop", "other", "other-0", "o0", "web=nginx:1.25|docker.io/library/nginx@sha256:"+strings.Repeat("ac", 32)))
	f.scan(prod, t0, pods...)
	f.scan(prod, t0.Add(time.Minute), pods[2:]...)
	f.scan(prod, t0.Add(2*time.Minute), pods...)
	f.scan(stage, t0, pods...)
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"sha256:" + hex(3), []string{"sha256:" + hex(3)}},
		{"sha256:" + hex(0x18)[:63], []string{"sha256:" + hex(0x10), "sha256:" + hex(0x11), "sha256:" + hex(0x12),
			"sha256:" + hex(0x13), "sha256:" + hex(0x14), "sha256:" + hex(0x15), "sha256:" + hex(0x16), "sha256:" + hex(0x17), "sha256:" + hex(0x18)}},
		{"sha256:ac", []string{"sha256:" + strings.Repeat("ac", 32)}},
		{"sha256:ad", nil},
	} {
		got, err := s.Search(ctx, tc.prefix, "", "", "", "", Scope{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Digests, tc.want) {
			t.Errorf("search %s: %v, want %v", tc.prefix, got.Digests, tc.want)
		}
	}
	got, err := s.Search(ctx, "sha256:ab", "", "", "", "", Scope{})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range SearchLimit {
		want = append(want, "sha256:"+hex(i))
	}
	if !slices.Equal(got.Digests, want) {
		t.Errorf("search sha256:ab: %v, want the first %d", got.Digests, SearchLimit)
	}
}
