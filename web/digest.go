package web

import "time"

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
	// Tags say, for each reference seen running it (and cluster group), whether its tag
	// points to it now; Mutations are the newest mutations and events involving it
	// (MutationsMore: there are more).
	Tags          []TagRow
	Mutations     []MutationRow
	MutationsMore bool
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
