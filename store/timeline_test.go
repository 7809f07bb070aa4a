package store

import (
	"context"
	"reflect"
	"testing"
	"time"
)

// TestTimelineSpans reads the timeline of a tag that ran two digests in clusters named
// out of byte order, one of them deleted and registered again under its name: each
// digest oldest first (ties by digest), its clusters and spans by name in byte order, the
// deleted cluster gone (its digest b with it, its pods counted neither now nor ever), its
// successor a span of its own, pods now apart from pods ever, a running digest last seen
// at its clusters' latest scans, and sightings of the clusters running it only.
func TestTimelineSpans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	f := fleet{t, s}
	t0 := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	t1, t2, t3 := t0.Add(time.Hour), t0.Add(2*time.Hour), t0.Add(3*time.Hour)
	alpha, zeta := mustCluster(t, s, "alpha", "t"), mustCluster(t, s, "Zeta", "t")
	f.scan(alpha, t0, wpod("shop", "web", "web-1", "u1", nginx("a")), wpod("shop", "api", "api-1", "u2", nginx("b")))
	f.scan(zeta, t0, wpod("shop", "web", "web-1", "u3", nginx("a")), wpod("shop", "web", "web-2", "u4", nginx("a")))
	f.scan(alpha, t1, wpod("shop", "web", "web-1", "u1", nginx("a")), wpod("shop", "api", "api-1", "u2", nginx("b")))
	if _, err := s.DeleteCluster(ctx, "alpha", false, admin); err != nil {
		t.Fatal(err)
	}
	again := mustCluster(t, s, "alpha", "t")
	f.scan(again, t2, wpod("shop", "web", "web-5", "u5", nginx("a")))
	f.scan(zeta, t3, wpod("shop", "web", "web-1", "u3", nginx("a")))

	got, seen, err := s.Timeline(ctx, nginxRef, Scope{})
	if err != nil {
		t.Fatal(err)
	}
	want := []TimelineDigest{
		{Digest: sha("a"), Letter: "A", FirstSeen: t0, LastSeen: t3, Running: true, Clusters: []string{"Zeta", "alpha"}, Pods: 3,
			PodsNow: 2, ClustersNow: []string{"Zeta", "alpha"}, Spans: []TimelineSpan{
				{Cluster: "Zeta", FirstSeen: t0, LastSeen: t3, Pods: 2, PodsNow: 1, Running: true},
				{Cluster: "alpha", FirstSeen: t2, LastSeen: t2, Pods: 1, PodsNow: 1, Running: true},
			}},
	}
	for i := range got {
		got[i].FirstSeen, got[i].LastSeen = got[i].FirstSeen.UTC(), got[i].LastSeen.UTC()
		for j := range got[i].Spans {
			sp := &got[i].Spans[j]
			sp.FirstSeen, sp.LastSeen = sp.FirstSeen.UTC(), sp.LastSeen.UTC()
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("timeline:\n got %+v\nwant %+v", got, want)
	}
	latest := func(c Cluster) int64 {
		var id int64
		if err := s.pool.QueryRow(ctx, `SELECT id FROM scans WHERE cluster_id = $1 AND status = 'succeeded' ORDER BY id DESC LIMIT 1`, c.ID).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	if want := (Sightings{zeta.ID: latest(zeta), again.ID: latest(again)}); !reflect.DeepEqual(seen, want) {
		t.Errorf("sightings %v, want %v", seen, want)
	}
}
