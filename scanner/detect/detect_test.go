package detect

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// digest returns a distinct valid sha256 digest per letter.
func digest(letter string) string { return "sha256:" + strings.Repeat(letter, 64) }

// podSpec builds an inventory pod tersely. rev "" with ctl "" makes a bare pod.
type podSpec struct {
	cluster, ns, name string
	wkind, wname      string // workload (top of the owner chain)
	ctl               string // controller UID; "" for a bare pod
	rev               string
	arch              string
	containers        []ctr
}

type ctr struct {
	name, image, imageID string
	typ                  inventory.ContainerType
	waiting              bool
}

func build(specs ...podSpec) []inventory.Pod {
	var pods []inventory.Pod
	for _, s := range specs {
		p := inventory.Pod{
			Cluster: cmpOr(s.cluster, "c1"), Namespace: cmpOr(s.ns, "default"), Name: s.name,
			UID: types.UID("uid-" + s.name), Arch: s.arch,
			Workload: inventory.Workload{Kind: cmpOr(s.wkind, "Pod"), Name: cmpOr(s.wname, s.name)},
		}
		if s.ctl != "" {
			p.Controller = inventory.Controller{Kind: "ReplicaSet", Name: s.ctl, UID: types.UID(s.ctl), Revision: s.rev}
		}
		for _, c := range s.containers {
			ref := imageref.ParseRef(c.image)
			ic := inventory.Container{Name: c.name, Type: cmpOr(c.typ, inventory.Regular), Ref: &ref}
			if id, ok := imageref.ParseImageID(c.imageID); ok && !c.waiting {
				ic.ID = &id
			}
			p.Containers = append(p.Containers, ic)
		}
		pods = append(pods, p)
	}
	return pods
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// deployPod is a pod of Deployment web, ReplicaSet web-<rev>, running one container.
func deployPod(name, rev, image, imageID string) podSpec {
	return podSpec{name: name, wkind: "Deployment", wname: "web", ctl: "web-" + rev, rev: rev,
		containers: []ctr{{name: "app", image: image, imageID: imageID}}}
}

// summary renders mutations compactly for comparison: kind|cluster|ns|workload|container|ref|digests|places.
func summary(ms []Mutation) []string {
	var out []string
	for _, m := range ms {
		var places []string
		for _, p := range m.Places {
			places = append(places, fmt.Sprintf("%s/%s/%s:%s=%s", p.Cluster, p.Namespace, p.Pod, p.Container, short(p.Digest)))
		}
		var ds []string
		for _, d := range m.Digests {
			ds = append(ds, short(d))
		}
		out = append(out, fmt.Sprintf("%s|%s|%s|%s/%s|%s|%s|%s|%s", m.Kind, m.Cluster, m.Namespace,
			m.Workload.Kind, m.Workload.Name, m.Container, imageref.Familiar(m.Ref),
			strings.Join(ds, ","), strings.Join(places, " ")))
	}
	return out
}

// short names a test digest by its letter.
func short(d string) string {
	if strings.HasPrefix(d, "sha256:") && len(d) == 71 {
		return d[7:8]
	}
	return d
}

func TestDetect(t *testing.T) {
	a, b, c := digest("a"), digest("b"), digest("c")
	repo := func(d string) string { return "docker.io/library/nginx@" + d }
	tests := []struct {
		name string
		pods []inventory.Pod
		want []string
	}{
		{
			name: "one revision, one digest: clean",
			pods: build(deployPod("p1", "r1", "nginx:1.25", repo(a)), deployPod("p2", "r1", "nginx:1.25", repo(a))),
		},
		{
			name: "one revision, two digests: workload-divergence only",
			pods: build(deployPod("p1", "r1", "nginx:1.25", repo(a)), deployPod("p2", "r1", "nginx:1.25", repo(b))),
			want: []string{"workload-divergence|c1|default|Deployment/web|app|nginx:1.25|a,b|c1/default/p1:app=a c1/default/p2:app=b"},
		},
		{
			name: "same digest through two runtime prefixes and a short name: clean",
			pods: build(
				deployPod("p1", "r1", "nginx:1.25", repo(a)),
				deployPod("p2", "r1", "docker.io/library/nginx:1.25", "docker-pullable://nginx@"+a),
				deployPod("p3", "r1", "library/nginx:1.25", "docker.io/library/nginx:1.25@"+a),
			),
		},
		{
			name: "a pod still pulling is not a different digest",
			pods: build(deployPod("p1", "r1", "nginx:1.25", repo(a)), deployPod("p2", "r1", "nginx:1.25", "")),
		},
		{
			name: "a waiting container's leftover imageID is not an observation",
			pods: build(deployPod("p1", "r1", "nginx:1.25", repo(a)), podSpec{name: "p2", wkind: "Deployment", wname: "web", ctl: "web-r1", rev: "r1",
				containers: []ctr{{name: "app", image: "nginx:1.25", imageID: repo(b), waiting: true}}}),
		},
		{
			name: "an imported image next to a pulled one proves nothing",
			pods: build(deployPod("p1", "r1", "nginx:1.25", repo(a)), deployPod("p2", "r1", "nginx:1.25", "docker.io/library/import-2026-11-30@"+b)),
		},
		{
			name: "imports and pulls under one tag across workloads: no tag-divergence",
			pods: build(
				podSpec{name: "q1", wkind: "Deployment", wname: "api", ctl: "api-x", rev: "x", containers: []ctr{{name: "app", image: "nginx:1.25", imageID: repo(a)}}},
				podSpec{name: "q2", wkind: "Deployment", wname: "web", ctl: "web-x", rev: "x", containers: []ctr{{name: "app", image: "nginx:1.25", imageID: "import-2026-11-30@" + b}}},
			),
		},
		{
			name: "two imports of one tag on one architecture diverge",
			pods: build(
				podSpec{name: "p1", wkind: "Deployment", wname: "web", ctl: "web-r1", rev: "r1", arch: "amd64", containers: []ctr{{name: "app", image: "app:dev", imageID: "docker.io/library/import-2026-11-30@" + a}}},
				podSpec{name: "p2", wkind: "Deployment", wname: "web", ctl: "web-r1", rev: "r1", arch: "amd64", containers: []ctr{{name: "app", image: "app:dev", imageID: "docker.io/library/import-2026-12-01@" + b}}},
			),
			want: []string{"workload-divergence|c1|default|Deployment/web|app|app:dev|a,b|c1/default/p1:app=a c1/default/p2:app=b"},
		},
		{
			name: "imports on two architectures do not compare",
			pods: build(
				podSpec{name: "p1", wkind: "Deployment", wname: "web", ctl: "web-r1", rev: "r1", arch: "amd64", containers: []ctr{{name: "app", image: "app:dev", imageID: "import-2026-11-30@" + a}}},
				podSpec{name: "p2", wkind: "Deployment", wname: "web", ctl: "web-r1", rev: "r1", arch: "arm64", containers: []ctr{{name: "app", image: "app:dev", imageID: "import-2026-11-30@" + b}}},
			),
		},
		{
			name: "an import never proves a pin wrong",
			pods: build(deployPod("p1", "r1", "nginx@"+a, "import-2026-11-30@"+b)),
		},
		{
			name: "an image ID next to a repository digest proves nothing",
			pods: build(deployPod("p1", "r1", "nginx:1.25", repo(a)), deployPod("p2", "r1", "nginx:1.25", "sha256:"+strings.Repeat("b", 64))),
		},
		{
			name: "two image IDs on one architecture diverge",
			pods: build(deployPod("p1", "r1", "app:dev", "sha256:"+strings.Repeat("a", 64)), deployPod("p2", "r1", "app:dev", strings.Repeat("b", 64))),
			want: []string{"workload-divergence|c1|default|Deployment/web|app|app:dev|a,b|c1/default/p1:app=a c1/default/p2:app=b"},
		},
		{
			name: "image IDs on nodes of unknown architecture compare only on one node",
			pods: func() []inventory.Pod {
				p1, p2, p3 := deployPod("p1", "r1", "app:dev", "sha256:"+strings.Repeat("a", 64)), deployPod("p2", "r1", "app:dev", "sha256:"+strings.Repeat("b", 64)), deployPod("p3", "r1", "app:dev", "sha256:"+strings.Repeat("c", 64))
				pods := build(p1, p2, p3)
				pods[0].Node, pods[1].Node, pods[2].Node = "n1", "n2", "n2"
				return pods
			}(),
			want: []string{"workload-divergence|c1|default|Deployment/web|app|app:dev|b,c|c1/default/p2:app=b c1/default/p3:app=c"},
		},
		{
			name: "image IDs of one multi-arch tag on two architectures do not compare",
			pods: func() []inventory.Pod {
				p1, p2 := deployPod("p1", "r1", "app:dev", "sha256:"+strings.Repeat("a", 64)), deployPod("p2", "r1", "app:dev", "sha256:"+strings.Repeat("b", 64))
				p1.arch, p2.arch = "amd64", "arm64"
				return build(p1, p2)
			}(),
		},
		{
			name: "unknown imageIDs are never compared",
			pods: build(deployPod("p1", "r1", "nginx:1.25", "weird-id-1"), deployPod("p2", "r1", "nginx:1.25", "weird-id-2")),
		},
		{
			name: "a rolling update to a new image is not a mutation",
			pods: build(deployPod("p1", "r1", "nginx:1.25", repo(a)), deployPod("p2", "r2", "nginx:1.26", repo(b))),
		},
		{
			name: "a restart of the same tag that pulled a moved tag is tag-divergence between revisions",
			pods: build(deployPod("p1", "r1", "nginx:1.25", repo(a)), deployPod("p2", "r2", "nginx:1.25", repo(b))),
			want: []string{"tag-divergence|c1|default|Deployment/web|app|nginx:1.25|a,b|c1/default/p1:app=a c1/default/p2:app=b"},
		},
		{
			name: "divergence confined to one revision is not also tag-divergence",
			pods: build(
				deployPod("p1", "r1", "nginx:1.25", repo(a)), deployPod("p2", "r1", "nginx:1.25", repo(b)),
				podSpec{name: "q1", wkind: "Deployment", wname: "api", ctl: "api-x", rev: "x", containers: []ctr{{name: "app", image: "nginx:1.25", imageID: repo(a)}}},
				podSpec{name: "q2", wkind: "Deployment", wname: "api", ctl: "api-x", rev: "x", containers: []ctr{{name: "app", image: "nginx:1.25", imageID: repo(b)}}},
			),
			want: []string{
				"workload-divergence|c1|default|Deployment/api|app|nginx:1.25|a,b|c1/default/q1:app=a c1/default/q2:app=b",
				"workload-divergence|c1|default|Deployment/web|app|nginx:1.25|a,b|c1/default/p1:app=a c1/default/p2:app=b",
			},
		},
		{
			name: "a revision running more digests than the others, which agree, is workload-divergence only",
			pods: build(
				deployPod("p1", "r1", "nginx:1.25", repo(a)), deployPod("p2", "r1", "nginx:1.25", repo(b)),
				podSpec{cluster: "c2", name: "q1", wkind: "Deployment", wname: "web", ctl: "web-other", rev: "x", containers: []ctr{{name: "app", image: "nginx:1.25", imageID: repo(a)}}},
				podSpec{cluster: "c2", name: "q2", wkind: "Deployment", wname: "api", ctl: "api-x", rev: "x", containers: []ctr{{name: "app", image: "nginx:1.25", imageID: repo(a)}}},
			),
			want: []string{"workload-divergence|c1|default|Deployment/web|app|nginx:1.25|a,b|c1/default/p1:app=a c1/default/p2:app=b"},
		},
		{
			name: "a diverging revision and one running a digest it does not run: both kinds",
			pods: build(
				deployPod("p1", "r1", "nginx:1.25", repo(a)), deployPod("p2", "r1", "nginx:1.25", repo(b)),
				podSpec{name: "q1", wkind: "Deployment", wname: "api", ctl: "api-x", rev: "x", containers: []ctr{{name: "app", image: "nginx:1.25", imageID: repo(c)}}},
			),
			want: []string{
				"tag-divergence|c1|default|/|app|nginx:1.25|a,b,c|c1/default/q1:app=c c1/default/p1:app=a c1/default/p2:app=b",
				"workload-divergence|c1|default|Deployment/web|app|nginx:1.25|a,b|c1/default/p1:app=a c1/default/p2:app=b",
			},
		},
		{
			name: "two revisions diverging differently: not confined to one",
			pods: build(
				deployPod("p1", "r1", "nginx:1.25", repo(a)), deployPod("p2", "r1", "nginx:1.25", repo(b)),
				podSpec{name: "q1", wkind: "Deployment", wname: "api", ctl: "api-x", rev: "x", containers: []ctr{{name: "app", image: "nginx:1.25", imageID: repo(a)}}},
				podSpec{name: "q2", wkind: "Deployment", wname: "api", ctl: "api-x", rev: "x", containers: []ctr{{name: "app", image: "nginx:1.25", imageID: repo(c)}}},
			),
			want: []string{
				"tag-divergence|c1|default|/|app|nginx:1.25|a,b,c|c1/default/q1:app=a c1/default/q2:app=c c1/default/p1:app=a c1/default/p2:app=b",
				"workload-divergence|c1|default|Deployment/api|app|nginx:1.25|a,c|c1/default/q1:app=a c1/default/q2:app=c",
				"workload-divergence|c1|default|Deployment/web|app|nginx:1.25|a,b|c1/default/p1:app=a c1/default/p2:app=b",
			},
		},
		{
			name: "single-digest revisions that disagree beside a diverging one",
			pods: build(
				deployPod("p1", "r1", "nginx:1.25", repo(a)), deployPod("p2", "r1", "nginx:1.25", repo(b)),
				podSpec{name: "q1", containers: []ctr{{name: "app", image: "nginx:1.25", imageID: repo(a)}}},
				podSpec{name: "q2", containers: []ctr{{name: "app", image: "nginx:1.25", imageID: repo(b)}}},
			),
			want: []string{
				"tag-divergence|c1|default|/|app|nginx:1.25|a,b|c1/default/p1:app=a c1/default/p2:app=b c1/default/q1:app=a c1/default/q2:app=b",
				"workload-divergence|c1|default|Deployment/web|app|nginx:1.25|a,b|c1/default/p1:app=a c1/default/p2:app=b",
			},
		},
		{
			name: "tag-divergence across namespaces and clusters",
			pods: build(
				podSpec{cluster: "east", ns: "shop", name: "p1", containers: []ctr{{name: "web", image: "nginx", imageID: repo(a)}}},
				podSpec{cluster: "west", ns: "blog", name: "p2", containers: []ctr{{name: "srv", image: "docker.io/library/nginx:latest", imageID: "docker-pullable://nginx@" + b}}},
				podSpec{cluster: "west", ns: "blog", name: "p3", containers: []ctr{{name: "srv", image: "nginx:1.25", imageID: repo(c)}}},
			),
			want: []string{"tag-divergence|||/||nginx:latest|a,b|east/shop/p1:web=a west/blog/p2:srv=b"},
		},
		{
			name: "same digest everywhere is clean, whatever the spelling",
			pods: build(
				podSpec{cluster: "east", name: "p1", containers: []ctr{{name: "web", image: "nginx", imageID: repo(a)}}},
				podSpec{cluster: "west", name: "p2", containers: []ctr{{name: "web", image: "nginx:latest", imageID: "docker-pullable://nginx@" + a}}},
			),
		},
		{
			name: "pinned references do not take part in tag-divergence",
			pods: build(
				podSpec{name: "p1", containers: []ctr{{name: "web", image: "nginx@" + a, imageID: repo(a)}}},
				podSpec{name: "p2", containers: []ctr{{name: "web", image: "nginx@" + b, imageID: repo(b)}}},
			),
		},
		{
			name: "pin-mismatch: a pinned reference runs another repository digest",
			pods: build(
				podSpec{name: "p1", containers: []ctr{{name: "web", image: "nginx@" + a, imageID: repo(b)}}},
				podSpec{name: "p2", containers: []ctr{{name: "web", image: "nginx@" + a, imageID: "quay.io/mirror/nginx@" + a}}},
			),
			want: []string{"pin-mismatch|c1|default|Pod/p1|web|nginx@" + a + "|b|c1/default/p1:web=b"},
		},
		{
			name: "a pinned reference running a local image ID cannot be checked",
			pods: build(podSpec{name: "p1", containers: []ctr{{name: "web", image: "nginx@" + a, imageID: "sha256:" + strings.Repeat("b", 64)}}}),
		},
		{
			name: "init and ephemeral containers count, each under its own name",
			pods: build(
				podSpec{name: "p1", wkind: "StatefulSet", wname: "db", ctl: "db", rev: "db-1", containers: []ctr{
					{name: "migrate", image: "tools:1", imageID: "r.io/tools@" + a, typ: inventory.Init},
					{name: "db", image: "pg:15", imageID: "r.io/pg@" + c},
					{name: "debug", image: "busybox", imageID: "r.io/busybox@" + a, typ: inventory.Ephemeral},
				}},
				podSpec{name: "p2", wkind: "StatefulSet", wname: "db", ctl: "db", rev: "db-1", containers: []ctr{
					{name: "migrate", image: "tools:1", imageID: "r.io/tools@" + b, typ: inventory.Init},
					{name: "db", image: "pg:15", imageID: "r.io/pg@" + c},
					{name: "debug", image: "busybox", imageID: "r.io/busybox@" + b, typ: inventory.Ephemeral},
				}},
			),
			want: []string{
				"workload-divergence|c1|default|StatefulSet/db|debug|busybox:latest|a,b|c1/default/p1:debug=a c1/default/p2:debug=b",
				"workload-divergence|c1|default|StatefulSet/db|migrate|tools:1|a,b|c1/default/p1:migrate=a c1/default/p2:migrate=b",
			},
		},
		{
			name: "ephemeral containers of one name but different images are not compared",
			pods: build(
				podSpec{name: "p1", wkind: "Deployment", wname: "web", ctl: "rs", rev: "1", containers: []ctr{{name: "debug", image: "busybox:1.36", imageID: "r.io/busybox@" + a, typ: inventory.Ephemeral}}},
				podSpec{name: "p2", wkind: "Deployment", wname: "web", ctl: "rs", rev: "1", containers: []ctr{{name: "debug", image: "alpine:3", imageID: "r.io/alpine@" + b, typ: inventory.Ephemeral}}},
			),
		},
		{
			name: "Jobs of one CronJob are separate revisions",
			pods: build(
				podSpec{name: "j1-x", wkind: "CronJob", wname: "backup", ctl: "job-1", containers: []ctr{{name: "run", image: "backup:latest", imageID: "r.io/backup@" + a}}},
				podSpec{name: "j1-y", wkind: "CronJob", wname: "backup", ctl: "job-1", containers: []ctr{{name: "run", image: "backup:latest", imageID: "r.io/backup@" + a}}},
				podSpec{name: "j2-x", wkind: "CronJob", wname: "backup", ctl: "job-2", containers: []ctr{{name: "run", image: "backup:latest", imageID: "r.io/backup@" + b}}},
			),
			want: []string{"tag-divergence|c1|default|CronJob/backup|run|backup:latest|a,b|c1/default/j1-x:run=a c1/default/j1-y:run=a c1/default/j2-x:run=b"},
		},
		{
			name: "bare pods never diverge within themselves",
			pods: build(
				podSpec{name: "solo", containers: []ctr{{name: "a", image: "x:1", imageID: "r.io/x@" + a}, {name: "b", image: "x:1", imageID: "r.io/x@" + a}}},
			),
		},
		{
			name: "revisions running the same set of several digests agree",
			pods: build(
				deployPod("p1", "r1", "app:prod", "r.io/app@"+a), deployPod("p2", "r1", "app:prod", "r.io/app@"+b),
				podSpec{name: "q1", wkind: "Deployment", wname: "api", ctl: "api-1", rev: "1", containers: []ctr{{name: "app", image: "app:prod", imageID: "r.io/app@" + b}}},
				podSpec{name: "q2", wkind: "Deployment", wname: "api", ctl: "api-1", rev: "1", containers: []ctr{{name: "app", image: "app:prod", imageID: "r.io/app@" + a}}},
			),
			want: []string{
				"workload-divergence|c1|default|Deployment/api|app|app:prod|a,b|c1/default/q1:app=b c1/default/q2:app=a",
				"workload-divergence|c1|default|Deployment/web|app|app:prod|a,b|c1/default/p1:app=a c1/default/p2:app=b",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summary(Detect(tt.pods))
			if !slices.Equal(got, tt.want) {
				t.Errorf("Detect:\n got  %q\n want %q", got, tt.want)
			}
		})
	}
}

func TestIdentity(t *testing.T) {
	a, b := digest("a"), digest("b")
	ms := Detect(build(
		deployPod("p1", "r1", "nginx:1.25", "docker.io/library/nginx@"+a), deployPod("p2", "r1", "nginx:1.25", "docker.io/library/nginx@"+b),
		podSpec{name: "q1", containers: []ctr{{name: "app", image: "nginx:1.25", imageID: "docker.io/library/nginx@" + digest("c")}}},
		podSpec{name: "x", containers: []ctr{{name: "sh", image: "alpine@" + a, imageID: "docker.io/library/alpine@" + b}}},
	))
	want := map[Kind]string{
		PinMismatch:        "pin-mismatch|c1|default|Pod|x|sh|docker.io/library/alpine@" + a,
		TagDivergence:      "tag-divergence|docker.io/library/nginx:1.25",
		WorkloadDivergence: "workload-divergence|c1|default|web-r1|r1|app|docker.io/library/nginx:1.25",
	}
	if len(ms) != 3 {
		t.Fatalf("mutations: %q", summary(ms))
	}
	for _, m := range ms {
		if m.Identity != want[m.Kind] {
			t.Errorf("%s identity %q, want %q", m.Kind, m.Identity, want[m.Kind])
		}
	}
}

func TestDetectOrderIsStable(t *testing.T) {
	a, b := digest("a"), digest("b")
	var specs []podSpec
	for i := range 20 {
		d := a
		if i%2 == 1 {
			d = b
		}
		specs = append(specs, podSpec{name: fmt.Sprintf("p%02d", i), wkind: "Deployment", wname: fmt.Sprintf("w%d", i%5),
			ctl: fmt.Sprintf("rs%d", i%5), rev: "1", containers: []ctr{{name: "app", image: "app:1", imageID: "r.io/app@" + d}}})
	}
	first := summary(Detect(build(specs...)))
	if len(first) == 0 {
		t.Fatal("expected mutations")
	}
	for range 10 {
		if got := summary(Detect(build(specs...))); !slices.Equal(got, first) {
			t.Fatalf("order changed:\n%q\n%q", got, first)
		}
	}
}

// TestKinds: every kind once, in severity order, and only the history kinds are events.
func TestKinds(t *testing.T) {
	kinds := Kinds()
	want := []Kind{WorkloadDivergence, PinMismatch, TagDivergence, TagMoved, PodDrift}
	if !slices.Equal(kinds, want) {
		t.Fatalf("Kinds() = %v, want %v", kinds, want)
	}
	for i, k := range kinds {
		if k.Severity() != i {
			t.Errorf("%s: severity %d, want %d", k, k.Severity(), i)
		}
		if got := k.IsEvent(); got != (k == TagMoved || k == PodDrift) {
			t.Errorf("%s: IsEvent %v", k, got)
		}
	}
	if Kind("bogus").Severity() != len(kinds) {
		t.Error("an unknown kind does not sort last")
	}
}

// TestTagDivergenceWithinGroup: a tag-divergence spans the clusters of one group. Two
// groups running one reference on different digests raise none; within a group they
// do, named by the group, and the default group's keeps its ungrouped identity.
func TestTagDivergenceWithinGroup(t *testing.T) {
	a, b, c := digest("a"), digest("b"), digest("c")
	pod := func(cluster, group, d string) inventory.Pod {
		p := build(podSpec{cluster: cluster, name: "p-" + cluster,
			containers: []ctr{{name: "app", image: "nginx:1.25", imageID: "docker.io/library/nginx@" + d}}})[0]
		p.Group = group
		return p
	}
	if ms := Detect([]inventory.Pod{pod("eu", "team-a", a), pod("us", "team-b", b)}); len(ms) != 0 {
		t.Errorf("across two groups: %q, want none", summary(ms))
	}
	ms := Detect([]inventory.Pod{pod("eu", "team-a", a), pod("us", "team-b", b), pod("ap", "team-b", c),
		pod("x1", "", a), pod("x2", inventory.DefaultGroup, c)})
	if len(ms) != 2 {
		t.Fatalf("mutations: %q, want one in team-b and one in the default group", summary(ms))
	}
	want := []struct{ group, identity, clusters string }{
		{"", "tag-divergence|docker.io/library/nginx:1.25", "x1 x2"}, // the default group is left out
		{"team-b", "tag-divergence|docker.io/library/nginx:1.25|team-b", "ap us"},
	}
	for i, m := range ms {
		var clusters []string
		for _, p := range m.Places {
			clusters = append(clusters, p.Cluster)
		}
		if m.Kind != TagDivergence || m.Group != want[i].group || m.Identity != want[i].identity ||
			strings.Join(clusters, " ") != want[i].clusters {
			t.Errorf("mutation %d: %s group %q identity %q clusters %q, want %+v", i, m.Kind, m.Group, m.Identity, clusters, want[i])
		}
	}
}
