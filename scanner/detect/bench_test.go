package detect

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// fleet makes pods×2 containers shaped like a large cluster: workloads of 25 pods over
// 500 application images and 20 sidecar images, imageIDs in the containerd, dockershim
// and image-ID forms, about one workload in a hundred running two digests, and about one
// in ninety running another digest than the other workloads of its image.
func fleet(pods int) ([]*corev1.Pod, inventory.Owners) {
	owners := inventory.Owners{}
	yes := true
	out := make([]*corev1.Pod, 0, pods)
	hex := func(n int) string { return fmt.Sprintf("%064x", n) }
	for i := range pods {
		w := i / 25
		rsUID := types.UID(fmt.Sprintf("rs-%d", w))
		if i%25 == 0 {
			owners.Add(&metav1.ObjectMeta{UID: rsUID, OwnerReferences: []metav1.OwnerReference{
				{Kind: "Deployment", Name: fmt.Sprintf("app-%d", w), UID: types.UID(fmt.Sprintf("d-%d", w)), Controller: &yes}}})
		}
		img := w % 500
		appDigest := img
		if w%97 == 7 && i%2 == 0 {
			appDigest = img + 100000 // a mutant workload
		}
		if w%89 == 3 {
			appDigest = img + 400000 // a workload whose tag resolved elsewhere than its siblings'
		}
		appID := fmt.Sprintf("registry.example.com/team-%d/app-%d@sha256:%s", img%40, img, hex(appDigest))
		switch w % 3 {
		case 1:
			appID = fmt.Sprintf("docker-pullable://registry.example.com/team-%d/app-%d@sha256:%s", img%40, img, hex(appDigest))
		case 2:
			appID = "sha256:" + hex(appDigest+200000)
		}
		side := w % 20
		out = append(out, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: fmt.Sprintf("ns-%d", w%50), Name: fmt.Sprintf("app-%d-%d", w, i), UID: types.UID(fmt.Sprintf("pod-%d", i)),
				Labels:          map[string]string{"pod-template-hash": "abc"},
				OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: fmt.Sprintf("app-%d-abc", w), UID: rsUID, Controller: &yes}},
			},
			Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "app", Image: fmt.Sprintf("registry.example.com/team-%d/app-%d:v1", img%40, img)},
				{Name: "proxy", Image: fmt.Sprintf("envoyproxy/envoy:v1.%d", side)},
			}},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{
				{Name: "app", ImageID: appID, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
				{Name: "proxy", ImageID: fmt.Sprintf("docker.io/envoyproxy/envoy@sha256:%s", hex(300000+side)), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
			}},
		})
	}
	return out, owners
}

// BenchmarkNormalizeAndDetect100kContainers measures a scan's CPU work after listing:
// turning 50,000 pods (100,000 containers) into observations and detecting mutations.
// Target: under 100 ms and 200 MB per op.
func BenchmarkNormalizeAndDetect100kContainers(b *testing.B) {
	pods, owners := fleet(50_000)
	b.ReportAllocs()
	b.ResetTimer()
	var found []Mutation
	for b.Loop() {
		builder := inventory.NewBuilder("bench", owners, nil)
		inv := make([]inventory.Pod, 0, len(pods))
		for _, p := range pods {
			inv = append(inv, builder.Pod(p))
		}
		found = Detect(inv)
	}
	kinds := map[Kind]int{}
	for _, m := range found {
		kinds[m.Kind]++
	}
	// 21 workloads (w%97 == 7 below 2000) run two digests each.
	if kinds[WorkloadDivergence] != 21 || kinds[TagDivergence] == 0 {
		b.Fatalf("found %v, want 21 workload-divergences and some tag-divergences", kinds)
	}
}
