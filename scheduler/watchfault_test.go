package scheduler

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/store"
)

// faultFixture is a watched cluster of three pods of one ReplicaSet (web-abc), each
// running registry.example.com/web at the digest of letter c, and how to look at
// what the store recorded of it.
type faultFixture struct {
	t  *testing.T
	h  *harness
	cl store.Cluster
}

// newFaultFixture makes the pods w1, w2, w3 in namespace shop of h's cluster and
// registers it as name reached at server, in scan mode watch.
func newFaultFixture(t *testing.T, h *harness, name, server string) *faultFixture {
	t.Helper()
	ctx := context.Background()
	c := h.cluster
	if err := c.Namespace(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	yes := true
	f := &faultFixture{t: t, h: h}
	for _, pod := range []string{"w1", "w2", "w3"} {
		_, err := c.Admin.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: pod, Labels: map[string]string{"pod-template-hash": "abc"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-abc",
					UID: "00000000-0000-0000-0000-00000000000a", Controller: &yes}}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/web:1"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		f.set(pod, "c")
	}
	f.cl = h.register(t, name, server)
	mode := store.ScanModeWatch
	if _, err := h.store.UpdateCluster(ctx, name, store.ClusterChange{ScanMode: &mode}, store.Audit{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	return f
}

// set patches pod's imageID to the digest of letter d, as the kubelet would.
func (f *faultFixture) set(pod, d string) {
	f.t.Helper()
	if err := f.h.cluster.SetContainerStatuses(context.Background(), "shop", pod, kubeenv.PodStatus{Containers: []kubeenv.ContainerStatus{
		{Name: "app", ImageID: "registry.example.com/web@sha256:" + strings.Repeat(d, 64)}}}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *faultFixture) state() store.WatchState {
	f.t.Helper()
	w, err := f.h.store.WatchStateOf(context.Background(), f.cl.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) { // not found: no replica reported yet
		f.t.Fatal(err)
	}
	return w
}

// intervals returns the cluster's observation intervals by pod.
func (f *faultFixture) intervals() map[string][]store.Observation {
	f.t.Helper()
	obs, err := f.h.store.ObservationsOfCluster(context.Background(), f.cl.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string][]store.Observation{}
	for _, o := range obs {
		out[o.Pod] = append(out[o.Pod], o)
	}
	return out
}

// open is the pods with an open interval.
func (f *faultFixture) open() []string {
	var pods []string
	for pod, obs := range f.intervals() {
		for _, o := range obs {
			if o.ClosedAt == nil {
				pods = append(pods, pod)
				break
			}
		}
	}
	return pods
}

// divergences returns the workload-divergence mutations, open and resolved.
func (f *faultFixture) divergences() (open, resolved int) {
	f.t.Helper()
	ms, err := f.h.store.ListMutations(context.Background(), store.MutationFilter{State: store.StateAll, Limit: 100})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, m := range ms {
		if m.Kind != "workload-divergence" {
			continue
		}
		if m.ResolvedAt == nil {
			open++
		} else {
			resolved++
		}
	}
	return open, resolved
}

// unbroken fails the test unless each pod has exactly one interval, still open: the
// fault closed nothing that kept running.
func (f *faultFixture) unbroken(pods ...string) {
	f.t.Helper()
	all := f.intervals()
	for _, pod := range pods {
		if obs := all[pod]; len(obs) != 1 || obs[0].ClosedAt != nil {
			f.t.Errorf("pod %s: intervals %+v, want one, open", pod, obs)
		}
	}
}

// settled waits until the watch is live with the three pods recorded and the
// cluster's first listing (a watched cluster is listed once at start, then every
// FullList) is over, so that a fault's catch-up can only be the watch's.
func (f *faultFixture) settled() {
	f.t.Helper()
	eventually(f.t, "live, the three pods recorded, the first listing done", func() bool {
		scans, err := f.h.store.ScansOfCluster(context.Background(), f.cl.ID)
		if err != nil {
			f.t.Fatal(err)
		}
		polled := false
		for _, sc := range scans {
			polled = polled || sc.Kind == store.ScanKindPoll && sc.Status == store.ScanSucceeded
		}
		return polled && f.state().State == store.WatchLive && len(f.open()) == 3
	})
}

// lastScanKind is the kind of the cluster's latest scan.
func (f *faultFixture) lastScanKind() string {
	f.t.Helper()
	scans, err := f.h.store.ScansOfCluster(context.Background(), f.cl.ID)
	if err != nil || len(scans) == 0 {
		f.t.Fatalf("scans: %v %v", scans, err)
	}
	if scans[0].Kind != store.ScanKindWatch {
		for _, sc := range scans {
			f.t.Logf("scan %d %s %s queued %s started %v", sc.ID, sc.Kind, sc.Status, sc.QueuedAt.Format("15:04:05.000"), sc.StartedAt)
		}
	}
	return scans[0].Kind
}

// TestWatchAPIServerRestart stops the API server under a live watch, deletes a pod in
// etcd meanwhile (as another API server of the control plane would), and starts the
// API server again on the same port and etcd. While it is down the cluster shows
// stale and nothing is closed; once it is back the watch resumes (its old resource
// version is older than the new API server's watch cache: 410, a relist), records
// the deletion, which resolves the divergence the pod made, closes nothing else, and
// detects the next change in seconds.
func TestWatchAPIServerRestart(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	f := newFaultFixture(t, h, "restart", h.cluster.Host)
	s := h.watchScheduler(t, "r1")
	defer s.Stop(ctx)
	f.settled()
	f.set("w2", "d")
	eventually(t, "the divergence open", func() bool { open, _ := f.divergences(); return open == 1 })

	h.cluster.StopAPIServer()
	down := time.Now()
	if err := h.cluster.DeleteFromEtcd(ctx, "pods", "shop", "w2"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "stale while the API server is down", func() bool { return f.state().State == store.WatchStale })
	if w := f.state(); w.StaleSince == nil || w.StaleSince.Before(down.Add(-time.Second)) {
		t.Errorf("stale since %v, the API server stopped at %v", w.StaleSince, down)
	}
	if open := f.open(); len(open) != 3 {
		t.Errorf("open while down: %v, want the three pods: a broken watch closes nothing", open)
	}
	if open, _ := f.divergences(); open != 1 {
		t.Errorf("%d divergences open while down, want 1", open)
	}

	if err := h.cluster.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	eventually(t, "live again, the pod deleted meanwhile closed", func() bool {
		return f.state().State == store.WatchLive && len(f.open()) == 2
	})
	t.Logf("caught up %s after the API server was ready again (down %s)", time.Since(up).Round(time.Millisecond), up.Sub(down).Round(time.Millisecond))
	if n, err := h.cluster.RequestCounts(ctx); err == nil { // counted since the restart
		t.Logf("requests of pods since the restart: %g LIST, %g WATCH", n["LIST pods"], n["WATCH pods"])
	}
	if open, resolved := f.divergences(); open != 0 || resolved != 1 {
		t.Errorf("divergences: %d open, %d resolved; want the one resolved by the deletion", open, resolved)
	}
	f.unbroken("w1", "w3")
	if k := f.lastScanKind(); k != store.ScanKindWatch {
		t.Errorf("the catch-up was recorded by a %s scan, want the watch", k)
	}

	// The watch goes on detecting in seconds.
	start := time.Now()
	f.set("w3", "e")
	eventually(t, "a change after the restart detected", func() bool { open, _ := f.divergences(); return open == 1 })
	if d := time.Since(start); d > 6*time.Second {
		t.Errorf("a change after the restart detected after %s, want within 6 s", d)
	}
	f.unbroken("w1")
}

// metricSum sums the API server's samples of metric whose labels hold every one of
// labels (each `name="value"`).
func metricSum(t *testing.T, c *kubeenv.Cluster, metric string, labels ...string) float64 {
	t.Helper()
	body, err := c.Admin.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0.0
next:
	for _, line := range strings.Split(string(body), "\n") {
		ls, v, ok := strings.Cut(strings.TrimPrefix(line, metric+"{"), "} ")
		if !ok || !strings.HasPrefix(line, metric+"{") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(","+ls+",", ","+l+",") {
				continue next
			}
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatal(err)
		}
		n += f
	}
	return n
}

// podLists counts the listings of every pod the API server answered: LISTs, and
// streaming lists (a WATCH with sendInitialEvents, which client-go's informers use
// where the API server has them).
func podLists(t *testing.T, c *kubeenv.Cluster) float64 {
	return metricSum(t, c, "apiserver_request_total", `resource="pods"`, `scope="cluster"`, `verb="LIST"`) +
		metricSum(t, c, "apiserver_watch_list_duration_seconds_count", `resource="pods"`, `scope="cluster"`)
}

// TestWatchCompacted410 runs the API server without its watch cache (watches read
// etcd) and takes its port away under a live watch, as a network outage or a down API
// server does: connecting is refused, so client-go keeps the resource version it
// watched from and retries the watch. Meanwhile a pod is deleted and another moves
// its digest, and etcd is compacted past both: the watch resumes from a revision etcd
// no longer has, gets 410 Gone, lists again, and records both changes, losing none
// and closing nothing else.
func TestWatchCompacted410(t *testing.T) {
	h := newHarnessWith(t, kubeenv.ClusterOptions{Name: "one", NoWatchCache: true})
	ctx := context.Background()
	c := h.cluster
	u, err := url.Parse(c.Host)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, u.Host)
	f := newFaultFixture(t, h, "compacted", "https://"+proxy.addr)
	s := h.watchScheduler(t, "r1")
	defer s.Stop(ctx)
	f.settled()
	// The watches run a while, so that their end is a broken stream, not a refused one.
	time.Sleep(1500 * time.Millisecond)

	proxy.setDown(t, true)
	if err := c.Admin.CoreV1().Pods("shop").Delete(ctx, "w1", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	f.set("w2", "d")
	pod, err := c.Admin.CoreV1().Pods("shop").Get(ctx, "w2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := c.CompactEtcd(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := strconv.ParseInt(pod.ResourceVersion, 10, 64); err != nil || rev < changed {
		t.Fatalf("compacted at %d, before the change at %s (%v)", rev, pod.ResourceVersion, err)
	}
	eventually(t, "stale while unreachable", func() bool { return f.state().State == store.WatchStale })
	if open := f.open(); len(open) != 3 {
		t.Errorf("open while unreachable: %v, want the three pods", open)
	}
	before := podLists(t, c)

	proxy.setDown(t, false)
	up := time.Now()
	eventually(t, "live again with both changes", func() bool {
		open, _ := f.divergences()
		return f.state().State == store.WatchLive && len(f.open()) == 2 && open == 1
	})
	t.Logf("both changes recorded %s after the port was back", time.Since(up).Round(time.Millisecond))
	if after := podLists(t, c); after <= before {
		t.Errorf("pods not listed again after the compaction (%g lists before, %g after): the watch must list again", before, after)
	} else {
		t.Logf("pods listed %g times while catching up", after-before)
	}
	if all := f.intervals(); len(all["w1"]) != 1 || all["w1"][0].ClosedAt == nil {
		t.Errorf("the deleted pod: %+v, want its one interval closed", all["w1"])
	}
	f.unbroken("w3")
	if k := f.lastScanKind(); k != store.ScanKindWatch {
		t.Errorf("the catch-up was recorded by a %s scan, want the watch", k)
	}
}
