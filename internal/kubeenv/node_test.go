package kubeenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
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

// TestNodeAfterCrash kills (SIGKILL) a process that runs a node with a pod: its kubelet
// and containerd die with it, but the container's shim and process survive, with their
// mounts and cgroups, and the kubelet's sysctls stay changed. The next node undoes all
// of that before it starts.
func TestNodeAfterCrash(t *testing.T) {
	if os.Getenv("KUBEENV_CRASH_HELPER") == "1" {
		crashHelper(t)
		return
	}
	if err := CheckNode(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("a real node cannot run here: %v", err)
		}
		t.Skipf("a real node cannot run here: %v", err)
	}
	sysctls := map[string]string{}
	for _, k := range kubeletSysctls {
		sysctls[k], _ = readSysctl(k)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	helper := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestNodeAfterCrash$", "-test.v", "-test.timeout=4m")
	helper.Env = append(os.Environ(), "KUBEENV_CRASH_HELPER=1")
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	helper.Stderr = os.Stderr
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	var socket, dir string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "NODE-RUNNING" {
			socket, dir = f[1], f[2]
			break
		}
	}
	if socket == "" {
		helper.Process.Kill()
		helper.Wait()
		if os.Getenv("CI") != "true" && os.Getenv("KUBEBUILDER_ASSETS") == "" {
			t.Skip("the helper started no node (no Kubernetes binaries?)")
		}
		t.Fatal("the helper started no node")
	}
	go io.Copy(io.Discard, out)
	helper.Process.Kill()
	helper.Wait()

	// What the crash left: the shim, mounts under the node's directory, the record.
	// The lock keeps another package's node from cleaning it up while we look.
	unlock, err := lockNode(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()
	if err := pollUntilTrue(10*time.Second, func() bool { return len(pidsWithArg(socket)) > 0 }); err != nil {
		t.Fatalf("no shim survived the crash, so this test proves nothing: %v", err)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if !strings.Contains(string(mounts), dir) {
		t.Fatalf("no mount under %s survived the crash", dir)
	}
	if _, err := os.Stat(nodeRecordPath); err != nil {
		t.Fatalf("no node record after the crash: %v", err)
	}
	unlock()
	locked = false

	env, err := Start(ctx, Options{Clusters: []ClusterOptions{{Name: "after", Node: &NodeOptions{}}}})
	if err != nil {
		t.Fatal(err)
	}
	if pids := pidsWithArg(socket); len(pids) != 0 {
		t.Errorf("the crashed node's processes are still alive: %v", pids)
	}
	mounts, _ = os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), dir) {
		t.Errorf("mounts under the crashed node's %s are left", dir)
	}
	if _, err := os.Stat(filepath.Dir(dir)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the crashed environment's directory %s is left: %v", filepath.Dir(dir), err)
	}
	env.Stop()
	for k, v := range sysctls {
		if got, _ := readSysctl(k); got != v {
			t.Errorf("sysctl %s = %s after stop, was %s before the crash", k, got, v)
		}
	}
}

// crashHelper runs a node with one pod, says so on stdout, and waits to be killed.
func crashHelper(t *testing.T) {
	ctx := context.Background()
	env, err := Start(ctx, Options{Clusters: []ClusterOptions{{Name: "crash", Node: &NodeOptions{}}}})
	if err != nil {
		t.Fatal(err)
	}
	c := env.Cluster("crash")
	if _, err := env.Registry.Push(ctx, "test/app", "v1", "crash"); err != nil {
		t.Fatal(err)
	}
	if err := c.Namespace(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	_, err = c.Admin.CoreV1().Pods("app").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec:       c.Node.PodSpec(corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: env.Registry.Ref("test/app", "v1")}}}),
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Node.WaitRunning(ctx, "app", "p"); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("\nNODE-RUNNING %s %s\n", c.Node.Socket, filepath.Dir(c.Node.Socket))
	select {}
}

func pollUntilTrue(limit time.Duration, ok func() bool) error {
	return wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, limit, true, func(context.Context) (bool, error) { return ok(), nil })
}
