package watch

import (
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/tagdrift/tagdrift/scanner/inventory"
)

func ctl(kind, name, uid string) []metav1.OwnerReference {
	yes := true
	return []metav1.OwnerReference{{Kind: "Other", Name: "not-the-controller"}, {Kind: kind, Name: name, UID: types.UID(uid), Controller: &yes}}
}

func running(name, id string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, ImageID: id, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

// TestCompactPodSameInventory holds the compact pod to what it must be: the very
// inventory.Pod a scan builds from the whole pod, for every shape the builder tells
// apart (owners, revisions, container kinds, waiting, no status, a status of another
// name, a static pod).
func TestCompactPodSameInventory(t *testing.T) {
	d := "docker.io/library/nginx@sha256:" + fmt.Sprintf("%064x", 1)
	pods := []*corev1.Pod{
		{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", UID: "u1",
				Labels:          map[string]string{"pod-template-hash": "abc", "app": "web"},
				OwnerReferences: ctl("ReplicaSet", "web-abc", "rs1")},
			Spec: corev1.PodSpec{NodeName: "n1",
				InitContainers: []corev1.Container{{Name: "init", Image: "busybox"}},
				Containers:     []corev1.Container{{Name: "app", Image: "nginx:1.25"}, {Name: "side", Image: "envoy@sha256:" + fmt.Sprintf("%064x", 2)}},
				EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
					Name: "debug", Image: "busybox:1"}}}},
			Status: corev1.PodStatus{
				InitContainerStatuses: []corev1.ContainerStatus{{Name: "init", ImageID: "sha256:" + fmt.Sprintf("%064x", 3),
					State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{}}}},
				ContainerStatuses: []corev1.ContainerStatus{running("other", "x"), running("app", d),
					{Name: "side", ImageID: "left-over", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}},
				EphemeralContainerStatuses: []corev1.ContainerStatus{running("debug", "docker-pullable://busybox@sha256:"+fmt.Sprintf("%064x", 4))},
			},
		},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db-0", UID: "u2",
			Labels: map[string]string{"controller-revision-hash": "db-7"}, OwnerReferences: ctl("StatefulSet", "db", "ss1")},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "pg", Image: "postgres:16"}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "batch", Name: "job-x", UID: "u3", OwnerReferences: ctl("Job", "nightly-1", "job1")},
			Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "run", Image: "app"}}},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{running("run", "")}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "etcd-n1", UID: "u4", OwnerReferences: ctl("Node", "n1", "n1")},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "etcd", Image: "etcd:3.5"}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "x", Name: "custom", UID: "u5", Labels: map[string]string{"pod-template-hash": "p"},
			OwnerReferences: ctl("Rollout", "r", "ro1")},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "a"}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "x", Name: "bare", UID: "u6"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "a"}}}},
	}
	owners := inventory.Owners{"rs1": {Kind: "Deployment", Name: "web"}, "job1": {Kind: "CronJob", Name: "nightly"}}
	nodes := map[string]inventory.Node{"n1": {Arch: "arm64", Runtime: "containerd://1.7"}}
	for _, p := range pods {
		want := inventory.NewBuilder("c", owners, nodes).Pod(p)
		got := inventory.NewBuilder("c", owners, nodes).Pod(compactPod(p).pod())
		if !reflect.DeepEqual(got, want) {
			t.Errorf("pod %s:\n got %+v\nwant %+v", p.Name, got, want)
		}
		if !compactPod(p).equal(compactPod(p)) {
			t.Errorf("pod %s differs from itself", p.Name)
		}
	}

	// A readiness flip or a new label changes no kept field; a new imageID does.
	p := pods[0].DeepCopy()
	before := compactPod(p)
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse})
	p.Labels["other"] = "x"
	p.ResourceVersion = "99"
	if !before.equal(compactPod(p)) {
		t.Error("a readiness flip changed the compact pod")
	}
	p.Status.ContainerStatuses[1].ImageID = "docker.io/library/nginx@sha256:" + fmt.Sprintf("%064x", 9)
	if before.equal(compactPod(p)) {
		t.Error("a new imageID left the compact pod as it was")
	}
}

// benchPod is a pod as a Deployment makes it, with what a real pod carries beside
// what tagdrift keeps.
func benchPod(i int) *corev1.Pod {
	hash := strconv.Itoa(i / 10)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns-" + strconv.Itoa(i%50), Name: fmt.Sprintf("web-%s-%05d", hash, i),
			UID:             types.UID(fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)),
			Labels:          map[string]string{"app": "web", "pod-template-hash": hash},
			OwnerReferences: ctl("ReplicaSet", "web-"+hash, "rs-"+hash)},
		Spec: corev1.PodSpec{NodeName: "node-" + strconv.Itoa(i%100), Containers: []corev1.Container{
			{Name: "app", Image: "ghcr.io/acme/web:1.25", Args: []string{"--port=8080"}},
			{Name: "proxy", Image: "envoyproxy/envoy:v1.30"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
			running("app", "ghcr.io/acme/web@sha256:"+fmt.Sprintf("%064x", i%3)),
			running("proxy", "docker.io/envoyproxy/envoy@sha256:"+fmt.Sprintf("%064x", 7))}},
	}
}

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkPodMemory measures what one watched pod (two containers) takes in the
// cache: the heap after a collection, with the pods held in the indexer an informer
// keeps, divided by the pods (TAGDRIFT_WATCH_BENCH_PODS, default 100,000). Reported
// as bytes/pod.
func BenchmarkPodMemory(b *testing.B) {
	n := 100_000
	if s := os.Getenv("TAGDRIFT_WATCH_BENCH_PODS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		before := heap()
		idx := cache.NewIndexer(cache.DeletionHandlingMetaNamespaceKeyFunc, cache.Indexers{})
		for i := range n {
			if err := idx.Add(compactPod(benchPod(i))); err != nil {
				b.Fatal(err)
			}
		}
		after := heap()
		b.ReportMetric(float64(after-before)/float64(n), "bytes/pod")
		runtime.KeepAlive(idx)
	}
}
