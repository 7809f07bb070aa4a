package scheduler

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/scanner/annotate"
	"github.com/tagdrift/tagdrift/store"
)

// clusterWideLists counts the API server's LISTs of replicasets across every namespace
// (a scan's or the annotation's listing; the annotation's check that one ReplicaSet
// still exists lists in its namespace).
func clusterWideLists(t *testing.T, c *kubeenv.Cluster) float64 {
	return metricSum(t, c, "apiserver_request_total", `resource="replicasets"`, `scope="cluster"`, `verb="LIST"`)
}

// TestWatchAnnotatesFromCache runs a watched cluster whose annotate mode is on: a pod
// moving to another digest marks its ReplicaSet is-mutant=true within seconds, and
// moving back marks it false, with the ReplicaSets of the watch's cache: nothing lists
// the cluster's ReplicaSets again.
func TestWatchAnnotatesFromCache(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	c := h.cluster
	if err := c.Namespace(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "web", "pod-template-hash": "abc"}
	two := int32(2)
	rs, err := c.Admin.AppsV1().ReplicaSets("shop").Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-abc", Labels: labels},
		Spec: appsv1.ReplicaSetSpec{Replicas: &two, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/web:1"}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
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
	for _, name := range []string{"web-abc-1", "web-abc-2"} {
		if _, err := c.Admin.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: &yes}}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/web:1"}}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		set(name, "c")
	}
	cl := h.register(t, "annotated", c.Host)
	mode, on := store.ScanModeWatch, "on"
	if _, err := h.store.UpdateCluster(ctx, cl.Name, store.ClusterChange{ScanMode: &mode, Annotate: &on}, store.Audit{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	mutant := func() string {
		got, err := c.Admin.AppsV1().ReplicaSets("shop").Get(ctx, rs.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return got.Labels[annotate.LabelMutant]
	}
	s := h.watchScheduler(t, "r1")
	defer s.Stop(ctx)
	// Settled: the watch live, the first listing of the cluster (a watched cluster is
	// listed once at start, then every FullList) done, the ReplicaSet annotated.
	f := &faultFixture{t: t, h: h, cl: cl}
	eventually(t, "live, listed once, the ReplicaSet annotated not mutant", func() bool {
		scans, err := h.store.ScansOfCluster(ctx, cl.ID)
		if err != nil {
			t.Fatal(err)
		}
		polled := false
		for _, sc := range scans {
			polled = polled || sc.Kind == store.ScanKindPoll && sc.Status == store.ScanSucceeded
		}
		return polled && f.state().State == store.WatchLive && mutant() == "false"
	})
	lists := clusterWideLists(t, c)

	set("web-abc-2", "d")
	eventually(t, "is-mutant=true", func() bool { return mutant() == "true" })
	set("web-abc-2", "c")
	eventually(t, "is-mutant=false again", func() bool { return mutant() == "false" })
	if n := clusterWideLists(t, c) - lists; n != 0 {
		t.Errorf("%g listings of every ReplicaSet while annotating from the watch, want none", n)
	}
	if k := f.lastScanKind(); k != store.ScanKindWatch {
		t.Errorf("the annotated change was recorded by a %s scan, want the watch", k)
	}
}
