// Package kubeenv starts real Kubernetes control planes for end-to-end tests and demos:
// one etcd, and per cluster a kube-apiserver with its own etcd prefix (so each is an
// independent cluster) and optionally a kube-controller-manager, so that Deployments,
// StatefulSets, DaemonSets and Jobs make pods as in a real cluster. Without a node,
// nothing runs the pods: tests play the kubelet by patching pods/status.
//
// A cluster can also have a real node (ClusterOptions.Node): a containerd (Debian's 1.6,
// with its own root, state and socket) and a kubelet registered under the node's name,
// pulling from a local plain-http registry (the distribution registry, Env.Registry) that
// the environment starts and that images are pushed to in Go (Registry.Push). The node
// runs hostNetwork pods only (no CNI plugin is installed; Node.PodSpec sets what a pod
// needs), and the imageIDs in pod statuses are the ones containerd wrote. One real node
// at a time runs on a machine (the kubelet has fixed paths): a file lock
// (NodeLockPath) makes a second one wait. Stop undoes everything the node did: it stops
// the kubelet, removes containerd's tasks and containers, stops containerd, unmounts
// what is left under its directory, removes the pods' cgroups, restores the sysctls the
// kubelet changes and removes the fixed paths it created; a node that finds the traces
// of a run that crashed removes them first. CheckNode says why a node cannot run here.
//
// The package needs no *testing.T: a demo starts an environment the same way,
//
//	env, err := kubeenv.Start(ctx, kubeenv.Options{
//		Logger:   logger,
//		Clusters: []kubeenv.ClusterOptions{{Name: "demo", ControllerManager: true, Node: &kubeenv.NodeOptions{}}},
//	})
//	if err != nil { ... }
//	defer env.Stop()
//	digest, err := env.Registry.Push(ctx, "demo/app", "v1", "first content")
//
// Binaries follow the envtest convention: $KUBEBUILDER_ASSETS, else the directory that
// hack/kube-binaries.sh prints (it builds kube-apiserver, kube-controller-manager and
// the kubelet into a cache when absent); the registry comes from hack/registry-binary.sh
// (go install, cached the same way); containerd, runc and ctr from apt.
package kubeenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// ClusterOptions describes one cluster.
type ClusterOptions struct {
	Name string
	// ControllerManager runs a kube-controller-manager for the cluster.
	ControllerManager bool
	// Node, when set, runs a real node for the cluster (at most one in an
	// environment); it implies the registry.
	Node *NodeOptions
	// NoWatchCache runs the API server with --watch-cache=false: watches are then
	// served from etcd, so that a compaction of etcd (Cluster.CompactEtcd) reaches a
	// watch that resumes from an older revision as 410 Gone, which the watch cache
	// would otherwise answer from memory.
	NoWatchCache bool
}

// Options describes the environment.
type Options struct {
	// Assets is a directory holding etcd, kube-apiserver and kube-controller-manager;
	// empty means $KUBEBUILDER_ASSETS, then hack/kube-binaries.sh.
	Assets   string
	Clusters []ClusterOptions
	// Registry starts the local registry even when no cluster has a node.
	Registry bool
	// Logger receives progress (what started, how long it took); nil discards it.
	Logger *slog.Logger
}

// Env is a running environment. Stop it when done.
type Env struct {
	Clusters []*Cluster
	// Registry is the local registry, when a node or Options.Registry asked for it.
	Registry *Registry
	dir      string
	log      *slog.Logger
	// stops undo what was started, run last to first.
	stops []func()
	procs map[string]*process
}

// Cluster is one running cluster.
type Cluster struct {
	Name string
	// Host is the API server's URL, https://127.0.0.1:PORT.
	Host   string
	CAData []byte
	// AdminToken belongs to a member of system:masters.
	AdminToken string
	// ScannerToken belongs to the user tagdrift-scanner, who has no groups and no rights
	// until a test binds some.
	ScannerToken string
	// Admin is a client with the admin token.
	Admin kubernetes.Interface
	// Node is the cluster's real node, when it has one.
	Node *Node
	// nodeToken is the kubelet's credential (system:node:NAME in system:masters).
	nodeToken string
	// env, apiServer and apiServerArgs restart the API server (StartAPIServer);
	// etcdURL and etcdPrefix reach its objects in etcd (etcd.go).
	env           *Env
	apiServer     *process
	apiServerArgs []string
	certDir       string
	etcdURL       string
	etcdPrefix    string
	// peers counts the API servers added (AddAPIServer).
	peers int
}

// ScannerUser is the user name of Cluster.ScannerToken.
const ScannerUser = "tagdrift-scanner"

type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// Start starts etcd and the clusters and waits until every API server is ready.
func Start(ctx context.Context, opts Options) (_ *Env, err error) {
	assets, err := findAssets(ctx, opts.Assets)
	if err != nil {
		return nil, err
	}
	nodes := 0
	for _, co := range opts.Clusters {
		if co.Node != nil {
			nodes++
		}
	}
	if nodes > 1 {
		return nil, errors.New("one real node at most: the kubelet uses fixed paths on this machine")
	}
	dir, err := os.MkdirTemp("", "kubeenv-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	env := &Env{dir: dir, log: log, procs: map[string]*process{}}
	defer func() {
		if err != nil {
			env.Stop()
		}
	}()

	etcdURL, err := env.startEtcd(ctx, assets)
	if err != nil {
		return nil, err
	}
	key, err := writeServiceAccountKey(dir)
	if err != nil {
		return nil, err
	}
	if opts.Registry || nodes > 0 {
		if env.Registry, err = env.startRegistry(ctx); err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
	}
	for i, co := range opts.Clusters {
		c, err := env.startCluster(ctx, assets, etcdURL, key, i, co)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", co.Name, err)
		}
		env.Clusters = append(env.Clusters, c)
		if co.Node != nil {
			if err := env.startNode(ctx, assets, c, *co.Node, c.nodeToken); err != nil {
				return nil, fmt.Errorf("cluster %s: real node: %w", co.Name, err)
			}
		}
	}
	return env, nil
}

// Cluster returns the cluster of that name, or nil.
func (e *Env) Cluster(name string) *Cluster {
	for _, c := range e.Clusters {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Stop undoes what Start did, last first: the node (and what it did to the machine),
// then controller managers and API servers, the registry, etcd; and it removes the
// temporary files.
func (e *Env) Stop() error {
	for i := len(e.stops) - 1; i >= 0; i-- {
		e.stops[i]()
	}
	e.stops = nil
	if e.dir == "" {
		return nil
	}
	err := os.RemoveAll(e.dir)
	e.dir = ""
	return err
}

func findAssets(ctx context.Context, dir string) (string, error) {
	if dir == "" {
		dir = os.Getenv("KUBEBUILDER_ASSETS")
	}
	if dir == "" {
		root, err := repoRoot()
		if err != nil {
			return "", err
		}
		cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "kube-binaries.sh"))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("hack/kube-binaries.sh: %w", err)
		}
		dir = strings.TrimSpace(string(out))
	}
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("kubernetes binaries in %s: %w", dir, err)
		}
	}
	return dir, nil
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// freePort asks the kernel for a free loopback port. Another process could take it
// before the server binds it; on this test machine that race is rare and fails loudly.
//
// etcd and kube-apiserver cannot listen on port 0 and say where instead: etcd must be
// told the URLs it advertises (its own cluster configuration names them) before it
// binds, and kube-apiserver takes --secure-port=0 to mean "serve no HTTPS", while its
// serving certificate and the kubeconfigs written for it name the port up front. So
// the port is picked here. tagdrift serve, which can, listens on :0 in tests and logs
// its address (e2e startServe).
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (e *Env) start(ctx context.Context, name, bin string, args ...string) (*process, error) {
	logPath := filepath.Join(e.dir, name+".log")
	// Appended: a process started again (StartAPIServer) keeps its first run's log.
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	// Not CommandContext: the processes outlive the start-up context and end on Stop.
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// A process group of its own, so that Stop reaches any children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	e.push(p.stop)
	e.procs[name] = p
	return p, nil
}

// push adds an undo step to Stop.
func (e *Env) push(stop func()) { e.stops = append(e.stops, stop) }

// tails returns the ends of the named processes' logs, for an error message.
func (e *Env) tails(names ...string) string {
	var b strings.Builder
	for _, n := range names {
		if p := e.procs[n]; p != nil {
			b.WriteString(p.failed(errors.New("log")).Error())
			b.WriteString("\n")
		}
	}
	return b.String()
}

func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// kill ends the process at once (SIGKILL to its group) and waits for its end.
func (p *process) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// failed describes a process that did not come up, with the end of its log.
func (p *process) failed(err error) error {
	b, _ := os.ReadFile(p.log)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return fmt.Errorf("%s: %w\n--- end of %s ---\n%s", p.name, err, p.log, b)
}

// waitReady polls check until it succeeds, the process exits, or ctx ends.
func (p *process) waitReady(ctx context.Context, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	var last error
	for {
		if last = check(); last == nil {
			return nil
		}
		select {
		case <-p.done:
			return p.failed(fmt.Errorf("exited before ready: %w", last))
		case <-ctx.Done():
			return p.failed(fmt.Errorf("not ready: %w", last))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (e *Env) startEtcd(ctx context.Context, assets string) (string, error) {
	clientPort, err := freePort()
	if err != nil {
		return "", err
	}
	peerPort, err := freePort()
	if err != nil {
		return "", err
	}
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	p, err := e.start(ctx, "etcd", filepath.Join(assets, "etcd"),
		"--data-dir", filepath.Join(e.dir, "etcd"),
		"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "default="+peerURL,
		"--unsafe-no-fsync", // test data: durability is not wanted, speed is
		"--quota-backend-bytes", strconv.Itoa(4<<30),
	)
	if err != nil {
		return "", err
	}
	err = p.waitReady(ctx, func() error {
		resp, err := http.Get(clientURL + "/health")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("health: %s", resp.Status)
		}
		return nil
	})
	return clientURL, err
}

func writeServiceAccountKey(dir string) (string, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", fmt.Errorf("service account key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("service account key: %w", err)
	}
	path := filepath.Join(dir, "sa.key")
	return path, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

func token() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (e *Env) startCluster(ctx context.Context, assets, etcdURL, saKey string, i int, co ClusterOptions) (*Cluster, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		Name:         co.Name,
		Host:         fmt.Sprintf("https://127.0.0.1:%d", port),
		AdminToken:   token(),
		ScannerToken: token(),
		nodeToken:    token(),
	}
	dir := filepath.Join(e.dir, fmt.Sprintf("cluster-%d", i))
	certDir := filepath.Join(dir, "certs")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, err
	}
	tokens := filepath.Join(dir, "tokens.csv")
	csv := fmt.Sprintf("%s,admin,admin,system:masters\n%s,%s,%s\n", c.AdminToken, c.ScannerToken, ScannerUser, ScannerUser)
	if co.Node != nil {
		// The kubelet's credential: the node's user, in system:masters (no Node
		// authorizer runs), so that it needs no certificate bootstrap.
		nodeName := cmpOr(co.Node.Name, co.Name+"-node")
		csv += fmt.Sprintf("%s,system:node:%s,system:node:%s,\"system:nodes,system:masters\"\n", c.nodeToken, nodeName, nodeName)
	}
	if err := os.WriteFile(tokens, []byte(csv), 0o600); err != nil {
		return nil, err
	}
	c.env, c.certDir, c.etcdURL, c.etcdPrefix = e, certDir, etcdURL, fmt.Sprintf("/cluster-%d", i)
	c.apiServerArgs = []string{filepath.Join(assets, "kube-apiserver"),
		"--etcd-servers", etcdURL,
		"--etcd-prefix", c.etcdPrefix,
		"--bind-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(port),
		"--cert-dir", certDir,
		"--token-auth-file", tokens,
		"--authorization-mode", "RBAC",
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", saKey,
		"--service-account-signing-key-file", saKey,
		"--service-cluster-ip-range", "10.0.0.0/24",
		"--allow-privileged",
		"--enable-priority-and-fairness=false",
	}
	if co.NoWatchCache {
		c.apiServerArgs = append(c.apiServerArgs, "--watch-cache=false")
	}
	if err := c.StartAPIServer(ctx); err != nil {
		return nil, err
	}
	c.Admin, err = kubernetes.NewForConfig(c.RESTConfig(c.AdminToken))
	if err != nil {
		return nil, err
	}
	if co.ControllerManager {
		if err := e.startControllerManager(ctx, assets, dir, saKey, c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (e *Env) startControllerManager(ctx context.Context, assets, dir, saKey string, c *Cluster) error {
	kubeconfig := filepath.Join(dir, "controller-manager.kubeconfig")
	if err := WriteKubeconfig(kubeconfig, "admin", c.Context("admin", c.AdminToken)); err != nil {
		return err
	}
	p, err := e.start(ctx, "kube-controller-manager-"+c.Name, filepath.Join(assets, "kube-controller-manager"),
		"--kubeconfig", kubeconfig,
		"--controllers", "deployment-controller,replicaset-controller,statefulset-controller,daemonset-controller,job-controller,cronjob-controller,garbage-collector-controller",
		"--leader-elect=false",
		"--secure-port=0",
		"--use-service-account-credentials=false",
		"--service-account-private-key-file", saKey,
		"--concurrent-deployment-syncs=5",
		"--concurrent-replicaset-syncs=5",
	)
	if err != nil {
		return err
	}
	// The controller manager has no readiness endpoint here (--secure-port=0); a crash
	// at start shows within a second, and tests wait for the objects it makes.
	select {
	case <-p.done:
		return p.failed(errors.New("exited at start"))
	case <-time.After(time.Second):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// StopAPIServer stops the cluster's API server (SIGTERM, then SIGKILL after 10 s) and
// leaves etcd and the rest running: a test starts it again with StartAPIServer, on the
// same port, certificates and etcd prefix, as a control plane restarts in place.
func (c *Cluster) StopAPIServer() {
	if c.apiServer != nil {
		c.apiServer.stop()
	}
}

// KillAPIServer kills the cluster's API server (SIGKILL), as a crash or a lost
// machine ends it: its connections end at once, with no graceful close of its watches.
// Start it again with StartAPIServer.
func (c *Cluster) KillAPIServer() {
	if c.apiServer != nil {
		c.apiServer.kill()
	}
}

// StartAPIServer starts the cluster's API server (at Start, or again after
// StopAPIServer) and waits until it is ready.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	p, err := c.startAPIServer(ctx, c.apiServer, "kube-apiserver-"+c.Name, c.Host, c.apiServerArgs)
	if err != nil {
		return err
	}
	c.apiServer = p
	return nil
}

// startAPIServer starts an API server of c with args, under name, unless running
// (its last run) has not ended, and waits until it answers at host.
func (c *Cluster) startAPIServer(ctx context.Context, running *process, name, host string, args []string) (*process, error) {
	if running != nil {
		select {
		case <-running.done:
		default:
			return nil, errors.New("the API server " + name + " runs")
		}
	}
	p, err := c.env.start(ctx, name, args[0], args[1:]...)
	if err != nil {
		return nil, err
	}
	return p, p.waitReady(ctx, func() error {
		if c.CAData == nil {
			ca, err := os.ReadFile(filepath.Join(c.certDir, "apiserver.crt"))
			if err != nil {
				return err
			}
			c.CAData = ca
		}
		client, err := rest.HTTPClientFor(c.RESTConfig(c.AdminToken))
		if err != nil {
			return err
		}
		resp, err := client.Get(host + "/readyz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			var b bytes.Buffer
			b.ReadFrom(resp.Body)
			return fmt.Errorf("readyz: %s %s", resp.Status, b.String())
		}
		return nil
	})
}

// APIServer is another API server of a cluster (AddAPIServer), as a highly available
// control plane runs several behind a load balancer: the same etcd and prefix, tokens,
// certificates and service-account key, on a port of its own. Stop and Start it like
// the cluster's own (StopAPIServer, StartAPIServer).
type APIServer struct {
	// Host is its URL, https://127.0.0.1:PORT.
	Host string
	c    *Cluster
	name string
	args []string
	proc *process
}

// AddAPIServer starts another API server of the cluster and waits until it is ready.
func (c *Cluster) AddAPIServer(ctx context.Context) (*APIServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c.peers++
	a := &APIServer{Host: fmt.Sprintf("https://127.0.0.1:%d", port), c: c,
		name: fmt.Sprintf("kube-apiserver-%s-%d", c.Name, c.peers+1), args: slices.Clone(c.apiServerArgs)}
	a.args[slices.Index(a.args, "--secure-port")+1] = strconv.Itoa(port)
	if err := a.Start(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// Start starts the API server again after Stop or Kill, on the same port, and waits
// until it is ready.
func (a *APIServer) Start(ctx context.Context) error {
	p, err := a.c.startAPIServer(ctx, a.proc, a.name, a.Host, a.args)
	if err != nil {
		return err
	}
	a.proc = p
	return nil
}

// Stop stops the API server (SIGTERM, then SIGKILL after 10 s).
func (a *APIServer) Stop() {
	if a.proc != nil {
		a.proc.stop()
	}
}

// Kill kills the API server (SIGKILL), as KillAPIServer does the cluster's own.
func (a *APIServer) Kill() {
	if a.proc != nil {
		a.proc.kill()
	}
}

// At is the cluster reached at host (another of its API servers, or a load balancer
// in front of them): the same cluster, whose Host and Admin client go there.
func (c *Cluster) At(host string) (*Cluster, error) {
	at := *c
	at.Host = host
	var err error
	if at.Admin, err = kubernetes.NewForConfig(at.RESTConfig(at.AdminToken)); err != nil {
		return nil, err
	}
	return &at, nil
}

// RESTConfig returns a client configuration for the cluster with the given token.
func (c *Cluster) RESTConfig(token string) *rest.Config {
	return &rest.Config{
		Host:            c.Host,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.CAData},
		QPS:             200,
		Burst:           400,
	}
}
