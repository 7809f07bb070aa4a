// Package receivers runs the notification receivers that tests deliver to: real ones
// built from their Go modules (Alertmanager, Mailpit), and small HTTP receivers that
// check what each kind of channel must send (a Standard Webhooks receiver, a Slack
// incoming webhook checking Block Kit, PagerDuty's Events API v2). The notify,
// scheduler and end-to-end tests share them.
//
// The real receivers are binaries built by hack/receiver-binaries.sh into a cache.
// TAGDRIFT_RECEIVERS_DIR (set by hack/test-deps.sh) names their directory; without it
// the tests run the script themselves (a few minutes the first time, cached after).
// Under CI=true a receiver that cannot be had fails its test; elsewhere the test is
// skipped.
package receivers

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var built struct {
	once sync.Once
	dir  string
	err  error
	log  []byte
}

// Binary returns the path of the named receiver binary (alertmanager, mailpit).
func Binary(t testing.TB, name string) string {
	t.Helper()
	built.once.Do(func() {
		if dir := os.Getenv("TAGDRIFT_RECEIVERS_DIR"); dir != "" {
			built.dir = dir
			return
		}
		_, self, _, _ := runtime.Caller(0)
		cmd := exec.Command(filepath.Join(filepath.Dir(self), "..", "..", "hack", "receiver-binaries.sh"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		built.dir, built.err, built.log = strings.TrimSpace(string(out)), err, stderr.Bytes()
	})
	if built.err != nil {
		Unavailable(t, "hack/receiver-binaries.sh: %v\n%s", built.err, built.log)
	}
	path := filepath.Join(built.dir, name)
	if _, err := os.Stat(path); err != nil {
		Unavailable(t, "no %s in %s (run hack/receiver-binaries.sh): %v", name, built.dir, err)
	}
	return path
}

// Unavailable fails the test under CI, where every receiver must be there, and skips
// it elsewhere.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// FreePort returns a loopback port nothing listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Addr is the loopback address of port.
func Addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// StartProcess runs bin with args until the test ends, and waits until ready answers
// 200 (at most 30 s). Its output is shown when the test fails.
func StartProcess(t testing.TB, bin string, ready string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(bin), out.String())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ready, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-done:
			t.Fatalf("%s exited before it was ready: %v\n%s", bin, err, out.String())
		case <-ctx.Done():
			t.Fatalf("%s not ready at %s within 30 s\n%s", bin, ready, out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// syncBuffer is a process's output, written by exec's copying goroutine and read by
// the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// GetJSON decodes what url answers (200 only).
func GetJSON(t testing.TB, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}
