package kubeenv

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestNode starts a cluster with a real node, runs a pod of an image pushed to the
// local registry, checks the imageID containerd wrote, and then that Stop left nothing
// behind: no process of the node, no mount under its directory, no pod cgroup, the
// sysctls as they were, no fixed path that was not there before.
func TestNode(t *testing.T) {
	if err := CheckNode(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("a real node cannot run here: %v", err)
		}
		t.Skipf("a real node cannot run here: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	sysctls := map[string]string{}
	for _, k := range kubeletSysctls {
		sysctls[k], _ = readSysctl(k)
	}
	var absent []string
	for _, p := range fixedPaths {
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			absent = append(absent, p)
		}
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	env, err := Start(ctx, Options{Logger: log, Clusters: []ClusterOptions{{Name: "one", Node: &NodeOptions{Name: "worker"}}}})
	if err != nil {
		if os.Getenv("CI") != "true" && os.Getenv("KUBEBUILDER_ASSETS") == "" {
			t.Skipf("no Kubernetes binaries (run make test): %v", err)
		}
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			env.Stop()
		}
	}()
	c := env.Cluster("one")
	n := c.Node
	if n == nil || n.Name != "worker" || !strings.HasPrefix(n.RuntimeVersion, "containerd://") {
		t.Fatalf("node: %+v", n)
	}
	digest, err := env.Registry.Push(ctx, "test/app", "v1", "hello")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Namespace(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	image := env.Registry.Ref("test/app", "v1")
	_, err = c.Admin.CoreV1().Pods("app").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec:       n.PodSpec(corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}}),
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod, err := n.WaitRunning(ctx, "app", "p")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := pod.Status.ContainerStatuses[0].ImageID, env.Registry.Host+"/test/app@"+digest; got != want {
		t.Errorf("imageID %q, want %q", got, want)
	}
	dir := env.dir + "/node"
	if out, err := n.Ctr(ctx, "containers", "list", "--quiet"); err != nil || len(strings.Fields(string(out))) != 2 {
		t.Errorf("containerd's containers (sandbox and app): %q %v", out, err)
	}

	env.Stop()
	stopped = true
	if pids := pidsWithArg(n.Socket); len(pids) != 0 {
		t.Errorf("processes of the node left: %v", pids)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), dir) {
		t.Errorf("mounts left under %s", dir)
	}
	hierarchies, _ := cgroupHierarchies()
	for _, h := range hierarchies {
		if _, err := os.Stat(h + "/kubepods"); err == nil {
			t.Errorf("cgroup %s/kubepods left", h)
		}
	}
	for k, v := range sysctls {
		if got, _ := readSysctl(k); got != v {
			t.Errorf("sysctl %s = %s after stop, was %s", k, got, v)
		}
	}
	for _, p := range absent {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s left", p)
		}
	}
	if _, err := os.Stat(nodeRecordPath); err == nil {
		t.Errorf("%s left", nodeRecordPath)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}
