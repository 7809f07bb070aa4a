package store

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestDigestMutations checks what a digest's page lists: the mutations and tag moves
// whose digests include it, newest first, of the references given, and where each
// reference's tag points now in each group (its newest move there).
func TestDigestMutations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	f := fleet{t, s}
	eu, us := f.register("eu", "team-a"), f.register("us", "team-b")
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	// eu: a, then b beside it (a move a→b and a divergence), then c everywhere (b→c).
	f.scan(eu, t0, wpod("shop", "web", "web-1", "u1", nginx("a")))
	f.scan(eu, t0.Add(time.Hour), wpod("shop", "web", "web-1", "u1", nginx("a")), wpod("shop", "web", "web-2", "u2", nginx("b")))
	// us, another group: b then d (a move b→d of its own), and another reference on b.
	f.scan(us, t0.Add(2*time.Hour), wpod("shop", "web", "web-1", "u3", nginx("b")))
	f.scan(us, t0.Add(3*time.Hour), wpod("shop", "web", "web-1", "u3", nginx("d")),
		wpod("tools", "cli", "cli-1", "u4", "cli=nginx:1.26|"+digest("b")))
	f.scan(eu, t0.Add(4*time.Hour), wpod("shop", "web", "web-3", "u5", nginx("c")))

	kinds := func(d string, refs []string) []string {
		t.Helper()
		ms, err := s.DigestMutations(ctx, sha(d), refs, 0, Scope{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for i, m := range ms {
			if i > 0 && m.DetectedAt.After(ms[i-1].DetectedAt) {
				t.Errorf("mutation %d detected after the one before it", i)
			}
			if !slices.Contains(m.Digests, sha(d)) {
				t.Errorf("mutation %d (%s) does not involve %s: %v", m.ID, m.Kind, d, m.Digests)
			}
			out = append(out, m.DetectedAt.UTC().Format("15")+" "+m.Cluster+" "+string(m.Kind))
		}
		// Of one time, in any order: newest first, then by name.
		slices.Sort(out)
		slices.Reverse(out)
		return out
	}
	// b: the move to it and the divergence in eu, the move from it (b→c) in eu, the move
	// from it in us (b→d) and the pod that drifted with it; newest first.
	got := kinds("b", []string{nginxRef})
	want := []string{"14 eu tag-moved", "13 us tag-moved", "13 us pod-drift", "11 eu workload-divergence", "11 eu tag-moved"}
	if !slices.Equal(got, want) {
		t.Errorf("mutations of b:\n got  %v\n want %v", got, want)
	}
	// Only the references given: nginx:1.26 ran b, and has no mutation.
	if got := kinds("b", []string{"docker.io/library/nginx:1.26"}); len(got) != 0 {
		t.Errorf("mutations of b under nginx:1.26: %v", got)
	}
	if got := kinds("d", []string{nginxRef}); !slices.Equal(got, []string{"13 us tag-moved", "13 us pod-drift"}) {
		t.Errorf("mutations of d: %v", got)
	}
	if got, err := s.DigestMutations(ctx, sha("b"), nil, 0, Scope{}); err != nil || len(got) != 0 {
		t.Errorf("no reference: %v, %v", got, err)
	}
	if ms, err := s.DigestMutations(ctx, sha("b"), []string{nginxRef}, 2, Scope{}); err != nil || len(ms) != 2 {
		t.Errorf("limit 2: %d, %v", len(ms), err)
	}

	// Where the tag points: c in team-a (moved from b at t0+4h), d in team-b.
	targets, err := s.TagTargets(ctx, []string{nginxRef, "docker.io/library/nginx:1.26"}, Scope{})
	if err != nil {
		t.Fatal(err)
	}
	var tg []string
	for _, x := range targets {
		tg = append(tg, x.Ref+" "+x.Group+" "+x.From[7:8]+"→"+x.Digest[7:8]+" "+x.MovedAt.UTC().Format("15:04"))
	}
	wantTargets := []string{nginxRef + " team-a b→c 14:00", nginxRef + " team-b b→d 13:00"}
	if !slices.Equal(tg, wantTargets) {
		t.Errorf("tag targets:\n got  %v\n want %v", tg, wantTargets)
	}
}
