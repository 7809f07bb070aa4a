package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
)

// The keys tagdrift writes on ReplicaSets.
const (
	labelMutant         = "is-mutant"
	annotationStatus    = "mutant/status"
	annotationMutations = "tagdrift.io/mutations"
)

// annotateScan is a scan record with its annotation outcome.
type annotateScan struct {
	apiScan
	AnnotateWrites *int   `json:"annotateWrites"`
	AnnotateError  string `json:"annotateError"`
}

// annotated is a world of Deployments in cluster epsilon, annotated by tagdrift.
type annotated struct {
	t *testing.T
	c *kubeenv.Cluster
}

func (a annotated) ctx() context.Context { return context.Background() }

func (a annotated) must(err error) {
	a.t.Helper()
	if err != nil {
		a.t.Fatal(err)
	}
}

// deploy creates a Deployment (strategy Recreate: pods that no kubelet makes ready
// would stall a rolling update) with an init container setup and a container app.
func (a annotated) deploy(ns, name, image string, replicas int32) {
	a.t.Helper()
	_, err := a.c.Admin.AppsV1().Deployments(ns).Create(a.ctx(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Template: template(name, corev1.PodSpec{
				InitContainers: containers("setup", "registry.example.com/tools/setup:1"),
				Containers:     containers("app", image),
			}),
		},
	}, metav1.CreateOptions{})
	a.must(err)
}

// pods waits for n pods of app in ns whose ReplicaSet has the template's hash, sorted.
func (a annotated) pods(ns, app string, n int) []corev1.Pod {
	a.t.Helper()
	pods, err := a.c.WaitForPods(a.ctx(), ns, "app="+app, n)
	a.must(err)
	slices.SortFunc(pods, func(x, y corev1.Pod) int { return strings.Compare(x.Name, y.Name) })
	return pods
}

// run plays the kubelet: the pod's setup container ran setupID and app runs appID
// ("" for still pulling).
func (a annotated) run(ns, pod, setupID, appID string) {
	a.t.Helper()
	a.must(a.c.SetContainerStatuses(a.ctx(), ns, pod, kubeenv.PodStatus{
		Init:       []kubeenv.ContainerStatus{{Name: "setup", ImageID: setupID}},
		Containers: []kubeenv.ContainerStatus{{Name: "app", ImageID: appID}},
	}))
}

// ownerOf returns the ReplicaSet that controls a pod.
func (a annotated) ownerOf(p corev1.Pod) appsv1.ReplicaSet {
	a.t.Helper()
	ref := metav1.GetControllerOf(&p)
	if ref == nil {
		a.t.Fatalf("pod %s has no controller", p.Name)
	}
	rs, err := a.c.Admin.AppsV1().ReplicaSets(p.Namespace).Get(a.ctx(), ref.Name, metav1.GetOptions{})
	a.must(err)
	return *rs
}

// resourceVersions of every ReplicaSet of the cluster.
func (a annotated) resourceVersions() map[string]string {
	a.t.Helper()
	list, err := a.c.Admin.AppsV1().ReplicaSets("").List(a.ctx(), metav1.ListOptions{})
	a.must(err)
	out := map[string]string{}
	for _, rs := range list.Items {
		out[rs.Namespace+"/"+rs.Name] = rs.ResourceVersion
	}
	return out
}

// mutantReplicaSets is `kubectl get rs -l is-mutant=true -A`.
func (a annotated) mutantReplicaSets() []string {
	a.t.Helper()
	list, err := a.c.Admin.AppsV1().ReplicaSets("").List(a.ctx(), metav1.ListOptions{LabelSelector: labelMutant + "=true"})
	a.must(err)
	var out []string
	for _, rs := range list.Items {
		out = append(out, rs.Namespace+"/"+rs.Name)
	}
	slices.Sort(out)
	return out
}

// events returns tagdrift's Events on a ReplicaSet, as "Type Reason".
func (a annotated) events(rs appsv1.ReplicaSet) []corev1.Event {
	a.t.Helper()
	list, err := a.c.Admin.CoreV1().Events(rs.Namespace).List(a.ctx(), metav1.ListOptions{
		FieldSelector: "involvedObject.uid=" + string(rs.UID) + ",source=tagdrift",
	})
	a.must(err)
	return list.Items
}

func eventSummary(events []corev1.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Type+" "+e.Reason)
	}
	slices.Sort(out)
	return out
}

// wantStatus is the reference format the pods report: each pod's init and regular
// containers with the imageID their status holds, those without one left out.
func wantStatus(pods []corev1.Pod) map[string][]map[string]string {
	out := map[string][]map[string]string{}
	for _, p := range pods {
		entries := []map[string]string{}
		for _, statuses := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
			for _, s := range statuses {
				if s.ImageID != "" && s.State.Waiting == nil {
					entries = append(entries, map[string]string{"Name": s.Name, "ImageID": s.ImageID})
				}
			}
		}
		out[p.Name] = entries
	}
	return out
}

// checkAnnotated asserts a ReplicaSet's label and annotations against its pods, as
// read now from the API server.
func (a annotated) checkAnnotated(rs appsv1.ReplicaSet, mutant bool, kinds []string, url string) {
	a.t.Helper()
	fresh, err := a.c.Admin.AppsV1().ReplicaSets(rs.Namespace).Get(a.ctx(), rs.Name, metav1.GetOptions{})
	a.must(err)
	if got := fresh.Labels[labelMutant]; got != fmt.Sprint(mutant) {
		a.t.Errorf("%s: label %s=%q, want %t", rs.Name, labelMutant, got, mutant)
	}
	var status map[string][]map[string]string
	if err := json.Unmarshal([]byte(fresh.Annotations[annotationStatus]), &status); err != nil {
		a.t.Errorf("%s: %s does not parse as the reference format: %v (%q)", rs.Name, annotationStatus, err, fresh.Annotations[annotationStatus])
	}
	list, err := a.c.Admin.CoreV1().Pods(rs.Namespace).List(a.ctx(), metav1.ListOptions{})
	a.must(err)
	var owned []corev1.Pod
	for _, p := range list.Items {
		if ref := metav1.GetControllerOf(&p); ref != nil && ref.UID == rs.UID {
			owned = append(owned, p)
		}
	}
	if want := wantStatus(owned); !jsonEqualValues(status, want) {
		a.t.Errorf("%s: %s = %v, the pods report %v", rs.Name, annotationStatus, status, want)
	}
	var muts struct {
		Kinds []string `json:"kinds"`
		URL   string   `json:"url"`
	}
	if kinds == nil {
		if v, ok := fresh.Annotations[annotationMutations]; ok {
			a.t.Errorf("%s: %s=%q is left on a ReplicaSet without pods", rs.Name, annotationMutations, v)
		}
		return
	}
	if err := json.Unmarshal([]byte(fresh.Annotations[annotationMutations]), &muts); err != nil {
		a.t.Errorf("%s: %s: %v", rs.Name, annotationMutations, err)
	}
	if !slices.Equal(muts.Kinds, kinds) || muts.URL != url {
		a.t.Errorf("%s: %s = %+v, want kinds %v url %q", rs.Name, annotationMutations, muts, kinds, url)
	}
}

func jsonEqualValues(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// ours reports which of tagdrift's keys a ReplicaSet carries.
func ours(rs appsv1.ReplicaSet) []string {
	var out []string
	if _, ok := rs.Labels[labelMutant]; ok {
		out = append(out, labelMutant)
	}
	for _, k := range []string{annotationStatus, annotationMutations} {
		if _, ok := rs.Annotations[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

// bindReadOnly binds deploy's read-only scanner ClusterRole (and nothing more) to the
// scanner user of c.
func bindReadOnly(t *testing.T, c *kubeenv.Cluster) {
	t.Helper()
	role := bindDeployedRole(t, c)
	client, err := kubernetes.NewForConfig(c.RESTConfig(c.ScannerToken))
	if err != nil {
		t.Fatal(err)
	}
	err = pollUntil(30*time.Second, func() bool {
		_, err := client.AppsV1().ReplicaSets("").List(context.Background(), metav1.ListOptions{Limit: 1})
		return err == nil
	})
	if err != nil {
		t.Fatalf("the scanner user never got %s: %v", role.Name, err)
	}
}

// TestAnnotate runs the service on a cluster whose Deployments make ReplicaSets and
// pods (cluster epsilon, with a controller-manager), annotation on, and checks what
// kubectl users read: the label and annotations, the label selector across
// namespaces, one Event per mutation, no write at all in a steady state, a rollout,
// credentials that may only read, turning annotation off, and deleting the cluster.
func TestAnnotate(t *testing.T) {
	c := setup.env.Cluster("epsilon")
	a := annotated{t: t, c: c}
	ctx := a.ctx()
	for _, ns := range []string{"ann-shop", "ann-pay"} {
		a.must(c.Namespace(ctx, ns))
	}
	web := "registry.example.com/shop/web@"
	setupID := "registry.example.com/tools/setup@" + apiDigestOf("e")
	a.deploy("ann-shop", "web", "registry.example.com/shop/web:1", 2)
	a.deploy("ann-pay", "api", "registry.example.com/pay/api:1", 3)
	webPods, apiPods := a.pods("ann-shop", "web", 2), a.pods("ann-pay", "api", 3)
	a.run("ann-shop", webPods[0].Name, setupID, web+apiDigestOf("a"))
	a.run("ann-shop", webPods[1].Name, setupID, web+apiDigestOf("b")) // the mutant
	for i, p := range apiPods {
		id := "registry.example.com/pay/api@" + apiDigestOf("c")
		if i == 2 {
			id = "" // still pulling: left out of the status
		}
		a.run("ann-pay", p.Name, setupID, id)
	}
	webRS, apiRS := a.ownerOf(webPods[0]), a.ownerOf(apiPods[0])
	// A key of someone else's on tagdrift's ReplicaSet, and a ReplicaSet of someone
	// else's that carries is-mutant: both left alone, always.
	_, err := c.Admin.AppsV1().ReplicaSets("ann-shop").Patch(ctx, webRS.Name, types.MergePatchType,
		[]byte(`{"metadata":{"annotations":{"team":"shop"}}}`), metav1.PatchOptions{})
	a.must(err)
	zero := int32(0)
	_, err = c.Admin.AppsV1().ReplicaSets("ann-pay").Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "foreign", Labels: map[string]string{"app": "foreign", labelMutant: "maybe"}},
		Spec: appsv1.ReplicaSetSpec{Replicas: &zero, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "foreign"}},
			Template: template("foreign", corev1.PodSpec{Containers: containers("app", "busybox")})},
	}, metav1.CreateOptions{})
	a.must(err)

	db := newDatabase(t)
	admin := "e2e-admin-" + newKeyText()[:16]
	const external = "https://tagdrift.example.com"
	env := []string{"TAGDRIFT_DATABASE_URL=" + db.URL, "TAGDRIFT_ENCRYPTION_KEY=" + newKeyText(), "TAGDRIFT_ADMIN_TOKEN=" + admin,
		"TAGDRIFT_EXTERNAL_URL=" + external}
	s := startServe(t, env, "--allow-cluster-network", "127.0.0.0/8")
	if err := pollUntil(30*time.Second, func() bool { code, _, err := s.get("/readyz"); return err == nil && code == 200 }); err != nil {
		t.Fatalf("never ready: %v", err)
	}
	api := apiClient{t: t, url: s.url, token: admin}
	register := func(name, token, annotate string) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "kubeconfig")
		a.must(kubeenv.WriteKubeconfig(path, name, c.Context(name, token)))
		raw, err := os.ReadFile(path)
		a.must(err)
		api.must(http.MethodPost, "/api/v1/clusters", map[string]any{"name": name, "kubeconfig": string(raw), "scanInterval": "1h",
			"annotate": annotate}, http.StatusCreated, nil)
	}
	// waitScan waits for the next succeeded scan of a cluster after scan id after, and
	// (annotated) for its annotation step's record, written after the scan completes.
	waitScanOf := func(name string, after int64, annotated bool) annotateScan {
		t.Helper()
		var last annotateScan
		err := pollUntil(90*time.Second, func() bool {
			var scans struct {
				Items []annotateScan `json:"items"`
			}
			api.must(http.MethodGet, "/api/v1/scans?limit=1&cluster="+name, nil, http.StatusOK, &scans)
			if len(scans.Items) == 0 || scans.Items[0].ID <= after {
				return false
			}
			last = scans.Items[0]
			return last.Status == "succeeded" && (last.AnnotateWrites != nil || !annotated) || last.Status == "failed"
		})
		if err != nil || last.Status != "succeeded" {
			t.Fatalf("scan of %s after %d: %v %+v", name, after, err, last)
		}
		return last
	}
	waitScan := func(name string, after int64) annotateScan { t.Helper(); return waitScanOf(name, after, true) }
	scanNow := func(name string, after int64) annotateScan {
		t.Helper()
		api.must(http.MethodPost, "/api/v1/clusters/"+name+"/scans", nil, http.StatusAccepted, nil)
		return waitScan(name, after)
	}

	// The first scan annotates: web's ReplicaSet is mutant, api's is clean.
	register("epsilon", c.AdminToken, "on")
	s1 := waitScan("epsilon", 0)
	if s1.AnnotateError != "" || *s1.AnnotateWrites != 3 { // two patches and one Event
		t.Errorf("first scan: %+v writes %d", s1, *s1.AnnotateWrites)
	}
	webURL := external + "/workloads/epsilon/ann-shop/Deployment/web"
	a.checkAnnotated(webRS, true, []string{"workload-divergence"}, webURL)
	a.checkAnnotated(apiRS, false, []string{}, external+"/workloads/epsilon/ann-pay/Deployment/api")
	if got, want := a.mutantReplicaSets(), []string{"ann-shop/" + webRS.Name}; !slices.Equal(got, want) {
		t.Errorf("kubectl get rs -l is-mutant=true -A: %v, want %v", got, want)
	}
	warnings := a.events(webRS)
	if got := eventSummary(warnings); !slices.Equal(got, []string{"Warning MutantImage"}) {
		t.Fatalf("events on %s: %v", webRS.Name, got)
	}
	if e := warnings[0]; e.Source.Component != "tagdrift" || e.ReportingController != "tagdrift" ||
		!strings.Contains(e.Message, `"app"`) || !strings.Contains(e.Message, apiDigestOf("a")) || !strings.Contains(e.Message, apiDigestOf("b")) {
		t.Errorf("MutantImage event: %+v", e)
	}
	if got := eventSummary(a.events(apiRS)); len(got) != 0 {
		t.Errorf("events on the clean %s: %v", apiRS.Name, got)
	}

	// A second identical scan writes nothing: no request, no resourceVersion moved, no
	// second Event.
	versions := a.resourceVersions()
	before, err := c.RequestCounts(ctx)
	a.must(err)
	s2 := scanNow("epsilon", s1.ID)
	after, err := c.RequestCounts(ctx)
	a.must(err)
	if *s2.AnnotateWrites != 0 || s2.AnnotateError != "" {
		t.Errorf("steady state: %d writes, error %q", *s2.AnnotateWrites, s2.AnnotateError)
	}
	if n := after["PATCH replicasets"] - before["PATCH replicasets"]; n != 0 {
		t.Errorf("steady state: the API server saw %v ReplicaSet patches", n)
	}
	if got := a.resourceVersions(); !maps.Equal(got, versions) {
		t.Errorf("steady state moved resourceVersions: %v, before %v", got, versions)
	}
	if got := eventSummary(a.events(webRS)); !slices.Equal(got, []string{"Warning MutantImage"}) {
		t.Errorf("events after a second scan: %v", got)
	}

	// Credentials that may only read: the scan succeeds and records its history; the
	// annotation step reports why it could not write.
	bindReadOnly(t, c)
	register("epsilon-ro", c.ScannerToken, "on")
	ro := waitScan("epsilon-ro", 0)
	if ro.Pods < 5 || !strings.Contains(ro.AnnotateError, "tagdrift-annotator") {
		t.Errorf("read-only scan: %+v", ro)
	}
	api.must(http.MethodDelete, "/api/v1/clusters/epsilon-ro", nil, http.StatusNoContent, nil)

	// A rollout: the new ReplicaSet's pods run one digest; the old ReplicaSet, its
	// pods gone, is updated, and its mutation's resolution is announced once.
	// (Read again on a conflict: the deployment controller writes its status meanwhile.)
	a.must(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := c.Admin.AppsV1().Deployments("ann-shop").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		d.Spec.Template.Spec.Containers[0].Image = "registry.example.com/shop/web:2"
		_, err = c.Admin.AppsV1().Deployments("ann-shop").Update(ctx, d, metav1.UpdateOptions{})
		return err
	}))
	var newPods []corev1.Pod
	err = pollUntil(60*time.Second, func() bool {
		newPods = nil
		for _, p := range a.pods("ann-shop", "web", 2) {
			if p.Labels["pod-template-hash"] != webRS.Labels["pod-template-hash"] {
				newPods = append(newPods, p)
			}
		}
		return len(newPods) == 2
	})
	a.must(err)
	for _, p := range newPods {
		a.run("ann-shop", p.Name, setupID, web+apiDigestOf("d"))
	}
	newRS := a.ownerOf(newPods[0])
	s3 := scanNow("epsilon", s2.ID)
	if s3.AnnotateError != "" {
		t.Errorf("scan after the rollout: %+v", s3)
	}
	a.checkAnnotated(newRS, false, []string{}, webURL)
	a.checkAnnotated(webRS, false, nil, "")
	if got, want := eventSummary(a.events(webRS)), []string{"Normal MutantImageResolved", "Warning MutantImage"}; !slices.Equal(got, want) {
		t.Errorf("events on the old ReplicaSet: %v, want %v", got, want)
	}
	if got := a.mutantReplicaSets(); len(got) != 0 {
		t.Errorf("mutant ReplicaSets after the rollout: %v", got)
	}
	s4 := scanNow("epsilon", s3.ID)
	if *s4.AnnotateWrites != 0 || len(a.events(webRS)) != 2 {
		t.Errorf("after the rollout, a second scan wrote %d times; events %v", *s4.AnnotateWrites, eventSummary(a.events(webRS)))
	}

	// Turning annotation off removes tagdrift's keys, and only those.
	api.must(http.MethodPatch, "/api/v1/clusters/epsilon", map[string]any{"annotate": "off"}, http.StatusOK, nil)
	for _, rs := range []appsv1.ReplicaSet{webRS, newRS, apiRS} {
		fresh, err := c.Admin.AppsV1().ReplicaSets(rs.Namespace).Get(ctx, rs.Name, metav1.GetOptions{})
		a.must(err)
		if got := ours(*fresh); len(got) != 0 {
			t.Errorf("%s keeps %v after annotation was turned off", rs.Name, got)
		}
	}
	if fresh, err := c.Admin.AppsV1().ReplicaSets("ann-shop").Get(ctx, webRS.Name, metav1.GetOptions{}); err != nil || fresh.Annotations["team"] != "shop" {
		t.Errorf("someone else's annotation went: %v %v", fresh.Annotations, err)
	}
	if fresh, err := c.Admin.AppsV1().ReplicaSets("ann-pay").Get(ctx, "foreign", metav1.GetOptions{}); err != nil || fresh.Labels[labelMutant] != "maybe" {
		t.Errorf("someone else's is-mutant went: %v %v", fresh.Labels, err)
	}
	api.must(http.MethodPost, "/api/v1/clusters/epsilon/scans", nil, http.StatusAccepted, nil)
	s5 := waitScanOf("epsilon", s4.ID, false)

	// On again, then the cluster is deleted from tagdrift: its keys go with it.
	api.must(http.MethodPatch, "/api/v1/clusters/epsilon", map[string]any{"annotate": "on"}, http.StatusOK, nil)
	scanNow("epsilon", s5.ID)
	a.checkAnnotated(newRS, false, []string{}, webURL)
	// Scans of one cluster never overlap: s5's annotation step is over.
	api.must(http.MethodGet, fmt.Sprintf("/api/v1/scans/%d", s5.ID), nil, http.StatusOK, &s5)
	if s5.AnnotateWrites != nil {
		t.Errorf("a scan with annotation off and nothing to remove wrote: %+v", s5)
	}
	api.must(http.MethodDelete, "/api/v1/clusters/epsilon", nil, http.StatusNoContent, nil)
	for _, rs := range []appsv1.ReplicaSet{newRS, apiRS} {
		fresh, err := c.Admin.AppsV1().ReplicaSets(rs.Namespace).Get(ctx, rs.Name, metav1.GetOptions{})
		a.must(err)
		if got := ours(*fresh); len(got) != 0 {
			t.Errorf("%s keeps %v after its cluster was deleted from tagdrift", rs.Name, got)
		}
	}
}
