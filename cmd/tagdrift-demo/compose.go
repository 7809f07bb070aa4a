package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/tagdrift/tagdrift/deploy"
)

// config is what the compose steps read from the environment; docker-compose.yaml sets
// each variable.
type config struct {
	// K3sKubeconfig is the kubeconfig k3s writes (K3S_KUBECONFIG_OUTPUT), its server
	// https://127.0.0.1:6443 (DEMO_K3S_KUBECONFIG).
	K3sKubeconfig string
	// K3sServer is k3s's API server as the other services reach it (DEMO_K3S_SERVER).
	K3sServer string
	// ClusterName names the cluster in tagdrift (DEMO_CLUSTER_NAME, default k3s-demo).
	ClusterName string
	// State is the directory of the secrets/ and kube/ volumes (DEMO_STATE).
	State string
	// Tagdrift is the tagdrift binary init runs (DEMO_TAGDRIFT, default tagdrift on PATH).
	Tagdrift string
	// DatabaseURL is tagdrift's database (TAGDRIFT_DATABASE_URL), for init.
	DatabaseURL string
	// AdminPassword is the admin's password; empty makes one (TAGDRIFT_ADMIN_PASSWORD).
	AdminPassword string
	// Registry is host:port of the plain-http registry (DEMO_REGISTRY).
	Registry string
	// Namespace is where play deploys (DEMO_NAMESPACE, default demo).
	Namespace string
	// Wait bounds each wait of play (DEMO_WAIT, default 5m).
	Wait time.Duration
	// Listen is where the user opens tagdrift, for the messages (DEMO_UI_URL).
	UIURL string
}

func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		K3sKubeconfig: cmp.Or(getenv("DEMO_K3S_KUBECONFIG"), "/k3s/kubeconfig.yaml"),
		K3sServer:     cmp.Or(getenv("DEMO_K3S_SERVER"), "https://k3s:6443"),
		ClusterName:   cmp.Or(getenv("DEMO_CLUSTER_NAME"), "k3s-demo"),
		State:         cmp.Or(getenv("DEMO_STATE"), "/var/lib/tagdrift"),
		Tagdrift:      cmp.Or(getenv("DEMO_TAGDRIFT"), "tagdrift"),
		DatabaseURL:   getenv("TAGDRIFT_DATABASE_URL"),
		AdminPassword: getenv("TAGDRIFT_ADMIN_PASSWORD"),
		Registry:      cmp.Or(getenv("DEMO_REGISTRY"), "registry:5000"),
		Namespace:     cmp.Or(getenv("DEMO_NAMESPACE"), "demo"),
		UIURL:         cmp.Or(getenv("DEMO_UI_URL"), "http://localhost:8080"),
		Wait:          5 * time.Minute,
	}
	if v := getenv("DEMO_WAIT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("DEMO_WAIT %q: want a positive duration", v)
		}
		c.Wait = d
	}
	return c, nil
}

// The files init writes under State. The tagdrift service mounts secrets/ and kube/.
const (
	keyFile        = "secrets/encryption-key"
	passwordFile   = "secrets/admin-password"
	adminDoneFile  = "secrets/admin-user-added"
	kubeconfigFile = "kube/k3s.kubeconfig"
)

// composeInit prepares what tagdrift serve needs in the compose demo: an encryption key
// and the admin's password, each made once and kept in the secrets volume; k3s's
// kubeconfig with its server rewritten to the compose service name, in the kube volume;
// the schema migrated and the admin user added, with tagdrift's own commands.
func composeInit(ctx context.Context, c config, stdout io.Writer, log *slog.Logger) error {
	if c.DatabaseURL == "" {
		return errors.New("TAGDRIFT_DATABASE_URL is not set")
	}
	if _, err := makeSecret(filepath.Join(c.State, keyFile), func() (string, error) { return randomBase64(32, base64.StdEncoding) }); err != nil {
		return fmt.Errorf("encryption key: %w", err)
	}
	pw, err := makeSecret(filepath.Join(c.State, passwordFile), func() (string, error) {
		if c.AdminPassword != "" {
			return c.AdminPassword, nil
		}
		return randomBase64(18, base64.RawURLEncoding)
	})
	if err != nil {
		return fmt.Errorf("admin password: %w", err)
	}

	raw, err := waitFile(ctx, c.K3sKubeconfig, c.Wait)
	if err != nil {
		return err
	}
	admin, err := rewriteKubeconfig(raw, c.ClusterName, c.K3sServer)
	if err != nil {
		return fmt.Errorf("%s: %w", c.K3sKubeconfig, err)
	}
	// tagdrift gets the read-only identity a real cluster would give it, never k3s's
	// cluster-admin.
	kc, err := scannerKubeconfig(ctx, admin, c.ClusterName, c.Wait)
	if err != nil {
		return fmt.Errorf("read-only identity for tagdrift: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(c.State, kubeconfigFile), kc); err != nil {
		return err
	}
	log.Info("kubeconfig for tagdrift written", "cluster", c.ClusterName, "server", c.K3sServer, "identity", scannerUser)

	if err := tagdrift(ctx, c, nil, "migrate", "up"); err != nil {
		return err
	}
	done := filepath.Join(c.State, adminDoneFile)
	if _, err := os.Stat(done); errors.Is(err, fs.ErrNotExist) {
		if err := tagdrift(ctx, c, strings.NewReader(pw+"\n"), "user", "add", "admin", "--role", "admin"); err != nil {
			return err
		}
		if err := writeFileAtomic(done, []byte(time.Now().UTC().Format(time.RFC3339)+"\n")); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "tagdrift demo: open %s and sign in as admin with the password %s\n", c.UIURL, pw)
	return nil
}

// tagdrift runs one tagdrift command against the demo's database.
func tagdrift(ctx context.Context, c config, stdin io.Reader, args ...string) error {
	_, err := tagdriftOutput(ctx, c, stdin, args...)
	return err
}

// tagdriftOutput runs tagdrift as tagdrift does and returns what it printed on stdout
// (a token's secret, for token create); its stderr only goes into the error.
func tagdriftOutput(ctx context.Context, c config, stdin io.Reader, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.Tagdrift, args...)
	cmd.Env = []string{"TAGDRIFT_DATABASE_URL=" + c.DatabaseURL, "PATH=" + os.Getenv("PATH")}
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("tagdrift %s: %w\n%s%s", strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.String(), nil
}

// makeSecret returns the content of path, first writing make's result there (mode
// 0600) when the file does not exist: a secret is made once and then kept.
func makeSecret(path string, make func() (string, error)) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if s := strings.TrimSpace(string(b)); s != "" {
			return s, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	s, err := make()
	if err != nil {
		return "", err
	}
	return s, writeFileAtomic(path, []byte(s+"\n"))
}

func randomBase64(n int, enc *base64.Encoding) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return enc.EncodeToString(b), nil
}

// writeFileAtomic writes a file readable by its owner only, through a rename, so that
// a reader never sees half of it.
func writeFileAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// waitFile waits until path exists and is not empty, and returns its content.
func waitFile(ctx context.Context, path string, limit time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		b, err := os.ReadFile(path)
		if err == nil && len(b) > 0 {
			return b, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for %s: %w (last: %v)", path, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// rewriteKubeconfig keeps the current context of a kubeconfig, names it name and
// points it at server: k3s writes https://127.0.0.1:6443, which is the k3s container
// itself, not where the other services reach it.
func rewriteKubeconfig(raw []byte, name, server string) ([]byte, error) {
	cfg, err := clientcmd.Load(raw)
	if err != nil {
		return nil, err
	}
	cur, ok := cfg.Contexts[cfg.CurrentContext]
	if !ok {
		return nil, fmt.Errorf("no current context %q", cfg.CurrentContext)
	}
	cluster, ok := cfg.Clusters[cur.Cluster]
	if !ok {
		return nil, fmt.Errorf("context %q names no cluster", cfg.CurrentContext)
	}
	user, ok := cfg.AuthInfos[cur.AuthInfo]
	if !ok {
		return nil, fmt.Errorf("context %q names no user", cfg.CurrentContext)
	}
	out := clientcmdapiConfig(name, server, cluster.CertificateAuthorityData, user)
	return clientcmd.Write(*out)
}

// scannerUser is the identity deploy/scanned-cluster/ makes for tagdrift.
const scannerUser = "system:serviceaccount:tagdrift:tagdrift-scanner"

// scannerKubeconfig applies deploy/scanned-cluster/ (the objects package deploy
// embeds: a read-only ServiceAccount, its ClusterRole and binding, a token Secret) to
// the cluster of the admin kubeconfig, with server-side apply, waits for the cluster's
// token controller to fill the Secret, and returns a kubeconfig of that identity at the
// admin kubeconfig's server and CA, its context named name. Applying again changes
// nothing, and the token stays the same.
func scannerKubeconfig(ctx context.Context, admin []byte, name string, limit time.Duration) ([]byte, error) {
	cfg, err := clientcmd.Load(admin)
	if err != nil {
		return nil, err
	}
	cluster := cfg.Clusters[cfg.Contexts[cfg.CurrentContext].Cluster]
	rc, err := clientcmd.RESTConfigFromKubeConfig(admin)
	if err != nil {
		return nil, err
	}
	objs, err := deploy.ScannedCluster()
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(client.Discovery()))
	var secretNS, secretName string
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", gvk.Kind, o.GetName(), err)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			ri = dyn.Resource(m.Resource).Namespace(o.GetNamespace())
		}
		if _, err := ri.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: "tagdrift-demo", Force: true}); err != nil {
			return nil, fmt.Errorf("apply %s %s: %w", gvk.Kind, o.GetName(), err)
		}
		if gvk.Kind == "Secret" {
			secretNS, secretName = o.GetNamespace(), o.GetName()
		}
	}
	if secretName == "" {
		return nil, errors.New("deploy/scanned-cluster has no token Secret")
	}
	var token []byte
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	err = wait.PollUntilContextCancel(wctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		s, err := client.CoreV1().Secrets(secretNS).Get(ctx, secretName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		token = s.Data[corev1.ServiceAccountTokenKey]
		return len(token) > 0, nil
	})
	if err != nil {
		return nil, fmt.Errorf("wait for the token controller to fill Secret %s/%s: %w", secretNS, secretName, err)
	}
	return clientcmd.Write(*clientcmdapiConfig(name, cluster.Server, cluster.CertificateAuthorityData,
		&clientcmdapi.AuthInfo{Token: string(token)}))
}

// composeClient is a client of k3s's API server as reached from the compose network.
func composeClient(ctx context.Context, c config) (kubernetes.Interface, error) {
	raw, err := waitFile(ctx, c.K3sKubeconfig, c.Wait)
	if err != nil {
		return nil, err
	}
	kc, err := rewriteKubeconfig(raw, c.ClusterName, c.K3sServer)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.K3sKubeconfig, err)
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig(kc)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(rc)
}

// composePlay plays the mutation on k3s, whose kubelet really pulls: three pods of the
// tag's first content, then the tag moved and two more pods, which pull the second.
func composePlay(ctx context.Context, c config, stdout io.Writer, log *slog.Logger) error {
	client, err := composeClient(ctx, c)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	self, err := os.ReadFile(exe)
	if err != nil {
		return fmt.Errorf("read this program for the demo image: %w", err)
	}
	p := &player{
		Client: client, Registry: c.Registry, Namespace: c.Namespace, App: self,
		Wait: c.Wait, Log: log,
	}
	res, err := p.Play(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "tagdrift demo: %s now runs %s in %d pods and %s in %d: open %s and see the mutation in cluster %s\n",
		res.Reference, short(res.First), res.Count[res.First], short(res.Second), res.Count[res.Second], c.UIURL, c.ClusterName)
	return nil
}

func short(digest string) string {
	d := strings.TrimPrefix(digest, "sha256:")
	if len(d) > 12 {
		d = d[:12]
	}
	return d
}
