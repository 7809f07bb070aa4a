package kube_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/scanner/kube"
	"github.com/tagdrift/tagdrift/scanner/scanerr"
)

// startCluster is a real API server (with etcd) of the test's own.
func startCluster(t *testing.T) *kubeenv.Cluster {
	t.Helper()
	env, err := kubeenv.Start(context.Background(), kubeenv.Options{Clusters: []kubeenv.ClusterOptions{{Name: "big"}}})
	if err != nil {
		if os.Getenv("CI") != "true" && os.Getenv("KUBEBUILDER_ASSETS") == "" {
			t.Skipf("no Kubernetes binaries (run make test): %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Stop() })
	return env.Clusters[0]
}

// createPods creates n pods named prefix-i in namespace, each with an argument of pad
// bytes: what a user who may only create pods in one namespace can do (they stay
// pending; nothing schedules them).
func createPods(t *testing.T, c *kubeenv.Cluster, namespace, prefix string, n, pad int) {
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
