package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/yaml"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
)

// dg returns a distinct, stable digest for a name.
func dg(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// workloadJSON is a workload as tagdrift scan -o json and the REST API give it.
type workloadJSON struct {
	Cluster    string `json:"cluster"`
	Namespace  string `json:"namespace"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Mutant     bool   `json:"mutant"`
	Containers []struct {
		Name    string `json:"name"`
		Type    string `json:"type"`
		Image   string `json:"image"`
		Ref     string `json:"ref"`
		Pinned  bool   `json:"pinned"`
		Digests []struct {
			Digest string   `json:"digest"`
			Kind   string   `json:"kind"`
			Pods   []string `json:"pods"`
		} `json:"digests"`
	} `json:"containers"`
}

// placeJSON is one place of a mutation, or of a digest's look-up.
type placeJSON struct {
	Cluster   string   `json:"cluster"`
	Namespace string   `json:"namespace"`
	Workload  workload `json:"workload"`
	Pod       string   `json:"pod"`
	Container string   `json:"container"`
	Digest    string   `json:"digest"`
}

// scanReport is the JSON contract of tagdrift scan -o json, decoded strictly enough
// that a renamed field fails the test.
type scanReport struct {
	Clusters []struct {
		Name       string `json:"name"`
		Server     string `json:"server"`
		Pods       int    `json:"pods"`
		Containers int    `json:"containers"`
		Error      string `json:"error"`
	} `json:"clusters"`
	Workloads []workloadJSON `json:"workloads"`
	Mutations []struct {
		Kind      string      `json:"kind"`
		Cluster   string      `json:"cluster"`
		Group     string      `json:"group"` // left out for the default group
		Namespace string      `json:"namespace"`
		Workload  workload    `json:"workload"`
		Container string      `json:"container"`
		Ref       string      `json:"ref"`
		Digests   []string    `json:"digests"`
		Places    []placeJSON `json:"places"`
	} `json:"mutations"`
}

type workload struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

func decodeReport(t *testing.T, out string) scanReport {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	var rep scanReport
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("decode report: %v\n%s", err, out)
	}
	return rep
}

// fixture builds workloads in a cluster namespace and plays the kubelet for their pods.
type fixture struct {
	t  *testing.T
	c  *kubeenv.Cluster
	ns string
}

func (f *fixture) ctx() context.Context { return context.Background() }

func (f *fixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

func template(app string, spec corev1.PodSpec) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}}, Spec: spec}
}

func containers(cs ...string) []corev1.Container {
	var out []corev1.Container
	for i := 0; i < len(cs); i += 2 {
		out = append(out, corev1.Container{Name: cs[i], Image: cs[i+1]})
	}
	return out
}

// deployment creates a Deployment and returns its pods, sorted by name.
func (f *fixture) deployment(name string, replicas int32, spec corev1.PodSpec) []corev1.Pod {
	f.t.Helper()
	_, err := f.c.Admin.AppsV1().Deployments(f.ns).Create(f.ctx(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: template(name, spec),
		},
	}, metav1.CreateOptions{})
	f.must(err)
	return f.pods(name, int(replicas))
}

// pods waits for n pods labelled app=name and returns them sorted by name.
func (f *fixture) pods(app string, n int) []corev1.Pod {
	f.t.Helper()
	pods, err := f.c.WaitForPods(f.ctx(), f.ns, "app="+app, n)
	f.must(err)
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	return pods
}

func (f *fixture) status(pod string, st kubeenv.PodStatus) {
	f.t.Helper()
	f.must(f.c.SetContainerStatuses(f.ctx(), f.ns, pod, st))
}

// run sets one regular container's imageID on a pod.
func (f *fixture) run(pod, container, imageID string) {
	f.t.Helper()
	f.status(pod, kubeenv.PodStatus{Containers: []kubeenv.ContainerStatus{{Name: container, ImageID: imageID}}})
}

func (f *fixture) bare(name string, spec corev1.PodSpec) {
	f.t.Helper()
	_, err := f.c.Admin.CoreV1().Pods(f.ns).Create(f.ctx(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}, metav1.CreateOptions{})
	f.must(err)
}

// world is what the scenario made: pod names by role, for assertions.
type world struct {
	web, api, ds, logger, backup1, backup2, restartOld, restartNew, db []string
}

func podNames(pods []corev1.Pod) []string {
	var names []string
	for _, p := range pods {
		names = append(names, p.Name)
	}
	return names
}

// buildAlpha makes cluster alpha's namespace shop: one workload per rule and trap.
func buildAlpha(t *testing.T, c *kubeenv.Cluster) world {
	f := &fixture{t: t, c: c, ns: "shop"}
	f.must(c.Namespace(f.ctx(), f.ns))
	var w world

	// web: three pods, one digest through two runtime prefixes, and a second digest.
	web := f.deployment("web", 3, corev1.PodSpec{Containers: containers("app", "nginx:1.25")})
	f.run(web[0].Name, "app", "docker.io/library/nginx@"+dg("A"))
	f.run(web[1].Name, "app", "docker-pullable://nginx@"+dg("A"))
	f.run(web[2].Name, "app", "docker.io/library/nginx:1.25@"+dg("B"))
	w.web = podNames(web)

	// api: the main container agrees; the init container diverges; an ephemeral
	// container added later diverges too.
	api := f.deployment("api", 2, corev1.PodSpec{
		InitContainers: containers("migrate", "registry.example.com/shop/migrate:prod"),
		Containers:     containers("api", "registry.example.com/shop/api:prod"),
	})
	for i, p := range api {
		p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox:debug"}}}
		_, err := c.Admin.CoreV1().Pods(f.ns).UpdateEphemeralContainers(f.ctx(), p.Name, &p, metav1.UpdateOptions{})
		f.must(err)
		f.status(p.Name, kubeenv.PodStatus{
			Init:       []kubeenv.ContainerStatus{{Name: "migrate", ImageID: "registry.example.com/shop/migrate@" + dg(fmt.Sprint("migrate", i))}},
			Containers: []kubeenv.ContainerStatus{{Name: "api", ImageID: "registry.example.com/shop/api@" + dg("C")}},
			Ephemeral:  []kubeenv.ContainerStatus{{Name: "debug", ImageID: "docker.io/library/busybox@" + dg(fmt.Sprint("debug", i))}},
		})
	}
	w.api = podNames(api)

	// pulling: one pod has not pulled yet (empty imageID).
	pulling := f.deployment("pulling", 2, corev1.PodSpec{Containers: containers("redis", "redis:7")})
	f.run(pulling[0].Name, "redis", "docker.io/library/redis@"+dg("F"))
	f.run(pulling[1].Name, "redis", "")

	// mixed: a repository digest next to a local image ID proves nothing.
	mixed := f.deployment("mixed", 2, corev1.PodSpec{Containers: containers("box", "busybox:1.36")})
	f.run(mixed[0].Name, "box", "docker.io/library/busybox@"+dg("G"))
	f.run(mixed[1].Name, "box", "sha256:"+strings.TrimPrefix(dg("H"), "sha256:"))

	// crashy: a waiting container keeps an imageID from its previous run.
	crashy := f.deployment("crashy", 2, corev1.PodSpec{Containers: containers("c", "crash:1")})
	f.run(crashy[0].Name, "c", "docker.io/library/crash@"+dg("W"))
	f.status(crashy[1].Name, kubeenv.PodStatus{Containers: []kubeenv.ContainerStatus{{Name: "c", ImageID: "docker.io/library/crash@" + dg("W2"), Waiting: true}}})

	// db: a StatefulSet whose tag runs another digest in cluster beta.
	replicas := int32(2)
	_, err := c.Admin.AppsV1().StatefulSets(f.ns).Create(f.ctx(), &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &replicas, PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Template: template("db", corev1.PodSpec{Containers: containers("pg", "postgres:16")}),
		},
	}, metav1.CreateOptions{})
	f.must(err)
	db := f.pods("db", 2)
	for _, p := range db {
		f.run(p.Name, "pg", "docker.io/library/postgres@"+dg("I"))
	}
	w.db = podNames(db)

	// agent and logger: DaemonSets on an amd64 and an arm64 node. agent's local image
	// IDs differ per architecture (no mutation); logger's repository digests differ.
	f.must(c.ReadyNode(f.ctx(), "node-amd", "amd64", "containerd://1.7.24"))
	f.must(c.ReadyNode(f.ctx(), "node-arm", "arm64", "cri-o://1.28.1"))
	for _, ds := range []string{"agent", "logger"} {
		_, err := c.Admin.AppsV1().DaemonSets(f.ns).Create(f.ctx(), &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Name: ds},
			Spec: appsv1.DaemonSetSpec{
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": ds}},
				Template: template(ds, corev1.PodSpec{Containers: containers(ds, "registry.example.com/ops/"+ds+":1")}),
			},
		}, metav1.CreateOptions{})
		f.must(err)
		for _, p := range f.pods(ds, 2) {
			node := kubeenv.DaemonSetNode(&p)
			f.must(c.Bind(f.ctx(), f.ns, p.Name, node))
			id := strings.TrimPrefix(dg(ds+node), "sha256:") // a bare image ID, as CRI-O 1.28 reports
			if ds == "logger" {
				id = "registry.example.com/ops/logger@" + dg(ds+node)
			}
			f.run(p.Name, ds, id)
			if ds == "logger" {
				w.logger = append(w.logger, p.Name)
			} else {
				w.ds = append(w.ds, p.Name)
			}
		}
	}

	// backup: a CronJob whose Jobs (made as `kubectl create job --from=cronjob/backup`
	// does) pulled its tag at different times.
	yes := true
	cj, err := c.Admin.BatchV1().CronJobs(f.ns).Create(f.ctx(), &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "backup"},
		Spec: batchv1.CronJobSpec{
			Schedule: "0 3 * * *", Suspend: &yes,
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: template("backup", corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever, Containers: containers("run", "backup:latest")})}},
		},
	}, metav1.CreateOptions{})
	f.must(err)
	for i, parallelism := range []int32{2, 1} {
		name := fmt.Sprintf("backup-manual-%d", i+1)
		_, err := c.Admin.BatchV1().Jobs(f.ns).Create(f.ctx(), &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID, Controller: &yes}}},
			Spec: batchv1.JobSpec{
				Parallelism: &parallelism, Completions: &parallelism,
				Template: template(name, corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: containers("run", "backup:latest")}),
			},
		}, metav1.CreateOptions{})
		f.must(err)
		for _, p := range f.pods(name, int(parallelism)) {
			f.run(p.Name, "run", "docker.io/library/backup@"+dg(name))
			if i == 0 {
				w.backup1 = append(w.backup1, p.Name)
			} else {
				w.backup2 = append(w.backup2, p.Name)
			}
		}
	}

	// debug-pinned: a pinned reference running another digest.
	f.bare("debug-pinned", corev1.PodSpec{Containers: containers("sh", "alpine:3.20@"+dg("R"))})
	f.run("debug-pinned", "sh", "docker.io/library/alpine@"+dg("S"))

	// rollout: a rolling update to a new image. The new pod is never Ready, so the old
	// ones stay: two revisions on two images, which is no mutation.
	rollout := f.deployment("rollout", 2, corev1.PodSpec{Containers: containers("app", "registry.example.com/shop/app:v1")})
	for _, p := range rollout {
		f.run(p.Name, "app", "registry.example.com/shop/app@"+dg("v1"))
	}
	f.updateImage("rollout", "registry.example.com/shop/app:v2", "")
	for _, p := range f.pods("rollout", 3) {
		if !slices.Contains(podNames(rollout), p.Name) {
			f.run(p.Name, "app", "registry.example.com/shop/app@"+dg("v2"))
		}
	}

	// restart: `kubectl rollout restart` of an unchanged tag; the new pod pulled a tag
	// that had moved: two revisions of one workload on one reference, two digests.
	restart := f.deployment("restart", 1, corev1.PodSpec{Containers: containers("app", "registry.example.com/shop/app:stable")})
	f.run(restart[0].Name, "app", "registry.example.com/shop/app@"+dg("X"))
	w.restartOld = podNames(restart)
	f.updateImage("restart", "", time.Now().Format(time.RFC3339))
	for _, p := range f.pods("restart", 2) {
		if p.Name != restart[0].Name {
			f.run(p.Name, "app", "registry.example.com/shop/app@"+dg("Y"))
			w.restartNew = append(w.restartNew, p.Name)
		}
	}
	return w
}

// updateImage changes a Deployment's image, or (image "") restarts it as
// `kubectl rollout restart` does, with an annotation on the template.
func (f *fixture) updateImage(name, image, restartedAt string) {
	f.t.Helper()
	deployments := f.c.Admin.AppsV1().Deployments(f.ns)
	// The deployment controller writes the Deployment's status meanwhile: on a conflict,
	// read it again and retry, as kubectl does.
	f.must(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := deployments.Get(f.ctx(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if image != "" {
			d.Spec.Template.Spec.Containers[0].Image = image
		}
		if restartedAt != "" {
			d.Spec.Template.Annotations = map[string]string{"kubectl.kubernetes.io/restartedAt": restartedAt}
		}
		_, err = deployments.Update(f.ctx(), d, metav1.UpdateOptions{})
		return err
	}))
}

// buildBeta makes cluster beta's namespace shop: the same tag as alpha's web on one of
// its digests (no tag-divergence: alpha's difference is confined to its own revision),
// and postgres:16 on another digest than alpha's db.
func buildBeta(t *testing.T, c *kubeenv.Cluster) {
	f := &fixture{t: t, c: c, ns: "shop"}
	f.must(c.Namespace(f.ctx(), f.ns))
	web := f.deployment("web", 1, corev1.PodSpec{Containers: containers("app", "docker.io/library/nginx:1.25")})
	f.run(web[0].Name, "app", "docker.io/library/nginx@"+dg("A"))
	f.bare("pg", corev1.PodSpec{Containers: containers("pg", "docker.io/postgres:16")})
	f.run("pg", "pg", "docker-pullable://postgres@"+dg("J"))
}

// buildGamma makes a clean cluster: one bare pod. Tests share gamma; the first makes it.
func buildGamma(t *testing.T, c *kubeenv.Cluster) {
	if _, err := c.Admin.CoreV1().Pods("quiet").Get(context.Background(), "solo", metav1.GetOptions{}); err == nil {
		return
	}
	f := &fixture{t: t, c: c, ns: "quiet"}
	f.must(c.Namespace(f.ctx(), f.ns))
	f.bare("solo", corev1.PodSpec{Containers: containers("app", "nginx:1.25")})
	f.run("solo", "app", "docker.io/library/nginx@"+dg("A"))
}

type mutationWant struct {
	kind, cluster, namespace string
	workload                 workload
	container, ref           string
	digests                  []string
	places                   map[string]string // pod (cluster/pod) -> digest
}

func places(cluster string, pods []string, digest string) map[string]string {
	m := map[string]string{}
	for _, p := range pods {
		m[cluster+"/"+p] = digest
	}
	return m
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func sortedDigests(ds ...string) []string {
	slices.Sort(ds)
	return ds
}

// TestScan builds one workload per rule and trap in real clusters, runs
// `tagdrift scan -o json` over them, and asserts the whole report.
func TestScan(t *testing.T) {
	alpha, beta, gamma := setup.env.Cluster("alpha"), setup.env.Cluster("beta"), setup.env.Cluster("gamma")
	w := buildAlpha(t, alpha)
	buildBeta(t, beta)
	buildGamma(t, gamma)

	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := kubeenv.WriteKubeconfig(kubeconfig, "alpha",
		alpha.Context("alpha", alpha.AdminToken),
		beta.Context("beta", beta.AdminToken),
		gamma.Context("gamma", gamma.AdminToken),
		kubeenv.Context{Name: "broken", Server: "https://" + closedPort(t), CAData: alpha.CAData, Token: "x"},
	); err != nil {
		t.Fatal(err)
	}

	res := tagdrift(t, "scan", "--kubeconfig", kubeconfig, "--all-contexts", "-o", "json", "--timeout", "20s")
	if res.code != 2 {
		t.Fatalf("exit %d, want 2 (cluster broken fails); stderr:\n%s", res.code, res.stderr)
	}
	rep := decodeReport(t, res.stdout)

	t.Run("clusters", func(t *testing.T) {
		names := []string{}
		for _, c := range rep.Clusters {
			names = append(names, c.Name)
		}
		if want := []string{"alpha", "beta", "broken", "gamma"}; !slices.Equal(names, want) {
			t.Fatalf("clusters %v, want %v", names, want)
		}
		for i, kc := range []*kubeenv.Cluster{alpha, beta, nil, gamma} {
			got := rep.Clusters[i]
			if kc == nil {
				if got.Error == "" || !strings.Contains(got.Error, "connection refused") || got.Pods != 0 {
					t.Errorf("broken: %+v", got)
				}
				continue
			}
			pods, err := kc.Admin.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ctrs := 0
			for _, p := range pods.Items {
				ctrs += len(p.Spec.InitContainers) + len(p.Spec.Containers) + len(p.Spec.EphemeralContainers)
			}
			if got.Error != "" || got.Server != kc.Host || got.Pods != len(pods.Items) || got.Containers != ctrs {
				t.Errorf("%s: %+v, want server %s, %d pods, %d containers", got.Name, got, kc.Host, len(pods.Items), ctrs)
			}
		}
	})

	t.Run("mutations", func(t *testing.T) {
		want := []mutationWant{
			{"pin-mismatch", "alpha", "shop", workload{"Pod", "debug-pinned"}, "sh", "docker.io/library/alpine:3.20@" + dg("R"),
				[]string{dg("S")}, places("alpha", []string{"debug-pinned"}, dg("S"))},
			{"tag-divergence", "", "", workload{}, "pg", "docker.io/library/postgres:16",
				sortedDigests(dg("I"), dg("J")), merge(places("alpha", w.db, dg("I")), places("beta", []string{"pg"}, dg("J")))},
			{"tag-divergence", "alpha", "shop", workload{"CronJob", "backup"}, "run", "docker.io/library/backup:latest",
				sortedDigests(dg("backup-manual-1"), dg("backup-manual-2")),
				merge(places("alpha", w.backup1, dg("backup-manual-1")), places("alpha", w.backup2, dg("backup-manual-2")))},
			{"tag-divergence", "alpha", "shop", workload{"Deployment", "restart"}, "app", "registry.example.com/shop/app:stable",
				sortedDigests(dg("X"), dg("Y")), merge(places("alpha", w.restartOld, dg("X")), places("alpha", w.restartNew, dg("Y")))},
			{"workload-divergence", "alpha", "shop", workload{"DaemonSet", "logger"}, "logger", "registry.example.com/ops/logger:1",
				sortedDigests(dg("loggernode-amd"), dg("loggernode-arm")), nil},
			{"workload-divergence", "alpha", "shop", workload{"Deployment", "api"}, "debug", "docker.io/library/busybox:debug",
				sortedDigests(dg("debug0"), dg("debug1")), map[string]string{"alpha/" + w.api[0]: dg("debug0"), "alpha/" + w.api[1]: dg("debug1")}},
			{"workload-divergence", "alpha", "shop", workload{"Deployment", "api"}, "migrate", "registry.example.com/shop/migrate:prod",
				sortedDigests(dg("migrate0"), dg("migrate1")), map[string]string{"alpha/" + w.api[0]: dg("migrate0"), "alpha/" + w.api[1]: dg("migrate1")}},
			{"workload-divergence", "alpha", "shop", workload{"Deployment", "web"}, "app", "docker.io/library/nginx:1.25",
				sortedDigests(dg("A"), dg("B")), map[string]string{"alpha/" + w.web[0]: dg("A"), "alpha/" + w.web[1]: dg("A"), "alpha/" + w.web[2]: dg("B")}},
		}
		if len(rep.Mutations) != len(want) {
			for _, m := range rep.Mutations {
				t.Logf("got %s %s/%s %s/%s %s %s", m.Kind, m.Cluster, m.Namespace, m.Workload.Kind, m.Workload.Name, m.Container, m.Ref)
			}
			t.Fatalf("got %d mutations, want %d", len(rep.Mutations), len(want))
		}
		for i, wm := range want {
			m := rep.Mutations[i]
			if m.Kind != wm.kind || m.Cluster != wm.cluster || m.Namespace != wm.namespace || m.Workload != wm.workload ||
				m.Container != wm.container || m.Ref != wm.ref || !slices.Equal(m.Digests, wm.digests) {
				t.Errorf("mutation %d:\n got  %s %q/%q %v %q %q %v\n want %s %q/%q %v %q %q %v", i,
					m.Kind, m.Cluster, m.Namespace, m.Workload, m.Container, m.Ref, m.Digests,
					wm.kind, wm.cluster, wm.namespace, wm.workload, wm.container, wm.ref, wm.digests)
				continue
			}
			got := map[string]string{}
			for _, p := range m.Places {
				got[p.Cluster+"/"+p.Pod] = p.Digest
				if p.Container != wm.container && wm.container != "" {
					t.Errorf("mutation %d: place in container %q", i, p.Container)
				}
			}
			if wm.places == nil { // DaemonSet pods: one per node, names generated
				wm.places = map[string]string{}
				for _, p := range m.Places {
					wm.places[p.Cluster+"/"+p.Pod] = p.Digest
				}
				if len(m.Places) != 2 {
					t.Errorf("mutation %d: %d places, want 2", i, len(m.Places))
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(wm.places) {
				t.Errorf("mutation %d (%s %s): places\n got  %v\n want %v", i, m.Kind, m.Ref, got, wm.places)
			}
		}
	})

	t.Run("workloads", func(t *testing.T) {
		type key struct{ cluster, ns, kind, name string }
		byKey := map[key]int{}
		for i, wl := range rep.Workloads {
			byKey[key{wl.Cluster, wl.Namespace, wl.Kind, wl.Name}] = i
		}
		wantMutant := map[key]bool{
			{"alpha", "shop", "Deployment", "web"}:     true,
			{"alpha", "shop", "Deployment", "api"}:     true,
			{"alpha", "shop", "Deployment", "pulling"}: false,
			{"alpha", "shop", "Deployment", "mixed"}:   false,
			{"alpha", "shop", "Deployment", "crashy"}:  false,
			{"alpha", "shop", "Deployment", "rollout"}: false,
			{"alpha", "shop", "Deployment", "restart"}: true,
			{"alpha", "shop", "StatefulSet", "db"}:     true,
			{"alpha", "shop", "DaemonSet", "agent"}:    false,
			{"alpha", "shop", "DaemonSet", "logger"}:   true,
			{"alpha", "shop", "CronJob", "backup"}:     true,
			{"alpha", "shop", "Pod", "debug-pinned"}:   true,
			{"beta", "shop", "Deployment", "web"}:      false,
			{"beta", "shop", "Pod", "pg"}:              true,
			{"gamma", "quiet", "Pod", "solo"}:          false,
		}
		if len(rep.Workloads) != len(wantMutant) {
			for _, wl := range rep.Workloads {
				t.Logf("workload %s/%s %s/%s", wl.Cluster, wl.Namespace, wl.Kind, wl.Name)
			}
			t.Errorf("got %d workloads, want %d", len(rep.Workloads), len(wantMutant))
		}
		for k, mutant := range wantMutant {
			i, ok := byKey[k]
			if !ok {
				t.Errorf("workload %v missing", k)
				continue
			}
			if rep.Workloads[i].Mutant != mutant {
				t.Errorf("workload %v: mutant %v, want %v", k, rep.Workloads[i].Mutant, mutant)
			}
		}

		web := rep.Workloads[byKey[key{"alpha", "shop", "Deployment", "web"}]]
		if len(web.Containers) != 1 {
			t.Fatalf("web containers: %+v", web.Containers)
		}
		c := web.Containers[0]
		if c.Name != "app" || c.Type != "regular" || c.Image != "nginx:1.25" || c.Ref != "docker.io/library/nginx:1.25" || c.Pinned ||
			len(c.Digests) != 2 || c.Digests[0].Digest != dg("A") && c.Digests[1].Digest != dg("A") {
			t.Errorf("web container: %+v", c)
		}
		for _, d := range c.Digests {
			want := w.web[2:]
			if d.Digest == dg("A") {
				want = w.web[:2]
			}
			if d.Kind != "repo" || !slices.Equal(d.Pods, want) {
				t.Errorf("web digest %s: kind %s pods %v, want repo %v", d.Digest, d.Kind, d.Pods, want)
			}
		}

		api := rep.Workloads[byKey[key{"alpha", "shop", "Deployment", "api"}]]
		var types []string
		for _, c := range api.Containers {
			types = append(types, c.Type+":"+c.Name)
		}
		if want := []string{"init:migrate", "regular:api", "ephemeral:debug"}; !slices.Equal(types, want) {
			t.Errorf("api containers %v, want %v", types, want)
		}

		pulling := rep.Workloads[byKey[key{"alpha", "shop", "Deployment", "pulling"}]]
		if ds := pulling.Containers[0].Digests; len(ds) != 1 || len(ds[0].Pods) != 1 {
			t.Errorf("pulling: a pod without imageID was counted: %+v", ds)
		}
		mixed := rep.Workloads[byKey[key{"alpha", "shop", "Deployment", "mixed"}]]
		kinds := []string{}
		for _, d := range mixed.Containers[0].Digests {
			kinds = append(kinds, d.Kind)
		}
		if slices.Sort(kinds); !slices.Equal(kinds, []string{"image-id", "repo"}) {
			t.Errorf("mixed digest kinds %v", kinds)
		}
		pinned := rep.Workloads[byKey[key{"alpha", "shop", "Pod", "debug-pinned"}]]
		if !pinned.Containers[0].Pinned {
			t.Errorf("debug-pinned not pinned: %+v", pinned.Containers[0])
		}
		rollout := rep.Workloads[byKey[key{"alpha", "shop", "Deployment", "rollout"}]]
		if len(rollout.Containers) != 2 {
			t.Errorf("rollout: want one container entry per image during the update, got %+v", rollout.Containers)
		}
	})

	t.Run("exit status", func(t *testing.T) {
		if r := tagdrift(t, "scan", "--kubeconfig", kubeconfig, "--context", "alpha", "--context", "beta", "-o", "json"); r.code != 0 {
			t.Errorf("mutations without --fail-on-mutant: exit %d; stderr %s", r.code, r.stderr)
		}
		if r := tagdrift(t, "scan", "--kubeconfig", kubeconfig, "--context", "alpha", "--context", "beta", "--fail-on-mutant"); r.code != 1 {
			t.Errorf("--fail-on-mutant with mutations: exit %d; stderr %s", r.code, r.stderr)
		}
		r := tagdrift(t, "scan", "--kubeconfig", kubeconfig, "--context", "gamma", "--fail-on-mutant")
		if r.code != 0 || !strings.Contains(r.stdout, "No mutations found.") || !strings.Contains(r.stdout, "cluster gamma: 1 pod, 1 container, 0 mutations") {
			t.Errorf("clean cluster: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		// Failed clusters win over mutations: exit 2.
		if r := tagdrift(t, "scan", "--kubeconfig", kubeconfig, "--all-contexts", "--fail-on-mutant"); r.code != 2 {
			t.Errorf("failed cluster with --fail-on-mutant: exit %d", r.code)
		}
	})

	t.Run("cluster groups", func(t *testing.T) {
		// alpha and beta run postgres:16 on two digests: one tag-divergence in one
		// group (the default), none once beta is put in a group of its own.
		divergences := func(args ...string) []string {
			t.Helper()
			r := tagdrift(t, append([]string{"scan", "--kubeconfig", kubeconfig, "--context", "alpha", "--context", "beta", "-o", "json"}, args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			var out []string
			for _, m := range decodeReport(t, r.stdout).Mutations {
				if m.Kind == "tag-divergence" && m.Cluster == "" {
					out = append(out, m.Group+" "+m.Ref)
				}
			}
			return out
		}
		if got, want := divergences(), []string{" docker.io/library/postgres:16"}; !slices.Equal(got, want) {
			t.Errorf("one group: tag-divergences across clusters %v, want %v", got, want)
		}
		if got := divergences("--cluster-group", "beta=team-b"); len(got) != 0 {
			t.Errorf("beta in team-b: tag-divergences across clusters %v, want none", got)
		}
		if got, want := divergences("--cluster-group", "alpha=shop", "--cluster-group", "beta=shop"), []string{"shop docker.io/library/postgres:16"}; !slices.Equal(got, want) {
			t.Errorf("both in shop: tag-divergences across clusters %v, want %v", got, want)
		}
	})

	t.Run("table", func(t *testing.T) {
		for _, columns := range []int{80, 200} {
			r := tagdriftEnv(t, []string{fmt.Sprintf("COLUMNS=%d", columns)}, "scan", "--kubeconfig", kubeconfig, "--context", "alpha", "--context", "beta")
			lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
			if strings.HasPrefix(lines[0], "All in ") && len(lines) > 1 { // what every row shares, said once
				lines = lines[1:]
			}
			if r.code != 0 || !strings.HasPrefix(lines[0], "KIND") {
				t.Fatalf("table: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			for _, l := range lines {
				if n := len([]rune(l)); n > columns {
					t.Errorf("line wider than %d columns (%d): %q", columns, n, l)
				}
			}
			want := []string{"pin-mismatch", strings.TrimPrefix(dg("B"), "sha256:")[:12], "cluster alpha: 26 pods", "cluster beta: 2 pods"}
			if columns == 200 { // room enough: nothing wraps
				want = append(want, "deploy/web", "workload-divergence", "registry.example.com/shop/app:stable", "alpine:3.20@"+strings.TrimPrefix(dg("R"), "sha256:")[:12])
			}
			for _, w := range want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("%d-column table lacks %q:\n%s", columns, w, r.stdout)
				}
			}
		}
	})

	t.Run("kubeconfig from environment", func(t *testing.T) {
		res := tagdriftEnv(t, []string{"KUBECONFIG=" + kubeconfig}, "scan", "-o", "json")
		if res.code != 0 {
			t.Fatalf("exit %d: %s", res.code, res.stderr)
		}
		if rep := decodeReport(t, res.stdout); len(rep.Clusters) != 1 || rep.Clusters[0].Name != "alpha" {
			t.Errorf("current context from $KUBECONFIG: %+v", rep.Clusters)
		}
	})

	t.Run("least-privilege RBAC", func(t *testing.T) {
		role := bindDeployedRole(t, alpha)
		scannerConfig := filepath.Join(t.TempDir(), "kubeconfig")
		if err := kubeenv.WriteKubeconfig(scannerConfig, "alpha", alpha.Context("alpha", alpha.ScannerToken)); err != nil {
			t.Fatal(err)
		}
		adminRes := tagdrift(t, "scan", "--kubeconfig", kubeconfig, "--context", "alpha", "-o", "json")
		var scannerRes result
		// RBAC reaches the authorizer's cache shortly after the binding is created.
		if err := pollUntil(30*time.Second, func() bool {
			scannerRes = tagdrift(t, "scan", "--kubeconfig", scannerConfig, "-o", "json")
			return scannerRes.code == 0
		}); err != nil {
			t.Fatalf("scan with deploy/scanned-cluster/rbac.yaml's rights: exit %d\n%s%s", scannerRes.code, scannerRes.stdout, scannerRes.stderr)
		}
		if adminRes.code != 0 || adminRes.stdout != scannerRes.stdout {
			t.Errorf("the scanner role sees another report than an admin:\n%s\n---\n%s", scannerRes.stdout, adminRes.stdout)
		}

		// Without the right to list nodes, the scan still works and does not mistake
		// agent's image IDs of two architectures for a mutation: the report is the same.
		withoutNodes := role.DeepCopy()
		for i := range withoutNodes.Rules {
			withoutNodes.Rules[i].Resources = slices.DeleteFunc(withoutNodes.Rules[i].Resources, func(r string) bool { return r == "nodes" })
		}
		if _, err := alpha.Admin.RbacV1().ClusterRoles().Update(context.Background(), withoutNodes, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := pollUntil(30*time.Second, func() bool { return !canListNodes(t, alpha) }); err != nil {
			t.Fatalf("the scanner can still list nodes: %v", err)
		}
		r := tagdrift(t, "scan", "--kubeconfig", scannerConfig, "-o", "json")
		if r.code != 0 || r.stdout != adminRes.stdout {
			t.Errorf("scan without nodes: exit %d, report differs:\n%s\n---\n%s%s", r.code, r.stdout, adminRes.stdout, r.stderr)
		}
	})
}

// canListNodes asks the API server whether the scanner user may list nodes.
func canListNodes(t *testing.T, c *kubeenv.Cluster) bool {
	t.Helper()
	review, err := c.Admin.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User:               kubeenv.ScannerUser,
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "list", Resource: "nodes"},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return review.Status.Allowed
}

// bindDeployedRole creates deploy/scanned-cluster/rbac.yaml's ClusterRole in the cluster and binds it
// to the unprivileged scanner user, then waits until the rights hold.
func bindDeployedRole(t *testing.T, c *kubeenv.Cluster) *rbacv1.ClusterRole {
	t.Helper()
	b, err := os.ReadFile("../deploy/scanned-cluster/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var role *rbacv1.ClusterRole
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("deploy/scanned-cluster/rbac.yaml: %v", err)
		}
		if meta.Kind == "ClusterRole" {
			role = &rbacv1.ClusterRole{}
			if err := yaml.UnmarshalStrict([]byte(doc), role); err != nil {
				t.Fatalf("deploy/scanned-cluster/rbac.yaml ClusterRole: %v", err)
			}
		}
	}
	if role == nil {
		t.Fatal("deploy/scanned-cluster/rbac.yaml has no ClusterRole")
	}
	// Tests sharing a cluster bind it once: the first one's role and binding stand.
	ctx := context.Background()
	created, err := c.Admin.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		created, err = c.Admin.RbacV1().ClusterRoles().Get(ctx, role.Name, metav1.GetOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "tagdrift-scanner-test"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: "rbac.authorization.k8s.io", Name: kubeenv.ScannerUser}},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	return created
}

func pollUntil(limit time.Duration, ok func() bool) error {
	deadline := time.Now().Add(limit)
	for {
		if ok() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", limit)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
