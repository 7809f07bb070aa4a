package kube

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	pbserializer "k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// encode encodes a list as an API server does, in protobuf or JSON.
func encode(t testing.TB, obj k8sruntime.Object, proto bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	if proto {
		s := pbserializer.NewSerializer(scheme.Scheme, scheme.Scheme)
		if err := s.Encode(obj, &buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var yes, no = true, false

func testPods() *corev1.PodList {
	return &corev1.PodList{
		TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"},
		ListMeta: metav1.ListMeta{Continue: "next-page", ResourceVersion: "42"},
		Items: []corev1.Pod{{
			ObjectMeta: metav1.ObjectMeta{
				Name: "web-1", Namespace: "shop", UID: "u-web-1",
				Labels:      map[string]string{"pod-template-hash": "abc", "app": "web", "Pod-Template-Hash": "wrong"},
				Annotations: map[string]string{"big": strings.Repeat("x", 1000)},
				OwnerReferences: []metav1.OwnerReference{
					{Kind: "Other", Name: "not-controller", UID: "u-other", Controller: &no},
					{Kind: "ReplicaSet", Name: "web-abc", UID: "u-rs", Controller: &yes, APIVersion: "apps/v1"},
				},
				ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:status":{}}`)}}},
			},
			Spec: corev1.PodSpec{
				NodeName:       "node-a",
				InitContainers: []corev1.Container{{Name: "init", Image: "busybox:1", Command: []string{"true"}}},
				Containers: []corev1.Container{
					{Name: "app", Image: "registry.example.com/shop/web:1", Env: []corev1.EnvVar{{Name: "A", Value: "b"}}},
					{Name: "side", Image: "nginx"},
				},
				EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "alpine:3"}, TargetContainerName: "app"}},
			},
			Status: corev1.PodStatus{
				Phase:                 corev1.PodRunning,
				InitContainerStatuses: []corev1.ContainerStatus{{Name: "init", ImageID: "docker.io/library/busybox@sha256:" + strings.Repeat("1", 64), State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}}},
				ContainerStatuses: []corev1.ContainerStatus{
					{Name: "app", ImageID: "registry.example.com/shop/web@sha256:" + strings.Repeat("2", 64), Image: "other", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
					{Name: "side", ImageID: "docker.io/library/nginx@sha256:" + strings.Repeat("3", 64), State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}},
				},
				EphemeralContainerStatuses: []corev1.ContainerStatus{{Name: "debug", ImageID: "docker.io/library/alpine@sha256:" + strings.Repeat("4", 64)}},
			},
		}, {
			ObjectMeta: metav1.ObjectMeta{Name: "bare", Namespace: "shop", UID: "u-bare",
				Labels: map[string]string{"controller-revision-hash": "r1"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.25"}}},
		}},
	}
}

// flat is an inventory Pod without pointers, to compare.
func flat(p inventory.Pod) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s %s %s %s %+v %+v", p.Cluster, p.Namespace, p.Name, p.UID, p.Node, p.Arch, p.Workload, p.Controller)
	for _, c := range p.Containers {
		fmt.Fprintf(&b, " [%s %s %+v", c.Name, c.Type, *c.Ref)
		if c.ID != nil {
			fmt.Fprintf(&b, " %+v", *c.ID)
		}
		b.WriteString("]")
	}
	return b.String()
}

// TestDecodePodsAsClientGo decodes pods from protobuf and JSON and checks that the
// inventory made of them is the one made of client-go's full objects.
func TestDecodePodsAsClientGo(t *testing.T) {
	pods := testPods()
	owners := inventory.Owners{"u-rs": {Kind: "Deployment", Name: "web"}}
	nodes := map[string]inventory.Node{"node-a": {Arch: "arm64", Runtime: "containerd://2.0"}}
	var want []string
	b := inventory.NewBuilder("c", owners, nodes)
	for i := range pods.Items {
		want = append(want, flat(b.Pod(&pods.Items[i])))
	}
	for _, proto := range []bool{true, false} {
		t.Run(fmt.Sprint("protobuf=", proto), func(t *testing.T) {
			body := encode(t, pods, proto)
			if proto != bytes.HasPrefix(body, protobufMagic) {
				t.Fatalf("encoding: %q...", body[:8])
			}
			tr := newTracker(Budget{})
			b := inventory.NewBuilder("c", owners, nodes)
			var got []string
			add := func(p *corev1.Pod) error {
				if len(p.Annotations) > 0 || len(p.ManagedFields) > 0 || len(p.OwnerReferences) > 1 || len(p.Labels) > 1 {
					t.Errorf("pod %s keeps more than it needs: %+v", p.Name, p.ObjectMeta)
				}
				got = append(got, flat(b.Pod(p)))
				return tr.keep(0)
			}
			cont, err := list(body, "PodList", func(item []byte) error {
				var p corev1.Pod
				if err := pbPod(tr, item, &p); err != nil {
					return err
				}
				return add(&p)
			}, func(d *jsonDec) error {
				var p corev1.Pod
				if err := jsPod(tr, d, &p); err != nil {
					return err
				}
				return add(&p)
			})
			if err != nil {
				t.Fatal(err)
			}
			if cont != "next-page" {
				t.Errorf("continue %q", cont)
			}
			if !slices.Equal(got, want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if tr.objects != 2+5+4 {
				t.Errorf("objects charged %d, want 11 (pods, containers, statuses)", tr.objects)
			}
		})
	}
}

// TestDecodeMetadataAndNodes checks what is kept of a ReplicaSet's metadata (name,
// namespace, uid, controller, tagdrift's keys and managedFields entries) and of a node.
func TestDecodeMetadataAndNodes(t *testing.T) {
	rs := &metav1.PartialObjectMetadataList{
		TypeMeta: metav1.TypeMeta{Kind: "PartialObjectMetadataList", APIVersion: "meta.k8s.io/v1"},
		Items: []metav1.PartialObjectMetadata{{ObjectMeta: metav1.ObjectMeta{
			Name: "web-abc", Namespace: "shop", UID: "u-rs",
			Labels:          map[string]string{"is-mutant": "true", "app": "web"},
			Annotations:     map[string]string{"mutant/status": "{}", "tagdrift.io/mutations": "tag-divergence", "deployment.kubernetes.io/revision": "3"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: "web", UID: "u-dep", Controller: &yes}},
			ManagedFields: []metav1.ManagedFieldsEntry{
				{Manager: "kube-controller-manager", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{}}`)}},
				{Manager: "tagdrift", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{"f:is-mutant":{}}}}`)}},
				{Manager: "tagdrift", Subresource: "status", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:status":{}}`)}},
			},
		}}},
	}
	nodes := &corev1.NodeList{
		TypeMeta: metav1.TypeMeta{Kind: "NodeList", APIVersion: "v1"},
		Items: []corev1.Node{
			{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{corev1.LabelArchStable: "amd64", "zone": "z"}},
				Status: corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{Architecture: "arm64", ContainerRuntimeVersion: "containerd://2.0", KernelVersion: "6"},
					Images: []corev1.ContainerImage{{Names: []string{"x"}, SizeBytes: 1}}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "b", Labels: map[string]string{corev1.LabelArchStable: "s390x"}}},
		},
	}
	for _, proto := range []bool{true, false} {
		t.Run(fmt.Sprint("protobuf=", proto), func(t *testing.T) {
			tr := newTracker(Budget{})
			var got []metav1.PartialObjectMetadata
			_, err := list(encode(t, rs, proto), "PartialObjectMetadataList", func(item []byte) error {
				var m metav1.PartialObjectMetadata
				err := pbPartial(tr, item, &m, replicaSetKeep())
				got = append(got, m)
				return err
			}, func(d *jsonDec) error {
				var m metav1.PartialObjectMetadata
				err := jsPartial(tr, d, &m, replicaSetKeep())
				got = append(got, m)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			want := metav1.ObjectMeta{
				Name: "web-abc", Namespace: "shop", UID: "u-rs",
				Labels:          map[string]string{"is-mutant": "true"},
				Annotations:     map[string]string{"mutant/status": "{}", "tagdrift.io/mutations": "tag-divergence"},
				OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: "web", UID: "u-dep", Controller: &yes}},
				ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "tagdrift", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{"f:is-mutant":{}}}}`)}}},
			}
			if len(got) != 1 || !apiequality.Semantic.DeepEqual(got[0].ObjectMeta, want) {
				t.Errorf("got %+v\nwant %+v", got, want)
			}

			var infos []string
			_, err = list(encode(t, nodes, proto), "NodeList", func(item []byte) error {
				var n corev1.Node
				err := pbNode(tr, item, &n)
				infos = append(infos, fmt.Sprintf("%s %+v %d", n.Name, nodeInfo(&n), len(n.Labels)))
				return err
			}, func(d *jsonDec) error {
				var n corev1.Node
				err := jsNode(tr, d, &n)
				infos = append(infos, fmt.Sprintf("%s %+v %d", n.Name, nodeInfo(&n), len(n.Labels)))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"a {Arch:arm64 Runtime:containerd://2.0} 1", "b {Arch:s390x Runtime:} 1"}; !slices.Equal(infos, want) {
				t.Errorf("nodes %q, want %q", infos, want)
			}
		})
	}
}

// TestDecodeRefusesMalformed checks that broken answers fail, never panic.
func TestDecodeRefusesMalformed(t *testing.T) {
	good := encode(t, testPods(), true)
	bodies := [][]byte{
		good[:len(good)/2],
		append(slices.Clone(protobufMagic), 0x12, 0xff, 0xff, 0xff, 0xff, 0x0f),
		[]byte(`{"kind":"PodList","items":[{"metadata":{"name":1}}]}`),
		[]byte(`{"items":[]}`), // no kind: not an empty cluster
		[]byte(`{"kind":"Status","status":"Success"}`),
		encode(t, &corev1.NodeList{TypeMeta: metav1.TypeMeta{Kind: "NodeList", APIVersion: "v1"}}, true),
		[]byte(`{"items":{}}`),
		[]byte(`{"items":[]} {}`),
		[]byte(`<html>`),
	}
	for _, body := range bodies {
		tr := newTracker(Budget{})
		_, err := list(body, "PodList", func(item []byte) error { var p corev1.Pod; return pbPod(tr, item, &p) },
			func(d *jsonDec) error { var p corev1.Pod; return jsPod(tr, d, &p) })
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: err = %v, want malformed", body[:min(len(body), 20)], err)
		}
	}
}

// TestDecodeBoundsAmplification sends a pod of millions of empty containers, two or
// three bytes each on the wire and hundreds once decoded by client-go: the decoder
// stops at MaxContainers, having held no more than that many.
func TestDecodeBoundsAmplification(t *testing.T) {
	const n = 2_000_000
	var spec []byte
	for range n {
		spec = append(spec, 0x12, 0x00) // field 2 (containers), length 0
	}
	pod := append([]byte{0x12}, varint(len(spec))...) // Pod field 2 (spec)
	pod = append(pod, spec...)
	raw := append([]byte{0x12}, varint(len(pod))...) // PodList field 2 (items)
	raw = append(raw, pod...)
	proto := append(slices.Clone(protobufMagic), 0x12)
	proto = append(append(proto, varint(len(raw))...), raw...)
	js := []byte(`{"kind":"PodList","items":[{"spec":{"containers":[` + strings.Repeat(`{},`, n) + `{}]}}]}`)

	for name, body := range map[string][]byte{"protobuf": proto, "json": js} {
		t.Run(name, func(t *testing.T) {
			tr := newTracker(Budget{Objects: 1 << 40})
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := list(body, "PodList", func(item []byte) error { var p corev1.Pod; return pbPod(tr, item, &p) },
				func(d *jsonDec) error { var p corev1.Pod; return jsPod(tr, d, &p) })
			runtime.ReadMemStats(&after)
			var tl *TooLargeError
			if !errors.As(err, &tl) || tl.What != "containers" {
				t.Fatalf("err = %v, want too many containers", err)
			}
			// What was allocated decoding: the budget, the slices' growth, and garbage of
			// the walk; client-go would have allocated about 1.2 GB.
			if got := after.TotalAlloc - before.TotalAlloc; got > 32<<20 {
				t.Errorf("decoding allocated %d MiB", got>>20)
			}
		})
	}
}

func varint(n int) []byte {
	var b []byte
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	return append(b, byte(n))
}
