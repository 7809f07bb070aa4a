package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
)

// nodeSuite is a cluster with a real node, a registry, and a tagdrift serve that has
// the cluster registered: what the subtests of TestRealNode share.
type nodeSuite struct {
	t          *testing.T
	ctx        context.Context
	env        *kubeenv.Env
	c          *kubeenv.Cluster
	node       *kubeenv.Node
	reg        *kubeenv.Registry
	kubeconfig string
	api        apiClient
	lastScan   int64
}

// TestRealNode runs pods on a real kubelet and containerd that pull from a local
// registry, moves tags in the registry, and asserts what tagdrift makes of the
// imageIDs containerd wrote, through `tagdrift scan -o json` and through `tagdrift
// serve` and its REST API. One node serves every subtest, each in its own namespace.
func TestRealNode(t *testing.T) {
	if err := kubeenv.CheckNode(); err != nil {
		if ciRequired() {
			t.Fatalf("real node: %v", err)
		}
		t.Skipf("real node: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	started := time.Now()
	env, err := kubeenv.Start(ctx, kubeenv.Options{
		Logger:   slog.New(slog.NewTextHandler(testLog{t}, nil)),
		Clusters: []kubeenv.ClusterOptions{{Name: "real", ControllerManager: true, Node: &kubeenv.NodeOptions{Name: "real-node"}}},
	})
	if err != nil {
		if errors.Is(err, kubeenv.ErrNodeUnsupported) && !ciRequired() {
			t.Skipf("real node: %v", err)
		}
		t.Fatalf("start a cluster with a real node: %v", err)
	}
	t.Cleanup(func() { env.Stop() })
	t.Logf("cluster and real node up in %s", time.Since(started).Round(time.Millisecond))

	s := &nodeSuite{t: t, ctx: ctx, env: env, c: env.Cluster("real"), reg: env.Registry}
	s.node = s.c.Node
	s.kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	if err := kubeenv.WriteKubeconfig(s.kubeconfig, "real", s.c.Context("real", s.c.AdminToken)); err != nil {
		t.Fatal(err)
	}

	// The service, with the cluster registered through the API; its first scan sees
	// no pods yet.
	db := newDatabase(t)
	admin := "e2e-admin-" + newKeyText()[:16]
	srv := startServe(t, []string{"TAGDRIFT_DATABASE_URL=" + db.URL, "TAGDRIFT_ENCRYPTION_KEY=" + newKeyText(), "TAGDRIFT_ADMIN_TOKEN=" + admin},
		"--allow-cluster-network", "127.0.0.0/8")
	if err := pollUntil(30*time.Second, func() bool { code, _, err := srv.get("/readyz"); return err == nil && code == 200 }); err != nil {
		t.Fatalf("serve never ready: %v", err)
	}
	s.api = apiClient{t: t, url: srv.url, token: admin}
	raw, err := os.ReadFile(s.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	s.api.must(http.MethodPost, "/api/v1/clusters", map[string]any{"name": "real", "kubeconfig": string(raw), "scanInterval": "1h", "annotate": "on"}, http.StatusCreated, nil)
	s.waitScan(t)

	t.Run("TagMovedUnderDeployment", s.tagMovedUnderDeployment)
	t.Run("PodDrift", s.podDrift)
	t.Run("MultiPlatformIndex", s.multiPlatformIndex)
	t.Run("ImportedImage", s.importedImage)
	t.Logf("TestRealNode took %s", time.Since(started).Round(time.Millisecond))
}

type testLog struct{ t *testing.T }

func (w testLog) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// waitScan waits for the service's next finished scan of the cluster (one it was asked
// for, or the first) and fails unless it succeeded.
func (s *nodeSuite) waitScan(t *testing.T) apiScan {
	t.Helper()
	var last apiScan
	err := pollUntil(90*time.Second, func() bool {
		var c apiCluster
		s.client(t).must(http.MethodGet, "/api/v1/clusters/real", nil, http.StatusOK, &c)
		if c.LastScan == nil || c.LastScan.ID <= s.lastScan {
			return false
		}
		last = *c.LastScan
		return last.Status == "succeeded" || last.Status == "failed"
	})
	if err != nil || last.Status != "succeeded" {
		t.Fatalf("scan of the real cluster after %d: %v %+v", s.lastScan, err, last)
	}
	s.lastScan = last.ID
	return last
}

// scanNow asks the service for a scan of the cluster and waits for it.
func (s *nodeSuite) scanNow(t *testing.T) {
	t.Helper()
	s.client(t).must(http.MethodPost, "/api/v1/clusters/real/scans", nil, http.StatusAccepted, nil)
	s.waitScan(t)
}

// scanJSON runs `tagdrift scan -o json` on the cluster.
func (s *nodeSuite) scanJSON(t *testing.T) scanReport {
	t.Helper()
	r := tagdrift(t, "scan", "--kubeconfig", s.kubeconfig, "-o", "json")
	if r.code != 0 {
		t.Fatalf("tagdrift scan: exit %d\n%s", r.code, r.stderr)
	}
	return decodeReport(t, r.stdout)
}

func (s *nodeSuite) namespace(t *testing.T, ns string) {
	t.Helper()
	if err := s.c.Namespace(s.ctx, ns); err != nil {
		t.Fatal(err)
	}
}

func (s *nodeSuite) push(t *testing.T, repo, tag, content string) string {
	t.Helper()
	d, err := s.reg.Push(s.ctx, repo, tag, content)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// deployment creates a Deployment of the node's pods and waits until n of them run.
func (s *nodeSuite) deployment(t *testing.T, ns, name string, replicas int32, image string, pull corev1.PullPolicy) []corev1.Pod {
	t.Helper()
	_, err := s.c.Admin.AppsV1().Deployments(ns).Create(s.ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       s.node.PodSpec(corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image, ImagePullPolicy: pull}}}),
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s.running(t, ns, name, int(replicas))
}

// running waits until exactly n pods labelled app=name exist and all run, and returns
// them sorted by name.
func (s *nodeSuite) running(t *testing.T, ns, app string, n int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	err := pollUntil(2*time.Minute, func() bool {
		list, err := s.c.Admin.CoreV1().Pods(ns).List(s.ctx, metav1.ListOptions{LabelSelector: "app=" + app})
		if err != nil {
			return false
		}
		pods = list.Items
		if len(pods) != n {
			return false
		}
		for i := range pods {
			if pods[i].DeletionTimestamp != nil || !kubeenv.Running(&pods[i]) {
				return false
			}
		}
		return true
	})
	if err != nil {
		var states []string
		for _, p := range pods {
			states = append(states, fmt.Sprintf("%s %s %+v", p.Name, p.Status.Phase, p.Status.ContainerStatuses))
		}
		t.Fatalf("%d running pods app=%s in %s: %v; have:\n%s", n, app, ns, err, strings.Join(states, "\n"))
	}
	slices.SortFunc(pods, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return pods
}

// imageID is what the kubelet reported for the pod's only container.
func imageID(p corev1.Pod) string {
	if len(p.Status.ContainerStatuses) != 1 {
		return ""
	}
	return p.Status.ContainerStatuses[0].ImageID
}

// client is the service's API client for the (sub)test t.
func (s *nodeSuite) client(t *testing.T) apiClient {
	return apiClient{t: t, url: s.api.url, token: s.api.token}
}

// mutations reads the service's mutations of the cluster in a namespace; state is
// open or closed.
func (s *nodeSuite) mutations(t *testing.T, state, ns string) []apiMutation {
	t.Helper()
	return list[apiMutation](s.client(t), "/api/v1/mutations?state="+state+"&cluster=real&namespace="+ns)
}

// kindsAndDigests renders mutations as "kind digest,digest", sorted.
func kindsAndDigests(ms []apiMutation) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Kind+" "+strings.Join(m.Digests, ","))
	}
	slices.Sort(out)
	return out
}

// workloadOf finds the workloads of the report by namespace and kind (the top of the
// owner chain: Deployment for a Deployment's pods).
func workloadOf(rep scanReport, ns, kind string) []workloadJSON {
	var out []workloadJSON
	for _, w := range rep.Workloads {
		if w.Cluster == "real" && w.Namespace == ns && w.Kind == kind {
			out = append(out, w)
		}
	}
	return out
}

// tagMovedUnderDeployment: two pods of a Deployment pull app:v1, the tag is pushed
// anew, one pod is replaced and pulls the new content. containerd reports two
// repository digests in one ReplicaSet: workload-divergence with both, and the
// service records tag-moved.
func (s *nodeSuite) tagMovedUnderDeployment(t *testing.T) {
	const ns = "moved"
	s.namespace(t, ns)
	first := s.push(t, "tagdrift/web", "v1", "web one")
	image := s.reg.Ref("tagdrift/web", "v1")
	pods := s.deployment(t, ns, "web", 2, image, corev1.PullAlways)
	repo := s.reg.Host + "/tagdrift/web@"
	for _, p := range pods {
		if got := imageID(p); got != repo+first {
			t.Fatalf("pod %s runs %q, want %q", p.Name, got, repo+first)
		}
	}
	s.scanNow(t)

	second := s.push(t, "tagdrift/web", "v1", "web two")
	if second == first {
		t.Fatal("new content has the old digest")
	}
	zero := int64(0)
	gone := pods[0]
	before := []string{pods[0].Name, pods[1].Name}
	if err := s.c.Admin.CoreV1().Pods(ns).Delete(s.ctx, gone.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	if err := pollUntil(time.Minute, func() bool {
		_, err := s.c.Admin.CoreV1().Pods(ns).Get(s.ctx, gone.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}); err != nil {
		t.Fatalf("pod %s not gone: %v", gone.Name, err)
	}
	pods = s.running(t, ns, "web", 2)
	got := map[string]string{}
	for _, p := range pods {
		got[p.Name] = imageID(p)
	}
	kept := before[1]
	replaced := pods[0].Name
	if replaced == kept {
		replaced = pods[1].Name
	}
	if got[kept] != repo+first || got[replaced] != repo+second {
		t.Fatalf("imageIDs after the replacement: %v; want %s on %s and %s on the new pod", got, repo+first, kept, repo+second)
	}
	t.Logf("containerd wrote %s and %s", got[kept], got[replaced])

	// tagdrift scan, from what the kubelet reported.
	rep := s.scanJSON(t)
	var divergence []string
	for _, m := range rep.Mutations {
		if m.Namespace == ns {
			divergence = append(divergence, m.Kind+" "+m.Workload.Kind+" "+strings.Join(m.Digests, ","))
		}
	}
	want := []string{"workload-divergence Deployment " + strings.Join(sorted(first, second), ",")}
	if !slices.Equal(divergence, want) {
		t.Errorf("scan -o json mutations in %s: %v, want %v", ns, divergence, want)
	}
	if ws := workloadOf(rep, ns, "Deployment"); len(ws) != 1 || !ws[0].Mutant || len(ws[0].Containers) != 1 ||
		len(ws[0].Containers[0].Digests) != 2 || ws[0].Containers[0].Ref != image {
		t.Errorf("scan -o json workloads in %s: %+v", ns, ws)
	}

	// The service: the divergence is open, and the moved tag recorded.
	s.scanNow(t)
	if got, want := kindsAndDigests(s.mutations(t, "open", ns)), []string{"workload-divergence " + strings.Join(sorted(first, second), ",")}; !slices.Equal(got, want) {
		t.Errorf("open mutations in %s: %v, want %v", ns, got, want)
	}
	events := s.mutations(t, "closed", ns)
	found := false
	for _, m := range events {
		if m.Kind == "tag-moved" {
			found = true
			if m.Ref != image || !slices.Equal(m.Digests, []string{first, second}) {
				t.Errorf("tag-moved: ref %s digests %v, want %s [%s %s]", m.Ref, m.Digests, image, first, second)
			}
		}
	}
	if !found {
		t.Errorf("no tag-moved recorded in %s: %v", ns, kindsAndDigests(events))
	}
	s.verdictOnReplicaSet(t, ns, got)
}

// verdictOnReplicaSet checks what tagdrift wrote back on the Deployment's ReplicaSet,
// as kubectl shows it: is-mutant=true (the selector finds it), mutant/status holding the
// imageIDs containerd reported for each pod, and one MutantImage Event.
func (s *nodeSuite) verdictOnReplicaSet(t *testing.T, ns string, imageIDs map[string]string) {
	t.Helper()
	var rs appsv1.ReplicaSet
	err := pollUntil(time.Minute, func() bool {
		list, err := s.c.Admin.AppsV1().ReplicaSets(ns).List(s.ctx, metav1.ListOptions{LabelSelector: labelMutant + "=true"})
		if err != nil || len(list.Items) != 1 {
			return false
		}
		rs = list.Items[0]
		return true
	})
	if err != nil {
		t.Fatalf("no ReplicaSet labelled %s=true in %s: %v", labelMutant, ns, err)
	}
	var status map[string][]struct{ Name, ImageID string }
	if err := json.Unmarshal([]byte(rs.Annotations[annotationStatus]), &status); err != nil {
		t.Fatalf("%s on %s: %v (%q)", annotationStatus, rs.Name, err, rs.Annotations[annotationStatus])
	}
	got := map[string]string{}
	for pod, cs := range status {
		if len(cs) != 1 || cs[0].Name != "app" {
			t.Errorf("%s of %s: %+v, want one container app", annotationStatus, pod, cs)
			continue
		}
		got[pod] = cs[0].ImageID
	}
	if !maps.Equal(got, imageIDs) {
		t.Errorf("%s on %s: %v, want what containerd reported: %v", annotationStatus, rs.Name, got, imageIDs)
	}
	var warnings []string
	err = pollUntil(30*time.Second, func() bool {
		list, err := s.c.Admin.CoreV1().Events(ns).List(s.ctx, metav1.ListOptions{FieldSelector: "involvedObject.uid=" + string(rs.UID) + ",source=tagdrift"})
		if err != nil {
			return false
		}
		warnings = warnings[:0]
		for _, e := range list.Items {
			warnings = append(warnings, e.Type+" "+e.Reason)
		}
		return len(warnings) > 0
	})
	if err != nil || !slices.Equal(warnings, []string{"Warning MutantImage"}) {
		t.Errorf("tagdrift's Events on %s: %v (%v), want one Warning MutantImage", rs.Name, warnings, err)
	}
}

// podDrift: a container of a bare pod is killed after its tag moved; the kubelet
// restarts it in the same pod (same UID) and, with imagePullPolicy Always, pulls the
// new content: the service records pod-drift with both digests.
func (s *nodeSuite) podDrift(t *testing.T) {
	const ns = "drift"
	s.namespace(t, ns)
	first := s.push(t, "tagdrift/drifter", "v1", "drifter one")
	image := s.reg.Ref("tagdrift/drifter", "v1")
	_, err := s.c.Admin.CoreV1().Pods(ns).Create(s.ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "drifter", Labels: map[string]string{"app": "drifter"}},
		Spec:       s.node.PodSpec(corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image, ImagePullPolicy: corev1.PullAlways}}}),
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before := s.running(t, ns, "drifter", 1)[0]
	repo := s.reg.Host + "/tagdrift/drifter@"
	if imageID(before) != repo+first {
		t.Fatalf("drifter runs %q, want %q", imageID(before), repo+first)
	}
	s.scanNow(t)

	second := s.push(t, "tagdrift/drifter", "v1", "drifter two")
	if err := s.node.KillContainer(s.ctx, before.Status.ContainerStatuses[0].ContainerID); err != nil {
		t.Fatal(err)
	}
	after, err := s.c.WaitPod(s.ctx, ns, "drifter", func(p *corev1.Pod) bool {
		return kubeenv.Running(p) && p.Status.ContainerStatuses[0].RestartCount >= 1
	})
	if err != nil {
		t.Fatal(err)
	}
	if after.UID != before.UID || imageID(*after) != repo+second {
		t.Fatalf("after the restart: pod UID %s (was %s), imageID %q, want %q", after.UID, before.UID, imageID(*after), repo+second)
	}
	t.Logf("restart %d of pod %s runs %s", after.Status.ContainerStatuses[0].RestartCount, after.UID, imageID(*after))

	s.scanNow(t)
	events := s.mutations(t, "closed", ns)
	var drift []apiMutation
	for _, m := range events {
		if m.Kind == "pod-drift" {
			drift = append(drift, m)
		}
	}
	if len(drift) != 1 || !slices.Equal(drift[0].Digests, []string{first, second}) ||
		len(drift[0].Places) == 0 || drift[0].Places[0].Pod != "drifter" {
		t.Errorf("pod-drift in %s: %+v (all: %v)", ns, drift, kindsAndDigests(events))
	}
	if open := s.mutations(t, "open", ns); len(open) != 0 {
		t.Errorf("open mutations in %s: %v", ns, kindsAndDigests(open))
	}
}

// multiPlatformIndex: two pods of one Deployment run a tag that names an image index
// of linux/amd64 and linux/arm64. containerd reports the index's digest (not the
// platform manifest's it ran), and tagdrift sees one digest, no mutation.
func (s *nodeSuite) multiPlatformIndex(t *testing.T) {
	const ns = "multi"
	s.namespace(t, ns)
	idx, manifests, err := s.reg.Index("multi")
	if err != nil {
		t.Fatal(err)
	}
	index, err := s.reg.PushIndex(s.ctx, "tagdrift/multi", "v1", idx)
	if err != nil {
		t.Fatal(err)
	}
	image := s.reg.Ref("tagdrift/multi", "v1")
	pods := s.deployment(t, ns, "multi", 2, image, corev1.PullIfNotPresent)
	repo := s.reg.Host + "/tagdrift/multi@"
	for _, p := range pods {
		t.Logf("pod %s: containerd wrote imageID %s (index %s, platform manifests %v)", p.Name, imageID(p), index, manifests)
		if got := imageID(p); got != repo+index {
			t.Errorf("pod %s runs %q, want the index digest %q", p.Name, got, repo+index)
		}
	}
	rep := s.scanJSON(t)
	ws := workloadOf(rep, ns, "Deployment")
	if len(ws) != 1 || ws[0].Mutant || len(ws[0].Containers) != 1 || len(ws[0].Containers[0].Digests) != 1 {
		t.Fatalf("scan -o json workloads in %s: %+v", ns, ws)
	}
	if d := ws[0].Containers[0].Digests[0]; d.Digest != index || d.Kind != "repo" || len(d.Pods) != 2 {
		t.Errorf("the index's one digest: %+v, want %s of kind repo on two pods", d, index)
	}
	for _, m := range rep.Mutations {
		if m.Namespace == ns {
			t.Errorf("mutation in %s: %+v", ns, m)
		}
	}
}

// importedImage: content is imported into containerd without a registry (ctr images
// import) under a tag that a Deployment of another workload pulled from the registry.
// The imported image runs with imagePullPolicy Never: containerd reports its local
// image ID (the config digest), which tagdrift keeps as kind image-id and never
// compares with the pulled workload's repository digest. Imported as kind load does
// (--all-platforms --digests), containerd reports instead a repository digest under a
// name ctr made up; tagdrift keeps it as a repository digest of that repository.
func (s *nodeSuite) importedImage(t *testing.T) {
	const ns = "imported"
	s.namespace(t, ns)
	pulled := s.push(t, "tagdrift/local", "dev", "from the registry")
	image := s.reg.Ref("tagdrift/local", "dev")
	fromRegistry := s.deployment(t, ns, "pulled", 1, image, corev1.PullAlways)
	if got, want := imageID(fromRegistry[0]), s.reg.Host+"/tagdrift/local@"+pulled; got != want {
		t.Fatalf("pulled pod runs %q, want %q", got, want)
	}

	img, err := s.reg.Image("imported without a registry", runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	config, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "image.tar")
	if err := kubeenv.SaveImage(archive, image, img); err != nil {
		t.Fatal(err)
	}
	if err := s.node.Import(s.ctx, archive); err != nil {
		t.Fatal(err)
	}
	local := s.deployment(t, ns, "local", 1, image, corev1.PullNever)
	t.Logf("imported image: containerd wrote imageID %q (config %s, manifest %s)", imageID(local[0]), config, manifest)
	if got := imageID(local[0]); got != config.String() {
		t.Fatalf("imported pod runs %q, want the bare config digest %s", got, config)
	}

	// kind load imports with --all-platforms --digests.
	kindImg, err := s.reg.Image("loaded as kind does", runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	kindConfig, _ := kindImg.ConfigName()
	kindManifest, _ := kindImg.Digest()
	kindRef := s.reg.Ref("tagdrift/local", "kind")
	if err := kubeenv.SaveImage(archive, kindRef, kindImg); err != nil {
		t.Fatal(err)
	}
	if err := s.node.Import(s.ctx, archive, "--all-platforms", "--digests"); err != nil {
		t.Fatal(err)
	}
	kindLoaded := s.deployment(t, ns, "kind-loaded", 1, kindRef, corev1.PullNever)
	kindID := imageID(kindLoaded[0])
	t.Logf("imported with --digests: containerd wrote imageID %q (config %s, OCI manifest %s)", kindID, kindConfig, kindManifest)
	// ctr names the image import-YYYY-MM-DD@sha256:M, M the digest of the manifest it
	// wrote at import (a Docker schema 2 manifest here, so not the OCI one we built), and
	// containerd reports that name: not the registry's digest, so tagdrift calls it an
	// import (compared only with other imports).
	kindRepo, kindDigest, ok := strings.Cut(kindID, "@")
	if !ok || !strings.HasPrefix(kindRepo, "docker.io/library/import-") || kindDigest == kindManifest.String() || kindDigest == kindConfig.String() {
		t.Errorf("kind-loaded imageID %q: want docker.io/library/import-DATE@ the digest of ctr's own manifest", kindID)
	}

	rep := s.scanJSON(t)
	kinds := map[string]string{}
	for _, w := range workloadOf(rep, ns, "Deployment") {
		for _, c := range w.Containers {
			for _, d := range c.Digests {
				kinds[w.Name] = d.Kind + " " + d.Digest
			}
		}
	}
	want := map[string]string{"pulled": "repo " + pulled, "local": "image-id " + config.String(), "kind-loaded": "import " + kindDigest}
	if !maps.Equal(kinds, want) {
		t.Errorf("scan -o json digests in %s: %v, want %v", ns, kinds, want)
	}
	for _, m := range rep.Mutations {
		if m.Namespace == ns {
			t.Errorf("scan -o json: a repository digest and a local image ID compared: %+v", m)
		}
	}
	s.scanNow(t)
	if open := s.mutations(t, "open", ns); len(open) != 0 {
		t.Errorf("open mutations in %s: %v", ns, kindsAndDigests(open))
	}
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}
