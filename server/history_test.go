package server

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/scanner/report"
	"github.com/tagdrift/tagdrift/store"
)

// TestWorkloadsJSON checks how stored workloads are shaped for the API: containers as
// written in the template (init first, one per image during a rolling update), digests
// with their pods, and [] for a workload whose observations closed meanwhile.
func TestWorkloadsJSON(t *testing.T) {
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
	got := workloadsJSON(ws)
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

// TestDigestLookUpAlgorithms looks up digests of every algorithm imageref parses from
// an imageID (one rule, imageref.ValidDigest): a sha512 image a scan stored is found,
// a sha384 one never seen is an empty answer, and a digest of the wrong length for its
// algorithm is refused.
func TestDigestLookUpAlgorithms(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	f := &fleet{t: t, e: e, id: map[string]int64{}}
	want(t, e.as("admin").send("POST", "/api/v1/clusters", clusterBody("prod", testKubeconfig("", ""), "")), http.StatusCreated)
	c, err := e.st.ClusterStatusByName(context.Background(), "prod")
	if err != nil {
		t.Fatal(err)
	}
	f.id["prod"] = c.ID
	sha512 := "sha512:" + strings.Repeat("5", 128)
	p := webPod("prod", "web-a", "u-a", "a")
	id, ok := imageref.ParseImageID("ghcr.io/acme/web@" + sha512)
	if !ok || id.Kind != imageref.KindRepo || id.Digest != sha512 {
		t.Fatalf("imageref parses %+v", id)
	}
	p.Containers[0].ID = &id
	f.scan("prod", time.Now().Add(-time.Minute), p)

	viewer := e.as("viewer")
	var found digestJSON
	res := viewer.get("/api/v1/digests/" + sha512)
	want(t, res, http.StatusOK)
	res.decode(t, &found)
	if len(found.Running) != 1 || found.Running[0].Pod != "web-a" || found.Running[0].Digest != sha512 || len(found.History) != 1 {
		t.Errorf("sha512 digest: %s", res.body)
	}
	res = viewer.get("/api/v1/digests/sha384:" + strings.Repeat("3", 96))
	want(t, res, http.StatusOK)
	res.decode(t, &found)
	if len(found.Running) != 0 || len(found.History) != 0 {
		t.Errorf("sha384 digest never seen: %s", res.body)
	}
	for _, bad := range []string{"sha512:" + strings.Repeat("5", 64), "sha384:" + strings.Repeat("3", 64), "sha1:" + strings.Repeat("1", 40)} {
		want(t, viewer.get("/api/v1/digests/"+bad), http.StatusBadRequest)
	}
}
