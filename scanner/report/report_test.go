package report

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

const (
	dA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	dB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func pod(cluster, name, workload, image, imageID string) inventory.Pod {
	ref := imageref.ParseRef(image)
	c := inventory.Container{Name: "app", Type: inventory.Regular, Ref: &ref}
	if id, ok := imageref.ParseImageID(imageID); ok {
		c.ID = &id
	}
	return inventory.Pod{Cluster: cluster, Namespace: "shop", Name: name, UID: types.UID("uid-" + name),
		Workload:   inventory.Workload{Kind: "Deployment", Name: workload},
		Controller: inventory.Controller{Kind: "ReplicaSet", Name: workload + "-1", UID: types.UID("rs-" + workload), Revision: "1"},
		Containers: []inventory.Container{c}}
}

func TestBuild(t *testing.T) {
	pods := []inventory.Pod{
		pod("east", "web-2", "web", "nginx:1.25", "docker.io/library/nginx@"+dB),
		pod("east", "web-1", "web", "nginx:1.25", "docker.io/library/nginx@"+dA),
		pod("east", "web-3", "web", "nginx:1.25", "docker-pullable://nginx@"+dA),
		pod("east", "api-1", "api", "redis:7", ""), // still pulling: listed, no digests
	}
	scans := []ClusterScan{
		{Name: "east", Server: "https://east", Pods: pods, Containers: 4},
		{Name: "west", Server: "https://west", Err: errors.New("list pods: connection refused")},
	}
	rep := Build(scans, detect.Detect(pods))

	if len(rep.Clusters) != 2 || rep.Clusters[0] != (Cluster{Name: "east", Server: "https://east", Pods: 4, Containers: 4}) ||
		rep.Clusters[1].Error != "list pods: connection refused" || rep.Clusters[1].Pods != 0 {
		t.Errorf("clusters: %+v", rep.Clusters)
	}
	if len(rep.Workloads) != 2 {
		t.Fatalf("workloads: %+v", rep.Workloads)
	}
	api, web := rep.Workloads[0], rep.Workloads[1]
	if api.Name != "api" || api.Mutant || len(api.Containers) != 1 || len(api.Containers[0].Digests) != 0 {
		t.Errorf("api: %+v", api)
	}
	if web.Name != "web" || !web.Mutant || web.Kind != "Deployment" || web.Cluster != "east" || web.Namespace != "shop" {
		t.Errorf("web: %+v", web)
	}
	c := web.Containers[0]
	if c.Name != "app" || c.Type != inventory.Regular || c.Image != "nginx:1.25" || c.Ref != "docker.io/library/nginx:1.25" || c.Pinned {
		t.Errorf("web container: %+v", c)
	}
	if len(c.Digests) != 2 || c.Digests[0].Digest != dA || strings.Join(c.Digests[0].Pods, ",") != "web-1,web-3" ||
		c.Digests[1].Digest != dB || strings.Join(c.Digests[1].Pods, ",") != "web-2" || c.Digests[0].Kind != imageref.KindRepo {
		t.Errorf("web digests: %+v", c.Digests)
	}
	if len(rep.Mutations) != 1 || rep.Mutations[0].Kind != detect.WorkloadDivergence {
		t.Errorf("mutations: %+v", rep.Mutations)
	}
}

func TestBuildEmptyEncodesLists(t *testing.T) {
	b, err := json.Marshal(Build(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); got != `{"clusters":[],"workloads":[],"mutations":[]}` {
		t.Errorf("empty report = %s", got)
	}
}

func TestWriteTable(t *testing.T) {
	pods := []inventory.Pod{
		pod("production-eu-west-1", "checkout-service-7f9c-1", "checkout-service-frontend", "registry.example.com/team/checkout:2024.11", "registry.example.com/team/checkout@"+dA),
		pod("production-eu-west-1", "checkout-service-7f9c-2", "checkout-service-frontend", "registry.example.com/team/checkout:2024.11", "registry.example.com/team/checkout@"+dB),
	}
	rep := Build([]ClusterScan{{Name: "production-eu-west-1", Pods: pods, Containers: 2}, {Name: "down", Err: errors.New("timed out")}}, detect.Detect(pods))
	var b strings.Builder
	if err := WriteTable(&b, rep, 80); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	// Too wide at 80 columns: what every row shares is said once, above the table.
	if lines[0] != "All in cluster production-eu-west-1, namespace shop, container app." {
		t.Errorf("shared line: %q", lines[0])
	}
	lines = lines[1:]
	if !strings.HasPrefix(lines[0], "KIND") || !strings.Contains(lines[0], "DIGESTS") || strings.Contains(lines[0], "CLUSTER") {
		t.Errorf("header: %q", lines[0])
	}
	if !strings.HasPrefix(lines[1], "workload-") || !strings.HasSuffix(lines[1], "aaaaaaaaaaaa") || !strings.HasSuffix(lines[2], "bbbbbbbbbbbb") {
		t.Errorf("rows:\n%s", out)
	}
	// Wide enough, every column stays.
	b.Reset()
	if err := WriteTable(&b, rep, 200); err != nil {
		t.Fatal(err)
	}
	if wide := b.String(); strings.Contains(wide, "All in") || !strings.Contains(wide, "CLUSTER") {
		t.Errorf("at 200 columns:\n%s", wide)
	}
	// Nothing is cut: every part of the long names is in the table.
	for _, part := range []string{"production-eu-west-1", "checkout", "service-frontend", "registry.", "checkout:", "2024.11", "deploy/"} {
		if !strings.Contains(out, part) {
			t.Errorf("table lacks %q:\n%s", part, out)
		}
	}
	for _, l := range lines {
		if n := utf8.RuneCountInString(l); n > 80 {
			t.Errorf("line of %d columns: %q", n, l)
		}
	}
	if !strings.Contains(out, "cluster production-eu-west-1: 2 pods, 2 containers, 1 mutation\n") ||
		!strings.Contains(out, "cluster down: error: timed out\n") {
		t.Errorf("summary:\n%s", out)
	}

	b.Reset()
	if err := WriteTable(&b, Build(nil, nil), 80); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "No mutations found.") {
		t.Errorf("empty table: %q", b.String())
	}
}

func TestWrap(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want []string
	}{
		{"short", 8, []string{"short"}},
		{"workload-divergence", 12, []string{"workload-", "divergence"}},
		{"registry.example.com/team/checkout:2024.11", 16, []string{"registry.", "example.com/", "team/checkout:", "2024.11"}},
		{"abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
	} {
		if got := wrap(tt.in, tt.n); !slices.Equal(got, tt.want) {
			t.Errorf("wrap(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
