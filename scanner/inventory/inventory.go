// Package inventory turns Kubernetes pods into what tagdrift reasons about: each pod's
// workload (resolved through owner references, never labels), its controller revision,
// and one observation per container that runs a digest. It does no I/O.
package inventory

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/scanner/imageref"
)

// ContainerType tells regular, init and ephemeral containers apart.
type ContainerType string

const (
	Init      ContainerType = "init"
	Regular   ContainerType = "regular"
	Ephemeral ContainerType = "ephemeral"
)

// Workload names the top of a pod's controller owner chain: Deployment, ReplicaSet
// (without a Deployment), StatefulSet, DaemonSet, CronJob, Job (without a CronJob),
// another controller's kind, or Pod for a pod without a controller.
type Workload struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// builtinKinds are the workload kinds Kubernetes itself defines, as it spells them.
var builtinKinds = []string{"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "CronJob", "Job", "Pod"}

// CanonicalKind spells a built-in workload kind as Kubernetes does, whatever its case
// ("deployment", as pages print kinds, is "Deployment"); another controller's kind is
// returned as given, since only its own spelling names it.
func CanonicalKind(kind string) string {
	for _, k := range builtinKinds {
		if strings.EqualFold(k, kind) {
			return k
		}
	}
	return kind
}

// Controller is a pod's direct controller and the revision of its template the pod
// was made from. Pods of one Controller and Revision should run the same code.
type Controller struct {
	Kind     string
	Name     string
	UID      types.UID
	Revision string
}

// DefaultGroup is the group of every cluster not put in another: one group, so that
// correlation across clusters is what it always was for a single team.
const DefaultGroup = "default"

// GroupName is the name of group g: DefaultGroup for "".
func GroupName(g string) string {
	if g == "" {
		return DefaultGroup
	}
	return g
}

// Pod is one pod as tagdrift needs it.
type Pod struct {
	Cluster string
	// Group is the cluster's group: a tag-divergence spans the pods of one group only.
	// "" is the default group (DefaultGroup), as it is for a pod of a lone cluster.
	Group     string
	Namespace string
	Name      string
	UID       types.UID
	Node      string
	// Arch and Runtime come from the pod's node (status.nodeInfo) when nodes could be
	// listed; empty otherwise.
	Arch       string
	Runtime    string
	Workload   Workload
	Controller Controller // zero for a pod without a controller
	Containers []Container
}

// Container is one container of a pod, with the digest it runs when it runs one. Ref
// and ID are shared between the containers that run one image: do not modify them.
type Container struct {
	Name string
	Type ContainerType
	Ref  *imageref.Ref
	// ID is the digest the container runs (or ran); nil when it is not an observation:
	// no imageID yet, or the container is waiting.
	ID *imageref.ID
}

// Observed reports whether the container runs a digest.
func (c *Container) Observed() bool { return c.ID != nil }

// Owner is a controller of a ReplicaSet or Job, for resolving a pod's workload.
type Owner struct {
	Kind string
	Name string
}

// Owners maps ReplicaSet and Job UIDs to their own controller, when they have one.
type Owners map[types.UID]Owner

// Add records obj's controller, if any.
func (o Owners) Add(obj metav1.Object) {
	if ref := metav1.GetControllerOfNoCopy(obj); ref != nil {
		o[obj.GetUID()] = Owner{Kind: ref.Kind, Name: ref.Name}
	}
}

// Node is what a pod's node says about how it runs images.
type Node struct {
	Arch    string
	Runtime string
}

// Builder converts pods into inventory Pods, sharing parsed references between them.
// It is not safe for concurrent use.
type Builder struct {
	Cluster string
	Owners  Owners
	Nodes   map[string]Node
	parser  *imageref.Parser
	// slab hands out the Containers slices of many pods from one allocation.
	slab []Container
}

// NewBuilder returns a Builder for one cluster.
func NewBuilder(cluster string, owners Owners, nodes map[string]Node) *Builder {
	return &Builder{Cluster: cluster, Owners: owners, Nodes: nodes, parser: imageref.NewParser()}
}

// slabSize is how many containers one slab allocation holds.
const slabSize = 1024

// Pod converts one Kubernetes pod.
func (b *Builder) Pod(p *corev1.Pod) Pod {
	out := Pod{
		Cluster:   b.Cluster,
		Namespace: p.Namespace,
		Name:      p.Name,
		UID:       p.UID,
		Node:      p.Spec.NodeName,
	}
	if n, ok := b.Nodes[p.Spec.NodeName]; ok {
		out.Arch, out.Runtime = n.Arch, n.Runtime
	}
	out.Controller, out.Workload = b.resolve(p)

	n := len(p.Spec.InitContainers) + len(p.Spec.Containers) + len(p.Spec.EphemeralContainers)
	if len(b.slab) < n {
		b.slab = make([]Container, max(n, slabSize))
	}
	out.Containers = b.slab[:0:n]
	b.slab = b.slab[n:]
	// Indexing, not ranging by value: a corev1.Container is large to copy.
	for i := range p.Spec.InitContainers {
		c := &p.Spec.InitContainers[i]
		out.Containers = append(out.Containers, b.container(c.Name, Init, c.Image, p.Status.InitContainerStatuses))
	}
	for i := range p.Spec.Containers {
		c := &p.Spec.Containers[i]
		out.Containers = append(out.Containers, b.container(c.Name, Regular, c.Image, p.Status.ContainerStatuses))
	}
	for i := range p.Spec.EphemeralContainers {
		c := &p.Spec.EphemeralContainers[i]
		out.Containers = append(out.Containers, b.container(c.Name, Ephemeral, c.Image, p.Status.EphemeralContainerStatuses))
	}
	return out
}

// container takes the reference from the spec (never status.image, which can name
// another tag or a bare ID) and the digest from the status of the same name.
func (b *Builder) container(name string, typ ContainerType, image string, statuses []corev1.ContainerStatus) Container {
	c := Container{Name: name, Type: typ, Ref: b.parser.Ref(image)}
	for i := range statuses {
		s := &statuses[i]
		if s.Name != name {
			continue
		}
		// A waiting container's imageID is empty or left over from a previous run.
		if s.State.Waiting != nil {
			break
		}
		c.ID = b.parser.ImageID(s.ImageID)
		break
	}
	return c
}

// resolve walks the owner chain: Pod → ReplicaSet → Deployment, Pod → Job → CronJob,
// Pod → StatefulSet or DaemonSet, or the bare pod.
func (b *Builder) resolve(p *corev1.Pod) (Controller, Workload) {
	ref := metav1.GetControllerOfNoCopy(p)
	// A static (mirror) pod is owned by its Node: it is a pod of its own.
	if ref == nil || ref.Kind == "Node" {
		return Controller{}, Workload{Kind: "Pod", Name: p.Name}
	}
	ctl := Controller{Kind: ref.Kind, Name: ref.Name, UID: ref.UID}
	switch ref.Kind {
	case "ReplicaSet":
		ctl.Revision = p.Labels["pod-template-hash"]
	case "StatefulSet", "DaemonSet":
		ctl.Revision = p.Labels["controller-revision-hash"]
	case "Job":
		// A Job's template is immutable: it has one revision.
	default:
		ctl.Revision = p.Labels["controller-revision-hash"]
		if ctl.Revision == "" {
			ctl.Revision = p.Labels["pod-template-hash"]
		}
	}
	w := Workload{Kind: ref.Kind, Name: ref.Name}
	if ref.Kind == "ReplicaSet" || ref.Kind == "Job" {
		if owner, ok := b.Owners[ref.UID]; ok {
			w = Workload(owner)
		}
	}
	return ctl, w
}
