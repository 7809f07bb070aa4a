package annotate_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/scanner/annotate"
	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/kube"
)

// startCluster is a real API server (with etcd) of the test's own; no
// controller-manager runs, so the ReplicaSets made here never make pods themselves.
func startCluster(t *testing.T) *kubeenv.Cluster { return kubeenv.StartOne(t, "one") }

// replicaSet makes a ReplicaSet of no replicas and, as its controller would, one pod
// per imageID it runs.
func replicaSet(t *testing.T, c *kubeenv.Cluster, name string, imageIDs ...string) *appsv1.ReplicaSet {
	t.Helper()
	ctx := context.Background()
	zero := int32(0)
	labels := map[string]string{"app": name}
	rs, err := c.Admin.AppsV1().ReplicaSets("shop").Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &zero, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/shop/app:1"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	for i, id := range imageIDs {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name: name + "-" + string(rune('a'+i)), Labels: labels,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: &yes}},
			},
			Spec: rs.Spec.Template.Spec,
		}
		if _, err := c.Admin.CoreV1().Pods("shop").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := c.SetContainerStatuses(ctx, "shop", pod.Name, kubeenv.PodStatus{
			Containers: []kubeenv.ContainerStatus{{Name: "app", ImageID: id}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	return rs
}

// TestApplySkipsReplicaSetsGoneSinceTheListing plans from a real listing, then deletes
// one ReplicaSet and replaces another under its name before the plan is applied: both
// are logged and skipped (the new one keeps no verdict meant for the old), the Event
// planned for the deleted one is not sent, the rest is written, and Apply does not fail.
// The same plan made for the service (not stateless, its patches first) does the same.
func TestApplySkipsReplicaSetsGoneSinceTheListing(t *testing.T) {
	for _, stateless := range []bool{true, false} {
		t.Run(map[bool]string{true: "stateless", false: "service"}[stateless], func(t *testing.T) {
			applyAfterReplicaSetsWent(t, stateless)
		})
	}
}

func applyAfterReplicaSetsWent(t *testing.T, stateless bool) {
	c := startCluster(t)
	ctx := context.Background()
	if err := c.Namespace(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	id := func(d string) string { return "registry.example.com/shop/app@sha256:" + strings.Repeat(d, 64) }
	replicaSet(t, c, "kept", id("a"))
	replicaSet(t, c, "gone", id("a"), id("b")) // mutant: a MutantImage Event is planned for it
	replicaSet(t, c, "replaced", id("a"))

	lister, err := kube.NewClient("one", kube.Configure(c.RESTConfig(c.AdminToken), "test"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := lister.Scan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rss := make([]annotate.ReplicaSet, len(res.ReplicaSets))
	for i := range res.ReplicaSets {
		rss[i] = annotate.FromMetadata(&res.ReplicaSets[i].ObjectMeta)
	}
	plan := annotate.Make(annotate.Input{Cluster: "one", Pods: res.Pods, ReplicaSets: rss,
		Mutations: annotate.FromDetected(detect.Detect(res.Pods)), Stateless: stateless})
	if len(plan.Patches) != 3 || len(plan.Warnings) != 1 || plan.Warnings[0].ReplicaSet != "gone" {
		t.Fatalf("plan: %+v", plan)
	}

	// Between the listing and the patches: one deleted, one made again under its name.
	rsClient := c.Admin.AppsV1().ReplicaSets("shop")
	for _, name := range []string{"gone", "replaced"} {
		if err := rsClient.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	again := replicaSet(t, c, "replaced")

	var logs bytes.Buffer
	client, err := annotate.NewClient(c.RESTConfig(c.AdminToken), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	applied, err := client.Apply(ctx, plan)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if applied.Patched != 1 || applied.Gone != 2 || len(applied.Warned) != 0 {
		t.Errorf("applied %+v, want 1 patched, 2 gone, no Event", applied)
	}
	for _, name := range []string{"gone", "replaced"} {
		if !strings.Contains(logs.String(), `msg="replicaset gone before its annotation" namespace=shop replicaset=`+name) {
			t.Errorf("%s's absence is not logged:\n%s", name, logs.String())
		}
	}
	// A stateless plan's Event goes first: gone is found gone by the look-up before it,
	// and neither its Event nor its patch is sent. The service's patches go first, and
	// gone's patch finds it gone.
	if want := map[bool]int{true: 2, false: 3}[stateless]; client.Writes() != want {
		t.Errorf("%d writes, want %d: the patches, and no Event", client.Writes(), want)
	}

	kept, err := rsClient.Get(ctx, "kept", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if kept.Labels[annotate.LabelMutant] != "false" || kept.Annotations[annotate.AnnotationStatus] == "" {
		t.Errorf("kept: labels %v annotations %v", kept.Labels, kept.Annotations)
	}
	fresh, err := rsClient.Get(ctx, "replaced", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fresh.UID != again.UID || fresh.ResourceVersion != again.ResourceVersion {
		t.Errorf("the new replaced was written with the old one's verdict: %v %v", fresh.Labels, fresh.Annotations)
	}
	events, err := c.Admin.CoreV1().Events("shop").List(ctx, metav1.ListOptions{FieldSelector: "source=tagdrift"})
	if err != nil {
		t.Fatal(err)
	}
	if len(events.Items) != 0 {
		t.Errorf("events sent about ReplicaSets that are gone: %+v", events.Items)
	}
}
