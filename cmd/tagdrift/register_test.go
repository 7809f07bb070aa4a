package main

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/internal/storetest"
	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
)

// TestRegisterClusterScanMode registers clusters from a kubeconfig as serve's
// --cluster-kubeconfig does, with --scan-mode poll and watch: each is stored in its
// mode, and a restart with another mode leaves a registered cluster as it is, saying so.
func TestRegisterClusterScanMode(t *testing.T) {
	t.Parallel()
	st, _ := storetest.New(t, "tagdrift_cli")
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	ca := []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	if err := kubeenv.WriteKubeconfig(path, "polled",
		kubeenv.Context{Name: "polled", Server: "https://10.0.0.1:6443", CAData: ca, Token: "t1"},
		kubeenv.Context{Name: "watched", Server: "https://10.0.0.2:6443", CAData: ca, Token: "t2"}); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	for _, c := range []struct{ spec, mode string }{{path + ":polled", "poll"}, {path + ":watched", "watch"}} {
		name, err := registerCluster(ctx, st, c.spec, nil, kubeconfig.Policy{}, 5*time.Minute, c.mode, log)
		if err != nil {
			t.Fatal(err)
		}
		got, err := st.ClusterByName(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if got.ScanMode != c.mode || got.ScanInterval != 5*time.Minute {
			t.Errorf("%s: scan mode %q every %s, want %q every 5m", name, got.ScanMode, got.ScanInterval, c.mode)
		}
	}
	// A restart with another mode: the registered cluster is changed through the API,
	// not by the flag.
	if _, err := registerCluster(ctx, st, path+":watched", nil, kubeconfig.Policy{}, 5*time.Minute, "poll", log); err != nil {
		t.Fatal(err)
	}
	if got, err := st.ClusterByName(ctx, "watched"); err != nil || got.ScanMode != "watch" {
		t.Errorf("after a restart with --scan-mode poll: %q %v, want watch kept", got.ScanMode, err)
	}
	if !strings.Contains(logs.String(), "--scan-mode changes only a new registration") {
		t.Errorf("no warning of the mode kept: %s", logs.String())
	}
}
