package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/internal/pgtest"
	"github.com/tagdrift/tagdrift/server/apibody"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/store/keyring"
)

func newDatabase(t *testing.T) *pgtest.Database { return pgtest.New(t, "tagdrift_e2e") }

func newKeyText() string {
	b := make([]byte, keyring.KeySize)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// service is a running `tagdrift serve`.
type service struct {
	cmd       *exec.Cmd
	url       string // set by startServe once the service says where it listens
	logs      *logLines
	listening chan string // the address of the "serving" log line, sent once
	done      chan error
}

// logLines gathers a process's stderr, line by line, for a test to read while the lines
// arrive: a goroutine writes, the test reads.
type logLines struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logLines) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(line)
	l.b.WriteByte('\n')
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServe starts tagdrift serve with env and args, listening on port 0, and waits
// until it logs the address the kernel gave it.
func startServe(t *testing.T, env []string, args ...string) *service {
	t.Helper()
	s := launchServe(t, env, args...)
	select {
	case addr := <-s.listening:
		s.url = "http://" + addr
	case err := <-s.done:
		t.Fatalf("tagdrift serve exited before serving (%v):\n%s", err, s.logs.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("tagdrift serve did not say where it listens within 2m:\n%s", s.logs.String())
	}
	return s
}

// launchServe starts tagdrift serve with env and args, listening on port 0, and
// returns at once: for a service expected to stop at start.
func launchServe(t *testing.T, env []string, args ...string) *service {
	t.Helper()
	cmd := exec.Command(setup.bin, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = append([]string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &service{cmd: cmd, logs: &logLines{}, listening: make(chan string, 1), done: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		said := false
		for sc.Scan() {
			s.logs.add(sc.Text())
			var line struct{ Msg, Listen string }
			if !said && json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "serving" && line.Listen != "" {
				s.listening <- line.Listen
				said = true
			}
		}
		// Wait only after the pipe is drained, as exec.Cmd.StderrPipe asks.
		s.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		failOnRace(t, s.logs.String())
		if t.Failed() {
			t.Logf("serve logs:\n%s", s.logs.String())
		}
	})
	return s
}

// wait waits for the process to exit and returns its exit code.
func (s *service) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case err := <-s.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(limit):
		t.Fatalf("tagdrift serve did not exit within %s", limit)
		return -1
	}
}

func (s *service) get(path string) (int, string, error) {
	resp, err := http.Get(s.url + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestServe runs the service on a real PostgreSQL against a real cluster: it migrates,
// registers the cluster from --cluster-kubeconfig, scans it on schedule, answers health,
// readiness and metrics, and on SIGTERM exits cleanly. Then the wrong key and a hostile
// kubeconfig each stop it at start, with the reason.
func TestServe(t *testing.T) {
	db := newDatabase(t)
	c := setup.env.Cluster("gamma")
	buildGamma(t, c) // one bare pod; idempotent across tests that share gamma
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := kubeenv.WriteKubeconfig(kc, "gamma", c.Context("gamma", c.AdminToken)); err != nil {
		t.Fatal(err)
	}
	key := newKeyText()
	env := []string{"TAGDRIFT_DATABASE_URL=" + db.URL, "TAGDRIFT_ENCRYPTION_KEY=" + key}

	s := startServe(t, env, "--cluster-kubeconfig", kc+":gamma", "--allow-cluster-network", "127.0.0.0/8", "--scan-interval", "10s",
		"--metrics-listen", "127.0.0.1:0")
	if err := pollUntil(30*time.Second, func() bool { code, _, err := s.get("/readyz"); return err == nil && code == 200 }); err != nil {
		t.Fatalf("never ready: %v", err)
	}
	if code, body, _ := s.get("/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Errorf("healthz: %d %s", code, body)
	}
	// The secrets it was started with are not in the environment the kernel shows for
	// the running process (serve re-executes itself without them).
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", s.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(environ), key) || strings.Contains(string(environ), db.URL) || strings.Contains(string(environ), "TAGDRIFT_DATABASE_URL") {
		t.Errorf("/proc/<pid>/environ still holds a secret: %q", strings.ReplaceAll(string(environ), "\x00", " "))
	}

	ring, err := keyring.Parse(key)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), db.URL, ring, apibody.Encoder{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var scans []store.Scan
	err = pollUntil(60*time.Second, func() bool {
		cl, err := st.ClusterByName(context.Background(), "gamma")
		if err != nil {
			return false
		}
		scans, err = st.ScansOfCluster(context.Background(), cl.ID)
		return err == nil && len(scans) > 0 && scans[len(scans)-1].Status == store.ScanSucceeded
	})
	if err != nil {
		t.Fatalf("no succeeded scan of gamma: %v (%+v)", err, scans)
	}
	if first := scans[len(scans)-1]; first.Pods != 1 || first.Opened != 1 {
		t.Errorf("first scan: %+v", first)
	}
	if evs, err := st.AuditEvents(context.Background(), 0, 10); err != nil || len(evs) != 1 || evs[0].Action != store.ActionClusterCreate ||
		evs[0].Target != "gamma" || evs[0].Actor != "serve:--cluster-kubeconfig" {
		t.Errorf("the registration at start is not audited: %+v, %v", evs, err)
	}
	// Metrics are on their own listener, named in the serving line, and not on the
	// service's.
	var metricsAddr string
	for _, l := range strings.Split(s.logs.String(), "\n") {
		var line struct {
			Msg           string
			MetricsListen string `json:"metrics_listen"`
		}
		if json.Unmarshal([]byte(l), &line) == nil && line.Msg == "serving" {
			metricsAddr = line.MetricsListen
		}
	}
	if code, _, err := s.get("/metrics"); err != nil || code != http.StatusNotFound {
		t.Errorf("/metrics on the service's listener: %d %v, want 404", code, err)
	}
	metrics := ""
	if metricsAddr == "" {
		t.Error("the serving line names no metrics address")
	} else if res, err := http.Get("http://" + metricsAddr + "/metrics"); err != nil {
		t.Error(err)
	} else {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		metrics = string(b)
	}
	if !strings.Contains(metrics, `tagdrift_scans_total{cluster="gamma",group="default",status="succeeded"}`) ||
		!strings.Contains(metrics, `tagdrift_last_successful_scan_timestamp_seconds{cluster="gamma",group="default"}`) {
		t.Errorf("metrics lack the scan of gamma:\n%.2000s", metrics)
	}
	if strings.Contains(metrics+s.logs.String(), c.AdminToken) {
		t.Error("the cluster's token leaked into logs or metrics")
	}

	s.cmd.Process.Signal(syscall.SIGTERM)
	if code := s.wait(t, 40*time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}

	// The wrong key stops the service at start, naming the cluster it cannot open.
	wrong := launchServe(t, []string{"TAGDRIFT_DATABASE_URL=" + db.URL, "TAGDRIFT_ENCRYPTION_KEY=" + newKeyText()})
	if code := wrong.wait(t, 30*time.Second); code == 0 || !strings.Contains(wrong.logs.String(), `cluster "gamma"`) {
		t.Errorf("wrong key: exit %d\n%s", code, wrong.logs.String())
	}

	// A kubeconfig with an exec plugin is refused at start, naming the field.
	hostile := filepath.Join(t.TempDir(), "hostile")
	os.WriteFile(hostile, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
current-context: x
clusters: [{name: x, cluster: {server: "%s"}}]
users: [{name: x, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: sh}}}]
contexts: [{name: x, context: {cluster: x, user: x}}]
`, c.Host)), 0o600)
	bad := launchServe(t, env, "--cluster-kubeconfig", hostile)
	if code := bad.wait(t, 30*time.Second); code == 0 || !strings.Contains(bad.logs.String(), "users[x].user.exec") {
		t.Errorf("hostile kubeconfig: exit %d\n%s", code, bad.logs.String())
	}

	// tagdrift migrate reads the schema version.
	r := tagdriftEnv(t, []string{"TAGDRIFT_DATABASE_URL=" + db.URL}, "migrate", "version")
	latest, _ := store.Latest()
	if r.code != 0 || r.stdout != fmt.Sprintf("schema version %d of %d\n", latest, latest) {
		t.Errorf("migrate version: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
}

// TestServeClusterGroup: --cluster-group puts a cluster registered at start in its
// group, made on demand; one naming no registered cluster stops serve at start.
func TestServeClusterGroup(t *testing.T) {
	db := newDatabase(t)
	c := setup.env.Cluster("gamma")
	buildGamma(t, c)
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := kubeenv.WriteKubeconfig(kc, "gamma", c.Context("gamma", c.AdminToken)); err != nil {
		t.Fatal(err)
	}
	key := newKeyText()
	env := []string{"TAGDRIFT_DATABASE_URL=" + db.URL, "TAGDRIFT_ENCRYPTION_KEY=" + key}
	typo := launchServe(t, env, "--cluster-kubeconfig", kc+":gamma", "--allow-cluster-network", "127.0.0.0/8",
		"--cluster-group", "gama=team-g")
	if code := typo.wait(t, 30*time.Second); code == 0 || !strings.Contains(typo.logs.String(), "--cluster-group gama=team-g") {
		t.Errorf("--cluster-group naming no cluster: exit %d\n%s", code, typo.logs.String())
	}
	st := openStore(t, db.URL, key)
	// The typo stopped serve after gamma was registered in the default group; a
	// restart with the flag right keeps it there and says so.
	s := startServe(t, env, "--cluster-kubeconfig", kc+":gamma", "--allow-cluster-network", "127.0.0.0/8",
		"--cluster-group", "gamma=team-g")
	if err := pollUntil(30*time.Second, func() bool { return strings.Contains(s.logs.String(), "cluster already registered in another group") }); err != nil {
		t.Errorf("no warning that gamma stays in its group: %v\n%s", err, s.logs.String())
	}
	if cl, err := st.ClusterByName(context.Background(), "gamma"); err != nil || cl.Group != store.DefaultGroup {
		t.Errorf("gamma after a restart with another group: %+v, %v", cl, err)
	}

	// On a fresh database the flag puts gamma in team-g, made on demand.
	db2 := newDatabase(t)
	env2 := []string{"TAGDRIFT_DATABASE_URL=" + db2.URL, "TAGDRIFT_ENCRYPTION_KEY=" + key}
	startServe(t, env2, "--cluster-kubeconfig", kc+":gamma", "--allow-cluster-network", "127.0.0.0/8",
		"--cluster-group", "gamma=team-g")
	st2 := openStore(t, db2.URL, key)
	var cl store.Cluster
	err := pollUntil(30*time.Second, func() bool {
		var err error
		cl, err = st2.ClusterByName(context.Background(), "gamma")
		return err == nil
	})
	if err != nil || cl.Group != "team-g" {
		t.Fatalf("gamma registered with --cluster-group gamma=team-g: %+v, %v", cl, err)
	}
	if g, err := st2.GroupByName(context.Background(), "team-g"); err != nil || g.Clusters != 1 {
		t.Errorf("team-g: %+v, %v", g, err)
	}
}
