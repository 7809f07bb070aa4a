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
	Digest  string
	Running []PlaceRow
	History []PlaceRow
	// Older is the cursor of the older history ("" when History reaches the oldest);
	// Paged says History is not the newest page.
	Older  string
	Paged  bool
	Refs   []string
	Legend *Legend
	// RunningMore and HistoryMore count the workloads left out of Running and History
	// (GroupPlaces); the downloads hold them all.
	RunningMore, HistoryMore int
}

// PlaceRow is a container of a pod that ran a digest, or (Pods > 1) of several pods of
// one workload.
type PlaceRow struct {
	Cluster, Namespace, Kind, Workload, Pod, Container string
	FirstSeen, LastSeen                                time.Time
	Pods                                               int // the pods it stands for; 0 is 1
}

// GroupPlaces makes one row of each workload's container out of its pods' (the first
// and last seen of them all, their count), keeping the order in which workloads first
// appear, and keeps the first limit rows; more counts the rest. A popular digest runs in
// hundreds of pods, and a page of one row per pod was over half a megabyte: the page
// summarises, the CSV and JSON downloads list every pod.
func GroupPlaces(rows []PlaceRow, limit int) (out []PlaceRow, more int) {
	at := map[[5]string]int{}
	pods := map[[5]string]map[string]bool{}
	for _, r := range rows {
		k := [5]string{r.Cluster, r.Namespace, r.Kind, r.Workload, r.Container}
		i, ok := at[k]
		if !ok {
			at[k], pods[k] = len(out), map[string]bool{r.Pod: true}
			r.Pods = 1
			out = append(out, r)
			continue
		}
		g := &out[i]
		if !pods[k][r.Pod] {
			pods[k][r.Pod] = true
			g.Pods++
		}
		if !r.FirstSeen.IsZero() && (g.FirstSeen.IsZero() || r.FirstSeen.Before(g.FirstSeen)) {
			g.FirstSeen = r.FirstSeen
		}
		if r.LastSeen.After(g.LastSeen) {
			g.LastSeen = r.LastSeen
		}
	}
	if len(out) > limit {
		return out[:limit], len(out) - limit
	}
	return out, 0
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

// rangePresets are the time-range presets of the timeline and the mutations list, with
// their lengths, shortest first; "all" (no bound) is not among them.
func rangePresets() []struct {
	name string
	d    time.Duration
} {
	const day = 24 * time.Hour
	return []struct {
		name string
		d    time.Duration
	}{{"24h", day}, {"7d", 7 * day}, {"30d", 30 * day}, {"90d", 90 * day}}
}

// SinceRanges are the presets a mutation list's since takes ("detected within").
func SinceRanges() []string {
	var out []string
	for _, p := range rangePresets() {
		out = append(out, p.name)
	}
	return out
}

// Ranges are the timeline's range presets: SinceRanges and all.
func Ranges() []string { return append(SinceRanges(), "all") }

// RangeDuration is a preset's length; 0 for all or anything else.
func RangeDuration(r string) time.Duration {
	for _, p := range rangePresets() {
		if p.name == r {
			return p.d
		}
	}
	return 0
}
