package notify

import (
	"slices"

	"github.com/tagdrift/tagdrift/scanner/attention"
	"github.com/tagdrift/tagdrift/scanner/detect"
)

// Snapshot is what Decide reads of a mutation at one time.
type Snapshot struct {
	State   attention.State
	Digests []string
}

// Decide returns the event that a mutation of kind changing from prev to cur is, and
// false when it is none. The states are attention.Decide's, as the mutations' state
// column holds them. It is pure so that every transaction that changes a mutation or
// its state (a scan completing, a re-check, a cluster deleted, a rule or an
// acknowledgement changed, one expiring) decides alike:
//
//   - a history kind (tag-moved, pod-drift) newly recorded is EventRecorded, unless it
//     is expected; it never opens, changes or resolves;
//   - a mutation that starts to need attention is MutationOpened: a new one, and one
//     whose acknowledgement ended while it is still there;
//   - an open one whose set of digests differs is MutationChanged (the order of the
//     digests and the pods on them do not count); an acknowledged one is not sent;
//   - an open one that is acknowledged is MutationAcknowledged;
//   - an open or acknowledged one that resolves, or that a rule now declares expected,
//     is MutationResolved (receivers must close what they opened, a PagerDuty incident
//     acknowledged too; the caller gives the reason).
func Decide(kind detect.Kind, prev, cur Snapshot) (Type, bool) {
	if History(kind) {
		if prev.State == attention.StateAbsent && cur.State != attention.StateAbsent && cur.State != attention.StateExpected {
			return EventRecorded, true
		}
		return "", false
	}
	wasOpen, isOpen := prev.State == attention.StateOpen, cur.State == attention.StateOpen
	wasAcked := prev.State == attention.StateAcknowledged
	gone := cur.State == attention.StateResolved || cur.State == attention.StateAbsent || cur.State == attention.StateExpected
	switch {
	case !wasOpen && isOpen:
		return MutationOpened, true
	case wasOpen && isOpen:
		if sameSet(prev.Digests, cur.Digests) {
			return "", false
		}
		return MutationChanged, true
	case wasOpen && cur.State == attention.StateAcknowledged:
		return MutationAcknowledged, true
	case (wasOpen || wasAcked) && gone:
		return MutationResolved, true
	}
	return "", false
}

// sameSet reports whether a and b hold the same digests, whatever their order and
// repetitions.
func sameSet(a, b []string) bool {
	return slices.Equal(set(a), set(b))
}

// set returns the sorted distinct members of s, a copy.
func set(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}
