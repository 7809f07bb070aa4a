package notify

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The real receivers (Alertmanager, Mailpit) are binaries built from their Go modules
// by hack/receiver-binaries.sh into a cache. TAGDRIFT_RECEIVERS_DIR (set by
// hack/test-deps.sh) names their directory; without it the tests run the script
// themselves (a few minutes the first time, cached after). Under CI=true a receiver
// that cannot be had fails its test; elsewhere the test is skipped.

var receivers struct {
	once sync.Once
	dir  string
	err  error
	log  []byte
}

// receiverBinary returns the path of the named receiver binary.
func receiverBinary(t *testing.T, name string) string {
	t.Helper()
	receivers.once.Do(func() {
		if dir := os.Getenv("TAGDRIFT_RECEIVERS_DIR"); dir != "" {
			receivers.dir = dir
			return
		}
		cmd := exec.Command(filepath.Join("..", "hack", "receiver-binaries.sh"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		receivers.dir, receivers.err, receivers.log = strings.TrimSpace(string(out)), err, stderr.Bytes()
	})
	if receivers.err != nil {
		unavailable(t, "hack/receiver-binaries.sh: %v\n%s", receivers.err, receivers.log)
	}
	path := filepath.Join(receivers.dir, name)
	if _, err := os.Stat(path); err != nil {
		unavailable(t, "no %s in %s (run hack/receiver-binaries.sh): %v", name, receivers.dir, err)
	}
	return path
}

// unavailable fails the test under CI, where every receiver must be there, and skips
// it elsewhere.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// freePort returns a loopback port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startProcess runs bin with args until the test ends, and waits until ready answers
// 200 (at most 30 s). Its output is shown when the test fails.
func startProcess(t *testing.T, bin string, ready string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
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
			t.Logf("%s output:\n%s", filepath.Base(bin), out.Bytes())
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
			t.Fatalf("%s exited before it was ready: %v\n%s", bin, err, out.Bytes())
		case <-ctx.Done():
			t.Fatalf("%s not ready at %s within 30 s\n%s", bin, ready, out.Bytes())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
