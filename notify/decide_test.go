package notify

import (
	"testing"

	"github.com/tagdrift/tagdrift/scanner/detect"
)

func TestDecide(t *testing.T) {
	const a, b, c = "sha256:a", "sha256:b", "sha256:c"
	snap := func(s State, digests ...string) Snapshot { return Snapshot{State: s, Digests: digests} }
	none := Type("")
	tests := []struct {
		name      string
		kind      detect.Kind
		prev, cur Snapshot
		want      Type
	}{
		{"new divergence opens", detect.WorkloadDivergence, snap(StateAbsent), snap(StateOpen, a, b), MutationOpened},
		{"new tag-divergence opens", detect.TagDivergence, snap(StateAbsent), snap(StateOpen, a, b), MutationOpened},
		{"new pin-mismatch opens", detect.PinMismatch, snap(StateAbsent), snap(StateOpen, b), MutationOpened},
		{"same digests: nothing", detect.WorkloadDivergence, snap(StateOpen, a, b), snap(StateOpen, a, b), none},
		{"same set in another order: nothing", detect.TagDivergence, snap(StateOpen, b, a), snap(StateOpen, a, b, a), none},
		{"a digest joins: changed", detect.TagDivergence, snap(StateOpen, a, b), snap(StateOpen, a, b, c), MutationChanged},
		{"a digest leaves: changed", detect.TagDivergence, snap(StateOpen, a, b, c), snap(StateOpen, a, c), MutationChanged},
		{"one replaced by another: changed", detect.WorkloadDivergence, snap(StateOpen, a, b), snap(StateOpen, a, c), MutationChanged},
		{"resolves", detect.WorkloadDivergence, snap(StateOpen, a, b), snap(StateResolved, a, b), MutationResolved},
		{"row gone (cluster purged): resolved", detect.PinMismatch, snap(StateOpen, b), snap(StateAbsent), MutationResolved},
		{"declared expected while open: resolved", detect.TagDivergence, snap(StateOpen, a, b), snap(StateExpected, a, b), MutationResolved},
		{"acknowledged while open: not here", detect.TagDivergence, snap(StateOpen, a, b), snap(StateAcknowledged, a, b), none},
		{"acknowledgement ends, still there: opens", detect.TagDivergence, snap(StateAcknowledged, a, b), snap(StateOpen, a, b), MutationOpened},
		{"acknowledged one changes: nothing", detect.TagDivergence, snap(StateAcknowledged, a, b), snap(StateAcknowledged, a, c), none},
		{"acknowledged one resolves: nothing", detect.TagDivergence, snap(StateAcknowledged, a, b), snap(StateResolved, a, b), none},
		{"born expected: nothing", detect.TagDivergence, snap(StateAbsent), snap(StateExpected, a, b), none},
		{"resolved stays resolved", detect.WorkloadDivergence, snap(StateResolved, a, b), snap(StateResolved, a, b), none},
		{"tag-moved recorded", detect.TagMoved, snap(StateAbsent), snap(StateResolved, a, b), EventRecorded},
		{"pod-drift recorded", detect.PodDrift, snap(StateAbsent), snap(StateResolved, a, b), EventRecorded},
		{"tag-moved written again: nothing", detect.TagMoved, snap(StateResolved, a, b), snap(StateResolved, a, b), none},
		{"tag-moved expected: nothing", detect.TagMoved, snap(StateAbsent), snap(StateExpected, a, b), none},
		{"pod-drift never opens", detect.PodDrift, snap(StateResolved, a, b), snap(StateOpen, a, b), none},
		{"nothing to nothing", detect.WorkloadDivergence, snap(StateAbsent), snap(StateAbsent), none},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Decide(tt.kind, tt.prev, tt.cur)
			if got != tt.want || ok != (tt.want != none) {
				t.Errorf("Decide(%s, %+v, %+v) = %q, %v; want %q", tt.kind, tt.prev, tt.cur, got, ok, tt.want)
			}
		})
	}
}

func TestDecideLeavesDigestsAlone(t *testing.T) {
	prev := []string{"sha256:b", "sha256:a"}
	Decide(detect.TagDivergence, Snapshot{State: StateOpen, Digests: prev}, Snapshot{State: StateOpen, Digests: []string{"sha256:a"}})
	if prev[0] != "sha256:b" {
		t.Errorf("Decide sorted its caller's digests: %v", prev)
	}
}
