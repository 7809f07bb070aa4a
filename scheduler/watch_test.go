package scheduler

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
	"github.com/tagdrift/tagdrift/store"
)

func TestDebounceDue(t *testing.T) {
	t0 := time.Unix(0, 0)
	for _, c := range []struct {
		first, last time.Duration
		want        time.Duration
	}{
		{0, 0, time.Second}, // one change: quiet after it
		{0, 300 * time.Millisecond, 1300 * time.Millisecond}, // a second one moves it
		{0, 900 * time.Millisecond, 1500 * time.Millisecond}, // constant churn: at most max after the first
	} {
		if got := DebounceDue(t0.Add(c.first), t0.Add(c.last), time.Second, 1500*time.Millisecond); !got.Equal(t0.Add(c.want)) {
			t.Errorf("first %s last %s: due %s, want %s", c.first, c.last, got.Sub(t0), c.want)
		}
	}
}

// watchScheduler is a scheduler of the harness's store whose watches run with short
// leases, named holder.
func (h *harness) watchScheduler(t *testing.T, holder string) *Scheduler {
	t.Helper()
	allowLoopback := &kubeconfig.Dialer{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	s, err := New(Config{Store: h.store, Dialer: allowLoopback, ScanTimeout: 20 * time.Second, Tick: 200 * time.Millisecond,
		Metrics: NewMetrics(prometheus.NewRegistry()),
		Watch:   WatchConfig{Holder: holder, Heartbeat: 200 * time.Millisecond, LeaseTTL: time.Second, StaleAfter: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestWatchDetects runs serve's scheduler on a real API server and PostgreSQL with a
// cluster in scan mode watch: the kubelet patching a pod's imageID to a moved digest
// opens the workload-divergence within seconds, without a scan asked for, and
// patching it back resolves it; the scans table holds the changes, not the churn.
// Then the replica stops and another takes its lease and goes on detecting.
func TestWatchDetects(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	c := h.cluster
	if err := c.Namespace(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	yes := true
	set := func(pod, d string) {
		t.Helper()
		if err := c.SetContainerStatuses(ctx, "shop", pod, kubeenv.PodStatus{Containers: []kubeenv.ContainerStatus{
			{Name: "app", ImageID: "registry.example.com/web@sha256:" + strings.Repeat(d, 64)}}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"w1", "w2"} {
		_, err := c.Admin.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"pod-template-hash": "abc"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-abc",
					UID: "00000000-0000-0000-0000-00000000000a", Controller: &yes}}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/web:1"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		set(name, "c")
	}
	cl := h.register(t, "live", c.Host)
	mode := store.ScanModeWatch
	if _, err := h.store.UpdateCluster(ctx, "live", store.ClusterChange{ScanMode: &mode}, store.Audit{Actor: "test"}); err != nil {
		t.Fatal(err)
	}

	s1 := h.watchScheduler(t, "r1")
	stopped1 := false
	defer func() {
		if !stopped1 {
			s1.Stop(ctx)
		}
	}()
	waitState := func(holder, state string) {
		t.Helper()
		eventually(t, "watch "+state+" by "+holder, func() bool {
			w, err := h.store.WatchStateOf(ctx, cl.ID)
			return err == nil && w.Holder == holder && w.State == state
		})
	}
	waitState("r1", store.WatchLive)
	// The watch's first snapshot (or the first poll scan) records the two pods.
	eventually(t, "the pods recorded", func() bool {
		obs, err := h.store.ObservationsOfCluster(ctx, cl.ID)
		return err == nil && len(obs) == 2
	})
	divergence := func() *store.Mutation {
		ms, err := h.store.ListMutations(ctx, store.MutationFilter{State: store.StateAll, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for i := range ms {
			if ms[i].Kind == "workload-divergence" {
				return &ms[i]
			}
		}
		return nil
	}
	// within waits for cond at most d (the 2 s target, with a margin for a loaded
	// machine) and says how long it took.
	within := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		start := time.Now()
		for !cond() {
			if time.Since(start) > d {
				t.Fatalf("%s: not within %s", what, d)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("%s after %s", what, time.Since(start).Round(time.Millisecond))
	}
	set("w2", "d")
	within("opened", 6*time.Second, func() bool { m := divergence(); return m != nil && m.ResolvedAt == nil })
	set("w2", "c")
	within("resolved", 6*time.Second, func() bool { m := divergence(); return m != nil && m.ResolvedAt != nil })
	// The watch's record has the workloads behind their tags judged, as a scan does.
	within("behind judged", 6*time.Second, func() bool {
		judged, err := h.store.BehindJudged(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return judged
	})
	w, err := h.store.WatchStateOf(ctx, cl.ID)
	if err != nil || w.LastChange == nil || w.LastDetected == nil || w.LastDetected.Before(*w.LastChange) {
		t.Errorf("watch state: %+v %v", w, err)
	}
	if got := testutil.ToFloat64(s1.cfg.Metrics.watchState.WithLabelValues("live", "default", "live")); got != 1 {
		t.Errorf("tagdrift_watch_state{state=live} = %g", got)
	}
	if got := testutil.CollectAndCount(s1.cfg.Metrics.detection); got != 1 {
		t.Errorf("tagdrift_watch_detection_seconds: %d series", got)
	}
	scans, err := h.store.ScansOfCluster(ctx, cl.ID)
	if err != nil {
		t.Fatal(err)
	}
	watchScans := 0
	for _, sc := range scans {
		if sc.Kind == store.ScanKindWatch {
			watchScans++
		}
	}
	// The first snapshot, the move, the move back, and at most one unchanged trailing record.
	if watchScans < 2 || watchScans > 4 {
		t.Errorf("%d watch scans, want 2 to 4: %+v", watchScans, scans)
	}

	// The replica stops: the other takes the lease and detects on.
	s2 := h.watchScheduler(t, "r2")
	defer s2.Stop(ctx)
	if err := s1.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	stopped1 = true
	waitState("r2", store.WatchLive)
	set("w1", "e")
	within("opened by the second replica", 6*time.Second, func() bool {
		ms, err := h.store.ListMutations(ctx, store.MutationFilter{State: store.StateOpen, Limit: 100})
		return err == nil && len(ms) > 0
	})

	// The cluster is deleted while its watch runs: nothing of it is recorded after.
	if _, err := h.store.DeleteCluster(ctx, "live", false, store.Audit{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	var before int
	if err := h.store.Pool().QueryRow(ctx, `SELECT count(*) FROM scans WHERE cluster_id = $1`, cl.ID).Scan(&before); err != nil {
		t.Fatal(err)
	}
	set("w1", "c")
	set("w2", "f")
	time.Sleep(3 * time.Second)
	var after int
	if err := h.store.Pool().QueryRow(ctx, `SELECT count(*) FROM scans WHERE cluster_id = $1`, cl.ID).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("a deleted cluster's watch recorded %d scans", after-before)
	}
}

// cutProxy forwards TCP connections to an address until cut, which closes them and
// refuses new ones until restore: a network cut between tagdrift and an API server.
// Down instead closes its port too, so that connecting is refused, as to an API
// server that is down.
type cutProxy struct {
	ln     net.Listener
	addr   string
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, addr: ln.Addr().String(), target: target}
	t.Cleanup(func() {
		p.mu.Lock()
		p.ln.Close()
		p.mu.Unlock()
		p.setCut(true)
	})
	go p.serve(ln)
	return p
}

func (p *cutProxy) serve(ln net.Listener) {
	for {
		in, err := ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			in.Close()
			continue
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			in.Close()
			continue
		}
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		go func() { io.Copy(out, in); out.Close() }()
		go func() { io.Copy(in, out); in.Close() }()
	}
}

func (p *cutProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// setDown closes the connections and the port (connecting is refused) or, when
// up again, listens on the same port.
func (p *cutProxy) setDown(t *testing.T, down bool) {
	t.Helper()
	if down {
		p.mu.Lock()
		p.ln.Close()
		p.mu.Unlock()
		p.setCut(true)
		return
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.setCut(false)
	go p.serve(ln)
}

// TestWatchCutStale cuts the network between a watch and its API server. Cut at start,
// the cluster is polled, saying why, and watched once the network is back. Cut later,
// the cluster shows stale after StaleAfter, a pod deleted meanwhile closes nothing while it is,
// and once the network is back the watch is live again and records the deletion.
func TestWatchCutStale(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	c := h.cluster
	if err := c.Namespace(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		if _, err := c.Admin.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.25"}}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := c.SetContainerStatuses(ctx, "shop", name, kubeenv.PodStatus{Containers: []kubeenv.ContainerStatus{
			{Name: "app", ImageID: "docker.io/library/nginx@sha256:" + strings.Repeat("a", 64)}}}); err != nil {
			t.Fatal(err)
		}
	}
	u, err := url.Parse(c.Host)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, u.Host)
	cl := h.register(t, "cut", "https://"+proxy.addr)
	mode := store.ScanModeWatch
	if _, err := h.store.UpdateCluster(ctx, "cut", store.ClusterChange{ScanMode: &mode}, store.Audit{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	// Unreachable at start: polled, saying why, and tried again after StaleAfter.
	proxy.setCut(true)
	s := h.watchScheduler(t, "r1")
	defer s.Stop(ctx)
	state := func() store.WatchState {
		w, err := h.store.WatchStateOf(ctx, cl.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		return w
	}
	openOf := func() int {
		obs, err := h.store.ObservationsOfCluster(ctx, cl.ID)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, o := range obs {
			if o.ClosedAt == nil {
				n++
			}
		}
		return n
	}
	eventually(t, "polled while unreachable", func() bool { return state().State == store.WatchPolling })
	if w := state(); !strings.Contains(w.Note, "unreachable") {
		t.Errorf("the note of an unreachable cluster: %q", w.Note)
	}
	proxy.setCut(false)
	eventually(t, "live with both pods recorded", func() bool { return state().State == store.WatchLive && openOf() == 2 })

	proxy.setCut(true)
	if err := c.Admin.CoreV1().Pods("shop").Delete(ctx, "b", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "stale", func() bool { return state().State == store.WatchStale })
	if w := state(); w.StaleSince == nil {
		t.Errorf("stale without a time: %+v", w)
	}
	cs, err := h.store.ClusterStatusByName(ctx, "cut", store.Scope{})
	if err != nil || cs.Watch == nil || cs.Watch.State != store.WatchStale {
		t.Errorf("the cluster's status while cut: %+v %v", cs.Watch, err)
	}
	if n := openOf(); n != 2 {
		t.Fatalf("%d open intervals while stale, want 2: nothing is closed", n)
	}

	proxy.setCut(false)
	eventually(t, "live again, the deleted pod closed", func() bool { return state().State == store.WatchLive && openOf() == 1 })
}

// TestWatchListOnlyPolls registers a cluster in scan mode watch with credentials that
// may list but not watch: it is polled, the cluster's watch says why, and the schedule
// lists it at its interval rather than the safety net's.
func TestWatchListOnlyPolls(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	c := h.cluster
	if err := c.GrantScanner(ctx, "list-only", []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods", "nodes"}, Verbs: []string{"list"}},
		{APIGroups: []string{"apps", "batch"}, Resources: []string{"replicasets", "jobs"}, Verbs: []string{"list"}},
	}); err != nil {
		t.Fatal(err)
	}
	creds := credentials(t, kubeenv.Context{Name: "lister", Server: c.Host, CAData: c.CAData, Token: c.ScannerToken})
	cl, err := h.store.CreateCluster(ctx, store.NewCluster{Name: "lister", Server: c.Host, Context: "lister", Credentials: creds,
		ScanInterval: time.Hour, Enabled: true, ScanMode: store.ScanModeWatch})
	if err != nil {
		t.Fatal(err)
	}
	s := h.watchScheduler(t, "r1")
	defer s.Stop(ctx)
	eventually(t, "polled, saying why", func() bool {
		w, err := h.store.WatchStateOf(ctx, cl.ID)
		return err == nil && w.State == store.WatchPolling && strings.Contains(w.Note, "may list but not watch")
	})
	due, err := h.store.ScanSchedule(ctx)
	if err != nil || len(due) != 1 || due[0].Watched {
		t.Fatalf("schedule: %+v %v: want the cluster polled at its interval", due, err)
	}
	// The schedule's first listing runs with the same credentials.
	sc := h.waitScans(t, cl.ID, 1)
	if sc.Status != store.ScanSucceeded || sc.Kind != store.ScanKindPoll {
		t.Errorf("the listing of a list-only cluster: %+v", sc)
	}
}

// TestWatchSpread: the watched clusters spread over the replicas. One replica takes
// all four; a second one that starts beside it gets two of them within a few
// heartbeats, and none is held by both or by neither; once the second stops, the
// first takes its share back.
func TestWatchSpread(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	var ids []int64
	for _, name := range []string{"s1", "s2", "s3", "s4"} {
		cl := h.register(t, name, h.cluster.Host)
		mode := store.ScanModeWatch
		if _, err := h.store.UpdateCluster(ctx, name, store.ClusterChange{ScanMode: &mode}, store.Audit{Actor: "test"}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, cl.ID)
	}
	// held counts the live leases by holder; no cluster may lack a live holder once
	// spread.
	held := func() map[string]int {
		out := map[string]int{}
		for _, id := range ids {
			w, err := h.store.WatchStateOf(ctx, id)
			if err == nil && w.ExpiresAt.After(time.Now()) && w.State == store.WatchLive {
				out[w.Holder]++
			}
		}
		return out
	}
	r1 := h.watchScheduler(t, "r1")
	defer r1.Stop(ctx)
	eventually(t, "r1 holds all four", func() bool { return held()["r1"] == 4 })
	r2 := h.watchScheduler(t, "r2")
	stopped2 := false
	defer func() {
		if !stopped2 {
			r2.Stop(ctx)
		}
	}()
	eventually(t, "two each", func() bool { got := held(); return got["r1"] == 2 && got["r2"] == 2 })
	// A few heartbeats on, it stays spread.
	time.Sleep(time.Second)
	if got := held(); got["r1"] != 2 || got["r2"] != 2 {
		t.Errorf("after a second of heartbeats: %v, want two each", got)
	}
	if err := r2.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	stopped2 = true
	eventually(t, "r1 holds all four again", func() bool { return held()["r1"] == 4 })
}
