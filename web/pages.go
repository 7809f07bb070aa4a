package web

import (
	"time"

	"github.com/a-h/templ"
)

// ClustersView is the clusters list. Forms, for admins, go in the slot.
type ClustersView struct {
	Clusters []ClusterHealth
	// Actions is rendered above the list (the add-cluster form, for admins); nil for
	// none.
	Actions templ.Component
}

// ClusterView is a cluster's page: its settings, health and scans.
type ClusterView struct {
	Cluster ClusterHealth
	Context string
	Created time.Time
	Scans   []ScanRow
	// MoreScans is set when older scans were left out.
	MoreScans bool
	// Actions is rendered under the settings (edit, scan now, delete, for admins); nil
	// for none.
	Actions templ.Component
}

// MutationsView is the mutations list.
type MutationsView struct {
	Filter   MutationFilter
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

// DigestView is a digest's page: where it runs now and ran before.
type DigestView struct {
	Digest    string
	Running   []PlaceRow
	History   []PlaceRow
	Truncated bool
	Refs      []string
	Legend    *Legend
}

// PlaceRow is a container of a pod that ran a digest.
type PlaceRow struct {
	Cluster, Namespace, Kind, Workload, Pod, Container string
	FirstSeen, LastSeen                                time.Time
}

// URL is the place's workload page.
func (p PlaceRow) URL() string { return WorkloadURL(p.Cluster, p.Namespace, p.Kind, p.Workload) }

// SearchView lists what a search term matched.
type SearchView struct {
	Query     string
	Message   string // why nothing matched, or what the term was taken for
	Digests   []string
	Refs      []string
	Workloads []WorkloadRow
	Legend    *Legend
}

// Empty reports whether nothing matched.
func (v SearchView) Empty() bool { return len(v.Digests)+len(v.Refs)+len(v.Workloads) == 0 }

// Ranges are the range presets of the timeline and the mutations list.
func Ranges() []string { return []string{"24h", "7d", "30d", "90d", "all"} }

// RangeDuration is a preset's length; 0 for all.
func RangeDuration(r string) time.Duration {
	switch r {
	case "24h":
		return 24 * time.Hour
	case "7d":
		return 7 * 24 * time.Hour
	case "30d":
		return 30 * 24 * time.Hour
	case "90d":
		return 90 * 24 * time.Hour
	}
	return 0
}
