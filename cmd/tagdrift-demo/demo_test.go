package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/internal/pgtest"
	"github.com/tagdrift/tagdrift/scanner"
	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
	"github.com/tagdrift/tagdrift/server/access/password"
	"github.com/tagdrift/tagdrift/server/apibody"
	"github.com/tagdrift/tagdrift/store"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

// TestPlay plays the compose demo's mutation on a real API server and controller
// manager, with the distribution registry (kubeenv's), while a fake kubelet resolves each new pod's tag in the registry
// as a pull would: the Deployment ends with three pods of the first digest and two of
// the second, and tagdrift's own scan of the cluster finds the workload-divergence.
func TestPlay(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	env, err := kubeenv.Start(ctx, kubeenv.Options{Registry: true, Clusters: []kubeenv.ClusterOptions{{Name: "demo", ControllerManager: true}}})
	if err != nil {
		t.Fatalf("start Kubernetes: %v", err)
	}
	defer env.Stop()
	c := env.Clusters[0]
	host := env.Registry.Host

	kubelet := &fakeKubelet{Cluster: c, Namespace: "demo"}
	kctx, stopKubelet := context.WithCancel(ctx)
	kerr := make(chan error, 1)
	go func() { kerr <- kubelet.Run(kctx) }()

	p := &player{Client: c.Admin, Registry: host, Namespace: "demo", App: []byte("#!/not/run\n"), Wait: 2 * time.Minute, Log: testLogger(t)}
	res, err := p.Play(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.First == res.Second || !strings.HasPrefix(res.First, "sha256:") {
		t.Fatalf("digests %s and %s", res.First, res.Second)
	}
	if want := map[string]int{res.First: 3, res.Second: 2}; !mapsEqual(res.Count, want) {
		t.Errorf("pods by digest %v, want %v", res.Count, want)
	}
	// The five pods belong to one ReplicaSet: one revision, two digests.
	rss, err := c.Admin.AppsV1().ReplicaSets("demo").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rss.Items) != 1 {
		t.Errorf("%d ReplicaSets, want 1", len(rss.Items))
	}

	rep := scanner.ScanAll(ctx, []kubeconfig.Target{{Name: "demo", Server: c.Host, Config: c.RESTConfig(c.AdminToken)}}, scanner.Config{})
	var found bool
	for _, m := range rep.Mutations {
		if m.Kind == detect.WorkloadDivergence && m.Namespace == "demo" && m.Ref == host+"/"+repository+":"+tag {
			found = slices.Contains(m.Digests, res.First) && slices.Contains(m.Digests, res.Second)
		}
	}
	if !found {
		t.Errorf("tagdrift's scan finds no workload-divergence of both digests: %+v", rep.Mutations)
	}

	// Played again (docker compose up after a stop), it starts over and ends the same.
	res2, err := p.Play(ctx)
	if err != nil {
		t.Fatalf("second play: %v", err)
	}
	if res2.First != res.First || res2.Count[res.Second] != 2 {
		t.Errorf("second play: %+v", res2)
	}
	stopKubelet()
	if err := <-kerr; err != nil {
		t.Errorf("fake kubelet: %v", err)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestInit runs the compose init step against a real PostgreSQL with the real tagdrift
// binary: it makes the key and the password once, keeps them on a second run, writes
// k3s's kubeconfig for tagdrift with the server rewritten, and adds the admin user with
// that password.
func TestInit(t *testing.T) {
	db := pgtest.New(t, "tagdrift_demo")
	dir := t.TempDir()
	bin := filepath.Join(dir, "tagdrift")
	if out, err := exec.Command("go", "build", "-o", bin, "../tagdrift").CombinedOutput(); err != nil {
		t.Fatalf("build tagdrift: %v\n%s", err, out)
	}
	k3s := filepath.Join(dir, "k3s.yaml")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["default"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:6443", CertificateAuthorityData: []byte("CA")}
	cfg.AuthInfos["default"] = &clientcmdapi.AuthInfo{ClientCertificateData: []byte("CERT"), ClientKeyData: []byte("KEY")}
	cfg.Contexts["default"] = &clientcmdapi.Context{Cluster: "default", AuthInfo: "default"}
	cfg.CurrentContext = "default"
	if err := clientcmd.WriteToFile(*cfg, k3s); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	env := map[string]string{
		"DEMO_K3S_KUBECONFIG": k3s, "DEMO_STATE": state, "DEMO_TAGDRIFT": bin,
		"TAGDRIFT_DATABASE_URL": db.URL, "DEMO_WAIT": "10s",
	}
	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, []string{"init"}, func(k string) string { return env[k] }, &out, &out); err != nil {
		t.Fatalf("init: %v\n%s", err, out.String())
	}
	key := readSecret(t, filepath.Join(state, keyFile))
	if b, err := base64.StdEncoding.DecodeString(key); err != nil || len(b) != 32 {
		t.Errorf("encryption key %q is not 32 bytes of base64", key)
	}
	pw := readSecret(t, filepath.Join(state, passwordFile))
	if len(pw) < 20 || !strings.Contains(out.String(), "sign in as admin with the password "+pw) {
		t.Errorf("password %q, output %q", pw, out.String())
	}

	kc, err := clientcmd.LoadFromFile(filepath.Join(state, kubeconfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if kc.CurrentContext != "k3s-demo" || kc.Clusters["k3s-demo"].Server != "https://k3s:6443" ||
		string(kc.AuthInfos["k3s-demo"].ClientCertificateData) != "CERT" || string(kc.Clusters["k3s-demo"].CertificateAuthorityData) != "CA" {
		t.Errorf("kubeconfig for tagdrift: %+v", kc)
	}
	// tagdrift's own vetting accepts it (the CA is checked when used, not here).
	raw, _ := os.ReadFile(filepath.Join(state, kubeconfigFile))
	if r, err := kubeconfig.Vet(raw, "", kubeconfig.Policy{}); err != nil || r.Server != "https://k3s:6443" {
		t.Errorf("tagdrift refuses the kubeconfig: %v", err)
	}

	st, err := store.Open(ctx, db.URL, nil, apibody.Encoder{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, hash, err := st.UserPasswordHash(ctx, "admin")
	if err != nil {
		t.Fatalf("admin user: %v", err)
	}
	if ok, err := password.Verify(pw, hash); !ok || err != nil || u.Role != store.RoleAdmin {
		t.Errorf("admin %+v: password verifies %v (%v)", u, ok, err)
	}

	// A second start keeps the secrets and succeeds.
	out.Reset()
	if err := run(ctx, []string{"init"}, func(k string) string { return env[k] }, &out, &out); err != nil {
		t.Fatalf("second init: %v\n%s", err, out.String())
	}
	if readSecret(t, filepath.Join(state, keyFile)) != key || readSecret(t, filepath.Join(state, passwordFile)) != pw {
		t.Error("a second init changed the key or the password")
	}
}

func readSecret(t *testing.T, path string) string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

// TestApp runs the demo image's program: it prints its content and ends on the signal.
func TestApp(t *testing.T) {
	// contentPath is absolute, as in the image; here the file is missing and app says so.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	if err := run(ctx, []string{"app"}, func(string) string { return "" }, &out, &out); err == nil {
		t.Error("app without /content succeeded")
	}
	if err := run(ctx, []string{"nonsense"}, func(string) string { return "" }, &out, &out); err == nil {
		t.Error("an unknown command succeeded")
	}
}
