package kube_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/scanner/kube"
	"github.com/tagdrift/tagdrift/scanner/scanerr"
)

// startCluster is a real API server (with etcd) of the test's own.
func startCluster(t *testing.T) *kubeenv.Cluster { return kubeenv.StartOne(t, "big") }

// createPods creates n pods named prefix-i in namespace, each with an argument of pad
// bytes: what a user who may only create pods in one namespace can do (they stay
// pending; nothing schedules them).
func createPods(t testing.TB, c *kubeenv.Cluster, namespace, prefix string, n, pad int) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	work := make(chan int)
	for range 4 {
		wg.Go(func() {
			for i := range work {
				pod := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", prefix, i), Labels: map[string]string{"app": prefix}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.25"}}},
				}
				if pad > 0 {
					pod.Spec.Containers[0].Args = []string{strings.Repeat("x", pad)}
				}
				if _, err := c.Admin.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestRealAPIServerBigPods scans a real API server: a cluster of ordinary pods scans
// whole over several pages; once a tenant adds pending pods of 1.3 MB (the attack of
// issue 24), the scan fails with "too large", keeps nothing, and the scanner's heap
// stays bounded, where client-go held every byte of every page.
func TestRealAPIServerBigPods(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	for _, ns := range []string{"shop", "tenant"} {
		if err := c.Namespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	createPods(t, c, "shop", "web", 250, 0)
	client, err := kube.NewClient("big", kube.Configure(c.RESTConfig(c.AdminToken), "tagdrift/test"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.Scan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Pods) != 250 || res.Containers != 250 || !res.NodesListed {
		t.Fatalf("healthy scan: %d pods, %d containers, nodes listed %t", len(res.Pods), res.Containers, res.NodesListed)
	}

	createPods(t, c, "tenant", "big", 40, 1300<<10)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	stop := heapPeak()
	start := time.Now()
	res, err = client.Scan(ctx)
	took := time.Since(start)
	peak := stop()
	if got := scanerr.Classify(err); got.Class != scanerr.TooLarge {
		t.Fatalf("class %q (%v), want %q", got.Class, err, scanerr.TooLarge)
	}
	if len(res.Pods) != 0 {
		t.Errorf("the failed scan kept %d pods", len(res.Pods))
	}
	growth := int64(peak) - int64(before.HeapInuse)
	t.Logf("%v after %v, heap in use grew by %d MiB at most", err, took.Round(time.Millisecond), growth>>20)
	if growth > 40<<20 {
		t.Errorf("heap in use grew by %d MiB, want at most 40 (the 52 MB of pods were not read)", growth>>20)
	}
}

// BenchmarkRealAPIServerBigPods is the benchmark of bench_test.go against real API
// servers: a healthy cluster of 2,000 pods scanned alone, then beside one and four
// scans at once of a cluster where a tenant made 40 pending pods of 1.3 MB. The API
// servers are processes of their own: the peak RSS (VmHWM) is the scanner's.
//
//	go test -run '^$' -bench RealAPIServerBigPods -benchtime 1x -count 5 ./scanner/kube/
func BenchmarkRealAPIServerBigPods(b *testing.B) {
	env, err := kubeenv.Start(context.Background(), kubeenv.Options{Clusters: []kubeenv.ClusterOptions{{Name: "healthy"}, {Name: "hostile"}}})
	if err != nil {
		b.Skipf("no Kubernetes binaries: %v", err)
	}
	b.Cleanup(func() { env.Stop() })
	ctx := context.Background()
	healthyC, hostileC := env.Cluster("healthy"), env.Cluster("hostile")
	for _, c := range []*kubeenv.Cluster{healthyC, hostileC} {
		if err := c.Namespace(ctx, "ns"); err != nil {
			b.Fatal(err)
		}
	}
	createPods(b, healthyC, "ns", "web", 2000, 0)
	createPods(b, hostileC, "ns", "big", 40, 1300<<10)
	scan := func(c *kubeenv.Cluster) (time.Duration, int, error) {
		client, err := kube.NewClient(c.Name, kube.Configure(c.RESTConfig(c.AdminToken), "tagdrift/bench"))
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		res, err := client.Scan(ctx)
		return time.Since(start), len(res.Pods), err
	}
	for _, hostile := range []int{1, 4} {
		b.Run(fmt.Sprintf("hostile=%d", hostile), func(b *testing.B) {
			for b.Loop() {
				var alone, attacked []time.Duration
				cpu0 := cpuTime(b)
				for range 5 {
					d, n, err := scan(healthyC)
					if err != nil || n != 2000 {
						b.Fatalf("healthy scan: %d pods, %v", n, err)
					}
					alone = append(alone, d)
				}
				cpuAlone := cpuTime(b) - cpu0
				debug.FreeOSMemory()
				if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
					b.Fatalf("reset the peak RSS: %v", err)
				}
				cpu0 = cpuTime(b)
				for range 5 {
					var wg sync.WaitGroup
					for range hostile {
						wg.Go(func() {
							if _, _, err := scan(hostileC); scanerr.Classify(err).Class != scanerr.TooLarge {
								b.Errorf("hostile scan: %v", err)
							}
						})
					}
					d, n, err := scan(healthyC)
					if err != nil || n != 2000 {
						b.Fatalf("healthy scan: %d pods, %v", n, err)
					}
					attacked = append(attacked, d)
					wg.Wait()
				}
				cpuAttacked := cpuTime(b) - cpu0
				b.ReportMetric(float64(procStatus(b, "VmHWM"))/1024, "peak-RSS-MiB")
				b.ReportMetric(float64(median(alone).Milliseconds()), "healthy-alone-ms")
				b.ReportMetric(float64(median(attacked).Milliseconds()), "healthy-attacked-ms")
				b.ReportMetric(float64(median(attacked))/float64(median(alone)), "slowdown")
				// The scanner's own CPU time per round, to tell its share of a slowdown from
				// the API servers' and etcd's, which share this machine's cores here.
				b.ReportMetric(float64(cpuAlone.Milliseconds())/5, "scanner-cpu-alone-ms")
				b.ReportMetric(float64(cpuAttacked.Milliseconds())/5, "scanner-cpu-attacked-ms")
			}
		})
	}
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
