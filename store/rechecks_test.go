package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// TestRechecksUnderConcurrentScans completes scans of four clusters at once while two
// rechecks (two replicas) work the queue: whatever the interleaving, once the queue is
// empty the tag-divergence is what the clusters run, never a recheck's stale read.
func TestRechecksUnderConcurrentScans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	var clusters []Cluster
	for i := range 4 {
		clusters = append(clusters, mustCluster(t, s, fmt.Sprintf("c%d", i), "t"))
	}
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	// round scans every cluster at once, cluster i running letters[i], with two
	// rechecks racing them, then works off what is left.
	round := func(n int, letters []string) {
		t.Helper()
		at := t0.Add(time.Duration(n) * time.Minute)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		done := make(chan struct{})
		for i, c := range clusters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := wpod("shop", "web", "web-1", fmt.Sprintf("u%d-%d", i, n), nginx(letters[i]))
				p.Cluster = c.Name
				id, err := s.StartScan(ctx, c.ID, at)
				if err == nil {
					_, err = s.CompleteScan(ctx, id, []inventory.Pod{p}, 1, at)
				}
				errs <- err
			}()
		}
		var drains sync.WaitGroup
		for range 2 {
			drains.Add(1)
			go func() {
				defer drains.Done()
				for {
					if _, err := s.RecheckRefs(ctx, 1, at); err != nil {
						errs <- err
						return
					}
					select {
					case <-done:
						return
					default:
					}
				}
			}()
		}
		wg.Wait()
		close(done)
		drains.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		fleet{t, s}.recheck(at)
	}
	open := func() []string {
		t.Helper()
		ms, err := s.ListMutations(ctx, MutationFilter{Kind: "tag-divergence"})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, fmt.Sprint(len(m.Places), " places ", len(m.Digests), " digests"))
		}
		return out
	}
	step := 0
	for n, tc := range []struct {
		letters []string
		want    []string
	}{
		{[]string{"a", "a", "a", "a"}, nil},
		{[]string{"b", "b", "b", "b"}, nil},
		{[]string{"b", "c", "b", "b"}, []string{"4 places 2 digests"}},
		{[]string{"c", "c", "c", "c"}, nil},
		{[]string{"d", "d", "e", "e"}, []string{"4 places 2 digests"}},
		{[]string{"e", "e", "e", "e"}, nil},
	} {
		for range 3 { // a few interleavings of each, on new pods
			step++
			round(step, tc.letters)
			if got := open(); !slices.Equal(got, tc.want) {
				t.Fatalf("round %d %v: open tag-divergences %v, want %v", n, tc.letters, got, tc.want)
			}
			if q, err := s.QueuedRechecks(ctx); err != nil || len(q) != 0 {
				t.Fatalf("round %d: still queued %v, %v", n, q, err)
			}
		}
	}
}
