package hack

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The shims stand in for the commands that install or build: each records its
// arguments, one line per call, in $SHIM_LOG. apt-get prints as much as the real one
// does (dpkg's "Setting up" lines), so that the test sees whether it reaches the
// terminal; go makes the binaries it is asked to build as scripts that record their
// call; id says root, so that the apt paths run as they do on a fresh machine.
var shims = map[string]string{
	"apt-get": `#!/usr/bin/env bash
echo "apt-get $*" >>"$SHIM_LOG"
if [ "$1" = install ] || [ "$2" = install ] || [[ " $* " == *" install "* ]]; then
	for i in $(seq 60); do echo "Setting up libshim$i (1.0-1) ..."; done
	echo "debconf: delaying package configuration" >&2
fi
`,
	"npm": `#!/usr/bin/env bash
echo "npm $*" >>"$SHIM_LOG"
`,
	"psql": `#!/usr/bin/env bash
echo "psql $*" >>"$SHIM_LOG"
echo 1
`,
	"id": `#!/usr/bin/env bash
if [ "$1" = -u ]; then echo 0; else exec /usr/bin/id "$@"; fi
`,
	"go": `#!/usr/bin/env bash
echo "go $*" >>"$SHIM_LOG"
case "$1" in
build)
	out= prev=
	for a in "$@"; do
		[ "$prev" = -o ] && out=$a
		prev=$a
	done
	if [ -n "$out" ]; then
		mkdir -p "$(dirname "$out")"
		printf '#!/usr/bin/env bash\necho "%s $*" >>"$SHIM_LOG"\n' "$(basename "$out")" >"$out"
		chmod +x "$out"
	fi
	;;
install)
	printf '#!/bin/sh\n' >"$GOBIN/registry"
	chmod +x "$GOBIN/registry"
	;;
esac
`,
}

// setup is a copy of the repository's Makefile and scripts in a temporary directory,
// with the shims first on PATH, Kubernetes binaries in $KUBEBUILDER_ASSETS (empty
// scripts: nothing builds), a database URL (nothing installs PostgreSQL), and no
// Chromium where $CHROMIUM points. cached says whether the registry is built already.
type setup struct {
	root, log, cache string
	env              []string
}

func newSetup(t *testing.T, cached bool) *setup {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make on this machine")
	}
	dir := t.TempDir()
	s := &setup{root: filepath.Join(dir, "repo"), log: filepath.Join(dir, "shim.log"), cache: filepath.Join(dir, "cache")}
	scripts, err := filepath.Glob("*.sh")
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts in hack/: %v", err)
	}
	files := map[string]string{"../Makefile": filepath.Join(s.root, "Makefile")}
	for _, sc := range scripts {
		files[sc] = filepath.Join(s.root, "hack", sc)
	}
	for from, to := range files {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		write(t, to, string(b))
	}
	shimDir := filepath.Join(dir, "shims")
	for name, body := range shims {
		write(t, filepath.Join(shimDir, name), body)
	}
	assets := filepath.Join(dir, "kube")
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kubelet"} {
		write(t, filepath.Join(assets, b), "#!/bin/sh\nexit 1\n")
	}
	if cached {
		write(t, filepath.Join(s.cache, "registry", "v3.1.2", "registry"), "#!/bin/sh\n")
	}
	s.env = append(os.Environ(),
		"PATH="+shimDir+":"+os.Getenv("PATH"),
		"SHIM_LOG="+s.log,
		"HOME="+filepath.Join(dir, "home"),
		"XDG_CACHE_HOME="+filepath.Join(dir, "xdg"),
		"TAGDRIFT_CACHE_DIR="+s.cache,
		"KUBEBUILDER_ASSETS="+assets,
		"TAGDRIFT_TEST_DATABASE_URL=postgres://127.0.0.1:1/postgres?sslmode=disable",
		"CHROMIUM="+filepath.Join(dir, "no-chromium"),
		// make serve: no key or token files to make.
		"TAGDRIFT_ENCRYPTION_KEY=shim",
		"TAGDRIFT_ADMIN_TOKEN=shim-token-of-16-chars",
		"MAKEFLAGS=", "MAKELEVEL=", "BROWSER=", "SKIP_KUBE=",
	)
	return s
}

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
}

// make runs a make target in the copy and returns what it printed and the shims' calls.
func (s *setup) make(t *testing.T, target string) (output string, calls []string) {
	t.Helper()
	os.Remove(s.log)
	cmd := exec.Command("make", "--no-print-directory", target)
	cmd.Dir = s.root
	cmd.Env = s.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", target, err, out)
	}
	b, err := os.ReadFile(s.log)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if len(b) > 0 {
		calls = strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	}
	return string(out), calls
}

// browserCalls are the calls that install or fetch the browser tests' dependencies.
func browserCalls(calls []string) []string {
	var out []string
	for _, c := range calls {
		if strings.HasPrefix(c, "npm ") || (strings.HasPrefix(c, "apt-get ") && strings.Contains(c, "chromium")) {
			out = append(out, c)
		}
	}
	return out
}

// TestDemoInstallsNoBrowser runs make demo, make serve and make test-unit with the
// installers shimmed, on a machine without Chromium: none of them installs Chromium or
// runs npm; make test does both, and apt's output stays in its log file.
func TestDemoInstallsNoBrowser(t *testing.T) {
	s := newSetup(t, true)
	for _, target := range []string{"demo", "serve", "test-unit"} {
		out, calls := s.make(t, target)
		if b := browserCalls(calls); len(b) > 0 {
			t.Errorf("make %s installs the browser tests' dependencies: %q\n%s", target, b, out)
		}
		if strings.Contains(out, "first run") {
			t.Errorf("make %s says it is a first run with everything present:\n%s", target, out)
		}
		if n := strings.Count(out, "\n"); n >= 60 {
			t.Errorf("make %s printed %d lines, want under 60:\n%s", target, n, out)
		}
		ran := map[string]string{"demo": "tagdrift-demo local --tagdrift bin/tagdrift", "serve": "go run ./cmd/tagdrift serve", "test-unit": "go test "}[target]
		if !strings.Contains(strings.Join(calls, "\n"), ran) {
			t.Errorf("make %s did not run %q: %q", target, ran, calls)
		}
		t.Logf("make %s:\n%s", target, out)
	}

	out, calls := s.make(t, "test")
	b := browserCalls(calls)
	if !strings.Contains(strings.Join(b, "\n"), "install") || !strings.Contains(strings.Join(b, "\n"), "chromium") ||
		!strings.Contains(strings.Join(b, "\n"), "npm install") || !strings.Contains(strings.Join(b, "\n"), "axe-core@") {
		t.Errorf("make test, Chromium missing, asks for %q; want apt-get install chromium and npm install axe-core", b)
	}
	// apt's lines go to its log; one line says what it installed.
	if strings.Contains(out, "Setting up") || strings.Contains(out, "debconf") {
		t.Errorf("apt's output reaches the terminal:\n%s", out)
	}
	if !regexp.MustCompile(`test-deps: installed chromium \(60 packages with what they need, \d+ s\)`).MatchString(out) {
		t.Errorf("make test does not say what apt installed:\n%s", out)
	}
	aptLog, err := os.ReadFile(filepath.Join(s.cache, "apt.log"))
	if err != nil || strings.Count(string(aptLog), "Setting up") != 60 {
		t.Errorf("apt's log holds %d Setting up lines (%v), want 60", strings.Count(string(aptLog), "Setting up"), err)
	}
	t.Logf("make test:\n%s", out)
}

// TestDemoFirstRun runs make demo where the registry is not built yet: its first line
// says it is a first run, how long it takes on this machine's cores and that later
// runs take seconds, once.
func TestDemoFirstRun(t *testing.T) {
	s := newSetup(t, false)
	out, calls := s.make(t, "demo")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	cores := strings.TrimSpace(mustOutput(t, "nproc"))
	want := regexp.MustCompile(`^test-deps: first run: building or installing the registry.*: about \d+ minutes on ` + cores + ` cores; later runs take seconds`)
	if !want.MatchString(lines[0]) {
		t.Errorf("make demo's first line is %q, want it to match %s", lines[0], want)
	}
	if n := strings.Count(out, "first run"); n != 1 {
		t.Errorf("make demo says \"first run\" %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(strings.Join(calls, "\n"), "go install") {
		t.Errorf("the registry was not built: %q", calls)
	}
	if b := browserCalls(calls); len(b) > 0 {
		t.Errorf("make demo installs the browser tests' dependencies: %q", b)
	}
	t.Logf("make demo:\n%s", out)

	// The second run finds everything and says nothing of a first run.
	out, _ = s.make(t, "demo")
	if strings.Contains(out, "first run") {
		t.Errorf("the second make demo says first run:\n%s", out)
	}
}

func mustOutput(t *testing.T, name string, args ...string) string {
	t.Helper()
	b, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatal(fmt.Errorf("%s: %w", name, err))
	}
	return string(b)
}
