package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runCLI runs the program as main would and returns its exit status and output.
func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr)
	code := exitCode(err, &stderr)
	return code, stdout.String(), stderr.String()
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func writeKubeconfig(t *testing.T, current string, servers map[string]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Config\nclusters:\n")
	for name, server := range servers {
		fmt.Fprintf(&b, "- name: %s\n  cluster:\n    server: %s\n    insecure-skip-tls-verify: true\n", name, server)
	}
	b.WriteString("users:\n- name: u\n  user:\n    token: secret-token\ncontexts:\n")
	for name := range servers {
		fmt.Fprintf(&b, "- name: %s\n  context:\n    cluster: %s\n    user: u\n", name, name)
	}
	fmt.Fprintf(&b, "current-context: %q\n", current)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestUsageErrors(t *testing.T) {
	kc := writeKubeconfig(t, "a", map[string]string{"a": "https://" + closedPort(t)})
	tests := []struct {
		args []string
		want string
	}{
		{nil, "Usage:"},
		{[]string{"frobnicate"}, `unexpected argument frobnicate`},
		{[]string{"scan", "--kubeconfig", kc, "-o", "yaml"}, `--output must be one of "table","json" but got "yaml"`},
		{[]string{"scan", "--kubeconfig", kc, "--context", "a", "--all-contexts"}, "exclude each other"},
		{[]string{"scan", "--kubeconfig", kc, "extra"}, "unexpected argument extra"},
		{[]string{"scan", "--kubeconfig", kc, "--timeout", "30"}, `--timeout: expected duration but got "30"`},
		{[]string{"scan", "--kubeconfig", kc, "--fail-on-mutant=sometimes"}, "--fail-on-mutant: bool value must be"},
		{[]string{"scan", "--kubeconfig", kc, "--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"scan", "--kubeconfig", kc, "--dry-run"}, "--dry-run previews --annotate: without --annotate a scan writes nothing"},
		{[]string{"scan", "--no-such-flag"}, "unknown flag --no-such-flag"},
		{[]string{"scan", "--kubeconfig", kc, "--cluster-group", "a"}, "--cluster-group: want CLUSTER=GROUP"},
		{[]string{"scan", "--kubeconfig", kc, "--cluster-group", "a=Team A"}, "invalid group name"},
		{[]string{"scan", "--kubeconfig", kc, "--cluster-group", "b=team-b"}, "--cluster-group b=team-b: no context of that name is scanned"},
		{[]string{"scan", "--kubeconfig", filepath.Join(t.TempDir(), "missing")}, "load kubeconfig"},
		{[]string{"scan", "--kubeconfig", writeKubeconfig(t, "", map[string]string{"a": "https://x"})}, "has no current context"},
		{[]string{"scan"}, "no kubeconfig: set --kubeconfig or $KUBECONFIG"},
		{[]string{"migrate"}, `expected one of "up", "down", "version"`},
		{[]string{"migrate", "up"}, "no database: set --database-url or TAGDRIFT_DATABASE_URL"},
		{[]string{"migrate", "down"}, `expected "<n>"`},
		{[]string{"migrate", "down", "two"}, `<n>: expected a valid 64 bit int but got "two"`},
		{[]string{"migrate", "down", "0", "--database-url", "postgres://127.0.0.1:1/none"}, "migrate down takes a positive number of steps, not 0"},
		{[]string{"migrate", "sideways"}, "unexpected argument sideways"},
		{[]string{"keys"}, `expected one of "generate", "rotate"`},
		{[]string{"keys", "rotate", "--database-url", "postgres://127.0.0.1:1/none"}, "no encryption key: set --encryption-key-file or TAGDRIFT_ENCRYPTION_KEY"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, map[string]string{}, tt.args...)
			if code != 2 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tt.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, stdout, _ := runCLI(t, nil, args...)
		if code != 0 || stdout != "tagdrift dev\n" {
			t.Errorf("%s: exit %d, %q", args[0], code, stdout)
		}
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}, {"scan", "--help"}, {"migrate", "help"}, {"keys", "--help"}} {
		code, stdout, stderr := runCLI(t, nil, args...)
		if code != 0 || !strings.Contains(stdout, "Usage: tagdrift") || stderr != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 0 and the help on stdout", args, code, stdout, stderr)
		}
	}
}

// TestScanUnreachableClusters checks the failure path against real closed ports: every
// cluster is reported with its error, the report is still written, and the exit status
// is 2. An unknown context is one more failed cluster, named in its error.
func TestScanUnreachableClusters(t *testing.T) {
	kc := writeKubeconfig(t, "down-1", map[string]string{
		"down-1": "https://" + closedPort(t),
		"down-2": "https://" + closedPort(t),
	})
	code, stdout, stderr := runCLI(t, map[string]string{"KUBECONFIG": kc},
		"scan", "--context", "down-1", "--context", "down-2", "--context", "nope", "-o", "json", "--timeout", "5s")
	if code != 2 {
		t.Fatalf("exit %d, want 2; stderr %s", code, stderr)
	}
	var rep struct {
		Clusters []struct {
			Name, Server, Error string
			Pods                int
		}
		Workloads []json.RawMessage
		Mutations []json.RawMessage
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout)
	}
	if len(rep.Clusters) != 3 || rep.Workloads == nil || rep.Mutations == nil {
		t.Fatalf("report: %s", stdout)
	}
	for i, name := range []string{"down-1", "down-2", "nope"} {
		c := rep.Clusters[i]
		if c.Name != name || c.Error == "" || c.Pods != 0 {
			t.Errorf("cluster %d = %+v, want %s with an error", i, c, name)
		}
	}
	if !strings.Contains(rep.Clusters[0].Error, "connection refused") {
		t.Errorf("error %q does not say why", rep.Clusters[0].Error)
	}
	if !strings.Contains(rep.Clusters[2].Error, `context "nope" not found`) {
		t.Errorf("unknown context error: %q", rep.Clusters[2].Error)
	}
	if strings.Contains(stdout+stderr, "secret-token") {
		t.Error("the kubeconfig's token leaked into the output")
	}

	code, stdout, _ = runCLI(t, map[string]string{"KUBECONFIG": kc}, "scan", "--all-contexts", "--fail-on-mutant", "--timeout", "5s")
	if code != 2 || !strings.Contains(stdout, "cluster down-1: error:") || !strings.Contains(stdout, "cluster down-2: error:") {
		t.Errorf("table: exit %d\n%s", code, stdout)
	}
}

func TestExitCode(t *testing.T) {
	var stderr bytes.Buffer
	if got := exitCode(nil, &stderr); got != 0 {
		t.Errorf("nil: %d", got)
	}
	if got := exitCode(&exitError{code: 1}, &stderr); got != 1 || stderr.Len() != 0 {
		t.Errorf("silent exit 1: %d %q", got, stderr.String())
	}
	if got := exitCode(errors.New("boom"), &stderr); got != 2 || stderr.String() != "tagdrift: boom\n" {
		t.Errorf("plain error: %d %q", got, stderr.String())
	}
}

// TestScanTimesOut checks that a cluster that accepts connections and never answers is
// reported as timed out, within the timeout, beside a cluster that fails at once.
func TestScanTimesOut(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			// Hold the connection open and answer nothing, until the test ends.
			go func() { <-done; c.Close() }()
		}
	}()
	kc := writeKubeconfig(t, "hang", map[string]string{"hang": "https://" + l.Addr().String(), "down": "https://" + closedPort(t)})
	start := time.Now()
	code, stdout, stderr := runCLI(t, nil, "scan", "--kubeconfig", kc, "--all-contexts", "--timeout", "2s", "-o", "json")
	if elapsed := time.Since(start); elapsed > 20*time.Second {
		t.Errorf("scan took %s with a 2s timeout", elapsed)
	}
	if code != 2 {
		t.Fatalf("exit %d; stderr %s", code, stderr)
	}
	var rep struct {
		Clusters []struct{ Name, Error string }
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Clusters) != 2 || rep.Clusters[0].Name != "down" || !strings.Contains(rep.Clusters[0].Error, "connection refused") ||
		rep.Clusters[1].Name != "hang" || !strings.Contains(rep.Clusters[1].Error, "timed out after 2s") {
		t.Errorf("clusters: %+v", rep.Clusters)
	}
}

// TestTakeEnvRemovesSecrets takes the process's TAGDRIFT_ variables as main does: they
// are still read through the getenv it returns, gone from the process environment, and
// a child process does not see them.
func TestTakeEnvRemovesSecrets(t *testing.T) {
	t.Setenv("TAGDRIFT_ADMIN_TOKEN", "secret-admin-token")
	t.Setenv("TAGDRIFT_ENCRYPTION_KEY", "secret-key")
	t.Setenv("OTHER_VARIABLE", "kept")
	// Only the test's own variables: the others (TAGDRIFT_TEST_DATABASE_URL) must stay.
	environ := []string{"TAGDRIFT_ADMIN_TOKEN=secret-admin-token", "TAGDRIFT_ENCRYPTION_KEY=secret-key", "OTHER_VARIABLE=kept"}
	getenv := takeEnv(environ, os.Unsetenv, os.Getenv)
	if getenv("TAGDRIFT_ADMIN_TOKEN") != "secret-admin-token" || getenv("TAGDRIFT_ENCRYPTION_KEY") != "secret-key" || getenv("OTHER_VARIABLE") != "kept" {
		t.Error("the getenv lost a variable")
	}
	if _, ok := os.LookupEnv("TAGDRIFT_ADMIN_TOKEN"); ok {
		t.Error("TAGDRIFT_ADMIN_TOKEN is still in the process environment")
	}
	out, err := exec.Command("env").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "secret-") || !strings.Contains(string(out), "OTHER_VARIABLE=kept") {
		t.Errorf("a child process's environment:\n%s", out)
	}
}
