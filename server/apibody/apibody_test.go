package apibody

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/scanner/report"
	"github.com/tagdrift/tagdrift/store"
)

// TestReportOf checks how stored workloads are shaped for the API: containers as
// written in the template (init first, one per image during a rolling update), digests
// with their pods, and [] for a workload whose observations closed meanwhile.
func TestReportOf(t *testing.T) {
	parser := imageref.NewParser()
	d := func(c string) string { return "sha256:" + strings.Repeat(c, 64) }
	key := store.WorkloadKey{Cluster: "prod", Namespace: "shop", Kind: "Deployment", Name: "web"}
	run := func(pod, uid, container string, typ inventory.ContainerType, image, dg string) store.RunningContainer {
		return store.RunningContainer{Pod: pod, PodUID: uid, Container: container, Type: typ, Image: image,
			Digest: dg, Kind: imageref.KindRepo, ImageID: "docker.io/library/x@" + dg}
	}
	ws := []store.Workload{
		{WorkloadKey: key, Mutant: true, Running: []store.RunningContainer{
			run("web-1", "u1", "app", inventory.Regular, "nginx:1.25", d("a")),
			run("web-1", "u1", "setup", inventory.Init, "busybox:1.36", d("e")),
			run("web-2", "u2", "app", inventory.Regular, "nginx:1.25", d("b")),
			run("web-3", "u3", "app", inventory.Regular, "nginx:1.25", d("a")),
			run("web-4", "u4", "app", inventory.Regular, "nginx:1.26", d("c")),
		}},
		{WorkloadKey: store.WorkloadKey{Cluster: "prod", Namespace: "shop", Kind: "Deployment", Name: "gone"}, Running: []store.RunningContainer{}},
	}
	var got []report.Workload
	for _, w := range ws {
		got = append(got, ReportOf(w, parser))
		// What running_workloads keeps is the same containers, encoded.
		b, err := Encoder{}.Containers([]store.Workload{w})
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := Marshal(got[len(got)-1].Containers); string(b[0]) != string(want) {
			t.Errorf("Containers %s, want %s", b[0], want)
		}
	}
	want := []report.Workload{
		{Cluster: "prod", Namespace: "shop", Kind: "Deployment", Name: "web", Mutant: true, Containers: []report.Container{
			{Name: "setup", Type: inventory.Init, Image: "busybox:1.36", Ref: "docker.io/library/busybox:1.36",
				Digests: []report.Digest{{Digest: d("e"), Kind: imageref.KindRepo, Pods: []string{"web-1"}}}},
			{Name: "app", Type: inventory.Regular, Image: "nginx:1.25", Ref: "docker.io/library/nginx:1.25", Digests: []report.Digest{
				{Digest: d("a"), Kind: imageref.KindRepo, Pods: []string{"web-1", "web-3"}},
				{Digest: d("b"), Kind: imageref.KindRepo, Pods: []string{"web-2"}},
			}},
			{Name: "app", Type: inventory.Regular, Image: "nginx:1.26", Ref: "docker.io/library/nginx:1.26",
				Digests: []report.Digest{{Digest: d("c"), Kind: imageref.KindRepo, Pods: []string{"web-4"}}}},
		}},
		{Cluster: "prod", Namespace: "shop", Kind: "Deployment", Name: "gone", Containers: []report.Container{}},
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("got %s\nwant %s", g, w)
	}
}
