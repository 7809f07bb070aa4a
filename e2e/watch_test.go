package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
)

// TestServeWatch registers a real cluster in scan mode watch through the REST API of a
// running `tagdrift serve`: its watch goes live, the kubelet patching a pod's imageID
// to a moved digest opens the workload-divergence in the API within seconds (no scan
// asked for, the interval an hour), and patching it back resolves it.
func TestServeWatch(t *testing.T) {
	ctx := context.Background()
	db := newDatabase(t)
	admin := "e2e-admin-" + newKeyText()[:16]
	env := []string{"TAGDRIFT_DATABASE_URL=" + db.URL, "TAGDRIFT_ENCRYPTION_KEY=" + newKeyText(), "TAGDRIFT_ADMIN_TOKEN=" + admin}
	s := startServe(t, env, "--allow-cluster-network", "127.0.0.0/8")
	if err := pollUntil(30*time.Second, func() bool { code, _, err := s.get("/readyz"); return err == nil && code == 200 }); err != nil {
		t.Fatalf("never ready: %v", err)
	}
	root := apiClient{t: t, url: s.url, token: admin}

	c := setup.env.Cluster("gamma")
	const ns = "watch"
	if err := c.Namespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	set := func(pod, letter string) {
		t.Helper()
		if err := c.SetContainerStatuses(ctx, ns, pod, kubeenv.PodStatus{Containers: []kubeenv.ContainerStatus{
			{Name: "app", ImageID: "registry.example.com/web@" + apiDigestOf(letter)}}}); err != nil {
			t.Fatal(err)
		}
	}
	// Other tests count the pods of gamma: leave none behind.
	t.Cleanup(func() {
		zero := int64(0)
		for _, p := range []string{"w1", "w2"} {
			err := c.Admin.CoreV1().Pods(ns).Delete(context.Background(), p, metav1.DeleteOptions{GracePeriodSeconds: &zero})
			if err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("delete pod %s: %v", p, err)
			}
		}
	})
	yes := true
	for _, name := range []string{"w1", "w2"} {
		if _, err := c.Admin.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"pod-template-hash": "7c9"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-7c9",
					UID: "00000000-0000-0000-0000-0000000000f8", Controller: &yes}}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/web:3"}}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		set(name, "c")
	}

	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := kubeenv.WriteKubeconfig(kc, "gamma", c.Context("gamma", c.AdminToken)); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(kc)
	if err != nil {
		t.Fatal(err)
	}
	root.must(http.MethodPost, "/api/v1/clusters", map[string]any{"name": "gamma", "kubeconfig": string(raw),
		"scanInterval": "1h", "scanMode": "watch"}, http.StatusCreated, nil)
	type clusterWatch struct {
		ScanMode string `json:"scanMode"`
		Watch    *struct {
			State        string     `json:"state"`
			LastChange   *time.Time `json:"lastChange"`
			LastDetected *time.Time `json:"lastDetected"`
		} `json:"watch"`
	}
	var cw clusterWatch
	if err := pollUntil(60*time.Second, func() bool {
		root.must(http.MethodGet, "/api/v1/clusters/gamma", nil, http.StatusOK, &cw)
		return cw.Watch != nil && cw.Watch.State == "live"
	}); err != nil {
		t.Fatalf("the watch is not live: %+v", cw.Watch)
	}
	divergence := func(state string) bool {
		var page struct{ Items []apiMutation }
		root.must(http.MethodGet, "/api/v1/mutations?cluster=gamma&namespace="+ns+"&kind=workload-divergence&state="+state, nil,
			http.StatusOK, &page)
		return len(page.Items) > 0
	}
	// The watch's first snapshot records the pods first.
	if err := pollUntil(30*time.Second, func() bool {
		var page struct {
			Items []struct {
				Status string `json:"status"`
				Kind   string `json:"kind"`
			}
		}
		root.must(http.MethodGet, "/api/v1/scans?cluster=gamma", nil, http.StatusOK, &page)
		for _, sc := range page.Items {
			if sc.Kind == "watch" && sc.Status == "succeeded" {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatal("no snapshot of gamma's watch recorded")
	}
	// within waits for cond at most d: the 2 s target with a margin for a loaded machine.
	within := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		start := time.Now()
		if err := pollUntil(d, cond); err != nil {
			t.Fatalf("%s: not within %s", what, d)
		}
		t.Logf("%s in the API %s after the patch", what, time.Since(start).Round(time.Millisecond))
	}
	set("w2", "d")
	within("open", 6*time.Second, func() bool { return divergence("open") })
	set("w2", "c")
	within("resolved", 6*time.Second, func() bool { return !divergence("open") && divergence("closed") })
	root.must(http.MethodGet, "/api/v1/clusters/gamma", nil, http.StatusOK, &cw)
	if cw.ScanMode != "watch" || cw.Watch == nil || cw.Watch.LastDetected == nil || cw.Watch.LastChange == nil {
		t.Errorf("the cluster's watch: %+v", cw.Watch)
	}
	if strings.Contains(s.logs.String(), c.AdminToken) {
		t.Error("the cluster's token leaked into the logs")
	}

	// A second replica starts; the first is killed (no lease given up) and a pod moves
	// while nobody watches: the second takes the lease once it expires (15 s by the
	// database's clock), lists, and records the move. Nothing is lost, and the
	// cluster's scan interval (1 h) is not what found it.
	s2 := startServe(t, env, "--allow-cluster-network", "127.0.0.0/8")
	other := apiClient{t: t, url: s2.url, token: admin}
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	s.wait(t, 10*time.Second)
	killed := time.Now()
	set("w2", "e")
	if err := pollUntil(45*time.Second, func() bool {
		var page struct{ Items []apiMutation }
		other.must(http.MethodGet, "/api/v1/mutations?cluster=gamma&namespace="+ns+"&kind=workload-divergence&state=open", nil,
			http.StatusOK, &page)
		return len(page.Items) > 0
	}); err != nil {
		t.Fatalf("after the first replica was killed, the move was not recorded within 45 s")
	}
	t.Logf("recorded by the second replica %s after the first was killed", time.Since(killed).Round(time.Millisecond))
	other.must(http.MethodGet, "/api/v1/clusters/gamma", nil, http.StatusOK, &cw)
	if cw.Watch == nil || cw.Watch.State != "live" {
		t.Errorf("after the takeover, the cluster's watch: %+v", cw.Watch)
	}
}

// TestServeScanModeFlag starts `tagdrift serve --cluster-kubeconfig … --scan-mode
// watch`: the cluster it registers is in scan mode watch, and its watch goes live,
// with no scan mode set through the API.
func TestServeScanModeFlag(t *testing.T) {
	db := newDatabase(t)
	admin := "e2e-admin-" + newKeyText()[:16]
	env := []string{"TAGDRIFT_DATABASE_URL=" + db.URL, "TAGDRIFT_ENCRYPTION_KEY=" + newKeyText(), "TAGDRIFT_ADMIN_TOKEN=" + admin}
	c := setup.env.Cluster("delta")
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := kubeenv.WriteKubeconfig(kc, "delta", c.Context("delta", c.AdminToken)); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, env, "--cluster-kubeconfig", kc+":delta", "--scan-mode", "watch", "--allow-cluster-network", "127.0.0.0/8")
	root := apiClient{t: t, url: s.url, token: admin}
	var cw struct {
		ScanMode string `json:"scanMode"`
		Watch    *struct {
			State string `json:"state"`
		} `json:"watch"`
	}
	if err := pollUntil(60*time.Second, func() bool {
		root.must(http.MethodGet, "/api/v1/clusters/delta", nil, http.StatusOK, &cw)
		return cw.Watch != nil && cw.Watch.State == "live"
	}); err != nil {
		t.Fatalf("the watch of the cluster --scan-mode watch registered is not live: %+v %+v", cw, cw.Watch)
	}
	if cw.ScanMode != "watch" {
		t.Errorf("scan mode %q, want watch", cw.ScanMode)
	}
}
