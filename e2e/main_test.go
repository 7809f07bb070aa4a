// Package e2e holds whole-system tests: the tagdrift binary, built from this tree, run
// against real kube-apiservers and controller-managers (package kubeenv).
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
)

// suite is what TestMain prepares for every test of the package.
type suite struct {
	bin string // the tagdrift binary
	env *kubeenv.Env
	dir string
}

// setup is filled by TestMain; tests only read it.
var setup suite

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "tagdrift-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)

	bin := filepath.Join(dir, "tagdrift")
	args := []string{"build", "-o", bin}
	if raceBuild {
		args = append(args, "-race")
	}
	build := exec.CommandContext(ctx, "go", append(args, "../cmd/tagdrift")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: build tagdrift: %v\n", err)
		return 1
	}

	env, err := kubeenv.Start(ctx, kubeenv.Options{Clusters: []kubeenv.ClusterOptions{
		{Name: "alpha", ControllerManager: true},
		{Name: "beta", ControllerManager: true},
		{Name: "gamma"},
		{Name: "delta"},
		{Name: "epsilon", ControllerManager: true}, // TestAnnotate's alone: it labels every ReplicaSet
	}})
	if err != nil {
		// Never skipped silently: under CI a missing control plane fails the run.
		fmt.Fprintf(os.Stderr, "e2e: start Kubernetes: %v\n", err)
		if os.Getenv("CI") != "true" && os.Getenv("KUBEBUILDER_ASSETS") == "" {
			fmt.Fprintln(os.Stderr, "e2e: SKIPPED: no Kubernetes binaries; `make test` installs them")
			return 0
		}
		return 1
	}
	defer env.Stop()
	setup = suite{bin: bin, env: env, dir: dir}
	return m.Run()
}

// result is one run of the tagdrift binary.
type result struct {
	code   int
	stdout string
	stderr string
}

// tagdrift runs the binary with args and a clean environment.
func tagdrift(t *testing.T, args ...string) result {
	t.Helper()
	return tagdriftEnv(t, nil, args...)
}

// tagdriftEnv runs the binary with args and a clean environment plus env.
func tagdriftEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, setup.bin, args...)
	cmd.Env = append([]string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	failOnRace(t, r.stderr)
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run tagdrift %v: %v", args, err)
	}
	return r
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

// failOnRace fails the test when a binary built with -race (raceBuild) reported a data
// race on its stderr; a process killed before it exits reports it only there.
func failOnRace(t *testing.T, stderr string) {
	t.Helper()
	if i := strings.Index(stderr, "WARNING: DATA RACE"); i >= 0 {
		t.Errorf("tagdrift reported a data race:\n%.6000s", stderr[i:])
	}
}

// ciRequired reports whether a missing dependency must fail rather than skip.
func ciRequired() bool { return os.Getenv("CI") == "true" }
