package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tagdrift/tagdrift/internal/pgtest"
	"github.com/tagdrift/tagdrift/store"
)

// TestLocalDemo runs `make demo`'s program end to end, as make runs it: the built
// tagdrift-demo local with the built tagdrift. It waits for the demo to say it is
// ready, checks the mutation through the REST API with the printed token and on the
// UI's overview after signing in with the printed password; that the token is a tdt_
// token the store, the API and the tokens page list; that the printed kubeconfigs reach
// the clusters and the printed log is serve's. Then it stops the demo with SIGINT, as
// Ctrl-C does, and checks that every process it started is gone, that serve's log is
// kept where the demo says, and that the demo said all of it in under 60 lines.
func TestLocalDemo(t *testing.T) {
	if os.Getenv(pgtest.EnvURL) == "" && !pgtest.Required() {
		t.Skipf("%s is not set (make test sets it)", pgtest.EnvURL)
	}
	dir := t.TempDir()
	bins := filepath.Join(dir, "bin")
	for _, b := range [][2]string{{"tagdrift", "../tagdrift"}, {"tagdrift-demo", "."}} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(bins, b[0]), b[1])
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", b[0], err, out)
		}
	}
	listen := freeAddr(t)
	// Everything the demo makes on disk lands under its own TMPDIR, so that any process
	// it leaves behind is recognisable by that path.
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bins, "tagdrift-demo"), "local", "--tagdrift", filepath.Join(bins, "tagdrift"), "--listen", listen)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(filepath.Join(dir, "demo.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	stopped := false
	defer func() {
		if !stopped {
			cmd.Process.Signal(syscall.SIGINT)
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(stderr.Name())
			t.Logf("demo's log:\n%s", b)
		}
	}()

	// Wait for "Ctrl-C stops everything", collecting the password, the token, the
	// database, the kubeconfigs and serve's log.
	var password, token, dbURL, serveLog string
	var kubeconfigs []string
	var transcript []string
	deadline := time.After(10 * time.Minute)
wait:
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("the demo ended before it was ready:\n%s", strings.Join(transcript, "\n"))
			}
			transcript = append(transcript, line)
			t.Log(line)
			if m := regexp.MustCompile(`sign in as admin, password (\S+)`).FindStringSubmatch(line); m != nil {
				password = m[1]
			}
			if m := regexp.MustCompile(`Bearer (\S+)'`).FindStringSubmatch(line); m != nil {
				token = m[1]
			}
			if m := regexp.MustCompile(`the database: (\S+)\)$`).FindStringSubmatch(line); m != nil {
				dbURL = m[1]
			}
			if m := regexp.MustCompile(`tagdrift serve is up .*; its log: (\S+)$`).FindStringSubmatch(line); m != nil {
				serveLog = m[1]
			}
			if m := regexp.MustCompile(`kubeconfigs: (\S+) and (\S+) `).FindStringSubmatch(line); m != nil {
				kubeconfigs = m[1:]
			}
			if strings.Contains(line, "Ctrl-C stops everything") {
				break wait
			}
		case <-deadline:
			t.Fatalf("the demo was not ready within 10 minutes:\n%s", strings.Join(transcript, "\n"))
		}
	}
	if password == "" || token == "" || dbURL == "" || serveLog == "" || len(kubeconfigs) != 2 {
		t.Fatalf("the demo printed no password, token, database, serve's log or kubeconfigs:\n%s", strings.Join(transcript, "\n"))
	}
	rest := make(chan []string, 1)
	go func() { // keep what it says until it ends
		var ls []string
		for l := range lines {
			ls = append(ls, l)
		}
		rest <- ls
	}()
	base := "http://" + listen
	checkDemoToken(t, base, token, dbURL)
	checkKubeconfigs(t, kubeconfigs)
	if b, err := os.ReadFile(serveLog); err != nil || !strings.Contains(string(b), `"msg":"serving"`) {
		t.Errorf("serve's log %s: %v, has no serving line:\n%.500s", serveLog, err, b)
	}

	// The API: an open workload-divergence in east with both digests, and a tag-moved.
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/mutations?state=all", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Items []apiMutation `json:"items"`
	}
	err = json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/mutations: %s %v", resp.Status, err)
	}
	if !demoMutationsFound(page.Items) {
		t.Errorf("the API shows %+v, want an open workload-divergence in east and a tag-moved", page.Items)
	}

	// East is watched: the real pull of the moved tag was recorded by a watch record
	// seconds after the pod ran, not by a scan at an interval.
	checkDemoWatch(t, base, token, transcript)

	// Behind the tag: west still runs the digest the tag left in east; the tag's new
	// digest runs in east.
	moved := checkDemoBehind(t, base, token, page.Items)

	// The UI: sign in with the printed password; the overview counts the divergence.
	jar, _ := cookiejar.New(nil)
	ui := &http.Client{Jar: jar}
	resp, err = ui.PostForm(base+"/signin", url.Values{"name": {"admin"}, "password": {password}, "next": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `data-kind="workload-divergence"`) {
		t.Errorf("signed in, the overview (%s) shows no workload-divergence:\n%.2000s", resp.Status, body)
	}
	if !strings.Contains(string(body), `data-testid="behind-total" data-count="1"`) {
		t.Errorf("the overview does not count west's workload behind the tag:\n%.2000s", body)
	}
	// The tokens page lists the printed token.
	resp, err = ui.Get(base + "/admin/tokens")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `data-token="`+demoTokenName+`"`) {
		t.Errorf("the tokens page (%s) does not list %q:\n%.2000s", resp.Status, demoTokenName, body)
	}

	// The pages a newcomer reads, in Chromium, on the demo's data.
	checkDemoInBrowser(t, base, password, moved)

	// Ctrl-C: everything the demo started ends with it.
	procs := demoProcesses(t, cmd.Process.Pid, tmp)
	if len(procs) < 5 {
		t.Errorf("found only %d processes of the demo: %v", len(procs), procs)
	}
	cmd.Process.Signal(syscall.SIGINT)
	stopped = true
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("the demo exited with %v after SIGINT", err)
		}
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatal("the demo did not stop within 2 minutes of SIGINT")
	}
	transcript = append(transcript, <-rest...)
	for _, l := range transcript[len(transcript)-3:] {
		t.Log(l)
	}
	// serve's log outlives the demo, where its last line says; the kubeconfigs do not.
	if last := transcript[len(transcript)-1]; last != "demo: stopped; tagdrift serve's log is kept in "+serveLog {
		t.Errorf("the demo's last line is %q, want it to say serve's log is kept in %s", last, serveLog)
	}
	if b, err := os.ReadFile(serveLog); err != nil || !strings.Contains(string(b), `"msg":"serving"`) {
		t.Errorf("serve's log %s after the demo: %v:\n%.500s", serveLog, err, b)
	}
	for _, k := range kubeconfigs {
		if _, err := os.Stat(k); !os.IsNotExist(err) {
			t.Errorf("the kubeconfig %s outlived the demo (%v)", k, err)
		}
	}
	// What a person reads: the demo's stdout and stderr, from start to stop, under 60
	// lines (make demo adds hack/test-deps.sh's, counted in hack's test).
	errLines, _ := os.ReadFile(stderr.Name())
	if n := len(transcript) + strings.Count(string(errLines), "\n"); n >= 60 {
		t.Errorf("the demo printed %d lines, want under 60:\n%s\n%s", n, strings.Join(transcript, "\n"), errLines)
	}
	for pid, p := range procs {
		if alive(pid, p.start) {
			t.Errorf("process %d (%s) outlived the demo", pid, p.cmd)
		}
	}
	for pid, p := range demoProcesses(t, -1, tmp) {
		t.Errorf("process %d (%s) still names the demo's files", pid, p.cmd)
	}
	resp, err = http.Get(base + "/healthz")
	if err == nil {
		resp.Body.Close()
		t.Errorf("tagdrift serve still answers on %s", listen)
	}
}

// checkDemoToken checks that the demo's token is a tdt_ token that the store lists as
// the demo's admin token and the API, asked with that token, lists too.
func checkDemoToken(t *testing.T, base, token, dbURL string) {
	t.Helper()
	if !strings.HasPrefix(token, "tdt_") {
		t.Errorf("the printed token %q is not a tdt_ token", token)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL, nil, nil)
	if err != nil {
		t.Fatalf("open the demo's database: %v", err)
	}
	tokens, err := st.Tokens(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.TokenBySecret(ctx, token, time.Now())
	st.Close()
	if err != nil {
		t.Errorf("the store does not know the printed token: %v", err)
	}
	if len(tokens) != 1 || tokens[0].Name != demoTokenName || tokens[0].Role != store.RoleAdmin || tokens[0].ID != got.ID || tokens[0].RevokedAt != nil {
		t.Errorf("the store's tokens are %+v, want one admin token %q, the printed one", tokens, demoTokenName)
	}

	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/tokens", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Items []struct {
			ID         int64      `json:"id"`
			Name       string     `json:"name"`
			Role       string     `json:"role"`
			LastUsedAt *time.Time `json:"lastUsedAt"`
		} `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/tokens: %s %v", resp.Status, err)
	}
	if len(page.Items) != 1 || page.Items[0].ID != got.ID || page.Items[0].Name != demoTokenName || page.Items[0].Role != store.RoleAdmin {
		t.Errorf("GET /api/v1/tokens lists %+v, want the demo's token %d", page.Items, got.ID)
	}
}

// checkKubeconfigs checks that each printed kubeconfig reaches its cluster, where the
// demo's three pods run.
func checkKubeconfigs(t *testing.T, paths []string) {
	t.Helper()
	for _, p := range paths {
		cfg, err := clientcmd.BuildConfigFromFlags("", p)
		if err != nil {
			t.Errorf("kubeconfig %s: %v", p, err)
			continue
		}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		pods, err := cs.CoreV1().Pods("demo").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Errorf("list pods with %s: %v", p, err)
		} else if len(pods.Items) != 3 {
			t.Errorf("%d pods in namespace demo with %s, want 3", len(pods.Items), p)
		}
	}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type proc struct {
	cmd   string
	start string // start time in clock ticks since boot: a reused pid has another
}

// demoProcesses finds the demo's processes: the descendants of root (none when root is
// -1), and any process whose command line names a file under dir (containerd's shims
// leave the process tree, but name their socket there).
func demoProcesses(t *testing.T, root int, dir string) map[int]proc {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	parent := map[int]int{}
	all := map[int]proc{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// The fields after the command name, which is in parentheses and may hold spaces.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) < 20 || f[0] == "Z" {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		parent[pid] = ppid
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		all[pid] = proc{cmd: strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " "), start: f[19]}
	}
	out := map[int]proc{}
	for pid, p := range all {
		if strings.Contains(p.cmd, dir) {
			out[pid] = p
			continue
		}
		for a := parent[pid]; a > 1 && root > 0; a = parent[a] {
			if a == root {
				out[pid] = p
				break
			}
		}
	}
	return out
}

// alive reports whether the process still runs (and is not a reused pid).
func alive(pid int, start string) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(f) >= 20 && f[0] != "Z" && f[19] == start
}

// checkDemoBehind checks, through the API with the demo's token, that west's workload
// is behind the tag (it runs the digest the tag moved away from in east) and the only
// one, and that the tag's digest is the one the demo's tag-moved event moved to,
// running in east. It returns that digest.
func checkDemoBehind(t *testing.T, base, token string, mutations []apiMutation) (moved string) {
	t.Helper()
	for _, m := range mutations {
		if m.Kind == "tag-moved" && len(m.Digests) == 2 {
			moved = m.Digests[1]
		}
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/workloads?behind=true", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Items []struct {
			Cluster, Name string
			Behind        []struct {
				Tag         string
				TagClusters []string
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/workloads?behind=true: %s %v", resp.Status, err)
	}
	if len(page.Items) != 1 || page.Items[0].Cluster != "west" || len(page.Items[0].Behind) != 1 ||
		page.Items[0].Behind[0].Tag != moved || moved == "" || !slices.Equal(page.Items[0].Behind[0].TagClusters, []string{"east"}) {
		t.Errorf("workloads behind the tag: %+v, want west's, behind %s, which runs in east", page.Items, moved)
	}
	return moved
}

// checkDemoWatch checks that east is watched and live, that a watch record (scan kind
// watch) opened the intervals of east's new pod, and that the demo said it found the
// mutations within seconds of the pod running (the target is 2 s at p95; the margin is
// for a loaded machine, and stays under the 10 s scan interval of west).
func checkDemoWatch(t *testing.T, base, token string, transcript []string) {
	t.Helper()
	get := func(path string, out any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s %v", path, resp.Status, err)
		}
	}
	var east struct {
		ScanMode string `json:"scanMode"`
		Watch    *struct {
			State string `json:"state"`
		} `json:"watch"`
	}
	get("/api/v1/clusters/"+eastCluster, &east)
	if east.ScanMode != "watch" || east.Watch == nil || east.Watch.State != "live" {
		t.Errorf("east: scan mode %q, watch %+v; want watch, live", east.ScanMode, east.Watch)
	}
	var scans struct {
		Items []struct {
			Kind   string `json:"kind"`
			Opened int    `json:"opened"`
		} `json:"items"`
	}
	get("/api/v1/scans?cluster="+eastCluster, &scans)
	recorded := false
	for _, sc := range scans.Items {
		recorded = recorded || sc.Kind == "watch" && sc.Opened > 0
	}
	if !recorded {
		t.Errorf("no watch record of east opened an interval: %+v", scans.Items)
	}
	re := regexp.MustCompile(`the watch of ` + eastCluster + ` found them ([0-9.]+) s after the new pod ran`)
	found := false
	for _, l := range transcript {
		if m := re.FindStringSubmatch(l); m != nil {
			found = true
			if s, err := strconv.ParseFloat(m[1], 64); err != nil || s > 8 {
				t.Errorf("the watch found the mutations %s s after the pod ran, want within seconds", m[1])
			}
		}
	}
	if !found {
		t.Errorf("the demo did not say when the watch found the mutations:\n%s", strings.Join(transcript, "\n"))
	}
}
