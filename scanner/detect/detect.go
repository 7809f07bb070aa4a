// Package detect finds mutations in an inventory of pods: places where an image tag
// resolved to different code. It is pure: no I/O, no clock.
//
// The rules (DESIGN.md section 3) that need no history:
//
//   - workload-divergence: pods of one controller revision run more than one comparable
//     digest for the same container and reference.
//   - tag-divergence: two or more workload revisions run one unpinned normalized reference
//     and do not all run the same set of comparable digests. A difference confined to
//     one revision (all others run one set, and that revision runs it and more) is that
//     revision's workload-divergence only.
//   - pin-mismatch: a pinned reference runs a repository digest other than its pin.
//
// Digests compare only within one class (classOf, the one place this rule is written):
// repository digests with repository digests, and local image IDs with image IDs of the
// same node architecture (an image ID is the config digest, which differs per platform
// even for one multi-arch tag), or of the same node when the architecture is unknown;
// imports (import-YYYY-MM-DD@…) with imports as image IDs do.
//
// The history kinds (tag-moved, pod-drift) are in history.go: TagMovedEvent and
// PodDriftEvent decide them from the earlier sightings a store feeds them.
package detect

import (
	"cmp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// Kind is the kind of a mutation.
type Kind string

const (
	WorkloadDivergence Kind = "workload-divergence"
	TagDivergence      Kind = "tag-divergence"
	PinMismatch        Kind = "pin-mismatch"
	// The history kinds are events (TagMovedEvent, PodDriftEvent) that a store records
	// from what scans opened and closed; Detect never returns them.
	TagMoved Kind = "tag-moved"
	PodDrift Kind = "pod-drift"
)

// Kinds are every kind, most severe first: mixed code in one workload, then a pin not
// honoured, a tag that runs different code in different places, and the history events.
// Lists, filters and the API take their order and their set from here.
func Kinds() []Kind {
	return []Kind{WorkloadDivergence, PinMismatch, TagDivergence, TagMoved, PodDrift}
}

// Severity is k's place in Kinds (0 is the most severe); a kind not listed sorts last.
func (k Kind) Severity() int {
	if i := slices.Index(Kinds(), k); i >= 0 {
		return i
	}
	return len(Kinds())
}

// IsEvent reports whether k is a history event (tag-moved, pod-drift): recorded once,
// born resolved, never open.
func (k Kind) IsEvent() bool { return k == TagMoved || k == PodDrift }

// Place is one container of one pod running one digest.
type Place struct {
	Cluster   string             `json:"cluster"`
	Namespace string             `json:"namespace"`
	Workload  inventory.Workload `json:"workload"`
	Pod       string             `json:"pod"`
	Container string             `json:"container"`
	Digest    string             `json:"digest"`
}

// Mutation is one detected mutation. For a tag-divergence that spans several clusters,
// namespaces, workloads or containers, the fields they do not share are empty and
// Places says where each digest runs.
type Mutation struct {
	Kind    Kind   `json:"kind"`
	Cluster string `json:"cluster"`
	// Group is the cluster group the mutation was detected in (inventory.GroupName of
	// its pods' group): a tag-divergence spans clusters of one group only. The store
	// fills it on every read; a scan's own report leaves it out when it is the default.
	Group     string             `json:"group,omitempty"`
	Namespace string             `json:"namespace"`
	Workload  inventory.Workload `json:"workload"`
	Container string             `json:"container"`
	Ref       string             `json:"ref"`
	Digests   []string           `json:"digests"`
	Places    []Place            `json:"places"`
	// Identity names the condition stably across scans (the controller and revision of
	// a workload-divergence, the reference of a tag-divergence), so that a store can
	// tell a mutation still open from a new one.
	Identity string `json:"-"`
}

// class groups digests that may be compared.
type class struct {
	kind          imageref.Kind
	arch          string
	cluster, node string
}

// localClass is the class of a pod's local digests of kind (classOf): image IDs or
// imports.
func localClass(kind imageref.Kind, p *inventory.Pod) class {
	return classOf(kind, p.Cluster, p.Node, p.Arch)
}

// revision identifies one workload revision: a controller and the revision of its
// template, or a bare pod.
type revision struct {
	cluster   string
	namespace string
	uid       types.UID
	revision  string
}

func revisionOf(p *inventory.Pod) revision {
	if p.Controller.UID == "" {
		return revision{cluster: p.Cluster, namespace: p.Namespace, uid: p.UID}
	}
	return revision{cluster: p.Cluster, namespace: p.Namespace, uid: p.Controller.UID, revision: p.Controller.Revision}
}

// seen is one observed container: its digest, indexes into the pods, and its interned
// class and revision, kept small because a scan holds one per container.
type seen struct {
	digest   string
	pod, ctr int32
	cls, rev int32
}

// containerKey identifies one container of one revision.
type containerKey struct {
	rev       int32
	container string
	ref       string
}

// refKey is what a tag-divergence spans: one unpinned reference in one cluster group.
type refKey struct {
	group, ref string
}

type pinKey struct {
	cluster, namespace string
	workload           inventory.Workload
	container, ref     string
}

type detector struct {
	pods      []inventory.Pod
	classes   map[class]int32
	revisions map[revision]int32
	revList   []revision // by interned index
}

func (d *detector) place(s seen) Place {
	p := &d.pods[s.pod]
	c := &p.Containers[s.ctr]
	return Place{
		Cluster:   p.Cluster,
		Namespace: p.Namespace,
		Workload:  p.Workload,
		Pod:       p.Name,
		Container: c.Name,
		Digest:    c.ID.Digest,
	}
}

func intern[K comparable](m map[K]int32, k K) int32 {
	if i, ok := m[k]; ok {
		return i
	}
	i := int32(len(m))
	m[k] = i
	return i
}

// groups collects seen containers by key. Pods of one revision are usually listed next
// to each other, so the group of the previous pod's container at the same position is
// tried before the map.
type groups[K comparable] struct {
	index map[K]int32
	keys  []K
	lists [][]seen
}

func newGroups[K comparable]() *groups[K] {
	return &groups[K]{index: make(map[K]int32)}
}

func (g *groups[K]) add(k K, s seen, hint *int32) {
	i := *hint
	if i < 0 || g.keys[i] != k {
		var ok bool
		if i, ok = g.index[k]; !ok {
			i = int32(len(g.keys))
			g.index[k] = i
			g.keys = append(g.keys, k)
			g.lists = append(g.lists, nil)
		}
		*hint = i
	}
	g.lists[i] = append(g.lists[i], s)
}

// maxHints bounds the per-position hints; containers past it go to the map directly.
const maxHints = 16

// Detect returns the mutations among pods, sorted by kind, cluster, namespace, workload,
// container, reference and group. A tag-divergence spans the pods of one group
// (Pod.Group) only: two groups running one reference on different digests raise none.
func Detect(pods []inventory.Pod) []Mutation {
	d := &detector{pods: pods, classes: make(map[class]int32), revisions: make(map[revision]int32)}
	byContainer := newGroups[containerKey]()
	byRef := newGroups[refKey]()
	pins := newGroups[pinKey]()
	var containerHints, refHints [maxHints]int32
	for i := range maxHints {
		containerHints[i], refHints[i] = -1, -1
	}
	repoClass := intern(d.classes, classOf(imageref.KindRepo, "", "", ""))

	var lastRev revision
	rev := int32(-1)
	for i := range pods {
		p := &pods[i]
		if r := revisionOf(p); rev < 0 || r != lastRev {
			lastRev, rev = r, intern(d.revisions, r)
			if int(rev) == len(d.revList) {
				d.revList = append(d.revList, r)
			}
		}
		imageClass, importClass := int32(-1), int32(-1)
		for j := range p.Containers {
			c := &p.Containers[j]
			if !c.Observed() {
				continue
			}
			s := seen{digest: c.ID.Digest, pod: int32(i), ctr: int32(j), rev: rev}
			switch c.ID.Kind {
			case imageref.KindRepo:
				s.cls = repoClass
			case imageref.KindImageID:
				if imageClass < 0 {
					imageClass = intern(d.classes, localClass(imageref.KindImageID, p))
				}
				s.cls = imageClass
			case imageref.KindImport:
				if importClass < 0 {
					importClass = intern(d.classes, localClass(imageref.KindImport, p))
				}
				s.cls = importClass
			default:
				continue
			}
			noHint := int32(-1)
			containerHint, refHint := &noHint, &noHint
			if j < maxHints {
				containerHint, refHint = &containerHints[j], &refHints[j]
			}
			if p.Controller.UID != "" {
				byContainer.add(containerKey{rev: rev, container: c.Name, ref: c.Ref.Normalized}, s, containerHint)
			}
			switch {
			case c.Ref.Pinned():
				if c.ID.Kind == imageref.KindRepo && c.ID.Digest != c.Ref.Pin {
					pins.add(pinKey{p.Cluster, p.Namespace, p.Workload, c.Name, c.Ref.Normalized}, s, &noHint)
				}
			case c.Ref.Valid():
				byRef.add(refKey{inventory.GroupName(p.Group), c.Ref.Normalized}, s, refHint)
			}
		}
	}

	var out []Mutation
	for i, group := range byContainer.lists {
		if diverging := divergingWithin(group); len(diverging) > 0 {
			k := byContainer.keys[i]
			r := d.revList[k.rev]
			m := d.newMutation(WorkloadDivergence, k.ref, diverging)
			m.Identity = identity(WorkloadDivergence, r.cluster, r.namespace, string(r.uid), r.revision, k.container, k.ref)
			out = append(out, m)
		}
	}
	for i, group := range byRef.lists {
		if diverging := divergingAcross(group); len(diverging) > 0 {
			k := byRef.keys[i]
			m := d.newMutation(TagDivergence, k.ref, diverging)
			m.Identity = tagDivergenceIdentity(k.group, k.ref)
			out = append(out, m)
		}
	}
	for i, group := range pins.lists {
		k := pins.keys[i]
		m := d.newMutation(PinMismatch, k.ref, group)
		m.Identity = identity(PinMismatch, k.cluster, k.namespace, k.workload.Kind, k.workload.Name, k.container, k.ref)
		out = append(out, m)
	}
	slices.SortFunc(out, compareMutations)
	return out
}

// divergingWithin returns the members of one container's group whose class holds more
// than one digest.
func divergingWithin(group []seen) []seen {
	first := make(map[int32]string, 2)
	split := make(map[int32]bool, 2)
	for _, s := range group {
		if f, ok := first[s.cls]; !ok {
			first[s.cls] = s.digest
		} else if f != s.digest {
			split[s.cls] = true
		}
	}
	return keep(group, split)
}

// divergingAcross returns the members of one reference's group whose class is run by two
// or more revisions that do not all run the same set of digests, unless the difference
// is confined to one revision (see confinedToOne).
func divergingAcross(group []seen) []seen {
	sets := make(map[int32]map[int32][]string)
	for _, s := range group {
		revs := sets[s.cls]
		if revs == nil {
			revs = make(map[int32][]string)
			sets[s.cls] = revs
		}
		if !slices.Contains(revs[s.rev], s.digest) {
			revs[s.rev] = append(revs[s.rev], s.digest)
		}
	}
	split := make(map[int32]bool)
	for cls, revs := range sets {
		if len(revs) < 2 {
			continue
		}
		// The distinct digest sets, and how many revisions run each.
		var distinct [][]string
		var count []int
	revisions:
		for _, digests := range revs {
			slices.Sort(digests)
			for i, d := range distinct {
				if slices.Equal(d, digests) {
					count[i]++
					continue revisions
				}
			}
			distinct = append(distinct, digests)
			count = append(count, 1)
		}
		if len(distinct) > 1 && !confinedToOne(distinct, count) {
			split[cls] = true
		}
	}
	return keep(group, split)
}

// confinedToOne reports whether unequal digest sets differ only inside one revision:
// every revision but one runs the same set, and that one revision runs all of it and
// more. That revision is a workload-divergence; the tag itself resolved the same way
// everywhere else, so it is not also a tag-divergence.
func confinedToOne(distinct [][]string, count []int) bool {
	if len(distinct) != 2 {
		return false
	}
	for i, j := range []int{1, 0} {
		if count[i] == 1 && len(distinct[i]) > len(distinct[j]) && containsAll(distinct[i], distinct[j]) {
			return true
		}
	}
	return false
}

func containsAll(set, sub []string) bool {
	for _, d := range sub {
		if !slices.Contains(set, d) {
			return false
		}
	}
	return true
}

func keep(group []seen, classes map[int32]bool) []seen {
	if len(classes) == 0 {
		return nil
	}
	var out []seen
	for _, s := range group {
		if classes[s.cls] {
			out = append(out, s)
		}
	}
	return out
}

// newMutation describes a group; fields its places do not share are left empty.
func (d *detector) newMutation(kind Kind, ref string, group []seen) Mutation {
	m := Mutation{Kind: kind, Ref: ref, Places: make([]Place, 0, len(group))}
	if len(group) > 0 {
		// "" for the default group, however its pods spell it: the report omits it.
		if g := inventory.GroupName(d.pods[group[0].pod].Group); g != inventory.DefaultGroup {
			m.Group = g
		}
	}
	for i, s := range group {
		pl := d.place(s)
		m.Places = append(m.Places, pl)
		if !slices.Contains(m.Digests, pl.Digest) {
			m.Digests = append(m.Digests, pl.Digest)
		}
		if i == 0 {
			m.Cluster, m.Namespace, m.Workload, m.Container = pl.Cluster, pl.Namespace, pl.Workload, pl.Container
			continue
		}
		if m.Cluster != pl.Cluster {
			m.Cluster = ""
		}
		if m.Cluster == "" || m.Namespace != pl.Namespace {
			m.Namespace = ""
		}
		if m.Namespace == "" || m.Workload != pl.Workload {
			m.Workload = inventory.Workload{}
		}
		if m.Container != pl.Container {
			m.Container = ""
		}
	}
	slices.Sort(m.Digests)
	slices.SortFunc(m.Places, ComparePlaces)
	return m
}

// tagDivergenceIdentity names the tag-divergence of ref in group: the default group's
// keeps the name it had before there were groups, so that upgrading leaves the open
// ones as they are.
func tagDivergenceIdentity(group, ref string) string {
	if group == inventory.DefaultGroup {
		return identity(TagDivergence, ref)
	}
	return identity(TagDivergence, ref, group)
}

// identity joins a kind and the fields that name one condition of it.
func identity(kind Kind, fields ...string) string {
	return string(kind) + "|" + strings.Join(fields, "|")
}

// ComparePlaces orders places by cluster, namespace, workload, pod, container and
// digest, as mutations list them.
func ComparePlaces(a, b Place) int {
	return cmp.Or(
		strings.Compare(a.Cluster, b.Cluster),
		strings.Compare(a.Namespace, b.Namespace),
		strings.Compare(a.Workload.Kind, b.Workload.Kind),
		strings.Compare(a.Workload.Name, b.Workload.Name),
		strings.Compare(a.Pod, b.Pod),
		strings.Compare(a.Container, b.Container),
		strings.Compare(a.Digest, b.Digest),
	)
}

func compareMutations(a, b Mutation) int {
	return cmp.Or(
		strings.Compare(string(a.Kind), string(b.Kind)),
		strings.Compare(a.Cluster, b.Cluster),
		strings.Compare(a.Namespace, b.Namespace),
		strings.Compare(a.Workload.Kind, b.Workload.Kind),
		strings.Compare(a.Workload.Name, b.Workload.Name),
		strings.Compare(a.Container, b.Container),
		strings.Compare(a.Ref, b.Ref),
		strings.Compare(a.Group, b.Group),
		slices.Compare(a.Digests, b.Digests),
	)
}
