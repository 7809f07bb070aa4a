package ui

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// uiWorkloadPage is how many workloads a page of the list shows.
const uiWorkloadPage = 50

func (u *UI) workloads(w http.ResponseWriter, r *http.Request) error {
	q, err := request.Parse(r.URL.RawQuery, "cluster", "namespace", "kind", "ref", "mutant", "behind", "sort", "order", "cursor")
	if err != nil {
		return err
	}
	// The API's filter, sort and cursor rules (request.WorkloadFilter).
	q.Set("limit", strconv.Itoa(uiWorkloadPage))
	f, filter, err := request.WorkloadFilter(q)
	if err != nil {
		return err
	}
	v := web.WorkloadsView{
		Filter: web.WorkloadFilter{Cluster: f.Cluster, Namespace: f.Namespace, Kind: f.Kind, Ref: q.Get("ref"),
			Mutant: f.MutantOnly, Behind: f.BehindOnly, Sort: q.Get("sort"), Desc: f.Desc, Cursor: q.Get("cursor")},
		Legend: web.NewLegend(), Now: u.now(),
	}
	if v.Clusters, err = u.clusterNames(r); err != nil {
		return err
	}
	f.Scope = scopeOf(r.Context())
	items, err := u.st.ListWorkloads(r.Context(), f)
	if err != nil {
		return request.About(err, "list workloads")
	}
	if len(items) > uiWorkloadPage {
		items = items[:uiWorkloadPage]
		v.Next = request.WorkloadCursor(filter, items[len(items)-1].Cursor()).Encode()
	}
	for _, wl := range items {
		row := web.WorkloadRow{Cluster: wl.Cluster, Namespace: wl.Namespace, Kind: wl.Kind, Name: wl.Name, Mutant: wl.Mutant,
			Behind: len(wl.Behind) > 0, Changed: wl.Cursor().Changed}
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
				row.Digests, row.DigestRefs = append(row.Digests, c.Digest), append(row.DigestRefs, c.Ref)
			}
			v.Legend.Set(c.Ref, c.Digest, c.Letter)
		}
		row.Pods = len(pods)
		slices.Sort(row.Containers)
		v.Rows = append(v.Rows, row)
	}
	return u.render(w, r, http.StatusOK, u.meta(r, "Workloads", web.NavWorkloads), web.Workloads(v))
}

// workloadKeyOf names a workload as its page's path does.
func workloadKeyOf(k store.WorkloadKey) web.WorkloadRow {
	return web.WorkloadRow{Cluster: k.Cluster, Namespace: k.Namespace, Kind: k.Kind, Name: k.Name}
}
