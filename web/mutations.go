package web

import (
	"strings"
	"time"

	"github.com/tagdrift/tagdrift/scanner/detect"
)

// MutationRow is a mutation as lists show it.
type MutationRow struct {
	ID                         int64
	Kind                       string
	Cluster                    string // "" when it spans clusters
	Namespace                  string
	WorkloadKind, WorkloadName string
	Container                  string
	Ref                        string
	Digests                    []string
	Places                     int // how many containers it was seen in
	Clusters                   []string
	DetectedAt                 time.Time
	ResolvedAt                 *time.Time
	// Attention is the stored state (attention.Decide's): open, acknowledged, expected
	// or resolved; "" reads as the row's own open or closed.
	Attention string
	// Why says, when it is acknowledged or expected, by whom, until when and why.
	Why string
}

// Open reports whether the condition still holds.
func (m MutationRow) Open() bool { return m.ResolvedAt == nil && !m.IsEvent() }

// Lasted is how long it was open: until it was resolved, or so far; "" for an event,
// which is a moment.
func (m MutationRow) Lasted(now time.Time) string {
	switch {
	case m.IsEvent():
		return ""
	case m.ResolvedAt != nil:
		return Took(m.ResolvedAt.Sub(m.DetectedAt))
	}
	return Took(now.Sub(m.DetectedAt)) + " so far"
}

// IsEvent reports whether it is an event kind (tag-moved, pod-drift), recorded once.
func (m MutationRow) IsEvent() bool { return detect.Kind(m.Kind).IsEvent() }

// State is open (needs attention), acknowledged, expected, closed or event. An event
// a rule declares expected is expected; any other event is an event.
func (m MutationRow) State() string {
	switch {
	case m.Attention == "expected":
		return "expected"
	case m.IsEvent():
		return "event"
	case m.ResolvedAt != nil:
		return "closed"
	case m.Attention == "acknowledged":
		return "acknowledged"
	}
	return "open"
}

// NeedsAttention reports whether it is a condition that holds and nobody acknowledged
// or expected: what the acknowledge action is offered for.
func (m MutationRow) NeedsAttention() bool { return m.State() == "open" }

// WorkloadURL is the mutation's workload page; "" when it spans workloads.
func (m MutationRow) WorkloadURL() string {
	if m.Cluster == "" || m.Namespace == "" || m.WorkloadName == "" {
		return ""
	}
	return WorkloadURL(m.Cluster, m.Namespace, m.WorkloadKind, m.WorkloadName)
}

// Where names the place: cluster/namespace/kind/name, or the clusters it spans.
func (m MutationRow) Where() string {
	if m.WorkloadName != "" {
		return m.Cluster + "/" + m.Namespace + "/" + strings.ToLower(m.WorkloadKind) + "/" + m.WorkloadName
	}
	if m.Cluster != "" {
		if m.Namespace != "" {
			return m.Cluster + "/" + m.Namespace
		}
		return m.Cluster
	}
	return strings.Join(m.Clusters, ", ")
}

// Severity orders the kinds: workload-divergence first, pod-drift last (detect.Kinds).
func Severity(kind string) int { return detect.Kind(kind).Severity() }

// MutationKinds returns the kinds, in severity order.
func MutationKinds() []string {
	var out []string
	for _, k := range detect.Kinds() {
		out = append(out, string(k))
	}
	return out
}

// MutationsView is the mutations list.
type MutationsView struct {
	Filter MutationFilter
	// States are the state filter's choices (store.MutationStates).
	States   []string
	Clusters []string
	Rows     []MutationRow
	Next     string
	Legend   *Legend
}

// MutationFilter is the mutations list's query.
type MutationFilter struct {
	State, Kind, Cluster, Namespace, Ref string
	// Since is a range preset (24h, 7d, 30d, 90d) or "" for any time.
	Since  string
	Cursor string
}

// URL is the list with the filter and cursor.
func (f MutationFilter) URL(cursor string) string {
	return WithQuery("/mutations", "state", f.State, "kind", f.Kind, "cluster", f.Cluster, "namespace", f.Namespace,
		"ref", f.Ref, "since", f.Since, "cursor", cursor)
}
