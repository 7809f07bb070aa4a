package deploy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apitypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/scanner/annotate"
)

// scannerUser is the identity deploy/scanned-cluster/ gives tagdrift, which the policy
// of deploy/scanned-cluster-annotate/ binds.
const scannerUser = "system:serviceaccount:tagdrift:tagdrift-scanner"

// TestAnnotatorPolicy applies deploy/scanned-cluster-annotate/ to a real API server and
// a controller manager, then writes ReplicaSets as tagdrift's identity (impersonated, so
// RBAC and the policy judge exactly that user): tagdrift's own label and annotations
// pass, through the annotation client itself; a template, another label or annotation,
// the owner references and the finalizers are denied; an Event can be created but no
// longer patched. A Deployment rollout still works, since the policy binds only
// tagdrift.
func TestAnnotatorPolicy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	env, err := kubeenv.Start(ctx, kubeenv.Options{Clusters: []kubeenv.ClusterOptions{{Name: "policy", ControllerManager: true}}})
	if err != nil {
		t.Fatalf("start Kubernetes: %v", err)
	}
	t.Cleanup(func() { env.Stop() })
	c := env.Clusters[0]
	for _, ns := range []string{"tagdrift", "shop"} {
		if err := c.Namespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	objs := render(t, "scanned-cluster-annotate")
	for _, want := range []string{"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} {
		if find(objs, want, "tagdrift-annotator") == nil {
			t.Fatalf("deploy/scanned-cluster-annotate has no %s tagdrift-annotator", want)
		}
	}
	if _, err := newApplier(t, c).apply(ctx, objs, false); err != nil {
		t.Fatalf("apply deploy/scanned-cluster-annotate: %v", err)
	}

	// A Deployment, and the ReplicaSet the controller manager makes for it.
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.25"}}},
			},
		},
	}
	if _, err := c.Admin.AppsV1().Deployments("shop").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rs := waitReplicaSet(ctx, t, c.Admin, "nginx:1.25")

	cfg := c.RESTConfig(c.AdminToken)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: scannerUser,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:tagdrift", "system:authenticated"},
	}
	as, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	patch := func(body string) error { return patchReplicaSet(ctx, as, rs.Name, body) }

	// The policy takes effect once the API server has loaded it: until a template patch
	// is denied, it has not.
	// Each try names another image: one let through before then would make the next an
	// unchanged spec. That a template was stored before the policy loaded does not matter
	// to the checks below.
	var last error
	try := 0
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		try++
		last = patch(fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"evil:%d"}]}}}}`, try))
		return last != nil && strings.Contains(last.Error(), "may not change a ReplicaSet's spec"), nil
	}); err != nil {
		t.Fatalf("a template patch as tagdrift is not denied by the policy: %v", last)
	}

	// What tagdrift writes passes, written by its own client.
	client, err := annotate.NewClient(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	status, mutations, yes := `[{"container":"app"}]`, "https://tagdrift.example/mutations/1", "true"
	if _, err := client.Apply(ctx, annotate.Plan{Patches: []annotate.Patch{{
		Namespace: "shop", Name: rs.Name, UID: rs.UID,
		Labels:      map[string]*string{annotate.LabelMutant: &yes},
		Annotations: map[string]*string{annotate.AnnotationStatus: &status, annotate.AnnotationMutations: &mutations},
	}}}); err != nil {
		t.Fatalf("tagdrift's own label and annotations are refused: %v", err)
	}
	got, err := c.Admin.AppsV1().ReplicaSets("shop").Get(ctx, rs.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Labels[annotate.LabelMutant] != "true" || got.Annotations[annotate.AnnotationMutations] != mutations {
		t.Fatalf("the patch was not stored: labels %v annotations %v", got.Labels, got.Annotations)
	}
	// And removed again, as a resolution does.
	if _, err := client.Apply(ctx, annotate.Plan{Patches: []annotate.Patch{{
		Namespace: "shop", Name: rs.Name, UID: rs.UID,
		Labels:      map[string]*string{annotate.LabelMutant: nil},
		Annotations: map[string]*string{annotate.AnnotationStatus: nil, annotate.AnnotationMutations: nil},
	}}}); err != nil {
		t.Fatalf("removing tagdrift's own label and annotations is refused: %v", err)
	}

	for _, tc := range []struct{ name, body, message string }{
		{"another label", `{"metadata":{"labels":{"app":"other"}}}`, "no label"},
		{"a new label", `{"metadata":{"labels":{"team":"x"}}}`, "no label"},
		{"a label removed", `{"metadata":{"labels":{"app":null}}}`, "no label"},
		{"another annotation", `{"metadata":{"annotations":{"deployment.kubernetes.io/revision":"9"}}}`, "no annotation"},
		{"the owner references", `{"metadata":{"ownerReferences":null}}`, "owner references"},
		{"the finalizers", `{"metadata":{"finalizers":["tagdrift.io/keep"]}}`, "finalizers"},
		{"the replicas", `{"spec":{"replicas":5}}`, "spec"},
	} {
		if err := patch(tc.body); err == nil || !strings.Contains(err.Error(), tc.message) {
			t.Errorf("%s changed by tagdrift: %v", tc.name, err)
		}
	}

	// Events: created, never patched (the role no longer grants it).
	ev, err := as.CoreV1().Events("shop").Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: "web.", Namespace: "shop"},
		InvolvedObject: corev1.ObjectReference{Kind: "ReplicaSet", APIVersion: "apps/v1", Namespace: "shop", Name: rs.Name, UID: rs.UID},
		Reason:         "MutantImage", Message: "test", Type: corev1.EventTypeWarning,
		Source: corev1.EventSource{Component: annotate.FieldManager},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("tagdrift cannot create an Event: %v", err)
	}
	if _, err := as.CoreV1().Events("shop").Patch(ctx, ev.Name, apitypes.MergePatchType, []byte(`{"message":"x"}`), metav1.PatchOptions{}); err == nil {
		t.Error("tagdrift may still patch Events")
	}

	// Everyone else is untouched: an admin changes a template, and a rollout scales the
	// old ReplicaSet down and makes a new one.
	if err := patchReplicaSet(ctx, c.Admin, rs.Name, `{"metadata":{"labels":{"team":"x"}}}`); err != nil {
		t.Errorf("an admin's label patch is denied: %v", err)
	}
	if _, err := c.Admin.AppsV1().Deployments("shop").Patch(ctx, "web", apitypes.StrategicMergePatchType,
		[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"nginx:1.27"}]}}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitReplicaSet(ctx, t, c.Admin, "nginx:1.27")
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		old, err := c.Admin.AppsV1().ReplicaSets("shop").Get(ctx, rs.Name, metav1.GetOptions{})
		return err == nil && old.Spec.Replicas != nil && *old.Spec.Replicas == 0, nil
	}); err != nil {
		t.Errorf("the rollout did not scale the old ReplicaSet down: %v", err)
	}
}

// patchReplicaSet merge-patches shop/name.
func patchReplicaSet(ctx context.Context, cs kubernetes.Interface, name, body string) error {
	_, err := cs.AppsV1().ReplicaSets("shop").Patch(ctx, name, apitypes.MergePatchType, []byte(body), metav1.PatchOptions{})
	return err
}

// waitReplicaSet waits for the ReplicaSet of shop/web whose template runs image.
func waitReplicaSet(ctx context.Context, t *testing.T, cs kubernetes.Interface, image string) *appsv1.ReplicaSet {
	t.Helper()
	var found *appsv1.ReplicaSet
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := cs.AppsV1().ReplicaSets("shop").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return false, nil
		}
		for i, rs := range list.Items {
			if rs.Spec.Template.Spec.Containers[0].Image == image {
				found = &list.Items[i]
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		t.Fatalf("no ReplicaSet of shop/web runs %s: %v", image, err)
	}
	return found
}
