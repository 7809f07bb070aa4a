package store

import (
	"context"
	"slices"
	"testing"
	"time"
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
		got, err := s.Search(ctx, "", tc.ref, tc.repo, "")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Refs, tc.want) {
			t.Errorf("search %s: %v, want %v", tc.ref, got.Refs, tc.want)
		}
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
