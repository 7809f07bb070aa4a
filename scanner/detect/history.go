package detect

import (
	"time"

	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// The history kinds are events, decided from what ran before:
//
//   - tag-moved: a reference runs a digest never seen for it before, after another
//     comparable digest was seen for it.
//   - pod-drift: the same container of the same pod UID runs another comparable digest
//     than the one it ran last (its latest earlier comparable sighting), a return to a
//     digest it ran before included: either is a change of the code under a running
//     pod. Each change is its own event, at the time it was seen.
//
// Only comparable digests count (see Comparable): a switch between a repository digest
// and an image ID of the same image, or image IDs of two architectures, prove nothing.
// A store feeds these rules the sightings they need and stores the events they return.

// Sighting is one interval of a container running a digest, as the history rules read
// it.
type Sighting struct {
	Place
	// Group is the cluster group of the sighting's cluster ("" for the default):
	// a tag moves within one group, whose sightings alone a store gives as earlier.
	Group  string
	PodUID string
	Ref    string // normalized
	Kind   imageref.Kind
	// Node and Arch are the pod's node and its architecture ("" when unknown).
	Node, Arch string
	FirstSeen  time.Time
}

// class is the comparison class of the sighting's digest.
func (s Sighting) class() class { return classOf(s.Kind, s.Cluster, s.Node, s.Arch) }

// classOf is the one comparison rule: repository digests compare with repository
// digests; image IDs with image IDs of the same node architecture (an image ID is the
// config digest of one platform's image), or of the same node of the same cluster when
// the architecture is unknown (a mixed-architecture cluster must not look like a
// mutation); imports (a manifest made where the image was exported, named
// import-YYYY-MM-DD) likewise with imports only, as local as image IDs and as
// platform-bound (an exported manifest is one platform's), never with the registry's
// digests. Unknown forms compare with nothing (their class is never used).
func classOf(kind imageref.Kind, cluster, node, arch string) class {
	switch {
	case kind == imageref.KindRepo:
		return class{kind: kind}
	case (kind == imageref.KindImageID || kind == imageref.KindImport) && arch != "":
		return class{kind: kind, arch: arch}
	default:
		return class{kind: kind, cluster: cluster, node: node}
	}
}

// Comparable reports whether two sightings' digests may be compared: unequal digests
// then prove different content.
func Comparable(a, b Sighting) bool {
	return a.Kind != imageref.KindUnknown && b.Kind != imageref.KindUnknown && a.class() == b.class()
}

// TagMovedEvent returns the tag-moved event of now, a sighting of an unpinned reference,
// given the reference's earlier sightings (any order; those of another reference are
// ignored): one when now's digest was never seen for the reference, and another
// comparable digest was. The tag moved from the latest of those. The earlier sightings
// are those of now's cluster group: another group's history moves no tag in this one,
// and the event is named by the group (but for the default group's, which keep the name
// they had before there were groups).
func TagMovedEvent(earlier []Sighting, now Sighting) (Mutation, bool) {
	var from *Sighting
	for i := range earlier {
		e := &earlier[i]
		if e.Ref != now.Ref {
			continue
		}
		if e.Digest == now.Digest {
			return Mutation{}, false // seen before: the tag went back, it did not move
		}
		if Comparable(*e, now) && (from == nil || e.FirstSeen.After(from.FirstSeen)) {
			from = e
		}
	}
	if from == nil {
		return Mutation{}, false
	}
	ident := identity(TagMoved, now.Ref, from.Digest, now.Digest)
	group := inventory.GroupName(now.Group)
	if group != inventory.DefaultGroup {
		ident += "|" + group
	}
	m := event(TagMoved, now, from.Digest, ident)
	m.Group = now.Group // "" for the default group, as the sighting's
	return m, true
}

// PodDriftEvent returns the pod-drift event of now, a container of one pod UID, given that
// container's earlier sightings (any order; at least its latest comparable one under
// now's reference; those of another pod, container or reference, and those not before
// now, are ignored): one when the comparable digest it ran last under the same
// reference differs from now's, whether or not it ran now's digest before (a tag moved
// and moved back under a running pod is a change of its code). A restart onto the same
// digest, a change to a digest of another class, and a new image written in the spec
// are not drifts.
func PodDriftEvent(earlier []Sighting, now Sighting) (Mutation, bool) {
	var last *Sighting
	for i := range earlier {
		e := &earlier[i]
		if e.PodUID != now.PodUID || e.Container != now.Container || e.Cluster != now.Cluster || e.Ref != now.Ref ||
			!e.FirstSeen.Before(now.FirstSeen) || !Comparable(*e, now) {
			continue
		}
		// The latest; of two as late, the one that ran now's digest (no change proven).
		if last == nil || e.FirstSeen.After(last.FirstSeen) || (e.FirstSeen.Equal(last.FirstSeen) && e.Digest == now.Digest) {
			last = e
		}
	}
	if last == nil || last.Digest == now.Digest {
		return Mutation{}, false
	}
	return event(PodDrift, now, last.Digest, identity(PodDrift, now.Cluster, now.PodUID, now.Container, last.Digest, now.Digest)), true
}

// event is a history event at now's place, from one digest to now's.
func event(kind Kind, now Sighting, from, ident string) Mutation {
	return Mutation{
		Kind: kind, Cluster: now.Cluster, Namespace: now.Namespace, Workload: now.Workload, Container: now.Container,
		Ref: now.Ref, Digests: []string{from, now.Digest}, Places: []Place{now.Place}, Identity: ident,
	}
}
