package scheduler

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/scanner/annotate"
	"github.com/tagdrift/tagdrift/scanner/attention"
	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
	"github.com/tagdrift/tagdrift/store"
)

// TestExpiryReannotates runs the scheduler against a real API server and database: a
// mutant ReplicaSet's annotation tells its acknowledged workload-divergence apart
// (still is-mutant: acknowledged is not fixed), and when the acknowledgement's time
// comes the expiry job has the cluster scanned, which writes it open again.
func TestExpiryReannotates(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	c := h.cluster
	if err := c.Namespace(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	// A ReplicaSet (no controller runs here: it stays as made) whose two pods run two
	// digests of one tag.
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
	for i, name := range []string{"web-abc-1", "web-abc-2"} {
		if _, err := c.Admin.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: &yes}}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/web:1"}}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := c.SetContainerStatuses(ctx, "shop", name, kubeenv.PodStatus{Containers: []kubeenv.ContainerStatus{
			{Name: "app", ImageID: "registry.example.com/web@sha256:" + strings.Repeat(string(rune('c'+i)), 64)}}}); err != nil {
			t.Fatal(err)
		}
	}
	good := h.register(t, "good", c.Host)
	on := "on"
	if _, err := h.store.UpdateCluster(ctx, good.Name, store.ClusterChange{Annotate: &on}, store.Audit{}); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Store: h.store, Dialer: &kubeconfig.Dialer{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		ScanTimeout: 20 * time.Second, Tick: 200 * time.Millisecond, ExpiryInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(ctx)

	// What the ReplicaSet carries, waited for.
	waitAnnotation := func(what, want string) {
		t.Helper()
		var got *appsv1.ReplicaSet
		eventually(t, what, func() bool {
			var err error
			if got, err = c.Admin.AppsV1().ReplicaSets("shop").Get(ctx, rs.Name, metav1.GetOptions{}); err != nil {
				t.Fatal(err)
			}
			return got.Annotations[annotate.AnnotationMutations] == want
		})
		if got.Labels[annotate.LabelMutant] != "true" {
			t.Errorf("%s: is-mutant=%q, want true", what, got.Labels[annotate.LabelMutant])
		}
	}
	h.waitScans(t, good.ID, 1)
	waitAnnotation("the first scan", `{"kinds":["workload-divergence"]}`)

	ms, err := h.store.ListMutations(ctx, store.MutationFilter{Kind: "workload-divergence"})
	if err != nil || len(ms) != 1 {
		t.Fatalf("open workload-divergences: %d, %v", len(ms), err)
	}
	// Time enough for the scan Reannotate asks for to run before the end.
	soon := time.Now().Add(3 * time.Second)
	if _, err := h.store.CreateAck(ctx, store.Audit{Actor: "user:admin"}, store.NewAck{MutationID: ms[0].ID, Reason: "known",
		Until: attention.UntilTime, ExpiresAt: &soon, Approved: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.Reannotate(ctx, []int64{good.ID}); err != nil {
		t.Fatal(err)
	}
	waitAnnotation("acknowledged", `{"kinds":["workload-divergence"],"acknowledged":["workload-divergence"]}`)
	// The expiry job ends it and asks for the scan that writes it open again.
	waitAnnotation("after the acknowledgement expired", `{"kinds":["workload-divergence"]}`)
	if ms, err := h.store.ListMutations(ctx, store.MutationFilter{Kind: "workload-divergence"}); err != nil || len(ms) != 1 {
		t.Errorf("open workload-divergences after expiry: %d, %v", len(ms), err)
	}
}
