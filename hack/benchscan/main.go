// Command benchscan measures `tagdrift scan` against a bare paginated client-go list of
// the same pods, in the same run, on a real kube-apiserver populated with 5,000 pods of
// two containers each (statuses set as a kubelet would).
//
//	go run ./hack/benchscan [-pods 5000] [-rounds 11]
//
// Both sides run as fresh processes (a new client and TLS connection each), alternating,
// so that neither profits from the other's warm caches; medians are reported.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/scanner/kube"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "list" {
		if err := bareList(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "benchscan list:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchscan:", err)
		os.Exit(1)
	}
}

// bareList is the baseline: list every pod, page by page, with the same client
// settings as tagdrift (protobuf, PodPageSize), and nothing else.
func bareList(kubeconfig string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(kube.Configure(cfg, "benchscan"))
	if err != nil {
		return err
	}
	n := 0
	opts := metav1.ListOptions{Limit: kube.PodPageSize}
	for {
		list, err := client.CoreV1().Pods("").List(context.Background(), opts)
		if err != nil {
			return err
		}
		n += len(list.Items)
		if list.Continue == "" {
			break
		}
		opts.Continue = list.Continue
	}
	fmt.Println(n)
	return nil
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("benchscan", flag.ContinueOnError)
	pods := fs.Int("pods", 5000, "pods to create")
	rounds := fs.Int("rounds", 11, "measured rounds of each side")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "benchscan-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	bin := filepath.Join(dir, "tagdrift")
	build := exec.Command("go", "build", "-o", bin, "./cmd/tagdrift")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build tagdrift (run from the repository root): %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}

	env, err := kubeenv.Start(ctx, kubeenv.Options{Clusters: []kubeenv.ClusterOptions{{Name: "bench"}}})
	if err != nil {
		return err
	}
	defer env.Stop()
	c := env.Clusters[0]
	start := time.Now()
	if err := populate(ctx, c, *pods); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "populated %d pods × 2 containers in %s\n", *pods, time.Since(start).Round(time.Millisecond))

	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := kubeenv.WriteKubeconfig(kubeconfig, "bench", c.Context("bench", c.AdminToken)); err != nil {
		return err
	}
	sides := []struct {
		name string
		cmd  func() *exec.Cmd
	}{
		{"tagdrift scan -o json", func() *exec.Cmd { return exec.Command(bin, "scan", "--kubeconfig", kubeconfig, "-o", "json") }},
		{"bare paginated list", func() *exec.Cmd { return exec.Command(self, "list", kubeconfig) }},
	}
	times := make([][]time.Duration, len(sides))
	// One unmeasured round warms the API server's caches for both.
	for round := -1; round < *rounds; round++ {
		for i, side := range sides {
			cmd := side.cmd()
			cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
			t0 := time.Now()
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s: %w", side.name, err)
			}
			if round >= 0 {
				times[i] = append(times[i], time.Since(t0))
			}
		}
	}
	var ratios []float64
	for r := range *rounds {
		ratios = append(ratios, float64(times[0][r])/float64(times[1][r]))
	}
	for i, side := range sides {
		fmt.Fprintf(stdout, "%-24s median %7.1f ms  (runs: %s)\n", side.name, ms(median(times[i])), list(times[i]))
	}
	slices.Sort(ratios)
	fmt.Fprintf(stdout, "scan / bare list: median ratio %.2f (per round: %.2f … %.2f; target ≤ 1.5)\n",
		ratios[len(ratios)/2], ratios[0], ratios[len(ratios)-1])
	return nil
}

// populate creates pods owned by ReplicaSets of 50 pods each, with two containers, and
// sets their statuses as a kubelet would.
func populate(ctx context.Context, c *kubeenv.Cluster, n int) error {
	const ns = "bench"
	if err := c.Namespace(ctx, ns); err != nil {
		return err
	}
	yes := true
	jobs := make(chan int)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range jobs {
				rs := i / 50
				name := fmt.Sprintf("app-%d-%d", rs, i)
				_, err := c.Admin.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{
						Name:   name,
						Labels: map[string]string{"app": fmt.Sprintf("app-%d", rs), "pod-template-hash": "abc"},
						OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet",
							Name: fmt.Sprintf("app-%d-abc", rs), UID: types.UID(fmt.Sprintf("00000000-0000-0000-0000-%012d", rs)), Controller: &yes}},
					},
					Spec: corev1.PodSpec{Containers: []corev1.Container{
						{Name: "app", Image: fmt.Sprintf("registry.example.com/app-%d:v1", rs%40)},
						{Name: "proxy", Image: "envoyproxy/envoy:v1.31"},
					}},
				}, metav1.CreateOptions{})
				if err == nil {
					err = c.SetContainerStatuses(ctx, ns, name, kubeenv.PodStatus{Containers: []kubeenv.ContainerStatus{
						{Name: "app", ImageID: fmt.Sprintf("registry.example.com/app-%d@sha256:%064x", rs%40, rs%40)},
						{Name: "proxy", ImageID: fmt.Sprintf("docker.io/envoyproxy/envoy@sha256:%064x", 31)},
					}})
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func list(ds []time.Duration) string {
	out := ""
	for i, d := range ds {
		if i > 0 {
			out += " "
		}
		out += fmt.Sprintf("%.0f", ms(d))
	}
	return out
}
