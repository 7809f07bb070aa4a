package server

import (
	"net/http"
	"slices"

	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// uiWorkloadPage is how many workloads a page of the list shows.
const uiWorkloadPage = 50

func (u *ui) workloads(w http.ResponseWriter, r *http.Request) error {
	q, err := parseQuery(r.URL.RawQuery, "cluster", "namespace", "kind", "ref", "mutant", "sort", "cursor")
	if err != nil {
		return err
	}
	// The API's filter and cursor rules; the page adds a reference and a sort.
	if q.get("limit") == "" {
		q.v.Set("limit", "50")
	}
	f, filter, err := workloadFilter(q)
	if err != nil {
		return err
	}
	sort, err := q.oneOf("sort", "", "", "pods", "containers", "mutant")
	if err != nil {
		return err
	}
	v := web.WorkloadsView{
		Filter: web.WorkloadFilter{Cluster: f.Cluster, Namespace: f.Namespace, Kind: f.Kind, Ref: q.get("ref"),
			Mutant: f.MutantOnly, Sort: sort, Cursor: q.get("cursor")},
		Legend: web.NewLegend(),
	}
	if v.Filter.Ref != "" {
		if f.Ref, err = timelineRef(v.Filter.Ref); err != nil {
			return err
		}
	}
	if v.Clusters, err = u.clusterNames(r); err != nil {
		return err
	}
	items, err := u.st.ListWorkloads(r.Context(), f)
	if err != nil {
		return about(err, "list workloads")
	}
	if len(items) > uiWorkloadPage {
		items = items[:uiWorkloadPage]
		last := items[len(items)-1].WorkloadKey
		v.Next = cursor{List: "workloads", Filter: filter, Workload: []string{last.Cluster, last.Namespace, last.Kind, last.Name}}.encode()
	}
	for _, wl := range items {
		row := web.WorkloadRow{Cluster: wl.Cluster, Namespace: wl.Namespace, Kind: wl.Kind, Name: wl.Name, Mutant: wl.Mutant}
		pods := map[string]bool{}
		for _, c := range wl.Running {
			pods[c.PodUID] = true
			if !slices.Contains(row.Containers, c.Container) {
				row.Containers = append(row.Containers, c.Container)
			}
			if !slices.Contains(row.Refs, c.Ref) {
				row.Refs = append(row.Refs, c.Ref)
			}
			if !slices.Contains(row.Digests, c.Digest) {
				row.Digests = append(row.Digests, c.Digest)
				v.Legend.Add(c.Digest)
			}
		}
		row.Pods = len(pods)
		slices.Sort(row.Containers)
		v.Rows = append(v.Rows, row)
	}
	web.SortRows(v.Rows, sort)
	return u.render(w, r, http.StatusOK, u.meta(r, "Workloads", web.NavWorkloads), web.Workloads(v))
}

// workloadKeyOf names a workload as its page's path does.
func workloadKeyOf(k store.WorkloadKey) web.WorkloadRow {
	return web.WorkloadRow{Cluster: k.Cluster, Namespace: k.Namespace, Kind: k.Kind, Name: k.Name}
}
