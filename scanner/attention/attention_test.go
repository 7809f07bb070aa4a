package attention

import (
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

func mustScope(t *testing.T, s string) Scope {
	t.Helper()
	sc, err := ParseScope(s)
	if err != nil {
		t.Fatalf("ParseScope(%q): %v", s, err)
	}
	return sc
}

func place(cluster, ns, workload string) detect.Place {
	return detect.Place{Cluster: cluster, Namespace: ns, Workload: inventory.Workload{Kind: "Deployment", Name: workload}, Container: "app"}
}

func TestParseScope(t *testing.T) {
	for _, bad := range []string{"", "  ", "{}", `clutser="dev"`, `cluster=~"("`, `cluster="dev`} {
		if _, err := ParseScope(bad); err == nil {
			t.Errorf("ParseScope(%q) took it", bad)
		}
	}
	if _, err := ParseScope(`clutser="dev"`); err == nil || !strings.Contains(err.Error(), "clutser") {
		t.Errorf("an unknown label is not named: %v", err)
	}
	// An equality on reference is normalized as the mutations' references are.
	sc := mustScope(t, `reference="nginx:nightly"`)
	if got := FormatScope(sc); got != `reference="docker.io/library/nginx:nightly"` {
		t.Errorf("normalized scope %s", got)
	}
	if again := mustScope(t, FormatScope(sc)); FormatScope(again) != FormatScope(sc) {
		t.Errorf("FormatScope does not read back: %s", FormatScope(again))
	}
}

func TestInScope(t *testing.T) {
	td := detect.Mutation{Kind: detect.TagDivergence, Ref: "docker.io/library/nginx:nightly",
		Places: []detect.Place{place("dev-a", "shop", "web"), place("dev-b", "shop", "web")}}
	mixed := td
	mixed.Places = append([]detect.Place{}, td.Places[0], place("prod", "shop", "web"))
	tests := []struct {
		scope string
		m     detect.Mutation
		want  bool
	}{
		{`cluster=~"dev-.*"`, td, true},
		{`cluster=~"dev-.*"`, mixed, false}, // a place outside: not inside the scope
		{`reference="nginx:nightly"`, td, true},
		{`reference=~"docker.io/library/nginx:.*"`, td, true},
		{`reference=~"nginx:.*"`, td, false}, // a regular expression sees the normalized form
		{`workload="Deployment/web", namespace="shop"`, td, true},
		{`group="default"`, td, true}, // no group is the default group
		{`group="prod"`, td, false},
		{`kind="workload-divergence"`, td, false},
		{`cluster="dev-a"`, detect.Mutation{Kind: detect.PinMismatch, Cluster: "dev-a"}, true}, // no places: its own labels
	}
	for _, tt := range tests {
		if got := InScope(tt.m, mustScope(t, tt.scope)); got != tt.want {
			t.Errorf("InScope(%s, %v) = %v, want %v", tt.scope, tt.m.Places, got, tt.want)
		}
	}
	if InScope(td, nil) {
		t.Error("an empty scope holds something")
	}
}

func TestDecide(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Minute), now.Add(time.Hour)
	dev := []detect.Place{place("dev-a", "shop", "web")}
	m := func(id int64, kind detect.Kind, resolved bool, digests ...string) Mutation {
		return Mutation{ID: id, Resolved: resolved, Mutation: detect.Mutation{Kind: kind, Cluster: "dev-a",
			Ref: "docker.io/library/nginx:nightly", Places: dev, Digests: digests}}
	}
	rule := Rule{ID: 7, Scope: mustScope(t, `cluster=~"dev-.*"`)}
	expiredRule := Rule{ID: 3, Scope: rule.Scope, ExpiresAt: &past}
	ackOf := func(id, mutation int64, until Until, expires *time.Time, digests ...string) Ack {
		return Ack{ID: id, MutationID: mutation, Until: until, ExpiresAt: expires, Digests: digests}
	}
	tests := []struct {
		name  string
		m     Mutation
		rules []Rule
		acks  []Ack
		want  Verdict
	}{
		{"open", m(1, detect.TagDivergence, false, "a", "b"), nil, nil, Verdict{State: StateOpen}},
		{"resolved", m(1, detect.TagDivergence, true, "a"), []Rule{rule}, nil, Verdict{State: StateResolved}},
		{"expected by a rule", m(1, detect.TagDivergence, false, "a", "b"), []Rule{rule}, nil, Verdict{State: StateExpected, Rule: 7}},
		{"an expired rule", m(1, detect.TagDivergence, false, "a", "b"), []Rule{expiredRule}, nil, Verdict{State: StateOpen}},
		{"lowest rule id", m(1, detect.TagDivergence, false, "a"), []Rule{rule, {ID: 5, Scope: rule.Scope}}, nil, Verdict{State: StateExpected, Rule: 5}},
		{"workload-divergence is never expected", m(1, detect.WorkloadDivergence, false, "a", "b"), []Rule{rule}, nil, Verdict{State: StateOpen}},
		{"pin-mismatch is never expected", m(1, detect.PinMismatch, false, "a"), []Rule{rule}, nil, Verdict{State: StateOpen}},
		{"tag-moved expected", m(1, detect.TagMoved, true, "a", "b"), []Rule{rule}, nil, Verdict{State: StateExpected, Rule: 7}},
		{"tag-moved recorded", m(1, detect.TagMoved, true, "a", "b"), nil, []Ack{ackOf(1, 1, UntilResolved, nil)}, Verdict{State: StateResolved}},
		{"pod-drift expected", m(1, detect.PodDrift, true, "a", "b"), []Rule{rule}, nil, Verdict{State: StateExpected, Rule: 7}},
		{"a rule wins over an acknowledgement", m(1, detect.TagDivergence, false, "a"), []Rule{rule}, []Ack{ackOf(2, 1, UntilResolved, nil)}, Verdict{State: StateExpected, Rule: 7}},
		{"acknowledged until resolved", m(1, detect.WorkloadDivergence, false, "a", "b"), nil, []Ack{ackOf(2, 1, UntilResolved, nil)}, Verdict{State: StateAcknowledged, Ack: 2}},
		{"another mutation's acknowledgement", m(1, detect.WorkloadDivergence, false, "a"), nil, []Ack{ackOf(2, 9, UntilResolved, nil)}, Verdict{State: StateOpen}},
		{"acknowledged until a time", m(1, detect.WorkloadDivergence, false, "a"), nil, []Ack{ackOf(2, 1, UntilTime, &future)}, Verdict{State: StateAcknowledged, Ack: 2}},
		{"its time has come", m(1, detect.WorkloadDivergence, false, "a"), nil, []Ack{ackOf(2, 1, UntilTime, &now)}, Verdict{State: StateOpen}},
		{"until changed: same digests", m(1, detect.WorkloadDivergence, false, "b", "a"), nil, []Ack{ackOf(2, 1, UntilChanged, nil, "a", "b")}, Verdict{State: StateAcknowledged, Ack: 2}},
		{"until changed: one left", m(1, detect.WorkloadDivergence, false, "a"), nil, []Ack{ackOf(2, 1, UntilChanged, nil, "a", "b")}, Verdict{State: StateAcknowledged, Ack: 2}},
		{"until changed: one joined", m(1, detect.WorkloadDivergence, false, "a", "c"), nil, []Ack{ackOf(2, 1, UntilChanged, nil, "a", "b")}, Verdict{State: StateOpen}},
		{"a scope", m(1, detect.PinMismatch, false, "a"), nil, []Ack{{ID: 4, Scope: rule.Scope, Until: UntilTime, ExpiresAt: &future}}, Verdict{State: StateAcknowledged, Ack: 4}},
		{"lowest acknowledgement id", m(1, detect.PinMismatch, false, "a"), nil, []Ack{{ID: 4, Scope: rule.Scope, Until: UntilTime, ExpiresAt: &future}, ackOf(2, 1, UntilResolved, nil)}, Verdict{State: StateAcknowledged, Ack: 2}},
	}
	for _, tt := range tests {
		if got := Decide(tt.m, tt.rules, tt.acks, now); got != tt.want {
			t.Errorf("%s: Decide = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
