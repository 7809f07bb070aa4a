package notify

import (
	"testing"

	"github.com/tagdrift/tagdrift/scanner/attention"
	"github.com/tagdrift/tagdrift/scanner/detect"
)

func TestDecide(t *testing.T) {
	const a, b, c = "sha256:a", "sha256:b", "sha256:c"
	snap := func(s attention.State, digests ...string) Snapshot { return Snapshot{State: s, Digests: digests} }
	none := Type("")
	tests := []struct {
		name      string
		kind      detect.Kind
		prev, cur Snapshot
		want      Type
	}{
		{"new divergence opens", detect.WorkloadDivergence, snap(attention.StateAbsent), snap(attention.StateOpen, a, b), MutationOpened},
		{"new tag-divergence opens", detect.TagDivergence, snap(attention.StateAbsent), snap(attention.StateOpen, a, b), MutationOpened},
		{"new pin-mismatch opens", detect.PinMismatch, snap(attention.StateAbsent), snap(attention.StateOpen, b), MutationOpened},
		{"same digests: nothing", detect.WorkloadDivergence, snap(attention.StateOpen, a, b), snap(attention.StateOpen, a, b), none},
		{"same set in another order: nothing", detect.TagDivergence, snap(attention.StateOpen, b, a), snap(attention.StateOpen, a, b, a), none},
		{"a digest joins: changed", detect.TagDivergence, snap(attention.StateOpen, a, b), snap(attention.StateOpen, a, b, c), MutationChanged},
		{"a digest leaves: changed", detect.TagDivergence, snap(attention.StateOpen, a, b, c), snap(attention.StateOpen, a, c), MutationChanged},
		{"one replaced by another: changed", detect.WorkloadDivergence, snap(attention.StateOpen, a, b), snap(attention.StateOpen, a, c), MutationChanged},
		{"resolves", detect.WorkloadDivergence, snap(attention.StateOpen, a, b), snap(attention.StateResolved, a, b), MutationResolved},
		{"row gone (cluster purged): resolved", detect.PinMismatch, snap(attention.StateOpen, b), snap(attention.StateAbsent), MutationResolved},
		{"declared expected while open: resolved", detect.TagDivergence, snap(attention.StateOpen, a, b), snap(attention.StateExpected, a, b), MutationResolved},
		{"acknowledged while open", detect.TagDivergence, snap(attention.StateOpen, a, b), snap(attention.StateAcknowledged, a, b), MutationAcknowledged},
		{"acknowledgement ends, still there: opens", detect.TagDivergence, snap(attention.StateAcknowledged, a, b), snap(attention.StateOpen, a, b), MutationOpened},
		{"acknowledged one changes: nothing", detect.TagDivergence, snap(attention.StateAcknowledged, a, b), snap(attention.StateAcknowledged, a, c), none},
		{"acknowledged one resolves: resolved", detect.TagDivergence, snap(attention.StateAcknowledged, a, b), snap(attention.StateResolved, a, b), MutationResolved},
		{"acknowledged one declared expected: resolved", detect.TagDivergence, snap(attention.StateAcknowledged, a, b), snap(attention.StateExpected, a, b), MutationResolved},
		{"expected one resolves: nothing", detect.TagDivergence, snap(attention.StateExpected, a, b), snap(attention.StateResolved, a, b), none},
		{"expected one no longer expected: opens", detect.TagDivergence, snap(attention.StateExpected, a, b), snap(attention.StateOpen, a, b), MutationOpened},
		{"acknowledged again: nothing", detect.TagDivergence, snap(attention.StateAcknowledged, a, b), snap(attention.StateAcknowledged, a, b), none},
		{"born expected: nothing", detect.TagDivergence, snap(attention.StateAbsent), snap(attention.StateExpected, a, b), none},
		{"resolved stays resolved", detect.WorkloadDivergence, snap(attention.StateResolved, a, b), snap(attention.StateResolved, a, b), none},
		{"tag-moved recorded", detect.TagMoved, snap(attention.StateAbsent), snap(attention.StateResolved, a, b), EventRecorded},
		{"pod-drift recorded", detect.PodDrift, snap(attention.StateAbsent), snap(attention.StateResolved, a, b), EventRecorded},
		{"tag-moved written again: nothing", detect.TagMoved, snap(attention.StateResolved, a, b), snap(attention.StateResolved, a, b), none},
		{"tag-moved expected: nothing", detect.TagMoved, snap(attention.StateAbsent), snap(attention.StateExpected, a, b), none},
		{"pod-drift never opens", detect.PodDrift, snap(attention.StateResolved, a, b), snap(attention.StateOpen, a, b), none},
		{"nothing to nothing", detect.WorkloadDivergence, snap(attention.StateAbsent), snap(attention.StateAbsent), none},
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
	Decide(detect.TagDivergence, Snapshot{State: attention.StateOpen, Digests: prev}, Snapshot{State: attention.StateOpen, Digests: []string{"sha256:a"}})
	if prev[0] != "sha256:b" {
		t.Errorf("Decide sorted its caller's digests: %v", prev)
	}
}
