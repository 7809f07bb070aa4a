package main

import (
	"bufio"
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
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/internal/pgtest"
)

// TestLocalDemo runs `make demo`'s program end to end, as make runs it: the built
// tagdrift-demo local with the built tagdrift. It waits for the demo to say it is
// ready, checks the mutation through the REST API and on the UI's overview after
// signing in with the printed password, then stops it with SIGINT, as Ctrl-C does, and
// checks that every process it started is gone.
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

	// Wait for "Ctrl-C stops everything", collecting the password and the token.
	var password, token string
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
			if strings.Contains(line, "Ctrl-C stops everything") {
				break wait
			}
		case <-deadline:
			t.Fatalf("the demo was not ready within 10 minutes:\n%s", strings.Join(transcript, "\n"))
		}
	}
	if password == "" || token == "" {
		t.Fatalf("the demo printed no password or token:\n%s", strings.Join(transcript, "\n"))
	}
	go func() { // keep draining what it says
		for range lines {
		}
	}()
	base := "http://" + listen

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
