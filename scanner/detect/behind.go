package detect

import (
	"slices"
	"strings"
	"time"
)

// Behind the tag (DESIGN section 3) is not a mutation: a workload that runs, for an
// unpinned reference, only digests the reference's tag has since moved away from in the
// workload's cluster group. Its next restart is likely to change its code.
//
// Where a tag points is the digest of its newest move in the group: the newest digest
// tagdrift saw the reference move to, by a tag-moved event or a pod-drift (a running
// container of an unpinned reference restarted onto another digest: its tag resolved
// to that one then, which is how a tag that went back to a digest it had before shows,
// since a return is no tag-moved). The digests it moved away from are the other digests
// of its moves there, all comparable with it (both events are recorded only between
// comparable digests), so a digest of another class (an image ID kept raw, a local
// import) is never judged. A return that no running container pulled is not seen
// (only the registry could tell it from a node's cached copy).

// Move is a tag-moved or pod-drift event as Targets reads it.
type Move struct {
	Ref, Group string
	From, To   string
	At         time.Time
	// Seq orders moves of one time (the store's id).
	Seq int64
}

// TagTarget is where a reference's tag points in one cluster group, since MovedAt, and
// the digests it moved away from there (Left, sorted).
type TagTarget struct {
	Digest  string
	MovedAt time.Time
	Left    []string
}

// RefGroup names a reference in a cluster group.
type RefGroup struct{ Ref, Group string }

// Targets is where each tag points in each group its moves name.
func Targets(moves []Move) map[RefGroup]TagTarget {
	newest := map[RefGroup]Move{}
	digests := map[RefGroup][]string{}
	for _, m := range moves {
		k := RefGroup{m.Ref, m.Group}
		if n, ok := newest[k]; !ok || m.At.After(n.At) || (m.At.Equal(n.At) && m.Seq > n.Seq) {
			newest[k] = m
		}
		digests[k] = append(digests[k], m.From, m.To)
	}
	out := make(map[RefGroup]TagTarget, len(newest))
	for k, n := range newest {
		left := slices.DeleteFunc(digests[k], func(d string) bool { return d == n.To })
		slices.Sort(left)
		out[k] = TagTarget{Digest: n.To, MovedAt: n.At, Left: slices.Compact(left)}
	}
	return out
}

// BehindRef is a reference a workload runs behind its tag: the digests it runs of it
// (each one the tag left, sorted), and where the tag points now.
type BehindRef struct {
	Ref     string
	Digests []string
	Tag     string
	MovedAt time.Time
}

// Behind judges one workload of a cluster in group: runs holds, by reference, the
// digests its pods run now. A reference is behind when its tag moved in the group, no
// pod runs what it points to, and some run a digest it left. By reference.
func Behind(group string, runs map[string][]string, targets map[RefGroup]TagTarget) []BehindRef {
	var out []BehindRef
	for ref, ds := range runs {
		t, ok := targets[RefGroup{ref, group}]
		if !ok || slices.Contains(ds, t.Digest) {
			continue
		}
		var left []string
		for _, d := range ds {
			if _, found := slices.BinarySearch(t.Left, d); found && !slices.Contains(left, d) {
				left = append(left, d)
			}
		}
		if len(left) == 0 {
			continue
		}
		slices.Sort(left)
		out = append(out, BehindRef{Ref: ref, Digests: left, Tag: t.Digest, MovedAt: t.MovedAt})
	}
	slices.SortFunc(out, func(a, b BehindRef) int { return strings.Compare(a.Ref, b.Ref) })
	return out
}
