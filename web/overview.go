package web

import "time"

// OverviewView is the overview page: every cluster's health, the open mutations by kind
// and the recent events.
type OverviewView struct {
	Clusters []ClusterHealth
	// OpenByKind counts the open mutations, by kind in severity order; kinds with none
	// are left out.
	OpenByKind []KindCount
	OpenTotal  int
	// Acknowledged and Expected count the conditions not resolved that do not need
	// attention, beside the open ones, never added to them.
	Acknowledged, Expected int
	// Behind counts the workloads behind their tags: not mutations, never added to them.
	Behind int
	Events []Event
	Legend *Legend
	// Watched is what the scans cover, for the no-mutation state.
	Pods int
	// Refresh is when the data was read and how often the page refreshes it.
	Refresh Refresh
}

// KindCount is how many mutations of one kind are open.
type KindCount struct {
	Kind  string
	Count int
}

// StaleCount is how many clusters are stale.
func (v OverviewView) StaleCount() int {
	n := 0
	for _, c := range v.Clusters {
		if c.State() == "stale" {
			n++
		}
	}
	return n
}

// LastScan is the latest scan finished in any cluster; zero when none.
func (v OverviewView) LastScan() time.Time {
	var t time.Time
	for _, c := range v.Clusters {
		if c.LastSucceeded != nil && c.LastSucceeded.After(t) {
			t = *c.LastSucceeded
		}
	}
	return t
}

// Event is something that happened: a tag moved, a pod drifted, a mutation opened or was
// resolved.
type Event struct {
	At       time.Time
	What     string // "tag moved", "pod drift", "opened", "resolved"
	Mutation MutationRow
}
