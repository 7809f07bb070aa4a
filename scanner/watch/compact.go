package watch

import (
	"slices"
	"unique"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/scanner/kube"
)

// str is a string shared by every object that holds the same value (a namespace, a
// node, an image, an imageID): unique.Handle keeps one copy while any holds it, and
// takes 8 bytes where a string header takes 16. The zero str is "".
type str unique.Handle[string]

func mk(s string) str {
	if s == "" {
		return str{}
	}
	return str(unique.Make(s))
}

func (s str) String() string {
	if s == (str{}) {
		return ""
	}
	return unique.Handle[string](s).Value()
}

// Pod is what the cache keeps of a pod: what package inventory reads of it (names,
// UID, the controller owner reference, the node, the revision labels, each
// container's image from the spec and the imageID and state of its status), nothing
// else. A zero corev1.Pod alone takes 1,168 bytes; a Pod of two containers takes about
// 250 with its strings (BenchmarkPodMemory).
type Pod struct {
	namespace str
	name      string
	uid       types.UID
	node      str
	// ctl is the controller owner reference; zero for none.
	ctlKind, ctlName, ctlUID str
	// templateHash and revisionHash are the pod-template-hash and
	// controller-revision-hash labels.
	templateHash, revisionHash str
	containers                 []container
}

// container is one container of a Pod: its spec's image and its status's imageID.
type container struct {
	name    str
	typ     uint8 // index in containerTypes
	image   str
	imageID str
	// status tells that a status of the container's name was found; waiting that it
	// said waiting (its imageID is then not an observation).
	status, waiting bool
}

var containerTypes = [...]inventory.ContainerType{inventory.Init, inventory.Regular, inventory.Ephemeral}

// GetObjectMeta gives the informer's key functions the pod's namespace and name.
func (p *Pod) GetObjectMeta() metav1.Object {
	return &metav1.ObjectMeta{Namespace: p.namespace.String(), Name: p.name, UID: p.uid}
}

// size is what p takes in the cache, at most: its record, its containers, and its
// strings as if none were shared.
func (p *Pod) size() int64 {
	n := int64(unsafe.Sizeof(*p)) + int64(len(p.name)+len(p.uid)+len(p.namespace.String())+len(p.node.String())+
		len(p.ctlKind.String())+len(p.ctlName.String())+len(p.ctlUID.String())+
		len(p.templateHash.String())+len(p.revisionHash.String()))
	n += int64(cap(p.containers)) * int64(unsafe.Sizeof(container{}))
	for _, c := range p.containers {
		n += int64(len(c.name.String()) + len(c.image.String()) + len(c.imageID.String()))
	}
	return n
}

// decoded is a pod as a list page or a watch event brings it (kube.Listing,
// kube.PodWatch), before the informer's transform keeps its Pod: the reflector reads
// its key, its resource version and a bookmark's annotation through GetObjectMeta.
type decoded struct {
	pod  *Pod
	meta metav1.ObjectMeta
}

func newDecoded(p *corev1.Pod) *decoded {
	d := &decoded{meta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name, UID: p.UID,
		ResourceVersion: p.ResourceVersion, Annotations: p.Annotations}}
	if p.Name != "" {
		d.pod = compactPod(p)
	}
	return d
}

func (d *decoded) GetObjectMeta() metav1.Object     { return &d.meta }
func (d *decoded) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }
func (d *decoded) DeepCopyObject() runtime.Object   { c := *d; return &c }

// page is a page of a list as kube.Listing decodes it, its items compacted (pods as
// *decoded, ReplicaSets and Jobs as *Owned): the list client-go's pager reads, its
// items and its ListMeta.
type page[T runtime.Object] struct {
	metav1.TypeMeta
	metav1.ListMeta
	Items []T
}

func (l *page[T]) DeepCopyObject() runtime.Object {
	c := *l
	c.Items = slices.Clone(l.Items)
	return &c
}

// equal tells whether two Pods keep the same fields.
func (p *Pod) equal(q *Pod) bool {
	return p.namespace == q.namespace && p.name == q.name && p.uid == q.uid && p.node == q.node &&
		p.ctlKind == q.ctlKind && p.ctlName == q.ctlName && p.ctlUID == q.ctlUID &&
		p.templateHash == q.templateHash && p.revisionHash == q.revisionHash && slices.Equal(p.containers, q.containers)
}

// compactPod keeps of p what inventory.Builder reads.
func compactPod(p *corev1.Pod) *Pod {
	out := &Pod{
		namespace:    mk(p.Namespace),
		name:         p.Name,
		uid:          p.UID,
		node:         mk(p.Spec.NodeName),
		templateHash: mk(p.Labels["pod-template-hash"]),
		revisionHash: mk(p.Labels["controller-revision-hash"]),
	}
	if ref := metav1.GetControllerOfNoCopy(p); ref != nil {
		out.ctlKind, out.ctlName, out.ctlUID = mk(ref.Kind), mk(ref.Name), mk(string(ref.UID))
	}
	out.containers = make([]container, 0, len(p.Spec.InitContainers)+len(p.Spec.Containers)+len(p.Spec.EphemeralContainers))
	for i := range p.Spec.InitContainers {
		c := &p.Spec.InitContainers[i]
		out.containers = append(out.containers, compactContainer(c.Name, 0, c.Image, p.Status.InitContainerStatuses))
	}
	for i := range p.Spec.Containers {
		c := &p.Spec.Containers[i]
		out.containers = append(out.containers, compactContainer(c.Name, 1, c.Image, p.Status.ContainerStatuses))
	}
	for i := range p.Spec.EphemeralContainers {
		c := &p.Spec.EphemeralContainers[i]
		out.containers = append(out.containers, compactContainer(c.Name, 2, c.Image, p.Status.EphemeralContainerStatuses))
	}
	return out
}

// compactContainer matches the status as inventory.Builder does: the first of the
// container's name.
func compactContainer(name string, typ uint8, image string, statuses []corev1.ContainerStatus) container {
	c := container{name: mk(name), typ: typ, image: mk(image)}
	for i := range statuses {
		s := &statuses[i]
		if s.Name != name {
			continue
		}
		c.status, c.waiting = true, s.State.Waiting != nil
		if !c.waiting {
			c.imageID = mk(s.ImageID)
		}
		break
	}
	return c
}

// pod rebuilds the few fields of a corev1.Pod that inventory.Builder reads, so that a
// watched pod becomes an inventory.Pod through the very code a scan's pod goes
// through.
func (p *Pod) pod() *corev1.Pod {
	out := &corev1.Pod{}
	out.Namespace, out.Name, out.UID = p.namespace.String(), p.name, p.uid
	out.Spec.NodeName = p.node.String()
	if p.templateHash != (str{}) || p.revisionHash != (str{}) {
		out.Labels = map[string]string{}
		if p.templateHash != (str{}) {
			out.Labels["pod-template-hash"] = p.templateHash.String()
		}
		if p.revisionHash != (str{}) {
			out.Labels["controller-revision-hash"] = p.revisionHash.String()
		}
	}
	if p.ctlKind != (str{}) || p.ctlName != (str{}) {
		yes := true
		out.OwnerReferences = []metav1.OwnerReference{{Kind: p.ctlKind.String(), Name: p.ctlName.String(),
			UID: types.UID(p.ctlUID.String()), Controller: &yes}}
	}
	for _, c := range p.containers {
		var st []corev1.ContainerStatus
		if c.status {
			s := corev1.ContainerStatus{Name: c.name.String(), ImageID: c.imageID.String()}
			if c.waiting {
				s.State.Waiting = &corev1.ContainerStateWaiting{}
			}
			st = []corev1.ContainerStatus{s}
		}
		switch containerTypes[c.typ] {
		case inventory.Init:
			out.Spec.InitContainers = append(out.Spec.InitContainers, corev1.Container{Name: c.name.String(), Image: c.image.String()})
			out.Status.InitContainerStatuses = append(out.Status.InitContainerStatuses, st...)
		case inventory.Regular:
			out.Spec.Containers = append(out.Spec.Containers, corev1.Container{Name: c.name.String(), Image: c.image.String()})
			out.Status.ContainerStatuses = append(out.Status.ContainerStatuses, st...)
		default:
			out.Spec.EphemeralContainers = append(out.Spec.EphemeralContainers,
				corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: c.name.String(), Image: c.image.String()}})
			out.Status.EphemeralContainerStatuses = append(out.Status.EphemeralContainerStatuses, st...)
		}
	}
	return out
}

// Owned is what the cache keeps of a ReplicaSet or a Job: its name and its own
// controller, for resolving a pod's workload; and of a ReplicaSet what tagdrift wrote
// on it, for the annotation.
type Owned struct {
	namespace str
	name      string
	uid       types.UID
	ctlKind   str
	ctlName   str
	// written is what tagdrift's annotation reads of a ReplicaSet: its labels and
	// annotations of tagdrift's keys and its field manager's managedFields entries;
	// nil when it holds none (most ReplicaSets, and every Job).
	written *written
}

type written struct {
	labels, annotations map[string]string
	managed             []metav1.ManagedFieldsEntry
}

// GetObjectMeta gives the informer's key functions the object's namespace and name.
func (o *Owned) GetObjectMeta() metav1.Object {
	return &metav1.ObjectMeta{Namespace: o.namespace.String(), Name: o.name, UID: o.uid}
}

// size is what o takes in the cache, at most (as Pod.size).
func (o *Owned) size() int64 {
	n := int64(unsafe.Sizeof(*o)) + int64(len(o.name)+len(o.uid)+len(o.namespace.String())+
		len(o.ctlKind.String())+len(o.ctlName.String()))
	if w := o.written; w != nil {
		n += int64(unsafe.Sizeof(*w))
		for _, m := range []map[string]string{w.labels, w.annotations} {
			for k, v := range m {
				n += int64(len(k)+len(v)) + 64 // the entry
			}
		}
		for _, f := range w.managed {
			n += int64(unsafe.Sizeof(f) + uintptr(len(f.Manager)+len(f.Operation)+len(f.APIVersion)))
			if f.FieldsV1 != nil {
				n += int64(len(f.FieldsV1.Raw))
			}
		}
	}
	return n
}

func (o *Owned) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }
func (o *Owned) DeepCopyObject() runtime.Object   { c := *o; return &c }

// sameOwner tells whether two Owned resolve pods alike: what tagdrift wrote on a
// ReplicaSet is kept up to date but wakes nothing (the annotation's own writes would
// otherwise wake the watch).
func (o *Owned) sameOwner(p *Owned) bool {
	return o.namespace == p.namespace && o.name == p.name && o.uid == p.uid && o.ctlKind == p.ctlKind && o.ctlName == p.ctlName
}

// compactOwned keeps of m its names and controller and, when keepWritten (a
// ReplicaSet), what tagdrift wrote on it (kube.ReplicaSetKeys).
func compactOwned(m metav1.Object, keepWritten bool) *Owned {
	o := &Owned{namespace: mk(m.GetNamespace()), name: m.GetName(), uid: m.GetUID()}
	if ref := metav1.GetControllerOfNoCopy(m); ref != nil {
		o.ctlKind, o.ctlName = mk(ref.Kind), mk(ref.Name)
	}
	if !keepWritten {
		return o
	}
	labels, annotations, manager := kube.ReplicaSetKeys()
	w := &written{labels: subset(m.GetLabels(), labels), annotations: subset(m.GetAnnotations(), annotations)}
	for _, f := range m.GetManagedFields() {
		if f.Manager == manager {
			w.managed = append(w.managed, f)
		}
	}
	if w.labels != nil || w.annotations != nil || w.managed != nil {
		o.written = w
	}
	return o
}

// subset is the entries of m under keys; nil for none.
func subset(m map[string]string, keys []string) map[string]string {
	var out map[string]string
	for _, k := range keys {
		if v, ok := m[k]; ok {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// replicaSet is the metadata of a ReplicaSet as kube.Client.ReplicaSets lists it for
// the annotation: names, UID, controller, and what tagdrift wrote.
func (o *Owned) replicaSet() metav1.PartialObjectMetadata {
	m := metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"},
		ObjectMeta: metav1.ObjectMeta{Namespace: o.namespace.String(), Name: o.name, UID: o.uid}}
	if o.ctlKind != (str{}) || o.ctlName != (str{}) {
		yes := true
		m.OwnerReferences = []metav1.OwnerReference{{Kind: o.ctlKind.String(), Name: o.ctlName.String(), Controller: &yes}}
	}
	if w := o.written; w != nil {
		m.Labels, m.Annotations, m.ManagedFields = w.labels, w.annotations, w.managed
	}
	return m
}

// Node is what the cache keeps of a node's metadata (nodes are watched as metadata
// only): its name, UID and architecture label. Its status's architecture and runtime
// are read apart (nodes.go), when the node is first seen and at every NodeRefresh.
type Node struct {
	name      string
	uid       types.UID
	archLabel str
}

// GetObjectMeta gives the informer's key functions the node's name.
func (n *Node) GetObjectMeta() metav1.Object { return &metav1.ObjectMeta{Name: n.name, UID: n.uid} }

func compactNode(m metav1.Object) *Node {
	return &Node{name: m.GetName(), uid: m.GetUID(), archLabel: mk(m.GetLabels()[corev1.LabelArchStable])}
}
