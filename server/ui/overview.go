package ui

import (
	"net/http"
	"slices"
	"time"

	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// recentEvents is how many events the overview shows.
const recentEvents = 20

func (u *UI) overview(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	now := u.now()
	statuses, err := u.st.ClusterStatuses(ctx, scopeOf(ctx))
	if err != nil {
		return request.About(err, "list clusters")
	}
	counts, err := u.st.OpenMutationCounts(ctx, scopeOf(ctx))
	if err != nil {
		return request.About(err, "count open mutations")
	}
	behind, err := u.st.CountBehind(ctx, scopeOf(ctx))
	if err != nil {
		return request.About(err, "count the workloads behind their tags")
	}
	recent, err := u.st.RecentEvents(ctx, recentEvents, scopeOf(ctx))
	if err != nil {
		return request.About(err, "list recent events")
	}
	v := web.OverviewView{Legend: web.NewLegend(), Refresh: web.Refresh{At: now, Every: u.overviewRefresh}, Behind: behind}
	for _, cs := range statuses {
		h := clusterHealth(cs, now)
		v.Clusters = append(v.Clusters, h)
		if h.LastScan != nil && h.LastScan.Status == store.ScanSucceeded {
			v.Pods += h.LastScan.Pods
		}
	}
	// Only open counts as needing attention; acknowledged and expected are shown
	// beside it, never added to it.
	byKind := map[string]int{}
	for _, c := range counts {
		switch c.State {
		case store.StateOpen:
			byKind[c.Kind] += c.Count
			v.OpenTotal += c.Count
		case store.StateAcknowledged:
			v.Acknowledged += c.Count
		case store.StateExpected:
			v.Expected += c.Count
		}
	}
	for _, k := range web.MutationKinds() {
		if byKind[k] > 0 {
			v.OpenByKind = append(v.OpenByKind, web.KindCount{Kind: k, Count: byKind[k]})
		}
	}
	v.Events = events(recent)
	var rows []web.MutationRow
	for _, e := range v.Events {
		rows = append(rows, e.Mutation)
	}
	if err := u.letters(ctx, v.Legend, rows); err != nil {
		return err
	}
	return u.render(w, r, http.StatusOK, u.meta(r, "Overview", web.NavOverview), web.Overview(v, now))
}

// events names the store's recent events as the overview shows them, in its order.
func events(recent []store.MutationEvent) []web.Event {
	out := make([]web.Event, 0, len(recent))
	for _, e := range recent {
		row := mutationRow(e.Mutation)
		what := "opened"
		switch {
		case e.Resolved:
			what = "resolved"
		case row.Kind == "tag-moved":
			what = "tag moved"
		case row.Kind == "pod-drift":
			what = "pod drift"
		}
		out = append(out, web.Event{At: e.At, What: what, Mutation: row})
	}
	return out
}

// mutationRow is a stored mutation as pages list it.
func mutationRow(m store.Mutation) web.MutationRow {
	row := web.MutationRow{
		ID: m.ID, Kind: string(m.Kind), Cluster: m.Cluster, Namespace: m.Namespace,
		WorkloadKind: m.Workload.Kind, WorkloadName: m.Workload.Name, Container: m.Container,
		Ref: m.Ref, Digests: m.Digests, Places: len(m.Places), DetectedAt: m.DetectedAt, ResolvedAt: m.ResolvedAt,
		Attention: string(m.State),
	}
	for _, p := range m.Places {
		if !slices.Contains(row.Clusters, p.Cluster) {
			row.Clusters = append(row.Clusters, p.Cluster)
		}
	}
	slices.Sort(row.Clusters)
	return row
}

// clusterHealth is a cluster's status as pages show it. It is stale when no scan
// succeeded for more than twice its interval (counted from its creation when none ever
// did).
func clusterHealth(cs store.ClusterStatus, now time.Time) web.ClusterHealth {
	h := web.ClusterHealth{
		Name: cs.Name, Group: cs.Group, Server: cs.Server, Enabled: cs.Enabled, Interval: cs.ScanInterval, Annotate: cs.Annotate,
		LastSucceeded: cs.LastSucceeded, OpenMutations: cs.OpenMutations,
	}
	if cs.LastScan != nil {
		s := scanRow(*cs.LastScan)
		h.LastScan = &s
	}
	since := cs.CreatedAt
	if cs.LastSucceeded != nil {
		since = *cs.LastSucceeded
	}
	h.Stale = cs.Enabled && now.Sub(since) > 2*cs.ScanInterval
	h.ScanMode = cs.ScanMode
	if w := cs.Watch; w != nil {
		h.Watch = &web.WatchView{State: w.State, StaleSince: w.StaleSince, Note: w.Note, LastChange: w.LastChange, LastDetected: w.LastDetected}
		h.Stale = h.Stale || cs.Enabled && w.State == store.WatchStale
	}
	return h
}

// scanRow is a stored scan as pages show it.
func scanRow(s store.Scan) web.ScanRow {
	return web.ScanRow{
		ID: s.ID, Status: s.Status, QueuedAt: s.QueuedAt, StartedAt: s.StartedAt, FinishedAt: s.FinishedAt,
		Pods: s.Pods, Containers: s.Containers, Opened: s.Opened, Closed: s.Closed, ErrorClass: s.ErrorClass, Error: s.Error,
	}
}
