package deploy

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
)

// render builds a kustomization directory as `kubectl apply -k DIR` would.
func render(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize %s: %v", dir, err)
	}
	var out []*unstructured.Unstructured
	for _, r := range resMap.Resources() {
		m, err := r.Map()
		if err != nil {
			t.Fatalf("kustomize %s: %v", dir, err)
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out
}

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

func startCluster(t *testing.T) *kubeenv.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	env, err := kubeenv.Start(ctx, kubeenv.Options{Clusters: []kubeenv.ClusterOptions{{Name: "deploy"}}})
	if err != nil {
		t.Fatalf("start Kubernetes: %v", err)
	}
	t.Cleanup(func() { env.Stop() })
	return env.Clusters[0]
}

// applier applies objects with server-side apply through the dynamic client.
type applier struct {
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func newApplier(t *testing.T, c *kubeenv.Cluster) *applier {
	t.Helper()
	cfg := c.RESTConfig(c.AdminToken)
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &applier{dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.Admin.Discovery()))}
}

// apply applies each object, with dryRun a server-side dry run: the API server
// validates and defaults it and runs admission, and stores nothing. It returns what
// the server answered.
func (a *applier) apply(ctx context.Context, objs []*unstructured.Unstructured, dryRun bool) ([]*unstructured.Unstructured, error) {
	opts := metav1.ApplyOptions{FieldManager: "tagdrift-deploy-test", Force: true}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	var out []*unstructured.Unstructured
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return nil, err
		}
		var ri dynamic.ResourceInterface = a.dyn.Resource(m.Resource)
		if m.Scope.Name() == "namespace" {
			if o.GetNamespace() == "" {
				return nil, errors.New(gvk.Kind + " " + o.GetName() + " has no namespace")
			}
			ri = a.dyn.Resource(m.Resource).Namespace(o.GetNamespace())
		}
		got, err := ri.Apply(ctx, o.GetName(), o, opts)
		if err != nil {
			return nil, errors.New(gvk.Kind + " " + o.GetName() + ": " + err.Error())
		}
		out = append(out, got)
	}
	return out, nil
}

// TestManifests renders deploy/ and deploy/scanned-cluster/ (and deploy/scanned-cluster-annotate/)
// and applies them to a real API server with a server-side dry run, then checks the
// parts of the Deployment that make it safe to run: two replicas, probes on /readyz and
// /healthz, requests and limits, a restricted security context (proved by the API
// server's Pod Security admission on a pod of its template), and the Secret it reads.
func TestManifests(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	a := newApplier(t, c)

	install := render(t, ".")
	wantKinds := []string{"Namespace", "ServiceAccount", "Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy"}
	var kinds []string
	for _, o := range install {
		kinds = append(kinds, o.GetKind())
		if o.GetKind() != "Namespace" && o.GetNamespace() != "tagdrift" {
			t.Errorf("%s %s in namespace %q, want tagdrift", o.GetKind(), o.GetName(), o.GetNamespace())
		}
	}
	slices.Sort(kinds)
	slices.Sort(wantKinds)
	if !slices.Equal(kinds, wantKinds) {
		t.Errorf("deploy/ renders %v, want %v", kinds, wantKinds)
	}
	// A dry run of namespaced objects needs their namespace to exist, and the pod check
	// below its ServiceAccount: create those two for real first.
	ns, sa := find(install, "Namespace", "tagdrift"), find(install, "ServiceAccount", "tagdrift")
	if ns == nil || sa == nil {
		t.Fatal("deploy/ has no Namespace or ServiceAccount tagdrift")
	}
	if _, err := a.apply(ctx, []*unstructured.Unstructured{ns, sa}, false); err != nil {
		t.Fatal(err)
	}
	applied, err := a.apply(ctx, install, true)
	if err != nil {
		t.Fatalf("server-side dry run of deploy/: %v", err)
	}
	if _, err := c.Admin.AppsV1().Deployments("tagdrift").Get(ctx, "tagdrift", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the dry run stored the Deployment (get: %v)", err)
	}

	var dep appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(find(applied, "Deployment", "tagdrift").Object, &dep); err != nil {
		t.Fatal(err)
	}
	checkDeployment(t, &dep)
	var svc corev1.Service
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(find(applied, "Service", "tagdrift").Object, &svc); err != nil {
		t.Fatal(err)
	}
	for _, p := range svc.Spec.Ports {
		if p.TargetPort.String() != "http" {
			t.Errorf("the Service exposes %+v: only the http port, never metrics", p)
		}
	}

	// Pod Security admission (restricted, as the namespace enforces) judges a pod of the
	// Deployment's template: a dry-run create is refused if it breaks the standard.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "template-check", Namespace: "tagdrift", Labels: dep.Spec.Template.Labels},
		Spec:       dep.Spec.Template.Spec,
	}
	if _, err := c.Admin.CoreV1().Pods("tagdrift").Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Errorf("a pod of the Deployment's template is refused in the restricted namespace: %v", err)
	}
	// And the check can fail: a privileged variant is refused.
	bad := pod.DeepCopy()
	bad.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = new(true)
	if _, err := c.Admin.CoreV1().Pods("tagdrift").Create(ctx, bad, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err == nil {
		t.Error("the namespace admits a pod that allows privilege escalation: Pod Security is not enforced")
	}

	for _, dir := range []string{"scanned-cluster", "scanned-cluster-annotate"} {
		objs := render(t, dir)
		if _, err := a.apply(ctx, objs, true); err != nil {
			t.Errorf("server-side dry run of deploy/%s: %v", dir, err)
		}
		for _, want := range [][2]string{{"ServiceAccount", "tagdrift-scanner"}, {"ClusterRole", "tagdrift-scanner"}, {"ClusterRoleBinding", "tagdrift-scanner"}, {"Secret", "tagdrift-scanner-token"}} {
			if find(objs, want[0], want[1]) == nil {
				t.Errorf("deploy/%s has no %s %s", dir, want[0], want[1])
			}
		}
		annotator := find(objs, "ClusterRole", "tagdrift-annotator") != nil && find(objs, "ClusterRoleBinding", "tagdrift-annotator") != nil
		if annotator != (dir == "scanned-cluster-annotate") {
			t.Errorf("deploy/%s: the annotation ClusterRole and its binding present: %t", dir, annotator)
		}
	}
}

func checkDeployment(t *testing.T, dep *appsv1.Deployment) {
	t.Helper()
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2", dep.Spec.Replicas)
	}
	spec := dep.Spec.Template.Spec
	if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot ||
		spec.SecurityContext.SeccompProfile == nil || spec.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v: want runAsNonRoot and seccomp RuntimeDefault", spec.SecurityContext)
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Containers))
	}
	ct := spec.Containers[0]
	if !strings.HasPrefix(ct.Image, "ghcr.io/tagdrift/tagdrift") {
		t.Errorf("image %q: the kustomization's images entry did not apply", ct.Image)
	}
	if p := ct.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe %+v, want GET /readyz", p)
	}
	if p := ct.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probe %+v, want GET /healthz", p)
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := ct.Resources.Requests[r]; !ok {
			t.Errorf("no %s request", r)
		}
		if _, ok := ct.Resources.Limits[r]; !ok {
			t.Errorf("no %s limit", r)
		}
	}
	sc := ct.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("container security context %+v: want no privilege escalation, a read-only root and ALL capabilities dropped", sc)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range ct.Env {
		env[e.Name] = e
	}
	if ref := env["TAGDRIFT_DATABASE_URL"].ValueFrom; ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != "tagdrift" {
		t.Errorf("TAGDRIFT_DATABASE_URL %+v: want it from the Secret tagdrift", env["TAGDRIFT_DATABASE_URL"])
	}
	// The Go runtime's memory limit follows the container's, whatever it is set to.
	if ref := env["GOMEMLIMIT"].ValueFrom; ref == nil || ref.ResourceFieldRef == nil ||
		ref.ResourceFieldRef.Resource != "limits.memory" || ref.ResourceFieldRef.ContainerName != ct.Name ||
		!ref.ResourceFieldRef.Divisor.IsZero() && ref.ResourceFieldRef.Divisor.Value() != 1 {
		t.Errorf("GOMEMLIMIT %+v: want it from the container's limits.memory, in bytes", env["GOMEMLIMIT"])
	}
	// Metrics on their own port, which the Service leaves out (TestManifests).
	var metricsPort bool
	for _, p := range ct.Ports {
		metricsPort = metricsPort || (p.Name == "metrics" && p.ContainerPort == 9090)
	}
	if !metricsPort || env["TAGDRIFT_METRICS_LISTEN"].Value != ":9090" {
		t.Errorf("ports %+v, TAGDRIFT_METRICS_LISTEN %q: want /metrics on :9090, a port named metrics", ct.Ports, env["TAGDRIFT_METRICS_LISTEN"].Value)
	}
	keyFile := env["TAGDRIFT_ENCRYPTION_KEY_FILE"].Value
	var keyFromSecret bool
	for _, m := range ct.VolumeMounts {
		if strings.HasPrefix(keyFile, m.MountPath+"/") {
			for _, v := range spec.Volumes {
				keyFromSecret = keyFromSecret || (v.Name == m.Name && v.Secret != nil && v.Secret.SecretName == "tagdrift")
			}
		}
	}
	if !keyFromSecret {
		t.Errorf("TAGDRIFT_ENCRYPTION_KEY_FILE %q is not mounted from the Secret tagdrift", keyFile)
	}
}

// TestScannedClusterKubeconfig applies deploy/scanned-cluster/ for real, fills its token
// Secret as the token controller would (no kube-controller-manager runs here), runs
// hack/scanned-cluster-kubeconfig.sh with kubectl, and checks that the kubeconfig it
// prints is accepted by tagdrift's vetting and can list pods but read no Secret.
func TestScannedClusterKubeconfig(t *testing.T) {
	if _, err := exec.LookPath("kubectl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("kubectl is needed to test hack/scanned-cluster-kubeconfig.sh")
		}
		t.Skip("kubectl not found")
	}
	c := startCluster(t)
	ctx := context.Background()
	a := newApplier(t, c)
	if _, err := a.apply(ctx, render(t, "scanned-cluster"), false); err != nil {
		t.Fatal(err)
	}
	playTokenController(ctx, t, c)

	dir := t.TempDir()
	admin := filepath.Join(dir, "admin.kubeconfig")
	if err := kubeenv.WriteKubeconfig(admin, "test-admin", c.Context("test-admin", c.AdminToken)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "../hack/scanned-cluster-kubeconfig.sh", "--name", "prod-eu")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+admin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("hack/scanned-cluster-kubeconfig.sh: %v\n%s", err, stderr.String())
	}

	reduced, err := kubeconfig.Vet(stdout.Bytes(), "", kubeconfig.Policy{})
	if err != nil {
		t.Fatalf("tagdrift refuses the printed kubeconfig: %v\n%s", err, stdout.String())
	}
	if reduced.Context != "prod-eu" || reduced.Server != c.Host || reduced.Token == "" {
		t.Errorf("vetted kubeconfig: context %q server %q token set %v", reduced.Context, reduced.Server, reduced.Token != "")
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(stdout.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	sa, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sa.CoreV1().Pods("").List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
		t.Errorf("the scanner cannot list pods: %v", err)
	}
	if _, err := sa.CoreV1().Secrets("tagdrift").List(ctx, metav1.ListOptions{Limit: 1}); !apierrors.IsForbidden(err) {
		t.Errorf("listing secrets as the scanner: %v, want forbidden", err)
	}
	if _, err := sa.CoreV1().Pods("tagdrift").Get(ctx, "any", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("getting a pod as the scanner: %v, want forbidden (list only)", err)
	}

	// Without a filled Secret the script says so rather than printing a useless file.
	if err := c.Admin.CoreV1().Secrets("tagdrift").Delete(ctx, "tagdrift-scanner-token", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	cmd = exec.CommandContext(ctx, "../hack/scanned-cluster-kubeconfig.sh", "--context", "test-admin")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+admin, "TAGDRIFT_TOKEN_WAIT=1")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	stdout.Reset()
	stderr.Reset()
	if err := cmd.Run(); err == nil || stdout.Len() > 0 {
		t.Errorf("without a token Secret the script succeeded (%v) or printed %q", err, stdout.String())
	}
}

// playTokenController fills the token Secret of deploy/scanned-cluster/ as
// kube-controller-manager's token controller does: a token of the ServiceAccount, bound
// to the Secret, and the cluster's CA.
func playTokenController(ctx context.Context, t *testing.T, c *kubeenv.Cluster) {
	t.Helper()
	secrets := c.Admin.CoreV1().Secrets("tagdrift")
	var s *corev1.Secret
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		s, err = secrets.Get(ctx, "tagdrift-scanner-token", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("token secret: %v", err)
	}
	if s.Type != corev1.SecretTypeServiceAccountToken || s.Annotations[corev1.ServiceAccountNameKey] != "tagdrift-scanner" {
		t.Fatalf("token secret of type %s for %q", s.Type, s.Annotations[corev1.ServiceAccountNameKey])
	}
	tr, err := c.Admin.CoreV1().ServiceAccounts("tagdrift").CreateToken(ctx, "tagdrift-scanner", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: new(int64(24 * 3600)),
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: s.Name, UID: s.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for tagdrift-scanner: %v", err)
	}
	s.Data = map[string][]byte{"token": []byte(tr.Status.Token), "ca.crt": c.CAData, "namespace": []byte("tagdrift")}
	if _, err := secrets.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("fill token secret: %v", err)
	}
}
