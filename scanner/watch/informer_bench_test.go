package watch_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/scanner/watch"
)

// The memory of real informers at scale: pods created in a real API server, watched
// through this package's informers (list, then watch), as serve watches a cluster.
//
//	TAGDRIFT_WATCH_INFORMER_PODS=20000 go test -run '^$' -bench InformerMemory -benchtime 1x ./scanner/watch/

// envInt reads a number from the environment, def when unset.
func envInt(b *testing.B, name string, def int) int {
	b.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	return n
}

// informerPod is a pod as a Deployment makes it (two containers, a controller
// reference), with what a real pod carries beside what tagdrift keeps.
func informerPod(i int) *corev1.Pod {
	hash := strconv.Itoa(i / 10)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns-" + strconv.Itoa(i%50), Name: fmt.Sprintf("web-%s-%06d", hash, i),
			Labels: map[string]string{"app": "web", "pod-template-hash": hash},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-" + hash,
				UID: types.UID(fmt.Sprintf("00000000-0000-4000-8000-%012d", i/10)), Controller: new(true)}}},
		Spec: corev1.PodSpec{NodeName: "node-" + strconv.Itoa(i%100), Containers: []corev1.Container{
			{Name: "app", Image: "ghcr.io/acme/web:1.25", Args: []string{"--port=8080"}},
			{Name: "proxy", Image: "envoyproxy/envoy:v1.30"}}},
	}
}

// runningStatus is what a kubelet reports for p's containers once they run, as
// kubeenv.SetContainerStatuses writes it.
func runningStatus(p *corev1.Pod, i int) {
	p.Status.Phase = corev1.PodRunning
	for j, c := range p.Spec.Containers {
		id := fmt.Sprintf("docker.io/envoyproxy/envoy@sha256:%064x", 7)
		if j == 0 {
			id = fmt.Sprintf("ghcr.io/acme/web@sha256:%064x", i%3)
		}
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: id, Ready: true, Started: new(true),
			ContainerID: "containerd://" + string(p.UID)[:8] + c.Name,
			State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}})
	}
}

// createPods creates n pods in c, workers at a time, each then given the statuses
// of running containers unless specOnly.
func createPods(b *testing.B, c *kubeenv.Cluster, n, workers int, specOnly bool) {
	b.Helper()
	ctx := context.Background()
	for ns := range 50 {
		if err := c.Namespace(ctx, "ns-"+strconv.Itoa(ns)); err != nil {
			b.Fatal(err)
		}
	}
	cfg := c.RESTConfig(c.AdminToken)
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.QPS, cfg.Burst = -1, 0 // no client-side rate limit
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed error
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				p := informerPod(i)
				created, err := cs.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{})
				if err == nil && !specOnly {
					runningStatus(created, i)
					_, err = cs.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{})
				}
				if err != nil {
					mu.Lock()
					failed = fmt.Errorf("pod %d: %w", i, err)
					mu.Unlock()
					next.Store(int64(n)) // stop the others
					return
				}
			}
		})
	}
	wg.Wait()
	if failed != nil {
		b.Fatal(failed)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkInformerMemory creates TAGDRIFT_WATCH_INFORMER_PODS pods (default 100,000;
// two running containers each, or without statuses when
// TAGDRIFT_WATCH_INFORMER_SPEC_ONLY=1) in a real API server, 16 at a time, then
// watches it through this package's informers and reports the heap the synced watch
// holds after a collection, divided by the pods (the heap before the watch
// subtracted), the whole process's RSS (its peak during the sync, and what is left
// once freed memory is returned), and how long the pods took to create and the watch
// to sync: medians of TAGDRIFT_WATCH_INFORMER_ROUNDS watches (default 3) of the same
// pods.
func BenchmarkInformerMemory(b *testing.B) {
	n := envInt(b, "TAGDRIFT_WATCH_INFORMER_PODS", 100_000)
	specOnly := os.Getenv("TAGDRIFT_WATCH_INFORMER_SPEC_ONLY") == "1"
	c := kubeenv.StartOne(b, "mem")
	start := time.Now()
	createPods(b, c, n, 16, specOnly)
	created := time.Since(start)
	rounds := envInt(b, "TAGDRIFT_WATCH_INFORMER_ROUNDS", 3)
	for b.Loop() {
		var perPod, heapMiB, rss, peak, released, synced []float64
		for range rounds {
			r := watchOnce(b, c, n, specOnly)
			perPod = append(perPod, r.perPod)
			heapMiB = append(heapMiB, r.heapMiB)
			rss = append(rss, r.rssMiB)
			peak = append(peak, r.peakMiB)
			released = append(released, r.releasedMiB)
			synced = append(synced, r.synced.Seconds())
			b.Logf("%d pods: %.1f bytes/pod, heap %.1f MiB, RSS %.0f MiB (peak %.0f, %.0f once returned), synced in %.1f s",
				n, r.perPod, r.heapMiB, r.rssMiB, r.peakMiB, r.releasedMiB, r.synced.Seconds())
		}
		b.ReportMetric(medianOf(perPod), "bytes/pod")
		b.ReportMetric(medianOf(heapMiB), "heap-MiB")
		b.ReportMetric(medianOf(rss), "RSS-MiB")
		b.ReportMetric(medianOf(peak), "peak-RSS-MiB")
		b.ReportMetric(medianOf(released), "released-RSS-MiB")
		b.ReportMetric(medianOf(synced), "sync-s")
		b.ReportMetric(created.Seconds(), "create-s")
	}
}

func medianOf(xs []float64) float64 {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return xs[len(xs)/2]
}

type informerRound struct {
	perPod, heapMiB, rssMiB, peakMiB, releasedMiB float64
	synced                                        time.Duration
}

// watchOnce watches c until its cache holds its n pods and measures: the heap after a
// collection less the heap before the watch, per pod; the process's RSS then, its
// peak during the sync (reset before it), and its RSS once freed memory is returned
// to the system.
func watchOnce(b *testing.B, c *kubeenv.Cluster, n int, specOnly bool) informerRound {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	before := heapInUse()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Fatalf("reset the peak RSS: %v", err)
	}
	rc := watch.Configure(c.RESTConfig(c.AdminToken), "tagdrift/bench", 0)
	nodes, err := watch.CanListNodes(ctx, rc)
	if err != nil {
		b.Fatal(err)
	}
	w, err := watch.New(watch.Config{Cluster: "mem", REST: rc}, nodes)
	if err != nil {
		b.Fatal(err)
	}
	ended := make(chan error, 1)
	syncStart := time.Now()
	go func() { ended <- w.Run(ctx) }()
	waitSynced(b, w, ended, 10*time.Minute)
	r := informerRound{synced: time.Since(syncStart)}
	after := heapInUse()
	r.perPod = float64(after-before) / float64(n)
	r.heapMiB = float64(after) / (1 << 20)
	r.rssMiB = float64(procStatus(b, "VmRSS")) / 1024
	r.peakMiB = float64(procStatus(b, "VmHWM")) / 1024
	debug.FreeOSMemory()
	r.releasedMiB = float64(procStatus(b, "VmRSS")) / 1024
	// The cache is complete: every pod, each container with its imageID.
	snap, err := w.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	withID := 0
	for _, p := range snap.Pods {
		for _, ctr := range p.Containers {
			if ctr.Observed() {
				withID++
			}
		}
	}
	if len(snap.Pods) != n || snap.Containers != 2*n || (!specOnly && withID != 2*n) {
		b.Fatalf("the snapshot holds %d pods, %d containers, %d with an imageID; want %d pods", len(snap.Pods), snap.Containers, withID, n)
	}
	cancel()
	if err := <-ended; err != nil {
		b.Fatal(err)
	}
	return r
}
