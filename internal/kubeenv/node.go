package kubeenv

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
)

// NodeOptions describes a real node of a cluster: a containerd and a kubelet on this
// machine, pulling from the environment's registry.
type NodeOptions struct {
	// Name is the node's name; empty means "<cluster>-node".
	Name string
}

// Node is a running real node.
type Node struct {
	Name string
	// Socket is containerd's socket (for the CRI and for ctr --address).
	Socket string
	// RuntimeVersion is what the node reports as its container runtime
	// (containerd://1.6.20~ds1).
	RuntimeVersion string
	cluster        *Cluster
	// ctr is containerd's command-line client.
	ctr string
}

// NodeLockPath is the file lock that lets one real node at a time run on a machine:
// the kubelet uses fixed paths (/var/lib/kubelet/device-plugins, /var/log/containers)
// and containerd 1.6 its shim sockets in /run/containerd/s.
const NodeLockPath = "/run/tagdrift-node.lock"

// nodeRecordPath holds what a running node must undo; a node that finds it at start
// undoes what a crashed run left.
const nodeRecordPath = "/run/tagdrift-node.json"

// kubeletSysctls are the sysctls the kubelet sets at start (setupKernelTunables); the
// node restores them when it stops.
var kubeletSysctls = []string{
	"vm.overcommit_memory", "vm.panic_on_oom", "kernel.panic", "kernel.panic_on_oops",
	"kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes",
}

// fixedPaths are paths outside the node's own directory that the kubelet or containerd
// create whatever their configuration; those absent before start are removed at stop.
// (seen on these machines: the kubelet's /var/lib/kubelet/device-plugins and
// /var/log/containers, containerd 1.6's /run/containerd/s).
var fixedPaths = []string{"/var/lib/kubelet", "/var/log/containers", "/run/containerd"}

// nodeRecord is what stopping a node undoes.
type nodeRecord struct {
	// Dir is the node's own directory: containerd's root, state and socket, the
	// kubelet's root directory.
	Dir    string `json:"dir"`
	Socket string `json:"socket"`
	// EnvDir is the environment's directory, Dir's parent: what a crashed run left
	// there (etcd's data, logs) goes too.
	EnvDir string `json:"env_dir"`
	// Sysctls are the values before the kubelet started.
	Sysctls map[string]string `json:"sysctls"`
	// Created are the fixed paths that did not exist before start.
	Created []string `json:"created"`
	// Cgroups are the cgroup directories made for pods (kubepods in each hierarchy).
	Cgroups []string `json:"cgroups"`
}

// ErrNodeUnsupported wraps the reasons a real node cannot run on this machine (see
// CheckNode), so that a caller can tell them from a node that failed.
var ErrNodeUnsupported = errors.New("a real node cannot run on this machine")

// CheckNode says why a real node cannot run on this machine, or nil when it can: it
// needs root, containerd, its runc shim, runc and ctr (Debian's containerd and runc
// packages), and a kernel with overlayfs. Its errors wrap ErrNodeUnsupported.
func CheckNode() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: it needs root (containerd, runc and the kubelet run as root)", ErrNodeUnsupported)
	}
	for _, b := range []string{"containerd", "containerd-shim-runc-v2", "ctr", "runc"} {
		if _, err := exec.LookPath(b); err != nil {
			return fmt.Errorf("%w: no %s on PATH (apt-get install containerd runc)", ErrNodeUnsupported, b)
		}
	}
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return fmt.Errorf("%w: read /proc/filesystems: %w", ErrNodeUnsupported, err)
	}
	if !strings.Contains(string(b), "\toverlay\n") {
		return fmt.Errorf("%w: the kernel has no overlayfs (containerd's overlayfs snapshotter needs it)", ErrNodeUnsupported)
	}
	if _, err := os.Stat("/sys/fs/cgroup"); err != nil {
		return fmt.Errorf("%w: no cgroup file system", ErrNodeUnsupported)
	}
	return nil
}

// lockNode takes the machine's node lock, waiting while another node runs, and returns
// the function that releases it.
func lockNode(ctx context.Context, log *slog.Logger) (func(), error) {
	f, err := os.OpenFile(NodeLockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("node lock: %w", err)
	}
	logged := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("node lock %s: %w", NodeLockPath, err)
		}
		if !logged {
			holder, _ := os.ReadFile(NodeLockPath)
			log.Info("waiting for another real node to stop", "lock", NodeLockPath, "holder_pid", strings.TrimSpace(string(holder)))
			logged = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for the node lock %s: %w", NodeLockPath, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		f.Truncate(0)
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

func readSysctl(key string) (string, error) {
	b, err := os.ReadFile(filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/")))
	return strings.TrimSpace(string(b)), err
}

func writeSysctl(key, value string) error {
	return os.WriteFile(filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/")), []byte(value+"\n"), 0o644)
}

// cgroupHierarchies lists the mounted cgroup hierarchies: the v1 controllers'
// directories, or /sys/fs/cgroup itself under cgroup v2.
func cgroupHierarchies() ([]string, error) {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 3 && (fields[2] == "cgroup" || fields[2] == "cgroup2") {
			out = append(out, fields[1])
		}
	}
	return out, sc.Err()
}

// startNode starts containerd and a kubelet for the cluster and waits until the node
// is Ready.
func (e *Env) startNode(ctx context.Context, assets string, c *Cluster, opts NodeOptions, nodeToken string) (err error) {
	if err := CheckNode(); err != nil {
		return err
	}
	kubelet := filepath.Join(assets, "kubelet")
	if _, err := os.Stat(kubelet); err != nil {
		return fmt.Errorf("%w: no kubelet in %s (hack/kube-binaries.sh builds it)", ErrNodeUnsupported, assets)
	}
	ctr, _ := exec.LookPath("ctr")
	if e.Registry == nil {
		return errors.New("a node needs the registry")
	}
	started := time.Now()

	unlock, err := lockNode(ctx, e.log)
	if err != nil {
		return err
	}
	// From here on, whatever happens, the node's traces are undone when the
	// environment stops (or now, when starting fails).
	rec := &nodeRecord{}
	e.push(func() {
		if err := teardownNode(rec); err != nil {
			e.log.Error("clean up the real node", "err", err)
		}
		os.Remove(nodeRecordPath)
		unlock()
	})
	if prev, err := os.ReadFile(nodeRecordPath); err == nil {
		var old nodeRecord
		if json.Unmarshal(prev, &old) == nil {
			e.log.Info("cleaning up after a real node that did not stop", "dir", old.Dir)
			if err := teardownNode(&old); err != nil {
				return fmt.Errorf("clean up after the previous real node: %w", err)
			}
			if old.EnvDir != "" && strings.HasPrefix(old.Dir, old.EnvDir+"/") {
				os.RemoveAll(old.EnvDir)
			}
		}
		os.Remove(nodeRecordPath)
	}

	dir := filepath.Join(e.dir, "node")
	rec.Dir = dir
	rec.EnvDir = e.dir
	rec.Socket = filepath.Join(dir, "containerd.sock")
	rec.Sysctls = map[string]string{}
	for _, k := range kubeletSysctls {
		if v, err := readSysctl(k); err == nil {
			rec.Sysctls[k] = v
		}
	}
	for _, p := range fixedPaths {
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			rec.Created = append(rec.Created, p)
		}
	}
	hierarchies, err := cgroupHierarchies()
	if err != nil {
		return fmt.Errorf("cgroup hierarchies: %w", err)
	}
	for _, h := range hierarchies {
		cg := filepath.Join(h, "kubepods")
		if _, err := os.Stat(cg); err == nil {
			// Left by a run that did not clean up: empty cgroups go, busy ones stop us.
			if err := removeCgroup(cg); err != nil {
				return fmt.Errorf("a cgroup %s exists already (another kubelet on this machine?): %w", cg, err)
			}
		}
		rec.Cgroups = append(rec.Cgroups, cg)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := os.WriteFile(nodeRecordPath, b, 0o644); err != nil {
		return fmt.Errorf("node record: %w", err)
	}

	if err := e.startContainerd(ctx, dir, rec.Socket); err != nil {
		return err
	}
	n := &Node{Name: cmpOr(opts.Name, c.Name+"-node"), Socket: rec.Socket, cluster: c, ctr: ctr}
	// Before containerd stops: remove every task and container, so that the shims and
	// the containers' processes end and their mounts go.
	e.push(func() { n.removeAll() })
	if err := e.startKubelet(ctx, dir, kubelet, c, n, nodeToken); err != nil {
		return err
	}
	if err := n.waitReady(ctx); err != nil {
		return fmt.Errorf("%w\n%s", err, e.tails("kubelet", "containerd"))
	}
	c.Node = n
	e.log.Info("real node ready", "node", n.Name, "runtime", n.RuntimeVersion, "duration_ms", time.Since(started).Milliseconds())
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (e *Env) startContainerd(ctx context.Context, dir, socket string) error {
	for _, d := range []string{"root", "state", "certs.d", "cni/bin", "cni/net.d"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	// A conflist naming no installed plugin: the runtime reports its network ready,
	// so the node is Ready, and only hostNetwork pods can run.
	cni := `{"cniVersion": "1.0.0", "name": "tagdrift-none", "plugins": [{"type": "tagdrift-no-such-plugin"}]}`
	if err := os.WriteFile(filepath.Join(dir, "cni/net.d/10-none.conflist"), []byte(cni), 0o644); err != nil {
		return err
	}
	// The local registry over plain http.
	host := e.Registry.Host
	hosts := fmt.Sprintf("server = \"http://%s\"\n\n[host.\"http://%s\"]\n  capabilities = [\"pull\", \"resolve\", \"push\"]\n", host, host)
	hostDir := filepath.Join(dir, "certs.d", host)
	if err := os.MkdirAll(hostDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(hostDir, "hosts.toml"), []byte(hosts), 0o644); err != nil {
		return err
	}
	config := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
# Plugins that would write outside root and state, or that this node has no use for.
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[5]q
  # Root here may not lower OOM scores: without this every sandbox fails with runc's
  # "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = %[6]q
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[7]q
    conf_dir = %[8]q
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = %[9]q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), socket, socket+".ttrpc",
		e.Registry.Ref(PauseRepository, PauseTag), filepath.Join(dir, "state", "runc"),
		filepath.Join(dir, "cni/bin"), filepath.Join(dir, "cni/net.d"), filepath.Join(dir, "certs.d"))
	configPath := filepath.Join(dir, "containerd.toml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		return err
	}
	bin, _ := exec.LookPath("containerd")
	p, err := e.start(ctx, "containerd", bin, "--config", configPath, "--log-level", "info")
	if err != nil {
		return err
	}
	return p.waitReady(ctx, func() error {
		_, err := os.Stat(socket)
		return err
	})
}

func (e *Env) startKubelet(ctx context.Context, dir, bin string, c *Cluster, n *Node, token string) error {
	kubeconfig := filepath.Join(dir, "kubelet.kubeconfig")
	if err := WriteKubeconfig(kubeconfig, "node", c.Context("node", token)); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	healthz, err := freePort()
	if err != nil {
		return err
	}
	for _, d := range []string{"kubelet", "pod-logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	config := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine mounts cgroup v1, which kubelet 1.35 refuses unless told.
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
# Leave the machine's iptables alone.
makeIPTablesUtilChains: false
containerRuntimeEndpoint: unix://%[1]s
address: 127.0.0.1
port: %[2]d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %[3]d
podLogsDir: %[4]s
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
serializeImagePulls: false
# The machine's disk and memory belong to others too: evict nothing, collect no images.
evictionHard:
  memory.available: "1Mi"
  nodefs.available: "1%%"
  imagefs.available: "1%%"
  nodefs.inodesFree: "1%%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
`, n.Socket, port, healthz, filepath.Join(dir, "pod-logs"))
	configPath := filepath.Join(dir, "kubelet.yaml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		return err
	}
	_, err = e.start(ctx, "kubelet", bin,
		"--config", configPath,
		"--kubeconfig", kubeconfig,
		"--root-dir", filepath.Join(dir, "kubelet"),
		"--cert-dir", filepath.Join(dir, "kubelet", "pki"),
		"--hostname-override", n.Name,
		"--node-ip", "127.0.0.1",
		"--v", "2",
	)
	return err
}

// waitReady waits until the node is Ready, then removes the not-ready taint that
// admission put on it (no node lifecycle controller runs to do it).
func (n *Node) waitReady(ctx context.Context) error {
	nodes := n.cluster.Admin.CoreV1().Nodes()
	var last string
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		node, err := nodes.Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				last = fmt.Sprintf("Ready=%s %s: %s", cond.Status, cond.Reason, cond.Message)
				if cond.Status == corev1.ConditionTrue {
					n.RuntimeVersion = node.Status.NodeInfo.ContainerRuntimeVersion
					return true, nil
				}
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("node %s not Ready (%s): %w", n.Name, last, err)
	}
	patch := []byte(`{"spec":{"taints":null}}`)
	if _, err := nodes.Patch(ctx, n.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("untaint node %s: %w", n.Name, err)
	}
	return nil
}

// PodSpec returns spec made to run on the node: bound to it (no scheduler runs), on
// the host's network (no CNI plugin is installed), with no service account token
// mounted, and a short grace period unless the spec sets one.
func (n *Node) PodSpec(spec corev1.PodSpec) corev1.PodSpec {
	spec.NodeName = n.Name
	spec.HostNetwork = true
	no := false
	if spec.AutomountServiceAccountToken == nil {
		spec.AutomountServiceAccountToken = &no
	}
	if spec.TerminationGracePeriodSeconds == nil {
		grace := int64(1)
		spec.TerminationGracePeriodSeconds = &grace
	}
	return spec
}

// WaitPod polls a pod until ok accepts it (two minutes at most), and returns it.
func (c *Cluster) WaitPod(ctx context.Context, namespace, name string, ok func(*corev1.Pod) bool) (*corev1.Pod, error) {
	var pod *corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := c.Admin.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		pod = p
		return ok(p), nil
	})
	if err != nil {
		var st any
		if pod != nil {
			st = pod.Status
		}
		return pod, fmt.Errorf("wait for pod %s/%s: %w (status %+v)", namespace, name, err, st)
	}
	return pod, nil
}

// Running reports whether every container of the pod runs.
func Running(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning || len(p.Status.ContainerStatuses) != len(p.Spec.Containers) {
		return false
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running == nil {
			return false
		}
	}
	return true
}

// WaitRunning waits until every container of the pod runs on the node.
func (n *Node) WaitRunning(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	return n.cluster.WaitPod(ctx, namespace, name, Running)
}

// Ctr runs containerd's ctr against the node in the CRI's namespace (k8s.io) and
// returns its output.
func (n *Node) Ctr(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, n.ctr, append([]string{"--address", n.Socket, "--namespace", "k8s.io"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// Import imports a `docker save` archive into the node's containerd with ctr images
// import and the given flags (kind load adds --all-platforms and --digests), so that
// pods can run it with imagePullPolicy Never.
func (n *Node) Import(ctx context.Context, archive string, flags ...string) error {
	_, err := n.Ctr(ctx, append(append([]string{"images", "import"}, flags...), archive)...)
	return err
}

// KillContainer kills a running container's process, as a crash would; the kubelet
// restarts it. containerID is the pod status's (containerd://ID).
func (n *Node) KillContainer(ctx context.Context, containerID string) error {
	id, ok := strings.CutPrefix(containerID, "containerd://")
	if !ok {
		return fmt.Errorf("container ID %q is not containerd's", containerID)
	}
	_, err := n.Ctr(ctx, "tasks", "kill", "--signal", "SIGKILL", id)
	return err
}

// removeAll removes every task and container from containerd, before it stops.
func (n *Node) removeAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := n.Ctr(ctx, "containers", "list", "--quiet")
	if err != nil {
		return
	}
	ids := strings.Fields(string(out))
	if len(ids) == 0 {
		return
	}
	n.Ctr(ctx, append([]string{"tasks", "delete", "--force"}, ids...)...)
	n.Ctr(ctx, append([]string{"containers", "delete"}, ids...)...)
}

// teardownNode undoes what a node did to the machine: it kills the processes its
// containerd started (shims and containers) that are still alive, unmounts what is
// mounted under its directory, removes the pods' cgroups, restores the sysctls and
// removes the fixed paths that it created and its directory.
func teardownNode(rec *nodeRecord) error {
	if rec.Dir == "" {
		return nil
	}
	var errs []error
	// Shims of this containerd name its socket on their command line.
	for _, pid := range pidsWithArg(rec.Socket) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, cg := range rec.Cgroups {
		if err := removeCgroup(cg); err != nil {
			errs = append(errs, err)
		}
	}
	for _, dir := range append([]string{rec.Dir}, rec.Created...) {
		if err := unmountUnder(dir); err != nil {
			errs = append(errs, err)
		}
	}
	for k, v := range rec.Sysctls {
		if cur, err := readSysctl(k); err == nil && cur != v {
			if err := writeSysctl(k, v); err != nil {
				errs = append(errs, fmt.Errorf("restore sysctl %s=%s: %w", k, v, err))
			}
		}
	}
	for _, p := range rec.Created {
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(rec.Dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// pidsWithArg returns the processes that have arg among their command-line arguments.
func pidsWithArg(arg string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if slices.Contains(strings.Split(string(b), "\x00"), arg) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// removeCgroup kills what still runs in a cgroup tree and removes it, deepest first.
func removeCgroup(root string) error {
	if _, err := os.Stat(root); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var dirs []string
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	for _, d := range dirs {
		b, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	slices.Reverse(dirs)
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		last = nil
		for _, d := range dirs {
			if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
				last = fmt.Errorf("remove cgroup %s: %w", d, err)
			}
		}
		return last == nil, nil
	})
	if err != nil {
		return last
	}
	return nil
}

// unmountUnder unmounts every mount at or below dir, deepest first.
func unmountUnder(dir string) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 5 {
			continue
		}
		p := unescapeMount(fields[4])
		if p == dir || strings.HasPrefix(p, dir+"/") {
			points = append(points, p)
		}
	}
	sortDeepestFirst(points)
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

func sortDeepestFirst(paths []string) {
	slices.SortFunc(paths, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var out strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				out.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		out.WriteByte(s[i])
	}
	return out.String()
}
