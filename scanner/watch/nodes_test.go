package watch_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/scanner/kube"
	"github.com/tagdrift/tagdrift/scanner/watch"
)

// sameAsScan waits until w's snapshot is the inventory a scan of c lists (the cache
// may trail the API server by an event) and returns it; it fails t after 5 s.
func sameAsScan(t *testing.T, c *kubeenv.Cluster, w *watch.Watch, when string) watch.Snapshot {
	t.Helper()
	client, err := kube.NewClient("w", kube.Configure(c.RESTConfig(c.AdminToken), "test"))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := w.Snapshot()
		if err != nil && err != watch.ErrNotSynced {
			t.Fatal(err)
		}
		want, err2 := client.Scan(context.Background())
		if err2 != nil {
			t.Fatal(err2)
		}
		if err == nil && reflect.DeepEqual(got.Pods, want.Pods) && got.Containers == want.Containers && got.NodesListed == want.NodesListed {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the watch's snapshot is not the scan's (%v):\n got %+v\nwant %+v", when, err, got.Pods, want.Pods)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// nodeTraffic counts what a client reads about nodes: the bytes of watch streams, and
// the requests and bytes of the rest (lists of nodes).
type nodeTraffic struct {
	next                         http.RoundTripper
	watchBytes, reads, readBytes atomic.Int64
}

func (n *nodeTraffic) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := n.next.RoundTrip(r)
	if err != nil || !strings.HasSuffix(r.URL.Path, "/nodes") {
		return resp, err
	}
	counter := &n.readBytes
	if q := r.URL.Query().Get("watch"); q == "true" || q == "1" {
		counter = &n.watchBytes
	} else {
		n.reads.Add(1)
	}
	resp.Body = &countedBody{ReadCloser: resp.Body, n: counter}
	return resp, nil
}

type countedBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// nodePod creates pod name in shop on node, running nginx at the digest of letter d.
func nodePod(t *testing.T, c *kubeenv.Cluster, name, node, d string) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.Admin.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "nginx:1.25"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetContainerStatuses(ctx, "shop", name, kubeenv.PodStatus{Containers: []kubeenv.ContainerStatus{{Name: "app", ImageID: digest(d)}}}); err != nil {
		t.Fatal(err)
	}
}

// TestWatchNodesAsMetadata watches nodes as metadata only and reads their status
// apart: the snapshot's nodes are a scan's (the status's architecture, else the
// label's, and the runtime); a status heartbeat of a node whose status is large is
// dropped, reads nothing and streams a few hundred bytes, not the node; a node that
// registers under a watch (created bare, its status reported after) shows with its
// runtime; and a runtime changed in place shows within NodeRefresh.
func TestWatchNodesAsMetadata(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	if err := c.Namespace(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if err := c.ReadyNode(ctx, "n1", "arm64", "containerd://1.7.20"); err != nil {
		t.Fatal(err)
	}
	// n1 holds 200 images, as a busy node does: its status alone is some 25 KB.
	var images []corev1.ContainerImage
	for i := range 200 {
		images = append(images, corev1.ContainerImage{
			Names:     []string{fmt.Sprintf("registry.example.com/team-%03d/service@sha256:%064x", i, i), fmt.Sprintf("registry.example.com/team-%03d/service:v1.%d", i, i)},
			SizeBytes: int64(i) << 20})
	}
	n1, err := c.Admin.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n1.Status.Images = images
	if _, err := c.Admin.CoreV1().Nodes().UpdateStatus(ctx, n1, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// n2 tells its architecture by its label only, as a scan then records it.
	n2, err := c.Admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2",
		Labels: map[string]string{corev1.LabelArchStable: "amd64"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n2.Status.NodeInfo.ContainerRuntimeVersion = "cri-o://1.30.2"
	if _, err := c.Admin.CoreV1().Nodes().UpdateStatus(ctx, n2, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	nodePod(t, c, "p1", "n1", "a")
	nodePod(t, c, "p2", "n2", "a")

	traffic := &nodeTraffic{}
	rc := watch.Configure(c.RESTConfig(c.AdminToken), "tagdrift-test", 0)
	rc.Wrap(func(rt http.RoundTripper) http.RoundTripper { traffic.next = rt; return traffic })
	ctxW, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := watch.New(watch.Config{Cluster: "w", REST: rc}, true)
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { ended <- w.Run(ctxW) }()
	waitFor(t, "sync", 10*time.Second, w.Synced)
	snap := sameAsScan(t, c, w, "after sync")
	want := map[string]inventory.Node{"p1": {Arch: "arm64", Runtime: "containerd://1.7.20"}, "p2": {Arch: "amd64", Runtime: "cri-o://1.30.2"}}
	for _, p := range snap.Pods {
		if got := (inventory.Node{Arch: p.Arch, Runtime: p.Runtime}); got != want[p.Name] {
			t.Errorf("pod %s: node %+v, want %+v", p.Name, got, want[p.Name])
		}
	}
	t.Logf("synced: %d bytes of node watch streams, %d reads of nodes (%d bytes)",
		traffic.watchBytes.Load(), traffic.reads.Load(), traffic.readBytes.Load())

	// Heartbeats: the kubelet rewrites n1's Ready condition. Each is dropped, reads
	// nothing, and streams the node's metadata, not its status.
	time.Sleep(300 * time.Millisecond)
	drain(w)
	dropped, reads, streamed := w.State().Dropped, traffic.reads.Load(), traffic.watchBytes.Load()
	const beats = 5
	for i := range beats {
		// A minute apart, each past the last: a heartbeat of the same second changes
		// nothing, and makes no event.
		at := metav1.NewTime(time.Now().Add(time.Duration(i+1) * time.Minute))
		patch := fmt.Sprintf(`{"status":{"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","lastHeartbeatTime":%q}]}}`,
			at.UTC().Format(time.RFC3339))
		if _, err := c.Admin.CoreV1().Nodes().Patch(ctx, "n1", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "status"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the heartbeats dropped", 5*time.Second, func() bool { return w.State().Dropped >= dropped+beats })
	select {
	case <-w.Changed():
		t.Error("a node's heartbeat signalled a change")
	default:
	}
	whole, err := c.Admin.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	size := whole.Size() // protobuf, as the watch asks for
	perBeat := (traffic.watchBytes.Load() - streamed) / beats
	t.Logf("a heartbeat streamed %d bytes to the watch; the node is %d bytes", perBeat, size)
	if perBeat <= 0 || perBeat > int64(size)/4 {
		t.Errorf("a heartbeat streamed %d bytes; the whole node is %d: nodes must be watched as metadata", perBeat, size)
	}
	if n := traffic.reads.Load() - reads; n != 0 {
		t.Errorf("heartbeats read nodes %d times, want none", n)
	}

	// A node registers under the watch (created, then its status reported, then
	// untainted) and a pod runs on it: its runtime shows.
	reads = traffic.reads.Load()
	if err := c.ReadyNode(ctx, "n3", "amd64", "containerd://2.0.0"); err != nil {
		t.Fatal(err)
	}
	nodePod(t, c, "p3", "n3", "b")
	snap = sameAsScan(t, c, w, "after a node registered")
	if p := snap.Pods[len(snap.Pods)-1]; p.Name != "p3" || p.Runtime != "containerd://2.0.0" || p.Arch != "amd64" {
		t.Errorf("the pod on the new node: %+v", p)
	}
	t.Logf("the new node was read %d times", traffic.reads.Load()-reads)
	select {
	case err := <-ended:
		t.Fatalf("the watch ended: %v", err)
	default:
	}

	// A runtime upgraded in place changes no metadata: a watch whose NodeRefresh is
	// short shows it within it.
	w2, _ := run(t, c, c.AdminToken, watch.Config{NodeRefresh: time.Second})
	waitFor(t, "sync", 10*time.Second, w2.Synced)
	sameAsScan(t, c, w2, "the second watch")
	if _, err := c.Admin.CoreV1().Nodes().Patch(ctx, "n1", types.StrategicMergePatchType,
		[]byte(`{"status":{"nodeInfo":{"containerRuntimeVersion":"containerd://1.7.22"}}}`), metav1.PatchOptions{}, "status"); err != nil {
		t.Fatal(err)
	}
	snap = sameAsScan(t, c, w2, "after the runtime's upgrade")
	if snap.Pods[0].Name != "p1" || snap.Pods[0].Runtime != "containerd://1.7.22" {
		t.Errorf("after the runtime's upgrade: %+v", snap.Pods[0])
	}
}
