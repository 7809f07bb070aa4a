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

// TestInit runs the compose init step against a real PostgreSQL, a real kube-apiserver
// (k3s's part of it) and the real tagdrift binary: it makes the key and the password
// once, keeps them on a second run, applies deploy/scanned-cluster/ and writes tagdrift
// a kubeconfig of that read-only identity with k3s's server, and adds the admin user
// with that password.
func TestInit(t *testing.T) {
	db := pgtest.New(t, "tagdrift_demo")
	dir := t.TempDir()
	bin := filepath.Join(dir, "tagdrift")
	if out, err := exec.Command("go", "build", "-o", bin, "../tagdrift").CombinedOutput(); err != nil {
		t.Fatalf("build tagdrift: %v\n%s", err, out)
	}
	kctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	kenv, err := kubeenv.Start(kctx, kubeenv.Options{Clusters: []kubeenv.ClusterOptions{{Name: "init"}}})
	if err != nil {
		t.Fatalf("start Kubernetes: %v", err)
	}
	defer kenv.Stop()
	c := kenv.Clusters[0]
	// k3s's own kubeconfig: cluster-admin, on its local address.
	k3s := filepath.Join(dir, "k3s.yaml")
	if err := clientcmd.WriteToFile(*clientcmdapiConfig("default", c.Host, c.CAData, &clientcmdapi.AuthInfo{Token: c.AdminToken}), k3s); err != nil {
		t.Fatal(err)
	}
	// No controller manager runs: play its token controller.
	played := make(chan error, 1)
	go func() { played <- playTokenController(kctx, c.Admin) }()
	state := filepath.Join(dir, "state")
	env := map[string]string{
		"DEMO_K3S_KUBECONFIG": k3s, "DEMO_STATE": state, "DEMO_TAGDRIFT": bin, "DEMO_K3S_SERVER": c.Host,
		"TAGDRIFT_DATABASE_URL": db.URL, "DEMO_WAIT": "60s",
	}
	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, []string{"init"}, func(k string) string { return env[k] }, &out, &out); err != nil {
		t.Fatalf("init: %v\n%s", err, out.String())
	}
	if err := <-played; err != nil {
		t.Fatal(err)
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
	// The scanner's identity, never k3s's admin: a token that is not the admin's.
	if kc.CurrentContext != "k3s-demo" || kc.Clusters["k3s-demo"] == nil || kc.Clusters["k3s-demo"].Server != c.Host ||
		kc.AuthInfos["k3s-demo"] == nil || kc.AuthInfos["k3s-demo"].Token == "" || kc.AuthInfos["k3s-demo"].Token == c.AdminToken ||
		string(kc.Clusters["k3s-demo"].CertificateAuthorityData) != string(c.CAData) {
		t.Errorf("kubeconfig for tagdrift: %+v", kc)
	}
	raw, _ := os.ReadFile(filepath.Join(state, kubeconfigFile))
	if r, err := kubeconfig.Vet(raw, "", kubeconfig.Policy{}); err != nil || r.Server != c.Host {
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
