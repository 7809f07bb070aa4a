package watch_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/scanner/annotate"
	"github.com/tagdrift/tagdrift/scanner/kube"
	"github.com/tagdrift/tagdrift/scanner/watch"
)

func startCluster(t *testing.T) *kubeenv.Cluster { return kubeenv.StartOne(t, "w") }

func digest(c string) string { return "docker.io/library/nginx@sha256:" + strings.Repeat(c, 64) }

// run starts a watch of c with token and waits for its cache to sync; it returns the
// watch and a channel with Run's result.
func run(t *testing.T, c *kubeenv.Cluster, token string, cfg watch.Config) (*watch.Watch, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cfg.REST = watch.Configure(c.RESTConfig(token), "tagdrift-test", cfg.MaxEventBytes)
	cfg.Cluster = "w"
	nodes, err := watch.CanListNodes(ctx, cfg.REST)
	if err != nil {
		t.Fatal(err)
	}
	w, err := watch.New(cfg, nodes)
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { ended <- w.Run(ctx) }()
	return w, ended
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// drain empties Changed.
func drain(w *watch.Watch) {
	select {
	case <-w.Changed():
	default:
	}
}

// TestWatchRealAPIServer watches a real API server: the synced cache yields exactly
// the inventory a scan lists (owners through ReplicaSets, nodes' runtimes), an imageID
// patched by the kubelet signals a change within a second and shows in the next
// snapshot, a readiness flip signals nothing, and a deleted pod leaves it.
func TestWatchRealAPIServer(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	if err := c.Namespace(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if err := c.ReadyNode(ctx, "n1", "arm64", "containerd://1.7.20"); err != nil {
		t.Fatal(err)
	}
	rs, err := c.Admin.AppsV1().ReplicaSets("shop").Create(ctx, &appsRS, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	for _, name := range []string{"web-1", "web-2"} {
		_, err := c.Admin.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web", "pod-template-hash": "abc"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: &yes}}},
			Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "app", Image: "nginx:1.25"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SetContainerStatuses(ctx, "shop", name, kubeenv.PodStatus{Containers: []kubeenv.ContainerStatus{{Name: "app", ImageID: digest("a")}}}); err != nil {
			t.Fatal(err)
		}
	}

	w, ended := run(t, c, c.AdminToken, watch.Config{})
	waitFor(t, "sync", 10*time.Second, w.Synced)
	snapshotIsScan := func(when string) {
		t.Helper()
		// The cache may trail the API server by an event: compare once both agree.
		var got watch.Snapshot
		var want kube.Result
		deadline := time.Now().Add(5 * time.Second)
		for {
			var err error
			if got, err = w.Snapshot(); err != nil {
				t.Fatal(err)
			}
			client, err := kube.NewClient("w", kube.Configure(c.RESTConfig(c.AdminToken), "test"))
			if err != nil {
				t.Fatal(err)
			}
			if want, err = client.Scan(ctx); err != nil {
				t.Fatal(err)
			}
			if reflect.DeepEqual(got.Pods, want.Pods) && got.Containers == want.Containers && got.NodesListed == want.NodesListed {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the watch's snapshot is not the scan's:\n got %+v\nwant %+v", when, got.Pods, want.Pods)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	snapshotIsScan("after sync")
	snap, _ := w.Snapshot()
	if len(snap.Pods) != 2 || snap.Pods[0].Workload.Kind != "Deployment" || snap.Pods[0].Runtime != "containerd://1.7.20" {
		t.Fatalf("snapshot: %+v", snap.Pods)
	}

	// A readiness flip changes no kept field: no change signalled.
	time.Sleep(300 * time.Millisecond)
	drain(w)
	dropped := w.State().Dropped
	if _, err := c.Admin.CoreV1().Pods("shop").Patch(ctx, "web-1", types.MergePatchType,
		[]byte(`{"status":{"conditions":[{"type":"Ready","status":"False"}]}}`), metav1.PatchOptions{}, "status"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the readiness flip dropped", 5*time.Second, func() bool { return w.State().Dropped > dropped })
	select {
	case <-w.Changed():
		t.Fatal("a readiness flip signalled a change")
	default:
	}

	// The kubelet reports a moved digest: a change within a second.
	start := time.Now()
	if err := c.SetContainerStatuses(ctx, "shop", "web-2", kubeenv.PodStatus{Containers: []kubeenv.ContainerStatus{{Name: "app", ImageID: digest("b")}}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.Changed():
		t.Logf("change seen %s after the patch", time.Since(start))
	case <-time.After(5 * time.Second):
		t.Fatal("no change signalled for a new imageID")
	}
	snapshotIsScan("after the patch")

	if err := c.Admin.CoreV1().Pods("shop").Delete(ctx, "web-1", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deleted pod leaves the cache", 5*time.Second, func() bool {
		s, err := w.Snapshot()
		return err == nil && len(s.Pods) == 1
	})
	snapshotIsScan("after the delete")
	select {
	case err := <-ended:
		t.Fatalf("the watch ended: %v", err)
	default:
	}
}

var appsRS = func() appsv1.ReplicaSet {
	yes := true
	return appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-abc", Namespace: "shop",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web",
				UID: "00000000-0000-0000-0000-0000000000d1", Controller: &yes}}},
		Spec: appsv1.ReplicaSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.25"}}}},
		},
	}
}()

// TestWatchBounds stops a watch past its caps with a *kube.TooLargeError, and one
// whose credentials may list but not watch with a *watch.ForbiddenError.
func TestWatchBounds(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	if err := c.Namespace(ctx, "tenant"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"p1", "p2", "p3"} {
		if _, err := c.Admin.CoreV1().Pods("tenant").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.25"}}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ended := func(t *testing.T, ch <-chan error) error {
		t.Helper()
		select {
		case err := <-ch:
			return err
		case <-time.After(15 * time.Second):
			t.Fatal("the watch did not stop")
			return nil
		}
	}

	t.Run("objects", func(t *testing.T) {
		_, ch := run(t, c, c.AdminToken, watch.Config{MaxObjects: 2})
		var tl *kube.TooLargeError
		if err := ended(t, ch); !errors.As(err, &tl) || tl.What != "objects" {
			t.Fatalf("past MaxObjects: %v", err)
		}
	})
	t.Run("event", func(t *testing.T) {
		w, ch := run(t, c, c.AdminToken, watch.Config{MaxEventBytes: 16 << 10})
		waitFor(t, "sync", 10*time.Second, w.Synced)
		if _, err := c.Admin.CoreV1().Pods("tenant").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "big"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.25",
				Args: []string{strings.Repeat("x", 64<<10)}}}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var tl *kube.TooLargeError
		if err := ended(t, ch); !errors.As(err, &tl) || tl.What != "event" {
			t.Fatalf("an event past MaxEventBytes: %v", err)
		}
	})
	t.Run("list only", func(t *testing.T) {
		if err := c.GrantScanner(ctx, "list-only", []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods", "nodes"}, Verbs: []string{"list"}},
			{APIGroups: []string{"apps", "batch"}, Resources: []string{"replicasets", "jobs"}, Verbs: []string{"list"}},
		}); err != nil {
			t.Fatal(err)
		}
		_, ch := run(t, c, c.ScannerToken, watch.Config{})
		var fe *watch.ForbiddenError
		if err := ended(t, ch); !errors.As(err, &fe) {
			t.Fatalf("credentials that may not watch: %v", err)
		}
	})
}

// TestWatchReplicaSetsForAnnotation checks that the cache's ReplicaSets read, for the
// annotation, as a listing does: tagdrift's label and annotations written by its
// client (and its field manager's ownership of them) show in the cache, another
// manager's labels do not matter, and tagdrift's own write wakes nothing.
func TestWatchReplicaSetsForAnnotation(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	if err := c.Namespace(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	rs, err := c.Admin.AppsV1().ReplicaSets("shop").Create(ctx, &appsRS, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	plain := appsRS.DeepCopy()
	plain.Name, plain.Labels = "plain", map[string]string{"app": "plain", "team": "payments"}
	if _, err := c.Admin.AppsV1().ReplicaSets("shop").Create(ctx, plain, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w, _ := run(t, c, c.AdminToken, watch.Config{})
	waitFor(t, "sync", 10*time.Second, w.Synced)
	lister, err := kube.NewClient("w", kube.Configure(c.RESTConfig(c.AdminToken), "test"))
	if err != nil {
		t.Fatal(err)
	}
	// same waits until the cache's ReplicaSets read as the listing's.
	same := func(when string) []annotate.ReplicaSet {
		t.Helper()
		var got, want []annotate.ReplicaSet
		deadline := time.Now().Add(5 * time.Second)
		for {
			cached, err := w.ReplicaSets()
			if err != nil {
				t.Fatal(err)
			}
			listed, err := lister.ReplicaSets(ctx, "", "")
			if err != nil {
				t.Fatal(err)
			}
			got, want = nil, nil
			for i := range cached {
				got = append(got, annotate.FromMetadata(&cached[i].ObjectMeta))
			}
			for i := range listed {
				want = append(want, annotate.FromMetadata(&listed[i].ObjectMeta))
			}
			if reflect.DeepEqual(got, want) {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the cache's ReplicaSets are not the listing's:\n got %+v\nwant %+v", when, got, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if got := same("before the annotation"); len(got) != 2 || got[1].Name != "web-abc" || got[1].UID != rs.UID {
		t.Fatalf("the cache's ReplicaSets: %+v", got)
	}

	time.Sleep(300 * time.Millisecond)
	drain(w)
	dropped := w.State().Dropped
	client, err := annotate.NewClient(kube.Configure(c.RESTConfig(c.AdminToken), "test"), nil)
	if err != nil {
		t.Fatal(err)
	}
	yes, status := "true", `{"containers":[]}`
	if _, err := client.Apply(ctx, annotate.Plan{Patches: []annotate.Patch{{Namespace: "shop", Name: rs.Name, UID: rs.UID,
		Labels: map[string]*string{annotate.LabelMutant: &yes}, Annotations: map[string]*string{annotate.AnnotationStatus: &status}}}}); err != nil {
		t.Fatal(err)
	}
	got := same("after the annotation")
	web := got[1]
	if web.Labels[annotate.LabelMutant] != "true" || web.Annotations[annotate.AnnotationStatus] != status ||
		!reflect.DeepEqual(web.OwnedLabels, []string{annotate.LabelMutant}) || !reflect.DeepEqual(web.OwnedAnnotations, []string{annotate.AnnotationStatus}) {
		t.Errorf("the annotated ReplicaSet in the cache: %+v", web)
	}
	if got[0].Labels != nil || got[0].OwnedLabels != nil {
		t.Errorf("the other ReplicaSet keeps another manager's labels: %+v", got[0])
	}
	select {
	case <-w.Changed():
		t.Error("tagdrift's own annotation signalled a change")
	case <-time.After(500 * time.Millisecond):
	}
	if w.State().Dropped <= dropped {
		t.Error("the annotation's update was not dropped")
	}
}
