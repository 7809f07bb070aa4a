package notify

import (
	"slices"

	"github.com/tagdrift/tagdrift/scanner/detect"
)

// State is a mutation's state as the one state function of issue 27 decides it (a
// column written only through that function): whether it needs attention.
type State string

const (
	// StateAbsent: not recorded (before it opened).
	StateAbsent State = ""
	// StateOpen: it needs attention; the only state that is notified.
	StateOpen State = "open"
	// StateAcknowledged: someone said it is known, until an end.
	StateAcknowledged State = "acknowledged"
	// StateExpected: a rule declares its tag mutable; recorded and shown, never sent.
	StateExpected State = "expected"
	// StateResolved: no longer detected, or its cluster was deleted.
	StateResolved State = "resolved"
)

// Snapshot is what Decide reads of a mutation at one time.
type Snapshot struct {
	State   State
	Digests []string
}

// Decide returns the event that a mutation of kind changing from prev to cur is, and
// false when it is none. It is pure so that the three transactions that change
// mutations (a scan completing, a re-check, a cluster deleted) decide alike:
//
//   - a history kind (tag-moved, pod-drift) newly recorded is EventRecorded, unless it
//     is expected; it never opens, changes or resolves;
//   - a mutation that starts to need attention is MutationOpened: a new one, and one
//     whose acknowledgement ended while it is still there;
//   - an open one whose set of digests differs is MutationChanged (the order of the
//     digests and the pods on them do not count);
//   - an open one that resolves, or that a rule now declares expected, is
//     MutationResolved (receivers must close what they opened; the caller gives the
//     reason);
//   - an open one that is acknowledged is none here: issue 27's mutation.acknowledged.
func Decide(kind detect.Kind, prev, cur Snapshot) (Type, bool) {
	if History(kind) {
		if prev.State == StateAbsent && cur.State != StateAbsent && cur.State != StateExpected {
			return EventRecorded, true
		}
		return "", false
	}
	wasOpen, isOpen := prev.State == StateOpen, cur.State == StateOpen
	switch {
	case !wasOpen && isOpen:
		return MutationOpened, true
	case wasOpen && isOpen:
		if sameSet(prev.Digests, cur.Digests) {
			return "", false
		}
		return MutationChanged, true
	case wasOpen && (cur.State == StateResolved || cur.State == StateAbsent || cur.State == StateExpected):
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
