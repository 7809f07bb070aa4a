package annotate

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/scanner/attention"
	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/scanner/kube"
)

func digest(letter string) string { return "sha256:" + strings.Repeat(letter, 64) }

// pod makes a pod of ReplicaSet rs (uid "uid-"+rs) of Deployment web in namespace
// shop, with containers given as name, imageID pairs ("" for not pulled yet); a name
// starting with "init:" is an init container.
func pod(rs, name string, containers ...string) inventory.Pod {
	p := inventory.Pod{
		Cluster: "prod", Namespace: "shop", Name: name, UID: types.UID("pod-" + name),
		Workload:   inventory.Workload{Kind: "Deployment", Name: "web"},
		Controller: inventory.Controller{Kind: "ReplicaSet", Name: rs, UID: types.UID("uid-" + rs), Revision: rs},
	}
	parser := imageref.NewParser()
	for i := 0; i < len(containers); i += 2 {
		c := inventory.Container{Name: containers[i], Type: inventory.Regular, Ref: parser.Ref("nginx:1.25")}
		if n, ok := strings.CutPrefix(c.Name, "init:"); ok {
			c.Name, c.Type = n, inventory.Init
		}
		if containers[i+1] != "" {
			c.ID = parser.ImageID(containers[i+1])
		}
		p.Containers = append(p.Containers, c)
	}
	return p
}

func rs(name string, labels, annotations map[string]string, owned ...string) ReplicaSet {
	r := ReplicaSet{Namespace: "shop", Name: name, UID: types.UID("uid-" + name), Labels: labels, Annotations: annotations}
	for _, k := range owned {
		if k == LabelMutant {
			r.OwnedLabels = append(r.OwnedLabels, k)
		} else {
			r.OwnedAnnotations = append(r.OwnedAnnotations, k)
		}
	}
	return r
}

func divergence(key, podA, dA, podB, dB string) Mutation {
	return Mutation{Key: key, Kind: detect.WorkloadDivergence, Container: "app", Ref: "docker.io/library/nginx:1.25",
		Digests: []string{dA, dB},
		Places: []detect.Place{
			{Cluster: "prod", Namespace: "shop", Pod: podA, Container: "app", Digest: dA},
			{Cluster: "prod", Namespace: "shop", Pod: podB, Container: "app", Digest: dB},
		}}
}

func str(s string) *string { return &s }

// tagDivergence is a tag-divergence with a place in web-1 and one in another cluster.
func tagDivergence(key string) Mutation {
	return Mutation{Key: key, Kind: detect.TagDivergence, Ref: "docker.io/library/nginx:1.25", Places: []detect.Place{
		{Cluster: "prod", Namespace: "shop", Pod: "web-1-a", Container: "app", Digest: digest("a")},
		{Cluster: "stage", Namespace: "shop", Pod: "web-9-a", Container: "app", Digest: digest("b")},
	}}
}

func acked(m Mutation) Mutation    { m.State = attention.StateAcknowledged; return m }
func expected(m Mutation) Mutation { m.State = attention.StateExpected; return m }

const (
	repoA = "docker.io/library/nginx@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	repoB = "docker.io/library/nginx@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func TestMake(t *testing.T) {
	statusAB := `{"web-1-a":[{"Name":"app","ImageID":"` + repoA + `"}],"web-1-b":[{"Name":"app","ImageID":"` + repoB + `"}]}`
	statusAA := `{"web-1-a":[{"Name":"app","ImageID":"` + repoA + `"}],"web-1-b":[{"Name":"app","ImageID":"` + repoA + `"}]}`
	wd := `{"kinds":["workload-divergence"]}`
	none := `{"kinds":[]}`
	mutantPods := []inventory.Pod{pod("web-1", "web-1-a", "app", repoA), pod("web-1", "web-1-b", "app", repoB)}
	cleanPods := []inventory.Pod{pod("web-1", "web-1-a", "app", repoA), pod("web-1", "web-1-b", "app", repoA)}
	mutation := divergence("7", "web-1-a", digest("a"), "web-1-b", digest("b"))
	warning := Warning{Key: "7", Namespace: "shop", ReplicaSet: "web-1", UID: "uid-web-1"}

	tests := []struct {
		name string
		in   Input
		want Plan
	}{
		{
			name: "a mutant ReplicaSet gets the label, both annotations and one warning",
			in:   Input{Cluster: "prod", Pods: mutantPods, ReplicaSets: []ReplicaSet{rs("web-1", nil, nil)}, Mutations: []Mutation{mutation}},
			want: Plan{
				Patches: []Patch{{Namespace: "shop", Name: "web-1", UID: "uid-web-1",
					Labels:      map[string]*string{LabelMutant: str("true")},
					Annotations: map[string]*string{AnnotationStatus: str(statusAB), AnnotationMutations: str(wd)}}},
				Warnings: []Event{{Namespace: "shop", ReplicaSet: "web-1", UID: "uid-web-1", Type: "Warning", Reason: ReasonMutant, Key: "7",
					Message: `container "app" runs 2 digests of nginx:1.25: ` + digest("a") + ` (web-1-a); ` + digest("b") + ` (web-1-b)`}},
			},
		},
		{
			name: "a steady state plans nothing, and a warning is not sent twice",
			in: Input{Cluster: "prod", Pods: mutantPods, Mutations: []Mutation{mutation}, Warnings: []Warning{warning},
				ReplicaSets: []ReplicaSet{rs("web-1", map[string]string{LabelMutant: "true", "app": "web"},
					map[string]string{AnnotationStatus: statusAB, AnnotationMutations: wd}, LabelMutant, AnnotationStatus, AnnotationMutations)}},
		},
		{
			name: "a clean ReplicaSet is labelled false; others' keys are not touched",
			in: Input{Cluster: "prod", Pods: cleanPods,
				ReplicaSets: []ReplicaSet{rs("web-1", map[string]string{"app": "web"}, map[string]string{"note": "x"})}},
			want: Plan{Patches: []Patch{{Namespace: "shop", Name: "web-1", UID: "uid-web-1",
				Labels:      map[string]*string{LabelMutant: str("false")},
				Annotations: map[string]*string{AnnotationStatus: str(statusAA), AnnotationMutations: str(none)}}}},
		},
		{
			name: "a resolved mutation flips the label and sends MutantImageResolved once",
			in: Input{Cluster: "prod", Pods: cleanPods, Warnings: []Warning{warning},
				ReplicaSets: []ReplicaSet{rs("web-1", map[string]string{LabelMutant: "true"},
					map[string]string{AnnotationStatus: statusAB, AnnotationMutations: wd}, LabelMutant, AnnotationStatus, AnnotationMutations)}},
			want: Plan{
				Patches: []Patch{{Namespace: "shop", Name: "web-1", UID: "uid-web-1",
					Labels:      map[string]*string{LabelMutant: str("false")},
					Annotations: map[string]*string{AnnotationStatus: str(statusAA), AnnotationMutations: str(none)}}},
				Resolutions: []Event{resolvedEvent("shop", "web-1", "uid-web-1", "7")},
			},
		},
		{
			name: "a warning whose ReplicaSet is gone is forgotten without an Event",
			in:   Input{Cluster: "prod", Warnings: []Warning{warning}},
			want: Plan{Forget: []Warning{warning}},
		},
		{
			name: "containers not pulled yet are left out; init containers are in under their names",
			in: Input{Cluster: "prod", Pods: []inventory.Pod{pod("web-1", "web-1-a", "init:setup", repoA, "app", "", "sidecar", repoB)},
				ReplicaSets: []ReplicaSet{rs("web-1", nil, nil)}, ExternalURL: "https://tagdrift.example.com/"},
			want: Plan{Patches: []Patch{{Namespace: "shop", Name: "web-1", UID: "uid-web-1",
				Labels: map[string]*string{LabelMutant: str("false")},
				Annotations: map[string]*string{
					AnnotationStatus:    str(`{"web-1-a":[{"Name":"setup","ImageID":"` + repoA + `"},{"Name":"sidecar","ImageID":"` + repoB + `"}]}`),
					AnnotationMutations: str(`{"kinds":[],"url":"https://tagdrift.example.com/workloads/prod/shop/Deployment/web"}`)}}}},
		},
		{
			name: "a tag-divergence with a place in the ReplicaSet is listed, not made mutant; other clusters' places ignored",
			in: Input{Cluster: "prod", Pods: cleanPods, ReplicaSets: []ReplicaSet{rs("web-1", nil, nil)},
				Mutations: []Mutation{{Key: "9", Kind: detect.TagDivergence, Ref: "docker.io/library/nginx:1.25", Places: []detect.Place{
					{Cluster: "prod", Namespace: "shop", Pod: "web-1-a", Container: "app", Digest: digest("a")},
					{Cluster: "stage", Namespace: "shop", Pod: "web-9-a", Container: "app", Digest: digest("b")},
				}}}},
			want: Plan{Patches: []Patch{{Namespace: "shop", Name: "web-1", UID: "uid-web-1",
				Labels:      map[string]*string{LabelMutant: str("false")},
				Annotations: map[string]*string{AnnotationStatus: str(statusAA), AnnotationMutations: str(`{"kinds":["tag-divergence"]}`)}}}},
		},
		{
			name: "an acknowledged workload-divergence stays mutant, is told apart, and its warning stands",
			in: Input{Cluster: "prod", Pods: mutantPods, Mutations: []Mutation{acked(mutation)}, Warnings: []Warning{warning},
				ReplicaSets: []ReplicaSet{rs("web-1", map[string]string{LabelMutant: "true"},
					map[string]string{AnnotationStatus: statusAB, AnnotationMutations: wd}, LabelMutant, AnnotationStatus, AnnotationMutations)}},
			want: Plan{Patches: []Patch{{Namespace: "shop", Name: "web-1", UID: "uid-web-1", Labels: map[string]*string{},
				Annotations: map[string]*string{AnnotationMutations: str(`{"kinds":["workload-divergence"],"acknowledged":["workload-divergence"]}`)}}}},
		},
		{
			name: "a kind with one open mutation beside an acknowledged one needs attention",
			in: Input{Cluster: "prod", Pods: cleanPods, ReplicaSets: []ReplicaSet{rs("web-1", nil, nil)},
				Mutations: []Mutation{acked(tagDivergence("9")), tagDivergence("10")}},
			want: Plan{Patches: []Patch{{Namespace: "shop", Name: "web-1", UID: "uid-web-1",
				Labels:      map[string]*string{LabelMutant: str("false")},
				Annotations: map[string]*string{AnnotationStatus: str(statusAA), AnnotationMutations: str(`{"kinds":["tag-divergence"]}`)}}}},
		},
		{
			name: "an expected tag-divergence is listed apart, not among the kinds",
			in: Input{Cluster: "prod", Pods: cleanPods, ReplicaSets: []ReplicaSet{rs("web-1", nil, nil)},
				Mutations: []Mutation{expected(tagDivergence("9"))}},
			want: Plan{Patches: []Patch{{Namespace: "shop", Name: "web-1", UID: "uid-web-1",
				Labels:      map[string]*string{LabelMutant: str("false")},
				Annotations: map[string]*string{AnnotationStatus: str(statusAA), AnnotationMutations: str(`{"kinds":[],"expected":["tag-divergence"]}`)}}}},
		},
		{
			name: "an old ReplicaSet tagdrift annotated is set clean and empty when its pods are gone",
			in: Input{Cluster: "prod", Pods: nil,
				ReplicaSets: []ReplicaSet{
					rs("web-0", map[string]string{LabelMutant: "true"}, map[string]string{AnnotationStatus: statusAB, AnnotationMutations: wd},
						LabelMutant, AnnotationStatus, AnnotationMutations),
					rs("other", nil, nil), // never annotated, no pods: left alone
				}},
			want: Plan{Patches: []Patch{{Namespace: "shop", Name: "web-0", UID: "uid-web-0",
				Labels:      map[string]*string{LabelMutant: str("false")},
				Annotations: map[string]*string{AnnotationStatus: str(`{}`), AnnotationMutations: nil}}}},
		},
		{
			name: "a ReplicaSet recreated under its name since its pods were listed is not written",
			in: Input{Cluster: "prod", Pods: cleanPods,
				ReplicaSets: []ReplicaSet{{Namespace: "shop", Name: "web-1", UID: "new-uid"}}},
		},
		{
			name: "stateless: the label stands in for the record of warnings",
			in: Input{Cluster: "prod", Pods: mutantPods, Mutations: []Mutation{mutation}, Stateless: true,
				ReplicaSets: []ReplicaSet{rs("web-1", map[string]string{LabelMutant: "true"},
					map[string]string{AnnotationStatus: statusAA, AnnotationMutations: wd}, LabelMutant, AnnotationStatus, AnnotationMutations)}},
			want: Plan{Patches: []Patch{{Namespace: "shop", Name: "web-1", UID: "uid-web-1",
				Labels: map[string]*string{}, Annotations: map[string]*string{AnnotationStatus: str(statusAB)}}}, EventsFirst: true},
		},
		{
			name: "stateless: resolved when the label turns false",
			in: Input{Cluster: "prod", Pods: cleanPods, Stateless: true,
				ReplicaSets: []ReplicaSet{rs("web-1", map[string]string{LabelMutant: "true"},
					map[string]string{AnnotationStatus: statusAA, AnnotationMutations: none}, LabelMutant)}},
			want: Plan{
				Patches: []Patch{{Namespace: "shop", Name: "web-1", UID: "uid-web-1",
					Labels: map[string]*string{LabelMutant: str("false")}, Annotations: map[string]*string{}}},
				Resolutions: []Event{resolvedEvent("shop", "web-1", "uid-web-1", "")},
				EventsFirst: true,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Make(tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				g, _ := json.MarshalIndent(got, "", "  ")
				w, _ := json.MarshalIndent(tt.want, "", "  ")
				t.Errorf("plan:\n%s\nwant:\n%s", g, w)
			}
		})
	}
}

func TestStatusParsesAsReferenceFormat(t *testing.T) {
	plan := Make(Input{Cluster: "prod", Pods: []inventory.Pod{pod("web-1", "web-1-a", "app", repoA)}, ReplicaSets: []ReplicaSet{rs("web-1", nil, nil)}})
	var status map[string][]struct{ Name, ImageID string }
	if err := json.Unmarshal([]byte(*plan.Patches[0].Annotations[AnnotationStatus]), &status); err != nil {
		t.Fatal(err)
	}
	if len(status["web-1-a"]) != 1 || status["web-1-a"][0].Name != "app" || status["web-1-a"][0].ImageID != repoA {
		t.Errorf("status %+v", status)
	}
}

func TestCleanup(t *testing.T) {
	rss := []ReplicaSet{
		rs("mine", map[string]string{LabelMutant: "true", "app": "web"},
			map[string]string{AnnotationStatus: "{}", AnnotationMutations: "{}", "other": "x"}, LabelMutant, AnnotationStatus, AnnotationMutations),
		// Someone else set is-mutant (another controller): left alone; tagdrift's status goes.
		rs("shared", map[string]string{LabelMutant: "true"}, map[string]string{AnnotationStatus: "{}"}, AnnotationStatus),
		rs("theirs", map[string]string{LabelMutant: "false"}, nil),
	}
	got := Cleanup(rss)
	want := []Patch{
		{Namespace: "shop", Name: "mine", UID: "uid-mine", Labels: map[string]*string{LabelMutant: nil},
			Annotations: map[string]*string{AnnotationStatus: nil, AnnotationMutations: nil}},
		{Namespace: "shop", Name: "shared", UID: "uid-shared", Labels: map[string]*string{},
			Annotations: map[string]*string{AnnotationStatus: nil}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cleanup %+v, want %+v", got, want)
	}
	body, err := got[0].Body()
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != `{"metadata":{"annotations":{"mutant/status":null,"tagdrift.io/mutations":null},"labels":{"is-mutant":null},"uid":"uid-mine"}}` {
		t.Errorf("body %s", body)
	}
}

func TestFromMetadataReadsOwnership(t *testing.T) {
	m := &metav1.ObjectMeta{Name: "web-1", Namespace: "shop", ManagedFields: []metav1.ManagedFieldsEntry{
		{Manager: FieldManager, Operation: metav1.ManagedFieldsOperationUpdate, FieldsV1: &metav1.FieldsV1{
			Raw: []byte(`{"f:metadata":{"f:labels":{"f:is-mutant":{}},"f:annotations":{"f:mutant/status":{},"f:tagdrift.io/mutations":{}}}}`)}},
		{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationUpdate, FieldsV1: &metav1.FieldsV1{
			Raw: []byte(`{"f:metadata":{"f:labels":{"f:team":{}}}}`)}},
		{Manager: FieldManager, Subresource: "status", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:status":{}}`)}},
	}}
	got := FromMetadata(m)
	if !reflect.DeepEqual(got.OwnedLabels, []string{LabelMutant}) ||
		!reflect.DeepEqual(got.OwnedAnnotations, []string{AnnotationStatus, AnnotationMutations}) {
		t.Errorf("owned %v %v", got.OwnedLabels, got.OwnedAnnotations)
	}
}

// TestKubeKeepsTagdriftsKeys holds the scan's listing (which keeps of each ReplicaSet
// only tagdrift's own keys) to the keys this package writes.
func TestKubeKeepsTagdriftsKeys(t *testing.T) {
	labels, annotations, manager := kube.ReplicaSetKeys()
	if !slices.Equal(labels, []string{LabelMutant}) ||
		!slices.Equal(annotations, []string{AnnotationStatus, AnnotationMutations}) || manager != FieldManager {
		t.Errorf("kube keeps labels %q, annotations %q, managedFields of %q", labels, annotations, manager)
	}
}
