package scheduler

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
	"github.com/tagdrift/tagdrift/store"
)

// BenchmarkRound200Clusters measures one full round of scans of 200 registered clusters
// (all on one test API server holding 100 two-container pods) by one replica with the
// default concurrency: every cluster is asked for a scan and the round ends when each
// has a new succeeded scan. Reported as seconds per round.
func BenchmarkRound200Clusters(b *testing.B) {
	h := newHarness(b)
	ctx := context.Background()
	c := h.cluster
	if err := c.Namespace(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	for i := range 100 {
		name := fmt.Sprintf("p-%03d", i)
		_, err := c.Admin.CoreV1().Pods("bench").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "app", Image: fmt.Sprintf("registry.example.com/app-%d:v1", i%10)},
				{Name: "proxy", Image: "envoyproxy/envoy:v1.31"},
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.SetContainerStatuses(ctx, "bench", name, kubeenv.PodStatus{Containers: []kubeenv.ContainerStatus{
			{Name: "app", ImageID: fmt.Sprintf("registry.example.com/app-%d@sha256:%064x", i%10, i%10)},
			{Name: "proxy", ImageID: "docker.io/envoyproxy/envoy@sha256:" + strings.Repeat("e", 64)},
		}}); err != nil {
			b.Fatal(err)
		}
	}
	creds := credentials(b, c.Context("x", c.AdminToken))
	var ids []int64
	for i := range 200 {
		cl, err := h.store.CreateCluster(ctx, store.NewCluster{Name: fmt.Sprintf("c%03d", i), Server: c.Host, Context: "x",
			Credentials: creds, ScanInterval: time.Hour, Enabled: true})
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, cl.ID)
	}
	s, err := New(Config{Store: h.store, Dialer: &kubeconfig.Dialer{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer s.Stop(ctx)
	// The first round, scheduled at start, warms everything up.
	waitRound(b, h.store, ids, time.Time{})

	b.ResetTimer()
	for b.Loop() {
		since := time.Now()
		for _, id := range ids {
			if _, err := s.ScanNow(ctx, id, store.Audit{}); err != nil {
				b.Fatal(err)
			}
		}
		waitRound(b, h.store, ids, since)
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/round")
}

// waitRound waits until every cluster has a succeeded scan started after since.
func waitRound(b *testing.B, st *store.Store, ids []int64, since time.Time) {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		var n int
		err := st.Pool().QueryRow(context.Background(), `
			SELECT count(DISTINCT cluster_id) FROM scans WHERE status = 'succeeded' AND started_at > $1`, since).Scan(&n)
		if err != nil {
			b.Fatal(err)
		}
		if n == len(ids) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatal("round not finished within 5 minutes")
}

// envInt is an integer from the environment, def when unset.
func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// BenchmarkWatchDetection measures detection through watches on a real API server and
// PostgreSQL: TAGDRIFT_WATCH_BENCH_CLUSTERS registrations (default 20) of one API
// server holding 100 two-container pods, all in scan mode watch, each watched on its
// own by one replica with the default debounce. It reports the start-up time of all the
// watches (until each is live and recorded), then over TAGDRIFT_WATCH_BENCH_ROUNDS
// rounds (default 10) the time from the kubelet's patch of one pod's imageID to the
// workload-divergence being open in each cluster (a burst: every watch sees the change
// at once), and from the patch back to each being resolved, as p50 and p95. Beside
// them, this process's CPU while idle without watches and with them, and the CPU of
// one poll scan of every cluster, as CPU seconds per hour at the default interval.
func BenchmarkWatchDetection(b *testing.B) {
	clusters := envInt(b, "TAGDRIFT_WATCH_BENCH_CLUSTERS", 20)
	rounds := envInt(b, "TAGDRIFT_WATCH_BENCH_ROUNDS", 10)
	h := newHarness(b)
	ctx := context.Background()
	c := h.cluster
	if err := c.Namespace(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	yes := true
	for i := range 100 {
		name := fmt.Sprintf("p-%03d", i)
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"pod-template-hash": fmt.Sprint(i / 2)},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: fmt.Sprintf("rs-%d", i/2),
					UID: types.UID(fmt.Sprintf("00000000-0000-0000-0000-%012d", i/2)), Controller: &yes}}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "app", Image: fmt.Sprintf("registry.example.com/app-%d:v1", i/2)},
				{Name: "proxy", Image: "envoyproxy/envoy:v1.31"},
			}},
		}
		if _, err := c.Admin.CoreV1().Pods("bench").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		if err := c.SetContainerStatuses(ctx, "bench", name, kubeenv.PodStatus{Containers: []kubeenv.ContainerStatus{
			{Name: "app", ImageID: fmt.Sprintf("registry.example.com/app-%d@sha256:%064x", i/2, i/2)},
			{Name: "proxy", ImageID: "docker.io/envoyproxy/envoy@sha256:" + strings.Repeat("e", 64)},
		}}); err != nil {
			b.Fatal(err)
		}
	}
	creds := credentials(b, c.Context("x", c.AdminToken))
	for i := range clusters {
		if _, err := h.store.CreateCluster(ctx, store.NewCluster{Name: fmt.Sprintf("c%03d", i), Server: c.Host, Context: "x",
			Credentials: creds, ScanInterval: time.Hour, Enabled: true, ScanMode: store.ScanModeWatch}); err != nil {
			b.Fatal(err)
		}
	}
	count := func(q string) int {
		var n int
		if err := h.store.Pool().QueryRow(ctx, q).Scan(&n); err != nil {
			b.Fatal(err)
		}
		return n
	}
	waitCount := func(what, q string, want int, since time.Time) []time.Duration {
		var at []time.Duration
		seen := 0
		deadline := time.Now().Add(2 * time.Minute)
		for seen < want {
			if time.Now().After(deadline) {
				b.Fatalf("%s: %d of %d within 2 minutes", what, seen, want)
			}
			n := count(q)
			for ; seen < n && seen < want; seen++ {
				at = append(at, time.Since(since))
			}
			time.Sleep(5 * time.Millisecond)
		}
		return at
	}
	dialer := &kubeconfig.Dialer{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	// The baseline: the same scheduler without watches, idle once its first scans are
	// done (the job engine's own polling and the schedule's look for due scans).
	base, err := New(Config{Store: h.store, Dialer: dialer, Watch: WatchConfig{Disabled: true}})
	if err != nil {
		b.Fatal(err)
	}
	if err := base.Start(ctx); err != nil {
		b.Fatal(err)
	}
	waitCount("first scans", `SELECT count(DISTINCT cluster_id) FROM scans WHERE status = 'succeeded'`, clusters, time.Now())
	time.Sleep(2 * time.Second)
	baseFrom, baseCPU := time.Now(), cpuTime(b)
	time.Sleep(5 * time.Second)
	baseline := (cpuTime(b) - baseCPU).Seconds() / time.Since(baseFrom).Seconds()
	if err := base.Stop(ctx); err != nil {
		b.Fatal(err)
	}
	heapBefore := heapAfterGC()

	start := time.Now()
	s, err := New(Config{Store: h.store, Dialer: dialer})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer s.Stop(ctx)
	waitCount("watches live", `SELECT count(*) FROM cluster_watches WHERE state = 'live'`, clusters, start)
	waitCount("clusters recorded", `SELECT count(DISTINCT cluster_id) FROM scans WHERE status = 'succeeded' AND kind = 'watch'`, clusters, start)
	startup := time.Since(start)
	// Let the first listings (the schedule's, at start) end.
	time.Sleep(2 * time.Second)
	// CPU of this process (the scheduler and its watches; the API server and
	// PostgreSQL are others) while nothing changes.
	idleFrom, idleCPU := time.Now(), cpuTime(b)
	time.Sleep(5 * time.Second)
	idle := (cpuTime(b) - idleCPU).Seconds() / time.Since(idleFrom).Seconds()
	// The memory the watches hold: this process's live heap with them, against before.
	heapWatches := float64(heapAfterGC()) - float64(heapBefore)

	set := func(d string) {
		if err := c.SetContainerStatuses(ctx, "bench", "p-001", kubeenv.PodStatus{Containers: []kubeenv.ContainerStatus{
			{Name: "app", ImageID: "registry.example.com/app-0@sha256:" + strings.Repeat(d, 64)},
			{Name: "proxy", ImageID: "docker.io/envoyproxy/envoy@sha256:" + strings.Repeat("e", 64)},
		}}); err != nil {
			b.Fatal(err)
		}
	}
	const open = `SELECT count(*) FROM mutations WHERE kind = 'workload-divergence' AND resolved_at IS NULL`
	var opened, resolved []time.Duration
	b.ResetTimer()
	for b.Loop() {
		for range rounds {
			t0 := time.Now()
			set("f")
			opened = append(opened, waitCount("opened", open, clusters, t0)...)
			t1 := time.Now()
			set("0")
			resolved = append(resolved, waitCount("resolved",
				`SELECT `+fmt.Sprint(clusters)+` - count(*) FROM mutations WHERE kind = 'workload-divergence' AND resolved_at IS NULL`, clusters, t1)...)
		}
	}
	b.StopTimer()
	// Polling for comparison: one scan of every cluster, asked at once, and the CPU it
	// took this process.
	pollFrom, pollCPU := time.Now(), cpuTime(b)
	ids := make([]int64, 0, clusters)
	cls, err := h.store.Clusters(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for _, cl := range cls {
		ids = append(ids, cl.ID)
		if _, err := s.ScanNow(ctx, cl.ID, store.Audit{}); err != nil {
			b.Fatal(err)
		}
	}
	waitRound(b, h.store, ids, pollFrom)
	perScan := (cpuTime(b) - pollCPU).Seconds() / float64(clusters)
	pct := func(d []time.Duration, p float64) float64 {
		slices.Sort(d)
		return d[min(len(d)-1, int(float64(len(d))*p))].Seconds()
	}
	b.ReportMetric(startup.Seconds(), "s-startup")
	b.ReportMetric(pct(opened, 0.5), "s-open-p50")
	b.ReportMetric(pct(opened, 0.95), "s-open-p95")
	b.ReportMetric(pct(resolved, 0.5), "s-resolve-p50")
	b.ReportMetric(pct(resolved, 0.95), "s-resolve-p95")
	b.ReportMetric(float64(clusters), "clusters")
	b.ReportMetric(baseline*100, "%cpu-idle-without-watches")
	b.ReportMetric(idle*100, "%cpu-idle-with-watches")
	// A replica's CPU per hour: what its watches add while idle, against polling
	// every 5 minutes.
	b.ReportMetric(max(idle-baseline, 0)*3600, "cpu-s/h-watch-idle")
	b.ReportMetric(perScan*12*float64(clusters), "cpu-s/h-poll-5m")
	b.ReportMetric(heapWatches/(1<<20), "MiB-heap-watches")
	b.ReportMetric(heapWatches/float64(clusters)/1024, "KiB-heap-per-watch")
}

// heapAfterGC is the live heap of this process after a collection.
func heapAfterGC() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
