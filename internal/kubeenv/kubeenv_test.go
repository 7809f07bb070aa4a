package kubeenv

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestEnv starts two clusters on one etcd and checks that they are real and separate:
// a Deployment makes pods through the controller manager, pod statuses can be patched,
// the second cluster sees none of it, a DaemonSet schedules onto a Ready node, and the
// scanner user has no rights of its own.
func TestEnv(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env, err := Start(ctx, Options{Clusters: []ClusterOptions{{Name: "one", ControllerManager: true}, {Name: "two"}}})
	if err != nil {
		if os.Getenv("CI") != "true" && os.Getenv("KUBEBUILDER_ASSETS") == "" {
			t.Skipf("no Kubernetes binaries (run make test): %v", err)
		}
		t.Fatal(err)
	}
	defer env.Stop()
	one, two := env.Cluster("one"), env.Cluster("two")

	if err := one.Namespace(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "web"}
	replicas := int32(2)
	_, err = one.Admin.AppsV1().Deployments("app").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.25"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pods, err := one.WaitForPods(ctx, "app", "app=web", 2)
	if err != nil {
		t.Fatal(err)
	}
	id := "docker.io/library/nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	if err := one.SetContainerStatuses(ctx, "app", pods[0].Name, PodStatus{Containers: []ContainerStatus{{Name: "app", ImageID: id}}}); err != nil {
		t.Fatal(err)
	}
	got, err := one.Admin.CoreV1().Pods("app").Get(ctx, pods[0].Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Status.ContainerStatuses) != 1 || got.Status.ContainerStatuses[0].ImageID != id || got.Status.ContainerStatuses[0].State.Running == nil {
		t.Errorf("status not patched: %+v", got.Status.ContainerStatuses)
	}

	if _, err := two.Admin.CoreV1().Namespaces().Get(ctx, "app", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("cluster two sees cluster one's namespace: %v", err)
	}

	if err := one.ReadyNode(ctx, "node-1", "arm64", "containerd://1.7.24"); err != nil {
		t.Fatal(err)
	}
	dsLabels := map[string]string{"app": "agent"}
	_, err = one.Admin.AppsV1().DaemonSets("app").Create(ctx, &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: dsLabels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: dsLabels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "agent:1"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := one.WaitForPods(ctx, "app", "app=agent", 1); err != nil {
		t.Fatal(err)
	}

	scanner, err := kubernetes.NewForConfig(one.RESTConfig(one.ScannerToken))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scanner.CoreV1().Pods("").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("scanner without rights listed pods: %v", err)
	}
}

// TestRestartAndEtcd stops a cluster's API server, deletes a pod in etcd meanwhile and
// starts it again: the same port and certificates answer, the pod is gone and the
// other is there; then etcd is compacted at a revision no older than the last change.
// A second API server of the cluster (AddAPIServer) serves it while the first is
// killed, and starts again after it was killed itself.
func TestRestartAndEtcd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := StartOne(t, "restart")
	if err := c.Namespace(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"kept", "gone"} {
		if _, err := c.Admin.CoreV1().Pods("app").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.25"}}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	c.StopAPIServer()
	if _, err := c.Admin.CoreV1().Pods("app").Get(ctx, "kept", metav1.GetOptions{}); err == nil {
		t.Error("the API server answers while stopped")
	}
	if err := c.DeleteFromEtcd(ctx, "pods", "app", "gone"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteFromEtcd(ctx, "pods", "app", "gone"); err == nil {
		t.Error("deleting a missing key: no error")
	}
	if err := c.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.StartAPIServer(ctx); err == nil {
		t.Error("a second start of a running API server: no error")
	}
	kept, err := c.Admin.CoreV1().Pods("app").Get(ctx, "kept", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Admin.CoreV1().Pods("app").Get(ctx, "gone", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the pod deleted in etcd: %v", err)
	}
	rev, err := c.CompactEtcd(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if kept.ResourceVersion == "" || rev < mustAtoi(t, kept.ResourceVersion) {
		t.Errorf("compacted at %d, older than the pod's %s", rev, kept.ResourceVersion)
	}

	// A second API server of the same cluster serves the same objects with the same
	// certificate and tokens, and goes on while the first is killed.
	peer, err := c.AddAPIServer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	via, err := c.At(peer.Host)
	if err != nil {
		t.Fatal(err)
	}
	c.KillAPIServer()
	if _, err := via.Admin.CoreV1().Pods("app").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "peer"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.25"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("the second API server, the first stopped: %v", err)
	}
	if err := c.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	peer.Kill()
	if _, err := c.Admin.CoreV1().Pods("app").Get(ctx, "peer", metav1.GetOptions{}); err != nil {
		t.Errorf("the pod made through the second API server: %v", err)
	}
	if _, err := via.Admin.CoreV1().Pods("app").Get(ctx, "kept", metav1.GetOptions{}); err == nil {
		t.Error("the second API server answers while stopped")
	}
	if err := peer.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := via.Admin.CoreV1().Pods("app").Get(ctx, "peer", metav1.GetOptions{}); err != nil {
		t.Errorf("the second API server, started again: %v", err)
	}
}

func mustAtoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
