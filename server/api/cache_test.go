package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
)

// TestCachedReadsFollowTheData reads workloads, a timeline and a digest, changes the
// rows behind the store's back (the cached answers stay: they are served, not
// recomputed), then lets a scan and a mutation move the data version: every answer is
// made afresh and shows the change.
func TestCachedReadsFollowTheData(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	viewer := e.as("viewer")
	f := &fleet{t: t, e: e, id: map[string]int64{}}
	want(t, e.as("admin").send("POST", "/api/v1/clusters", clusterBody("prod", testKubeconfig("", ""), "")), http.StatusCreated)
	c, err := e.st.ClusterStatusByName(context.Background(), "prod", store.Scope{})
	if err != nil {
		t.Fatal(err)
	}
	f.id["prod"] = c.ID
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	f.scan("prod", t0, webPod("prod", "web-a", "u-a", "a"), webPod("prod", "web-b", "u-b", "a"))

	paths := []string{"/api/v1/workloads?mutant=false", "/api/v1/images/timeline?ref=nginx:1.25", "/api/v1/digests/" + digestOf("a")}
	read := func() []string {
		t.Helper()
		var out []string
		for _, p := range paths {
			res := viewer.get(p)
			want(t, res, http.StatusOK)
			out = append(out, string(res.body))
		}
		return out
	}
	first := read()

	// Behind the store's back: the pods' namespace changes without a version bump.
	if _, err := e.st.Pool().Exec(context.Background(), `UPDATE observations SET namespace = 'elsewhere'`); err != nil {
		t.Fatal(err)
	}
	for i, body := range read() {
		if body != first[i] {
			t.Errorf("%s was made afresh while the data version held:\n%s\n%s", paths[i], first[i], body)
		}
	}

	// A scan where web-b pulled digest b moves the version: every answer changes.
	f.scan("prod", t0.Add(time.Minute), webPod("prod", "web-a", "u-a", "a"), webPod("prod", "web-b2", "u-b2", "b"))
	for i, body := range read() {
		if body == first[i] {
			t.Errorf("%s still answers from before the scan:\n%s", paths[i], body)
		}
	}
}

// cacheFleet is two clusters for the cache tests: prod runs nginx:1.25 at digest a,
// stage runs redis:7 at digest c. It returns the fleet, an API over the same database
// without a cache (fresh answers to compare with), and when prod was first scanned.
func cacheFleet(t *testing.T) (*fleet, *testEnv, time.Time) {
	t.Helper()
	e := newEnv(t, nil)
	f := &fleet{t: t, e: e, id: map[string]int64{}}
	for _, name := range []string{"prod", "stage"} {
		want(t, e.as("admin").send("POST", "/api/v1/clusters", clusterBody(name, testKubeconfig("", ""), "")), http.StatusCreated)
		c, err := e.st.ClusterStatusByName(context.Background(), name, store.Scope{})
		if err != nil {
			t.Fatal(err)
		}
		f.id[name] = c.ID
	}
	uncached := *e
	uncached.cfg.CacheBytes = -1
	uncached.h = handler(uncached.cfg)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	f.scan("prod", t0, webPod("prod", "web-a", "u-a", "a"), webPod("prod", "web-b", "u-b", "a"))
	f.scan("stage", t0, redisPod("stage", "cache-a", "u-c", "c"))
	return f, &uncached, t0
}

// redisPod is a pod of StatefulSet cache in shop running redis:7 at a digest.
func redisPod(cluster, name, uid, letter string) inventory.Pod {
	p := webPod(cluster, name, uid, letter)
	ref := imageref.ParseRef("redis:7")
	id, _ := imageref.ParseImageID("docker.io/library/redis@" + digestOf(letter))
	p.Workload = inventory.Workload{Kind: "StatefulSet", Name: "cache"}
	p.Controller = inventory.Controller{Kind: "StatefulSet", Name: "cache", UID: "sts-1", Revision: "cache-1"}
	p.Containers = []inventory.Container{{Name: "redis", Type: inventory.Regular, Ref: &ref, ID: &id}}
	return p
}

// readAll reads paths through e's API.
func readAll(t *testing.T, e *testEnv, paths []string) []string {
	t.Helper()
	out := make([]string, len(paths))
	for i, p := range paths {
		res := e.as("viewer").get(p)
		want(t, res, http.StatusOK)
		out[i] = string(res.body)
	}
	return out
}

// TestSteadyScanKeepsOtherAnswers checks that a scan of prod in which nothing changed
// keeps the cached answers that show no sighting of prod (stage's timeline and digest,
// and every workloads page, which show no sighting at all), and makes afresh those that
// show prod's last sighting. The rows are changed behind the store's back first, so an
// answer served from the cache is told from one made afresh.
func TestSteadyScanKeepsOtherAnswers(t *testing.T) {
	t.Parallel()
	f, uncached, t0 := cacheFleet(t)
	e := f.e
	kept := []string{
		"/api/v1/images/timeline?ref=redis:7", "/api/v1/digests/" + digestOf("c"),
		"/api/v1/workloads?cluster=stage", "/api/v1/workloads?cluster=prod", "/api/v1/workloads",
	}
	renewed := []string{"/api/v1/images/timeline?ref=nginx:1.25", "/api/v1/digests/" + digestOf("a")}
	keptBefore, renewedBefore := readAll(t, e, kept), readAll(t, e, renewed)

	ctx := context.Background()
	for _, q := range []string{
		`UPDATE observations SET namespace = 'elsewhere'`,
		`UPDATE ref_digest_clusters SET pods = pods + 100`,
	} {
		if _, err := e.st.Pool().Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	f.scan("prod", t0.Add(time.Minute), webPod("prod", "web-a", "u-a", "a"), webPod("prod", "web-b", "u-b", "a"))

	for i, body := range readAll(t, e, kept) {
		if body != keptBefore[i] {
			t.Errorf("%s was made afresh after a steady scan of another cluster:\n%s\n%s", kept[i], keptBefore[i], body)
		}
	}
	fresh := readAll(t, uncached, renewed)
	for i, body := range readAll(t, e, renewed) {
		if body == renewedBefore[i] {
			t.Errorf("%s still shows prod's sighting from before its scan:\n%s", renewed[i], body)
		}
		if body != fresh[i] {
			t.Errorf("%s differs from a fresh answer:\n%s\n%s", renewed[i], body, fresh[i])
		}
		if !strings.Contains(body, t0.Add(time.Minute).Format(time.RFC3339)) {
			t.Errorf("%s does not show the last scan's start as the last sighting: %s", renewed[i], body)
		}
	}

	// A change in stage moves the data version: every answer is made afresh.
	f.scan("stage", t0.Add(2*time.Minute), redisPod("stage", "cache-a", "u-c", "c"), redisPod("stage", "cache-b", "u-d", "c"))
	all := append(kept, renewed...)
	fresh = readAll(t, uncached, all)
	for i, body := range readAll(t, e, all) {
		if body != fresh[i] {
			t.Errorf("%s after a change differs from a fresh answer:\n%s\n%s", all[i], body, fresh[i])
		}
	}
}

// TestCachedReadsFreshAfterEveryWrite fills the cache, then makes each kind of write
// the store has and checks that every cached read answers what an API without a cache
// answers.
func TestCachedReadsFreshAfterEveryWrite(t *testing.T) {
	t.Parallel()
	f, uncached, t0 := cacheFleet(t)
	e := f.e
	ctx := context.Background()
	st := e.st
	paths := []string{
		"/api/v1/workloads", "/api/v1/workloads?mutant=true", "/api/v1/workloads?cluster=prod",
		"/api/v1/workloads?cluster=stage&limit=1",
		"/api/v1/images/timeline?ref=nginx:1.25", "/api/v1/images/timeline?ref=redis:7",
		"/api/v1/digests/" + digestOf("a"), "/api/v1/digests/" + digestOf("b"), "/api/v1/digests/" + digestOf("c"), "/api/v1/digests/" + digestOf("d"),
	}
	minute := 0
	at := func() time.Time { minute++; return t0.Add(time.Duration(minute) * time.Minute) }
	scanOnly := func(cluster string, pods ...inventory.Pod) int64 {
		t.Helper()
		id, err := st.StartScan(ctx, f.id[cluster], at())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CompleteScan(ctx, id, pods, len(pods), at()); err != nil {
			t.Fatal(err)
		}
		return id
	}
	webA, webB := webPod("prod", "web-a", "u-a", "a"), webPod("prod", "web-b", "u-b", "a")
	cacheA := redisPod("stage", "cache-a", "u-c", "c")
	webS := webPod("stage", "web-s", "u-s", "d")
	webS.Controller.UID = "rs-s"
	var lastScan int64
	writes := []struct {
		what string
		do   func()
	}{
		{"steady scan of prod", func() { lastScan = scanOnly("prod", webA, webB) }},
		{"steady scan of stage", func() { scanOnly("stage", cacheA) }},
		{"annotation recorded", func() {
			if err := st.RecordAnnotation(ctx, lastScan, f.id["prod"], nil, nil, 2, "", at()); err != nil {
				t.Fatal(err)
			}
		}},
		{"failed scan", func() {
			id, err := st.StartScan(ctx, f.id["prod"], at())
			if err != nil {
				t.Fatal(err)
			}
			if err := st.EndScan(ctx, id, store.ScanFailed, store.ScanError{Class: "unreachable", Message: "refused"}, at()); err != nil {
				t.Fatal(err)
			}
		}},
		{"a pod pulls a moved tag (workload-divergence, tag-moved)", func() {
			webB = webPod("prod", "web-b2", "u-b2", "b")
			scanOnly("prod", webA, webB)
		}},
		{"stage starts running nginx at digest d, not rechecked yet", func() {
			scanOnly("stage", cacheA, webS)
		}},
		{"recheck opens a tag-divergence", func() {
			r, err := st.RecheckRefs(ctx, 100, at())
			if err != nil {
				t.Fatal(err)
			}
			if r.Opened != 1 {
				t.Fatalf("the recheck did %+v, want a tag-divergence opened", r)
			}
		}},
		{"steady scan of stage with mutations open", func() { scanOnly("stage", cacheA, webS) }},
		{"prod's pod with the moved tag goes", func() { scanOnly("prod", webA) }},
		{"recheck updates the tag-divergence", func() {
			r, err := st.RecheckRefs(ctx, 100, at())
			if err != nil {
				t.Fatal(err)
			}
			if r.Updated != 1 {
				t.Fatalf("the recheck did %+v, want the tag-divergence updated", r)
			}
		}},
		{"cluster edited", func() {
			enabled := false
			if _, err := st.UpdateCluster(ctx, "stage", store.ClusterChange{Enabled: &enabled}, store.Audit{Actor: "test"}); err != nil {
				t.Fatal(err)
			}
		}},
		{"retention deletes the closed intervals and resolved mutations", func() {
			if _, err := st.PruneHistory(ctx, time.Now().Add(time.Hour), 2); err != nil {
				t.Fatal(err)
			}
		}},
		{"cluster added and scanned", func() {
			want(t, e.as("admin").send("POST", "/api/v1/clusters", clusterBody("third", testKubeconfig("", ""), "")), http.StatusCreated)
			c, err := st.ClusterStatusByName(ctx, "third", store.Scope{})
			if err != nil {
				t.Fatal(err)
			}
			f.id["third"] = c.ID
			scanOnly("third", redisPod("third", "cache-t", "u-t", "c"))
		}},
		{"stage deleted", func() {
			if _, err := st.DeleteCluster(ctx, "stage", false, store.Audit{Actor: "test"}); err != nil {
				t.Fatal(err)
			}
		}},
		{"steady scan of third", func() { scanOnly("third", redisPod("third", "cache-t", "u-t", "c")) }},
		{"prod purged", func() {
			if _, err := st.DeleteCluster(ctx, "prod", true, store.Audit{Actor: "test"}); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, w := range writes {
		before := readAll(t, e, paths) // fills the cache
		w.do()
		got, fresh := readAll(t, e, paths), readAll(t, uncached, paths)
		changed := false
		for i := range paths {
			if got[i] != fresh[i] {
				t.Errorf("after %s, %s is stale:\n got %s\nwant %s", w.what, paths[i], got[i], fresh[i])
			}
			changed = changed || fresh[i] != before[i]
		}
		t.Logf("%s: answers changed: %t", w.what, changed)
	}
}

// TestDigestHistoryPages pages through a digest's history of more than one page: the
// API with its cursor returns every interval once, in the order of one big page; a
// cursor of another digest is refused. (The UI's digest page is tested on the same
// history in server/ui.)
func TestDigestHistoryPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	f := &fleet{t: t, e: e, id: map[string]int64{}}
	want(t, e.as("admin").send("POST", "/api/v1/clusters", clusterBody("prod", testKubeconfig("", ""), "")), http.StatusCreated)
	c, err := e.st.ClusterStatusByName(context.Background(), "prod", store.Scope{})
	if err != nil {
		t.Fatal(err)
	}
	f.id["prod"] = c.ID
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	var pods []inventory.Pod
	for i := range store.HistoryLimit + 1 {
		pods = append(pods, webPod("prod", fmt.Sprintf("web-%04d", i), fmt.Sprintf("u-%d", i), "a"))
	}
	f.scan("prod", t0, pods...)
	f.scan("prod", t0.Add(time.Minute), append(pods[3:], webPod("prod", "late", "u-late", "a"))...)
	total := store.HistoryLimit + 2
	viewer := e.as("viewer")
	path := "/api/v1/digests/" + digestOf("a")

	// Without a limit, a page of 100, as every list's.
	var first request.DigestJSON
	res := viewer.get(path)
	want(t, res, http.StatusOK)
	res.decode(t, &first)
	if len(first.History) != 100 || first.HistoryNextCursor == "" || len(first.Running) != 100 || first.RunningNextCursor == "" {
		t.Fatalf("default page: %d intervals, next %q, %d running, next %q", len(first.History), first.HistoryNextCursor,
			len(first.Running), first.RunningNextCursor)
	}
	// What runs now, page by page: every place once, in place order.
	running := first.Running
	for next, pages := first.RunningNextCursor, 0; next != ""; pages++ {
		if pages > total {
			t.Fatal("paging what runs does not end")
		}
		var p request.DigestJSON
		res := viewer.get(path + "?limit=333&runningCursor=" + next)
		want(t, res, http.StatusOK)
		res.decode(t, &p)
		if len(p.Running) > 333 || len(p.History) != 333 {
			t.Fatalf("a page of %d running, %d intervals", len(p.Running), len(p.History))
		}
		running, next = append(running, p.Running...), p.RunningNextCursor
	}
	if len(running) != total-3 || !slices.IsSortedFunc(running, detect.ComparePlaces) ||
		len(slices.CompactFunc(slices.Clone(running), func(a, b detect.Place) bool { return a == b })) != total-3 {
		t.Errorf("%d running places paged, want the %d, in order, each once", len(running), total-3)
	}
	want(t, viewer.get(path+"?runningCursor="+first.HistoryNextCursor), http.StatusBadRequest)
	want(t, viewer.get("/api/v1/digests/"+digestOf("b")+"?runningCursor="+first.RunningNextCursor), http.StatusBadRequest)
	var whole request.DigestJSON
	res = viewer.get(path + "?limit=1000")
	want(t, res, http.StatusOK)
	res.decode(t, &whole)
	if len(whole.History) != 1000 || whole.HistoryNextCursor == "" || !whole.HistoryTruncated || len(whole.Running) != total-3 {
		t.Fatalf("first page: %d intervals, next %q, truncated %t, %d running", len(whole.History), whole.HistoryNextCursor,
			whole.HistoryTruncated, len(whole.Running))
	}
	if whole.History[0].Pod != "late" {
		t.Errorf("newest interval %+v, want late's", whole.History[0])
	}
	var rest request.DigestJSON
	res = viewer.get(path + "?cursor=" + whole.HistoryNextCursor)
	want(t, res, http.StatusOK)
	res.decode(t, &rest)
	if rest.HistoryNextCursor != "" || rest.HistoryTruncated || len(rest.History) != total-1000 {
		t.Fatalf("last page: %d intervals, next %q", len(rest.History), rest.HistoryNextCursor)
	}
	whole.History = append(whole.History, rest.History...)

	for _, size := range []int{7, 500} {
		var got []request.DigestPlaceJSON
		next := ""
		for pages := 0; ; pages++ {
			if pages > total {
				t.Fatalf("limit %d: paging does not end", size)
			}
			var p request.DigestJSON
			res := viewer.get(fmt.Sprintf("%s?limit=%d&cursor=%s", path, size, next))
			want(t, res, http.StatusOK)
			res.decode(t, &p)
			if len(p.History) > size || (p.HistoryNextCursor != "") != p.HistoryTruncated {
				t.Fatalf("limit %d: %d intervals, next %q, truncated %t", size, len(p.History), p.HistoryNextCursor, p.HistoryTruncated)
			}
			got = append(got, p.History...)
			if next = p.HistoryNextCursor; next == "" {
				break
			}
		}
		if !slices.EqualFunc(got, whole.History, func(a, b request.DigestPlaceJSON) bool {
			return a.Place == b.Place && a.FirstSeen.Equal(b.FirstSeen) && a.LastSeen.Equal(b.LastSeen)
		}) {
			t.Errorf("limit %d: %d intervals paged, want the %d of the big pages in their order", size, len(got), len(whole.History))
		}
		seen := map[string]bool{}
		for _, p := range got {
			k := p.Pod + "/" + p.FirstSeen.String()
			if seen[k] {
				t.Errorf("limit %d: %s twice", size, k)
			}
			seen[k] = true
		}
	}
	want(t, viewer.get("/api/v1/digests/"+digestOf("b")+"?cursor="+whole.HistoryNextCursor), http.StatusBadRequest)
	want(t, viewer.get(path+"?limit=1001"), http.StatusBadRequest)
}
