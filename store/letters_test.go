package store

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/scanner/inventory"
)

func TestLetterName(t *testing.T) {
	t.Parallel()
	for seq, want := range map[int]string{0: "A", 1: "B", 25: "Z", 26: "AA", 27: "AB", 51: "AZ", 52: "BA", 701: "ZZ", 702: "AAA"} {
		if got := LetterName(seq); got != want {
			t.Errorf("LetterName(%d) = %q, want %q", seq, got, want)
		}
	}
}

// TestLettersSurviveRetention: a reference's digests get A, B, C in the order it first
// ran them, in every answer that shows them (timeline, workloads, digest page), and
// keep them after retention has deleted every interval of A, and when A runs again.
func TestLettersSurviveRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	prod := mustCluster(t, s, "prod", "tok")
	stage := mustCluster(t, s, "stage", "tok")
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	scan := func(c Cluster, at time.Time, pods ...inventory.Pod) {
		t.Helper()
		for i := range pods {
			pods[i].Cluster = c.Name
		}
		id, err := s.StartScan(ctx, c.ID, at)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CompleteScan(ctx, id, pods, len(pods), at); err != nil {
			t.Fatal(err)
		}
	}
	const ref = "docker.io/library/nginx:1.25"
	dA, dB, dC := "sha256:"+strings.Repeat("c", 64), "sha256:"+strings.Repeat("a", 64), "sha256:"+strings.Repeat("b", 64)
	// The first digest by hex order (dB) comes second in time: letters follow time.
	scan(prod, t0, pod("web-1", "u1", "app", digest("c")))
	scan(prod, t0.Add(time.Hour), pod("web-2", "u2", "app", digest("a")))
	scan(stage, t0.Add(2*time.Hour), pod("web-3", "u3", "app", digest("b")), pod("web-4", "u4", "app", digest("a")))
	want := map[string]string{dA: "A", dB: "B", dC: "C"}
	check := func(when string) {
		t.Helper()
		keys := []RefDigest{{"docker.io/library/other:1", dA}}
		for d := range want {
			keys = append(keys, RefDigest{ref, d})
		}
		letters, err := s.Letters(ctx, keys, Scope{})
		if err != nil {
			t.Fatal(err)
		}
		for d, l := range want {
			if got := letters[RefDigest{ref, d}]; got != l {
				t.Errorf("%s: Letters says %s is %q, want %q", when, d, got, l)
			}
		}
		if len(letters) != len(want) {
			t.Errorf("%s: Letters gave %d letters, want %d (none for a reference that never ran the digest)", when, len(letters), len(want))
		}
		tl, _, err := s.Timeline(ctx, ref, Scope{})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range tl {
			if d.Letter != want[d.Digest] {
				t.Errorf("%s: timeline has %s as %q, want %q", when, d.Digest, d.Letter, want[d.Digest])
			}
		}
		ws, err := s.ListWorkloads(ctx, WorkloadFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range ws {
			for _, c := range w.Running {
				if c.Letter != want[c.Digest] {
					t.Errorf("%s: workload %s runs %s as %q, want %q", when, w.Name, c.Digest, c.Letter, want[c.Digest])
				}
			}
		}
		use, err := s.DigestUses(ctx, dB, HistoryPage{Refs: true})
		if err != nil {
			t.Fatal(err)
		}
		if use.Letters[ref] != "B" {
			t.Errorf("%s: digest page of B gives it %q under %s", when, use.Letters[ref], ref)
		}
		for _, p := range use.History {
			if p.Ref != ref || p.Letter != "B" {
				t.Errorf("%s: history of B has %s as %q under %q", when, p.Pod, p.Letter, p.Ref)
			}
		}
	}
	check("three scans")
	// prod stops running A; retention deletes its only interval, so the summary
	// forgets it; B and C keep their letters.
	scan(prod, t0.Add(3*time.Hour), pod("web-2", "u2", "app", digest("a")))
	if p, err := s.PruneHistory(ctx, t0.Add(4*time.Hour), 10); err != nil || p.Intervals != 1 {
		t.Fatalf("retention pruned %+v, %v; want the one interval of A", p, err)
	}
	var summarized int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM ref_digest_clusters WHERE digest = $1`, dA).Scan(&summarized); err != nil || summarized != 0 {
		t.Fatalf("A still in the summary after retention: %d rows, %v", summarized, err)
	}
	check("retention")
	// A runs again: still A, and a new digest gets D.
	dD := "sha256:" + strings.Repeat("d", 64)
	scan(prod, t0.Add(5*time.Hour), pod("web-2", "u2", "app", digest("a")), pod("web-5", "u5", "app", digest("c")), pod("web-6", "u6", "app", digest("d")))
	want[dD] = "D"
	check("A again and a new D")
	// RebuildSummary (a repair) gives no digest another letter.
	if err := s.RebuildSummary(ctx); err != nil {
		t.Fatal(err)
	}
	check("rebuild")
}

// TestLettersConcurrentScans: scans of two clusters that see the same new digests at
// once give each one letter, and no two digests of a reference the same.
func TestLettersConcurrentScans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	var clusters []Cluster
	for _, name := range []string{"a", "b", "c", "d"} {
		clusters = append(clusters, mustCluster(t, s, name, "tok"))
	}
	hex := []string{"1", "2", "3", "4", "5", "6"}
	var wg sync.WaitGroup
	errs := make(chan error, len(clusters))
	for i, c := range clusters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pods []inventory.Pod
			for j := range hex {
				h := hex[(i+j)%len(hex)]
				p := pod("p"+h, c.Name+h, "app", digest(h))
				p.Cluster = c.Name
				pods = append(pods, p)
			}
			id, err := s.StartScan(ctx, c.ID, t0)
			if err == nil {
				_, err = s.CompleteScan(ctx, id, pods, len(pods), t0)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var n, distinct, top int
	if err := s.pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT seq), max(seq) FROM digest_letters`).Scan(&n, &distinct, &top); err != nil {
		t.Fatal(err)
	}
	if n != len(hex) || distinct != len(hex) || top != len(hex)-1 {
		t.Fatalf("%d letters, %d distinct, highest seq %d; want %d digests lettered A to F", n, distinct, top, len(hex))
	}
}

// TestScopeLetters: a reader scoped to a group letters a reference's digests among those
// its clusters ran (A for the first), in every read that letters them, and keeps them
// after retention; every cluster's reader keeps the letters given across all clusters.
// Team-b runs c then d (A and B across all clusters), then team-a runs a then b (C and
// D across all clusters, A and B in team-a's scope).
func TestScopeLetters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	a := Audit{Actor: "test"}
	cluster := func(name, group string) Cluster {
		t.Helper()
		c, err := s.RegisterCluster(ctx, NewCluster{Name: name, Server: "https://c:6443", Context: "c",
			Credentials: []byte(`{}`), Enabled: true, Group: group}, a)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	beta, alpha := cluster("beta", "team-b"), cluster("alpha", "team-a")
	f := fleet{t, s}
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	f.scan(beta, t0, wpod("ns", "billing", "billing-1", "b1", nginx("c")))
	f.scan(beta, t0.Add(time.Hour), wpod("ns", "billing", "billing-1", "b1", nginx("c")), wpod("ns", "billing", "billing-2", "b2", nginx("d")))
	f.scan(alpha, t0.Add(2*time.Hour), wpod("ns", "shop", "shop-1", "a1", nginx("a")))
	f.scan(alpha, t0.Add(3*time.Hour), wpod("ns", "shop", "shop-2", "a2", nginx("b")))
	g, err := s.GroupByName(ctx, "team-a")
	if err != nil {
		t.Fatal(err)
	}
	teamA := Scope{Limited: true, GroupIDs: []int64{g.ID}}
	const ref = "docker.io/library/nginx:1.25"
	check := func(when string, sc Scope, want map[string]string, pages ...string) {
		t.Helper()
		var keys []RefDigest
		for _, l := range []string{"a", "b", "c", "d"} {
			keys = append(keys, RefDigest{ref, sha(l)})
		}
		letters, err := s.Letters(ctx, keys, sc)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range []string{"a", "b", "c", "d"} {
			if got := letters[RefDigest{ref, sha(l)}]; got != want[l] {
				t.Errorf("%s: Letters has %s as %q, want %q", when, l, got, want[l])
			}
		}
		tl, _, err := s.Timeline(ctx, ref, sc)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range tl {
			if l := d.Digest[len(d.Digest)-1:]; d.Letter != want[l] {
				t.Errorf("%s: the timeline has %s as %q, want %q", when, l, d.Letter, want[l])
			}
		}
		ws, err := s.ListWorkloads(ctx, WorkloadFilter{Scope: sc})
		if err != nil {
			t.Fatal(err)
		}
		bodies, err := s.ListWorkloadBodies(ctx, WorkloadFilter{Scope: sc})
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range ws {
			var body struct{ Running []RunningContainer }
			if err := json.Unmarshal(bodies[i].Containers, &body); err != nil {
				t.Fatal(err)
			}
			for j, c := range w.Running {
				if l := c.Digest[len(c.Digest)-1:]; c.Letter != want[l] || body.Running[j].Letter != want[l] {
					t.Errorf("%s: workload %s runs %s as %q (its body: %q), want %q", when, w.Name, l, c.Letter, body.Running[j].Letter, want[l])
				}
			}
		}
		for _, l := range pages { // the digests with a history to show
			use, err := s.DigestUses(ctx, sha(l), HistoryPage{Refs: true, Scope: sc})
			if err != nil {
				t.Fatal(err)
			}
			if use.Letters[ref] != want[l] {
				t.Errorf("%s: digest %s is %q under %s, want %q", when, l, use.Letters[ref], ref, want[l])
			}
			for _, p := range use.History {
				if p.Letter != want[l] {
					t.Errorf("%s: the history of %s has it as %q, want %q", when, l, p.Letter, want[l])
				}
			}
		}
	}
	check("every cluster", Scope{}, map[string]string{"c": "A", "d": "B", "a": "C", "b": "D"}, "a", "b")
	check("team-a", teamA, map[string]string{"a": "A", "b": "B"}, "a", "b")
	// Retention deletes the interval of a (closed at 3h): b stays team-a's B.
	if p, err := s.PruneHistory(ctx, t0.Add(4*time.Hour), 10); err != nil || p.Intervals == 0 {
		t.Fatalf("retention pruned %+v, %v", p, err)
	}
	check("team-a after retention", teamA, map[string]string{"a": "A", "b": "B"}, "b")
	if err := s.RebuildSummary(ctx); err != nil {
		t.Fatal(err)
	}
	check("team-a after a rebuild", teamA, map[string]string{"a": "A", "b": "B"}, "b")
	check("every cluster after a rebuild", Scope{}, map[string]string{"c": "A", "d": "B", "a": "C", "b": "D"}, "b")
}
