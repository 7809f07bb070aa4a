// Package attention decides whether a mutation needs attention at a time: open,
// acknowledged, expected or resolved (issue 27). Decide is the one place this rule is
// written. It is pure (no I/O, no clock): the store writes its answer into the
// mutations' state column on every change of a mutation, a rule or an
// acknowledgement, and when one expires, and every consumer (lists, counts, the API,
// notifications, metrics, the ReplicaSet annotation) reads that column.
package attention

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"

	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// State is a mutation's state: whether it needs attention.
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
	// StateResolved: no longer detected, or its cluster was deleted; for a history
	// event (tag-moved, pod-drift), recorded and not expected.
	StateResolved State = "resolved"
)

// States lists the states a stored mutation has, in the order lists give them.
var States = []State{StateOpen, StateAcknowledged, StateExpected, StateResolved}

// Labels are the labels a scope's matchers may name.
var Labels = []string{"kind", "group", "cluster", "namespace", "workload", "container", "reference"}

// Scope is a set of Alertmanager matchers over Labels.
type Scope = labels.Matchers

// ParseScope parses a scope in Alertmanager's matcher syntax
// (`cluster=~"dev-.*", reference=~"registry.example.com/team-a/.*:nightly"`, braces
// optional). It must name at least one matcher, and only Labels: a typo must not match
// everything or nothing. The value of an equality matcher on reference is normalized
// (nginx:nightly is docker.io/library/nginx:nightly), as the mutations' references
// are; a regular expression must match the normalized form itself.
func ParseScope(s string) (Scope, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("scope: empty: name at least one of %s", strings.Join(Labels, ", "))
	}
	ms, err := labels.ParseMatchers(s)
	if err != nil {
		return nil, fmt.Errorf("scope: %w", err)
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("scope: empty: name at least one of %s", strings.Join(Labels, ", "))
	}
	for i, m := range ms {
		if !slices.Contains(Labels, m.Name) {
			return nil, fmt.Errorf("scope: unknown label %q: labels are %s", m.Name, strings.Join(Labels, ", "))
		}
		if m.Name == "reference" && (m.Type == labels.MatchEqual || m.Type == labels.MatchNotEqual) && m.Value != "" {
			n, err := labels.NewMatcher(m.Type, m.Name, imageref.ParseRef(m.Value).Normalized)
			if err != nil {
				return nil, fmt.Errorf("scope: %w", err)
			}
			ms[i] = n
		}
	}
	return ms, nil
}

// FormatScope writes a parsed scope back in the syntax ParseScope reads.
func FormatScope(s Scope) string {
	parts := make([]string, len(s))
	for i, m := range s {
		parts[i] = m.String()
	}
	return strings.Join(parts, ", ")
}

// Mutation is what Decide reads of a mutation.
type Mutation struct {
	ID int64
	detect.Mutation
	// Resolved says it is no longer detected (a history event is recorded resolved).
	Resolved bool
}

// Expectable reports whether a rule may declare mutations of kind expected: a tag that
// moves (tag-moved), a pod behind it (pod-drift) and places that run different code
// under it (tag-divergence). Mixed code in one revision (workload-divergence) is a bug
// whatever the tag, and a pin not honoured (pin-mismatch) is never expected.
func Expectable(kind detect.Kind) bool {
	return kind == detect.TagMoved || kind == detect.PodDrift || kind == detect.TagDivergence
}

// InScope reports whether m lies inside scope: every place of it matches (a
// tag-divergence between a dev and a prod cluster is not inside cluster=~"dev-.*"),
// or, for a mutation without places, its own labels do. An empty scope holds nothing.
func InScope(m detect.Mutation, scope Scope) bool {
	if len(scope) == 0 {
		return false
	}
	if len(m.Places) == 0 {
		return scope.Matches(labelSet(m, m.Cluster, m.Namespace, m.Workload, m.Container))
	}
	for _, p := range m.Places {
		if !scope.Matches(labelSet(m, p.Cluster, p.Namespace, p.Workload, p.Container)) {
			return false
		}
	}
	return true
}

// labelSet is the label set of one place of m.
func labelSet(m detect.Mutation, cluster, namespace string, w inventory.Workload, container string) model.LabelSet {
	ls := model.LabelSet{
		"kind":      model.LabelValue(m.Kind),
		"group":     model.LabelValue(inventory.GroupName(m.Group)),
		"cluster":   model.LabelValue(cluster),
		"namespace": model.LabelValue(namespace),
		"container": model.LabelValue(container),
		"reference": model.LabelValue(m.Ref),
	}
	if w.Name != "" {
		ls["workload"] = model.LabelValue(w.Kind + "/" + w.Name)
	}
	return ls
}

// Rule declares the tags in its scope mutable. Decide is given the rules in force
// (not revoked); it checks their expiry itself.
type Rule struct {
	ID    int64
	Scope Scope
	// ExpiresAt ends the rule; nil for none.
	ExpiresAt *time.Time
}

// Until is how an acknowledgement ends.
type Until string

const (
	// UntilTime: at ExpiresAt.
	UntilTime Until = "time"
	// UntilResolved: when the mutation resolves (or at ExpiresAt, when set).
	UntilResolved Until = "resolved"
	// UntilChanged: when a digest joins the mutation (or at ExpiresAt, when set).
	UntilChanged Until = "changed"
)

// Untils lists the ends, in the order forms offer them.
var Untils = []Until{UntilTime, UntilResolved, UntilChanged}

// Ack is an approved acknowledgement, not revoked: of one mutation (MutationID) or of
// a scope (what matches it now and what opens inside it later).
type Ack struct {
	ID         int64
	MutationID int64
	Scope      Scope
	Until      Until
	// ExpiresAt ends it at a time; nil for none (UntilResolved and UntilChanged).
	ExpiresAt *time.Time
	// Digests are the mutation's digests when it was acknowledged, for UntilChanged.
	Digests []string
}

// Covers reports whether a, in force at now, covers the open mutation m.
func (a Ack) Covers(m Mutation, now time.Time) bool {
	if a.Expired(now) || m.Resolved {
		return false
	}
	if a.MutationID != 0 {
		if a.MutationID != m.ID {
			return false
		}
	} else if !InScope(m.Mutation, a.Scope) {
		return false
	}
	if a.Until == UntilChanged {
		for _, d := range m.Digests {
			if !slices.Contains(a.Digests, d) {
				return false
			}
		}
	}
	return true
}

// Expired reports whether a's time has come at now.
func (a Ack) Expired(now time.Time) bool { return a.ExpiresAt != nil && !now.Before(*a.ExpiresAt) }

// Expired reports whether r's time has come at now.
func (r Rule) Expired(now time.Time) bool { return r.ExpiresAt != nil && !now.Before(*r.ExpiresAt) }

// Verdict is Decide's answer: the state, and what made it so (a rule for
// StateExpected, an acknowledgement for StateAcknowledged, else 0).
type Verdict struct {
	State State
	Rule  int64
	Ack   int64
}

// Decide returns the state of m at now under rules and acks (those in force, not
// revoked; Decide checks their times):
//
//   - a history event (tag-moved, pod-drift) is expected when a rule in force covers
//     it, else resolved: it is recorded, never open;
//   - a condition no longer detected is resolved;
//   - an open condition of an expectable kind inside a rule is expected (a rule wins
//     over an acknowledgement: it is the standing policy);
//   - one an acknowledgement covers is acknowledged (the lowest id first, so that the
//     answer does not depend on order);
//   - else it is open: it needs attention.
func Decide(m Mutation, rules []Rule, acks []Ack, now time.Time) Verdict {
	if !m.Kind.IsEvent() && m.Resolved {
		return Verdict{State: StateResolved}
	}
	if Expectable(m.Kind) {
		var best int64
		for _, r := range rules {
			if !r.Expired(now) && InScope(m.Mutation, r.Scope) && (best == 0 || r.ID < best) {
				best = r.ID
			}
		}
		if best != 0 {
			return Verdict{State: StateExpected, Rule: best}
		}
	}
	if m.Kind.IsEvent() {
		return Verdict{State: StateResolved}
	}
	var best int64
	for _, a := range acks {
		if a.Covers(m, now) && (best == 0 || a.ID < best) {
			best = a.ID
		}
	}
	if best != 0 {
		return Verdict{State: StateAcknowledged, Ack: best}
	}
	return Verdict{State: StateOpen}
}
