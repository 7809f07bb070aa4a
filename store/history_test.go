package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// TestDigestHistoryPaging checks that a page of the history holds at most HistoryLimit
// intervals, newest first, while every running place is listed, and that paging
// through it with the key of each page's last interval returns every interval once, in
// order (ties in first sighting broken by id), whatever the page size.
func TestDigestHistoryPaging(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	f := fleet{t, s}
	c := mustCluster(t, s, "prod", "t")
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	var pods []inventory.Pod
	for i := range HistoryLimit {
		pods = append(pods, wpod("shop", "web", fmt.Sprintf("web-%04d", i), fmt.Sprintf("u%d", i), nginx("a")))
	}
	f.scan(c, t0, pods...)
	f.scan(c, t0.Add(time.Minute), append(pods[:10:10], wpod("shop", "web", "late", "late", nginx("a")))...)
	use, err := s.DigestUses(ctx, sha("a"), HistoryPage{})
	if err != nil {
		t.Fatal(err)
	}
	if len(use.History) != HistoryLimit || len(use.Running) != 11 {
		t.Fatalf("%d intervals, %d running", len(use.History), len(use.Running))
	}
	if h := use.History[0]; h.Pod != "late" || !h.FirstSeen.Equal(t0.Add(time.Minute)) || !h.LastSeen.Equal(t0.Add(time.Minute)) {
		t.Errorf("newest interval: %+v", h)
	}
	if h := use.History[1]; !h.FirstSeen.Equal(t0) || h.LastSeen.Before(t0) {
		t.Errorf("second interval: %+v", h)
	}
	if !slices.IsSortedFunc(use.Running, detect.ComparePlaces) || use.Running[0].Pod != "late" {
		t.Errorf("running not sorted: %+v", use.Running[:2])
	}

	all, err := s.DigestUses(ctx, sha("a"), HistoryPage{Limit: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.History) != HistoryLimit+1 {
		t.Fatalf("%d intervals in one page, want %d", len(all.History), HistoryLimit+1)
	}
	for i := 1; i < len(all.History); i++ {
		a, b := all.History[i-1].Key, all.History[i].Key
		if !(a.FirstSeen.After(b.FirstSeen) || a.FirstSeen.Equal(b.FirstSeen) && a.ID > b.ID) {
			t.Fatalf("history out of order at %d: %+v then %+v", i, a, b)
		}
	}
	for _, size := range []int{1, 7, 333, HistoryLimit} {
		var got []DigestPlace
		var before *HistoryKey
		for pages := 0; ; pages++ {
			if pages > len(all.History)+1 {
				t.Fatalf("page size %d: paging does not end", size)
			}
			p, err := s.DigestUses(ctx, sha("a"), HistoryPage{Before: before, Limit: size})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.History) > size || len(p.Running) != 11 {
				t.Fatalf("page size %d: %d intervals, %d running", size, len(p.History), len(p.Running))
			}
			got = append(got, p.History...)
			if len(p.History) < size {
				break
			}
			before = &p.History[len(p.History)-1].Key
		}
		if !slices.EqualFunc(got, all.History, func(a, b DigestPlace) bool {
			return a.Key.ID == b.Key.ID && a.Place == b.Place && a.FirstSeen.Equal(b.FirstSeen) && a.LastSeen.Equal(b.LastSeen)
		}) {
			t.Errorf("page size %d: %d intervals paged, want the %d of one read in its order", size, len(got), len(all.History))
		}
	}
}

// TestHistoryEventsStored follows one container through restarts that are not events
// (onto the same digest reported in another form, back to a digest it ran, onto an
// image ID of the same image, a new pod on another architecture) and one that is: the
// store records exactly the tag-moved and pod-drift of the real move, once.
func TestHistoryEventsStored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	f := fleet{t, s}
	c := mustCluster(t, s, "prod", "t")
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	web := func(imageID string) inventory.Pod {
		return wpod("shop", "web", "web-1", "u1", "web=nginx:1.25|"+imageID)
	}
	events := func() []string {
		t.Helper()
		ms, err := s.ListMutations(ctx, MutationFilter{State: StateClosed})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, fmt.Sprintf("%s %s>%s %s", m.Kind, imageref.Short(m.Digests[0]), imageref.Short(m.Digests[1]), m.Places[0].Pod))
		}
		slices.Sort(out)
		return out
	}
	steps := []struct {
		what   string
		pods   []inventory.Pod
		events int
	}{
		{"first sighting", []inventory.Pod{web(digest("a"))}, 0},
		{"a restart onto the same digest, reported by dockershim", []inventory.Pod{web("docker-pullable://nginx@" + sha("a"))}, 0},
		{"the tag moved under a restart", []inventory.Pod{web(digest("b"))}, 2},
		// Not a move of the tag, but a change of the code under the running pod.
		{"back to the old digest", []inventory.Pod{web(digest("a"))}, 1},
		{"an image ID of the same image", []inventory.Pod{web(sha("c"))}, 0},
		{"a new pod on another architecture", func() []inventory.Pod {
			p := wpod("shop", "web", "web-2", "u2", "web=nginx:1.25|"+sha("d"))
			p.Arch, p.Node = "arm64", "node-2"
			return []inventory.Pod{web(sha("c")), p}
		}(), 0},
	}
	for i, st := range steps {
		if got := f.scan(c, at(i), st.pods...); got.Events != st.events {
			t.Errorf("%s: %d events, want %d", st.what, got.Events, st.events)
		}
	}
	if got, want := events(), []string{"pod-drift aaaaaaaaaaaa>bbbbbbbbbbbb web-1", "pod-drift bbbbbbbbbbbb>aaaaaaaaaaaa web-1",
		"tag-moved aaaaaaaaaaaa>bbbbbbbbbbbb web-1"}; !slices.Equal(got, want) {
		t.Errorf("events: %v, want %v", got, want)
	}
	// The same listing again records nothing more.
	if got := f.scan(c, at(len(steps)), steps[len(steps)-1].pods...); got.Events != 0 {
		t.Errorf("the last listing seen again: %d events", got.Events)
	}
	// Back onto b after the image ID: a drift from a, the last digest of its class.
	if got := f.scan(c, at(len(steps)+1), web(digest("b"))); got.Events != 1 {
		t.Errorf("back onto b over an image ID: %d events, want 1", got.Events)
	}
}

// TestPodDriftReturnsStored writes scans in sequence for one pod container that goes
// A→B→A, and one of another cluster that goes A→B→A→B: every change is a pod-drift of
// its own, a return to an earlier digest and the same change again included (two and
// three), each at the time of its scan; and an event written again at the same time is
// the same row.
func TestPodDriftReturnsStored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	f := fleet{t, s}
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	web := func(l string) inventory.Pod { return wpod("shop", "web", "web-1", "u1", nginx(l)) }
	drifts := func(cluster string) []Mutation {
		t.Helper()
		ms, err := s.ListMutations(ctx, MutationFilter{Cluster: cluster, Kind: "pod-drift", State: StateAll, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(ms, func(a, b Mutation) int { return a.DetectedAt.Compare(b.DetectedAt) })
		return ms
	}
	for i, tc := range []struct {
		cluster string
		digests string // one letter a scan
		events  []int  // each scan's events
		drifts  []string
	}{
		{"one", "aba", []int{0, 2, 1}, []string{"a>b", "b>a"}},
		// The tag moved to b in cluster one already: only drifts here.
		{"two", "abab", []int{0, 1, 1, 1}, []string{"a>b", "b>a", "a>b"}},
	} {
		c := mustCluster(t, s, tc.cluster, "t")
		start := t0.Add(time.Duration(i) * time.Hour)
		at := func(j int) time.Time { return start.Add(time.Duration(j) * time.Minute) }
		for j, l := range tc.digests {
			if got := f.scan(c, at(j), web(string(l))); got.Events != tc.events[j] {
				t.Errorf("%s, scan %d onto %c: %d events, want %d", tc.cluster, j, l, got.Events, tc.events[j])
			}
		}
		// A rescan of the same listing records nothing more.
		if got := f.scan(c, at(len(tc.digests)), web(tc.digests[len(tc.digests)-1:])); got.Events != 0 {
			t.Errorf("%s, a rescan: %d events", tc.cluster, got.Events)
		}
		ms := drifts(tc.cluster)
		var got []string
		for j, m := range ms {
			got = append(got, m.Digests[0][len(m.Digests[0])-1:]+">"+m.Digests[1][len(m.Digests[1])-1:])
			// Each at the time of the scan that saw it (CompleteScan's, a second after
			// the start).
			if want := at(j + 1).Add(time.Second); !m.DetectedAt.Equal(want) {
				t.Errorf("%s, drift %d detected at %s, want %s", tc.cluster, j, m.DetectedAt, want)
			}
		}
		if !slices.Equal(got, tc.drifts) {
			t.Errorf("%s: pod-drifts %v, want %v", tc.cluster, got, tc.drifts)
		}
		// The same event written again at its time is the same row; at another, another.
		last := ms[len(ms)-1]
		ev := detect.Mutation{Kind: detect.PodDrift, Cluster: tc.cluster, Namespace: "shop", Container: "web", Ref: nginxRef,
			Digests: last.Digests, Places: last.Places, Identity: last.Identity}
		for _, w := range []struct {
			at   time.Time
			rows int
		}{{last.DetectedAt, 0}, {last.DetectedAt.Add(time.Hour), 1}} {
			if err := s.tx(ctx, func(tx pgx.Tx) error {
				n, err := storeEvents(ctx, tx, s.bodies, c.ID, []detect.Mutation{ev}, w.at)
				if err == nil && n != w.rows {
					t.Errorf("%s: the last drift written again at %s: %d rows, want %d", tc.cluster, w.at, n, w.rows)
				}
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestDigestRunningPaging pages through what runs a digest in three clusters registered
// out of name order, each with several workloads, one of them running the digest in two
// containers of one pod: every page size gives every running place once, in the order
// of the whole list (by cluster name, then namespace, workload, pod and container by
// bytes), each page at most its size.
func TestDigestRunningPaging(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	f := fleet{t, s}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for ci, name := range []string{"zeta", "alpha", "Mid"} {
		c := mustCluster(t, s, name, "t")
		var pods []inventory.Pod
		for w := range 3 {
			for p := range 4 - w {
				uid := fmt.Sprintf("u%d-%d-%d", ci, w, p)
				containers := []string{nginx("a")}
				if w == 1 && p == 0 {
					containers = append(containers, "sidecar="+strings.TrimPrefix(nginx("a"), "web="))
				}
				pods = append(pods, wpod(fmt.Sprintf("ns-%d", w%2), fmt.Sprintf("w%d", w), fmt.Sprintf("pod-%d", p), uid, containers...))
			}
		}
		pods = append(pods, wpod("ns-0", "other", "other-0", fmt.Sprintf("o%d", ci), nginx("b")))
		f.scan(c, t0, pods...)
	}
	whole, err := s.DigestUses(ctx, sha("a"), HistoryPage{})
	if err != nil {
		t.Fatal(err)
	}
	if len(whole.Running) != 3*(4+3+2+1) || whole.RunningNext != nil || !slices.IsSortedFunc(whole.Running, detect.ComparePlaces) {
		t.Fatalf("%d running, next %v, sorted %v", len(whole.Running), whole.RunningNext, slices.IsSortedFunc(whole.Running, detect.ComparePlaces))
	}
	for _, size := range []int{1, 2, 7, 29, 30, 100} {
		var got []detect.Place
		var after *RunningKey
		for pages := 0; ; pages++ {
			if pages > len(whole.Running)+1 {
				t.Fatalf("page size %d: paging does not end", size)
			}
			p, err := s.DigestUses(ctx, sha("a"), HistoryPage{RunningLimit: size, RunningAfter: after})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Running) > size || (p.RunningNext == nil) != (len(got)+len(p.Running) == len(whole.Running)) {
				t.Fatalf("page size %d, page %d: %d running, next %v", size, pages, len(p.Running), p.RunningNext)
			}
			got = append(got, p.Running...)
			if p.RunningNext == nil {
				break
			}
			after = p.RunningNext
		}
		if !slices.Equal(got, whole.Running) {
			t.Errorf("page size %d: paged\n%v\nwant\n%v", size, got, whole.Running)
		}
	}
}
