package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/internal/pgtest"
)

// localConfig is `tagdrift-demo local`'s command line.
type localConfig struct {
	tagdrift    string
	listen      string
	fakeKubelet bool
	wait        time.Duration
}

func parseLocal(args []string, stderr io.Writer) (localConfig, error) {
	var c localConfig
	fs := flag.NewFlagSet("tagdrift-demo local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.tagdrift, "tagdrift", "bin/tagdrift", "the tagdrift binary to serve with")
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8080", "where tagdrift serve listens")
	fs.BoolVar(&c.fakeKubelet, "fake-kubelet", false, "play the kubelet in both clusters, even where a real node could run")
	fs.DurationVar(&c.wait, "wait", 5*time.Minute, "time limit of each step")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return c, nil
}

// The clusters of the local demo.
const (
	eastCluster = "east" // a real node, when one can run
	westCluster = "west" // always the played kubelet
)

// runLocal is `make demo`: two clusters (etcd, kube-apiserver and controller manager
// each; east with a real kubelet and containerd when this machine allows), a local
// registry, PostgreSQL, and tagdrift serve scanning both; then the mutation: a tag
// moved under running Deployments, one pod of east replaced so that its node pulls the
// new content. East then runs two digests of one tag, west the old one only. It prints
// where to sign in and runs until ctx ends (Ctrl-C), then stops everything it started.
func runLocal(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	cfg, err := parseLocal(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	say := func(format string, a ...any) { fmt.Fprintf(stdout, "demo: "+format+"\n", a...) }

	// The kubeconfigs and serve's log. The log outlives the demo, so that a demo that
	// failed or was stopped can be read afterwards; the kubeconfigs, whose clusters and
	// credentials end with it, do not.
	dir, err := os.MkdirTemp("", "tagdrift-demo-")
	if err != nil {
		return fmt.Errorf("the demo's directory: %w", err)
	}
	defer func() {
		if kept := keepLog(dir); kept != "" {
			say("stopped; tagdrift serve's log is kept in %s", kept)
		}
	}()

	env, real, err := startClusters(ctx, cfg, log, say)
	if err != nil {
		return err
	}
	defer func() {
		say("stopping the clusters, the node and the registry")
		err = errors.Join(err, env.Stop())
	}()

	db, err := pgtest.Create(ctx, "tagdrift_demo")
	if err != nil {
		return fmt.Errorf("database (run make demo, which starts PostgreSQL): %w", err)
	}
	defer func() { err = errors.Join(err, db.Drop(context.WithoutCancel(ctx))) }()

	srv, err := startServe(ctx, cfg, env, db.URL, dir, log)
	if err != nil {
		return err
	}
	defer func() {
		say("stopping tagdrift serve")
		err = errors.Join(err, srv.stop())
	}()
	// East is watched (a change is recorded within seconds), west polled.
	if err := srv.watch(ctx, eastCluster, cfg.wait); err != nil {
		return err
	}
	say("tagdrift serve is up at %s, watching cluster %s and scanning %s every 10s; its log: %s", srv.url, eastCluster, westCluster, srv.log)
	say("the clusters' kubeconfigs: %s (kubectl --kubeconfig %s get pods -n demo)", strings.Join(srv.kubeconfigs, " and "), srv.kubeconfigs[0])

	// Play the kubelet where no real node runs.
	kctx, stopKubelets := context.WithCancel(ctx)
	kubeletDone := make(chan error, 2)
	kubelets := 0
	for _, c := range env.Clusters {
		if c.Node == nil {
			kubelets++
			k := &fakeKubelet{Cluster: c, Namespace: "demo"}
			go func() { kubeletDone <- k.Run(kctx) }()
		}
	}
	defer func() {
		stopKubelets()
		for range kubelets {
			err = errors.Join(err, <-kubeletDone)
		}
	}()

	ran, err := playLocal(ctx, env, srv, cfg, log, say)
	if err != nil {
		return err
	}
	ms, err := srv.waitMutations(ctx, cfg.wait)
	if err != nil {
		return err
	}
	for _, m := range ms {
		say("tagdrift found %s in %s: %s runs %s", m.Kind, cmpOr(m.Cluster, "several clusters"), m.Ref, strings.Join(shortAll(m.Digests), " and "))
	}
	say("the watch of %s found them %.1f s after the new pod ran, without waiting for a scan", eastCluster, time.Since(ran).Seconds())
	node := "a real kubelet and containerd"
	if !real {
		node = "a played kubelet"
	}
	say("ready (east runs on %s, west on a played kubelet):", node)
	say("  open %s and sign in as admin, password %s", srv.url, srv.password)
	say("  API: curl -H 'Authorization: Bearer %s' %s/api/v1/mutations", srv.token, srv.url)
	say("  (token %q, listed at %s/admin/tokens; the database: %s)", demoTokenName, srv.url, db.URL)
	say("  Ctrl-C stops everything and drops the database; serve's log stays in %s", srv.log)
	<-ctx.Done()
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func shortAll(ds []string) []string {
	var out []string
	for _, d := range ds {
		out = append(out, short(d))
	}
	return out
}

// startClusters starts east with a real node where the machine allows, else (saying
// why) with the kubelet played, and west with the kubelet played; and the registry.
func startClusters(ctx context.Context, cfg localConfig, log *slog.Logger, say func(string, ...any)) (*kubeenv.Env, bool, error) {
	opts := func(node bool) kubeenv.Options {
		east := kubeenv.ClusterOptions{Name: eastCluster, ControllerManager: true}
		if node {
			east.Node = &kubeenv.NodeOptions{Name: eastCluster + "-node"}
		}
		return kubeenv.Options{Logger: log, Registry: true, Clusters: []kubeenv.ClusterOptions{
			east, {Name: westCluster, ControllerManager: true},
		}}
	}
	real := !cfg.fakeKubelet
	if cfg.fakeKubelet {
		say("playing the kubelet in both clusters (--fake-kubelet)")
	} else if err := kubeenv.CheckNode(); err != nil {
		say("no real node: %v; playing the kubelet in both clusters instead", err)
		real = false
	}
	say("starting etcd, two clusters and a registry (a minute or so)")
	env, err := kubeenv.Start(ctx, opts(real))
	if err != nil && real && ctx.Err() == nil {
		say("the real node did not start: %v; playing the kubelet in both clusters instead", err)
		real = false
		env, err = kubeenv.Start(ctx, opts(false))
	}
	if err != nil {
		return nil, false, fmt.Errorf("start the clusters: %w", err)
	}
	return env, real, nil
}

// playLocal pushes the first content, runs it in three pods in each cluster, has
// tagdrift scan both, moves the tag, and replaces one pod of east; it returns when
// east's new pod was seen running.
func playLocal(ctx context.Context, env *kubeenv.Env, srv *served, cfg localConfig, log *slog.Logger, say func(string, ...any)) (time.Time, error) {
	reg := env.Registry
	push := func(ctx context.Context, content string) (string, error) {
		return reg.Push(ctx, repository, tag, content)
	}
	players := map[string]*player{}
	for _, c := range env.Clusters {
		p := &player{Client: c.Admin, Registry: reg.Host, Namespace: "demo", Wait: cfg.wait, Log: log.With("cluster", c.Name), Push: push}
		if c.Node != nil {
			p.NodeName = c.Node.Name
		}
		players[c.Name] = p
		if err := p.reset(ctx); err != nil {
			return time.Time{}, err
		}
	}
	east, west := players[eastCluster], players[westCluster]
	first, err := push(ctx, "first content")
	if err != nil {
		return time.Time{}, err
	}
	say("pushed %s (%s); running it in three pods in each cluster", east.ref(), short(first))
	for _, p := range []*player{east, west} {
		if err := p.deploy(ctx, 3); err != nil {
			return time.Time{}, err
		}
	}
	for _, p := range []*player{east, west} {
		if _, err := p.waitRunning(ctx, 3); err != nil {
			return time.Time{}, err
		}
	}
	// tagdrift records what runs before the tag moves, so that it can tell it moved.
	for _, c := range env.Clusters {
		if err := srv.scan(ctx, c.Name, cfg.wait); err != nil {
			return time.Time{}, err
		}
	}
	say("tagdrift has scanned both clusters running %s", short(first))
	second, err := push(ctx, "second content")
	if err != nil {
		return time.Time{}, err
	}
	say("moved the tag %s to other content (%s) under the running pods; replacing one pod in east", east.ref(), short(second))
	if err := east.replaceOne(ctx); err != nil {
		return time.Time{}, err
	}
	got, err := east.waitRunning(ctx, 3)
	if err != nil {
		return time.Time{}, err
	}
	ran := time.Now()
	if got[first] != 2 || got[second] != 1 {
		return time.Time{}, fmt.Errorf("east runs %v, want two pods of %s and one of %s", got, first, second)
	}
	w, err := west.waitRunning(ctx, 3)
	if err != nil {
		return time.Time{}, err
	}
	say("east runs %s in two pods and %s in one; west runs %s in %d", short(first), short(second), short(first), w[first])
	return ran, nil
}

// keepLog removes the demo's directory but serve's log, and returns the log's path;
// with no log (serve never started) it removes everything and returns "".
func keepLog(dir string) string {
	logPath := filepath.Join(dir, serveLog)
	entries, _ := os.ReadDir(dir)
	kept := ""
	for _, e := range entries {
		if e.Name() == serveLog {
			kept = logPath
			continue
		}
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
	if kept == "" {
		os.Remove(dir)
	}
	return kept
}

// serveLog is the name of serve's log in the demo's directory.
const serveLog = "serve.log"

// demoTokenName names the demo's API token, as the tokens page lists it.
const demoTokenName = "tagdrift-demo"

// served is a running tagdrift serve.
type served struct {
	url, token, password string
	log                  string   // serve's stdout and stderr
	kubeconfigs          []string // one per cluster, as registered
	cmd                  *exec.Cmd
	done                 chan error
}

// startServe migrates a fresh database, adds the admin user and starts tagdrift serve
// with both clusters registered.
func startServe(ctx context.Context, cfg localConfig, env *kubeenv.Env, dbURL, dir string, log *slog.Logger) (*served, error) {
	var kubeconfigs, paths []string
	for _, c := range env.Clusters {
		path := filepath.Join(dir, c.Name+".kubeconfig")
		if err := kubeenv.WriteKubeconfig(path, c.Name, c.Context(c.Name, c.AdminToken)); err != nil {
			return nil, err
		}
		kubeconfigs = append(kubeconfigs, "--cluster-kubeconfig", path)
		paths = append(paths, path)
	}
	pw, err := randomBase64(18, base64.RawURLEncoding)
	if err != nil {
		return nil, err
	}
	key, err := randomBase64(32, base64.StdEncoding)
	if err != nil {
		return nil, err
	}
	tc := config{Tagdrift: cfg.tagdrift, DatabaseURL: dbURL}
	if err := tagdrift(ctx, tc, nil, "migrate", "up"); err != nil {
		return nil, err
	}
	if err := tagdrift(ctx, tc, strings.NewReader(pw+"\n"), "user", "add", "admin", "--role", "admin"); err != nil {
		return nil, err
	}
	// The API token is one an admin would make (tagdrift token create): a tdt_ token in
	// the store, listed on the tokens page, not serve's TAGDRIFT_ADMIN_TOKEN, which no
	// page knows.
	out, err := tagdriftOutput(ctx, tc, nil, "token", "create", "--name", demoTokenName, "--role", "admin")
	if err != nil {
		return nil, err
	}
	token := strings.TrimSpace(out)
	if !strings.HasPrefix(token, "tdt_") {
		return nil, fmt.Errorf("tagdrift token create printed %q, not a tdt_ token", token)
	}
	logFile, err := os.Create(filepath.Join(dir, serveLog))
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--listen", cfg.listen, "--allow-cluster-network", "127.0.0.0/8", "--scan-interval", "10s"}, kubeconfigs...)
	// Not CommandContext: serve is stopped with SIGTERM and given time to finish.
	cmd := exec.Command(cfg.tagdrift, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TAGDRIFT_DATABASE_URL=" + dbURL, "TAGDRIFT_ENCRYPTION_KEY=" + key}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start tagdrift serve: %w", err)
	}
	s := &served{url: "http://" + cfg.listen, token: token, password: pw, log: logFile.Name(), kubeconfigs: paths, cmd: cmd, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait(); logFile.Close() }()
	deadline := time.NewTimer(cfg.wait)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := http.Get(s.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case err := <-s.done:
			b, _ := os.ReadFile(logFile.Name())
			return nil, fmt.Errorf("tagdrift serve exited (%v):\n%s", err, b)
		case <-deadline.C:
			s.stop()
			return nil, fmt.Errorf("tagdrift serve not ready at %s after %s", s.url, cfg.wait)
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

// stop ends serve with SIGTERM, as a supervisor would, and kills it if it lingers.
func (s *served) stop() error {
	pgid := s.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("tagdrift serve: %w", err)
		}
		return nil
	case <-time.After(40 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		return fmt.Errorf("tagdrift serve did not stop within 40s: killed")
	}
}

// apiMutation is what the demo reads of the API's mutations.
type apiMutation struct {
	Kind       string     `json:"kind"`
	Cluster    string     `json:"cluster"`
	Ref        string     `json:"ref"`
	Digests    []string   `json:"digests"`
	ResolvedAt *time.Time `json:"resolvedAt"`
}

// call makes one REST API request as the admin and decodes the answer into out.
func (s *served) call(ctx context.Context, method, path string, want int, out any) error {
	return s.send(ctx, method, path, nil, want, out)
}

// send is call with a JSON body (nil for none).
func (s *served) send(ctx context.Context, method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}

// mutations lists the mutations through the REST API.
func (s *served) mutations(ctx context.Context) ([]apiMutation, error) {
	var page struct {
		Items []apiMutation `json:"items"`
	}
	// state=all: events (tag-moved) are recorded resolved the moment they happen.
	err := s.call(ctx, http.MethodGet, "/api/v1/mutations?state=all", http.StatusOK, &page)
	return page.Items, err
}

// apiCluster is what the demo reads of a cluster in the API.
type apiCluster struct {
	LastScan *struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
		Pods   int    `json:"pods"`
	} `json:"lastScan"`
	Watch *struct {
		State string `json:"state"`
		Note  string `json:"note"`
	} `json:"watch"`
}

// watch switches a cluster to scan mode watch through the API and waits until its
// watch is live: its changes are recorded within seconds, not at the next scan.
func (s *served) watch(ctx context.Context, cluster string, limit time.Duration) error {
	if err := s.send(ctx, http.MethodPatch, "/api/v1/clusters/"+cluster, map[string]string{"scanMode": "watch"}, http.StatusOK, nil); err != nil {
		return err
	}
	return s.waitCluster(ctx, cluster, limit, "watch of "+cluster+" live", func(c apiCluster) bool {
		return c.Watch != nil && c.Watch.State == "live"
	})
}

// scan asks tagdrift for a scan of the cluster through the API and waits until a scan
// that started after the request succeeded.
func (s *served) scan(ctx context.Context, cluster string, limit time.Duration) error {
	var before apiCluster
	if err := s.call(ctx, http.MethodGet, "/api/v1/clusters/"+cluster, http.StatusOK, &before); err != nil {
		return err
	}
	var last int64
	if before.LastScan != nil {
		last = before.LastScan.ID
	}
	if err := s.call(ctx, http.MethodPost, "/api/v1/clusters/"+cluster+"/scans", http.StatusAccepted, nil); err != nil {
		return err
	}
	return s.waitCluster(ctx, cluster, limit, "scan of "+cluster, func(c apiCluster) bool {
		return c.LastScan != nil && c.LastScan.ID > last && c.LastScan.Status == "succeeded"
	})
}

// waitCluster reads a cluster through the API every 200 ms until done holds of it, at
// most limit; what names the wait in the error.
func (s *served) waitCluster(ctx context.Context, cluster string, limit time.Duration, what string, done func(apiCluster) bool) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		var c apiCluster
		err := s.call(ctx, http.MethodGet, "/api/v1/clusters/"+cluster, http.StatusOK, &c)
		if err == nil && done(c) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last error %v)", what, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// waitMutations waits until the API shows the demo's mutations: the workload-divergence
// in east and the tag-moved event.
func (s *served) waitMutations(ctx context.Context, limit time.Duration) ([]apiMutation, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last []apiMutation
	var lastErr error
	for {
		ms, err := s.mutations(ctx)
		if err == nil {
			last = ms
		}
		lastErr = err
		if demoMutationsFound(ms) {
			return ms, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the API never showed the demo's mutations (last answer %+v, error %v): %w", last, lastErr, ctx.Err())
		case <-tick.C:
		}
	}
}

// demoMutationsFound reports whether ms hold a workload-divergence in east of two
// digests, and a tag-moved event. (West's pods run one of east's two digests: a
// divergence confined to one revision, which is not a tag-divergence.)
func demoMutationsFound(ms []apiMutation) bool {
	return slices.ContainsFunc(ms, func(m apiMutation) bool {
		return m.Kind == "workload-divergence" && m.Cluster == eastCluster && len(m.Digests) == 2 && m.ResolvedAt == nil
	}) && slices.ContainsFunc(ms, func(m apiMutation) bool {
		return m.Kind == "tag-moved" && len(m.Digests) >= 2
	})
}
