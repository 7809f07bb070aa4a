package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/scanner/kube"
)

// TestScanPaginates scans a cluster with more pods than one page holds, so the scan must
// follow continue tokens, and checks that every pod is counted once.
func TestScanPaginates(t *testing.T) {
	const pods = 1234 // several pages of kube.PodPageSize
	c := setup.env.Cluster("delta")
	ctx := context.Background()
	if err := c.Namespace(ctx, "many"); err != nil {
		t.Fatal(err)
	}
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range 8 {
		wg.Go(func() {
			for i := range work {
				name := fmt.Sprintf("p-%04d", i)
				_, err := c.Admin.CoreV1().Pods("many").Create(ctx, &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: name},
					Spec:       corev1.PodSpec{Containers: containers("app", "nginx:1.25")},
				}, metav1.CreateOptions{})
				// The last pod of each page-sized block runs a digest; one of them another.
				if err == nil && (i%500 == 499 || i == pods-1) {
					digest := dg("A")
					if i == pods-1 {
						digest = dg("B")
					}
					err = c.SetContainerStatuses(ctx, "many", name, kubeenv.PodStatus{Containers: []kubeenv.ContainerStatus{{Name: "app", ImageID: "docker.io/library/nginx@" + digest}}})
				}
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
			}
		})
	}
	for i := range pods {
		work <- i
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}

	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := kubeenv.WriteKubeconfig(kubeconfig, "delta", c.Context("delta", c.AdminToken)); err != nil {
		t.Fatal(err)
	}
	before, err := c.RequestCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := tagdrift(t, "scan", "--kubeconfig", kubeconfig, "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	after, err := c.RequestCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A bounded number of list calls, whatever the cluster's size: pages of pods,
	// one each of ReplicaSets, Jobs and nodes, and no request per pod. (Reading the
	// metrics is a GET of a non-resource URL, not counted here.)
	podPages := float64((pods + kube.PodPageSize - 1) / kube.PodPageSize)
	want := map[string]float64{"LIST pods": podPages, "LIST replicasets": 1, "LIST jobs": 1, "LIST nodes": 1}
	for key, n := range after {
		_, resource, _ := strings.Cut(key, " ")
		switch resource {
		case "pods", "replicasets", "jobs", "nodes":
			if d := n - before[key]; d != want[key] {
				t.Errorf("scan made %v %s requests, want %v", d, key, want[key])
			}
		}
	}
	for key, n := range want {
		if _, ok := after[key]; !ok {
			t.Errorf("scan made no %s requests, want %v", key, n)
		}
	}
	rep := decodeReport(t, r.stdout)
	if got := rep.Clusters[0]; got.Pods != pods || got.Containers != pods {
		t.Errorf("cluster: %+v, want %d pods and containers", got, pods)
	}
	seen := map[string]bool{}
	for _, w := range rep.Workloads {
		if seen[w.Name] {
			t.Errorf("pod %s listed twice", w.Name)
		}
		seen[w.Name] = true
	}
	if len(seen) != pods {
		t.Errorf("%d workloads, want %d bare pods", len(seen), pods)
	}
	// Bare pods across pages, on one tag and two digests: one tag-divergence whose places
	// come from every page.
	if len(rep.Mutations) != 1 || rep.Mutations[0].Kind != "tag-divergence" || len(rep.Mutations[0].Places) != 3 {
		t.Errorf("mutations: %+v", rep.Mutations)
	}
}
