package pgtest

import (
	"context"
	"errors"
	"testing"
)

// TestChooseSource: the URL given wins, Docker comes next, and with neither there is no
// server (and New skips, or fails under CI=true).
func TestChooseSource(t *testing.T) {
	for _, tc := range []struct {
		url    string
		docker bool
		want   source
	}{
		{"postgres://x", true, sourceURL},
		{"postgres://x", false, sourceURL},
		{"", true, sourceDocker},
		{"", false, sourceNone},
	} {
		asked := false
		got := chooseSource(tc.url, func() bool { asked = true; return tc.docker })
		if got != tc.want {
			t.Errorf("url %q docker %v: %v, want %v", tc.url, tc.docker, got, tc.want)
		}
		if tc.url != "" && asked {
			t.Errorf("url %q: asked for Docker although a URL is given", tc.url)
		}
	}
}

// TestNoDocker runs the Docker path where no engine answers: it finds none, and Create
// says that neither a URL nor Docker is there.
func TestNoDocker(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+t.TempDir()+"/no-docker.sock")
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	if dockerAvailable() {
		t.Fatal("a Docker engine answers on a socket that does not exist")
	}
	t.Setenv(EnvURL, "")
	if _, err := Create(context.Background(), "none"); !errors.Is(err, ErrNoServer) {
		t.Errorf("Create without a URL or Docker: %v, want ErrNoServer", err)
	}
}
