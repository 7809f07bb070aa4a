package ui

import (
	"net/http"
	"strconv"

	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// clusterScans is how many of a cluster's scans its page lists.
const clusterScans = 50

func (u *UI) clusters(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	return u.renderClusters(w, r, http.StatusOK, nil)
}

// renderClusters renders the clusters list with status; form is the add form as posted
// (nil: a fresh one), offered to admins (cluster_forms.go).
func (u *UI) renderClusters(w http.ResponseWriter, r *http.Request, status int, form *web.ClusterForm) error {
	statuses, err := u.st.ClusterStatuses(r.Context(), scopeOf(r.Context()))
	if err != nil {
		return request.About(err, "list clusters")
	}
	now := u.now()
	v := web.ClustersView{}
	for _, cs := range statuses {
		v.Clusters = append(v.Clusters, clusterHealth(cs, now))
	}
	v.Actions = u.addClusterActions(r, form, len(v.Clusters))
	return u.render(w, r, status, u.meta(r, "Clusters", web.NavClusters), web.Clusters(v, now))
}

func (u *UI) cluster(w http.ResponseWriter, r *http.Request) error {
	q, err := request.Parse(r.URL.RawQuery, "scan", "before")
	if err != nil {
		return err
	}
	forms := clusterForms{watch: q.Get("scan")}
	if b := q.Get("before"); b != "" {
		if forms.before, err = strconv.ParseInt(b, 10, 64); err != nil || forms.before <= 0 {
			return request.BadRequest("before must be a scan id, not %q", request.Clip(b, 80))
		}
	}
	return u.renderCluster(w, r, http.StatusOK, request.PathParam(r, "name"), forms)
}

// renderCluster renders a cluster's page with status; forms is what an admin's controls
// show (cluster_forms.go).
func (u *UI) renderCluster(w http.ResponseWriter, r *http.Request, status int, name string, forms clusterForms) error {
	cs, err := u.st.ClusterStatusByName(r.Context(), name, scopeOf(r.Context()))
	if err != nil {
		return request.About(err, "cluster %q", name)
	}
	scans, err := u.st.ListScans(r.Context(), store.ScanFilter{Cluster: name, BeforeID: forms.before, Limit: clusterScans + 1, Scope: scopeOf(r.Context())})
	if err != nil {
		return request.About(err, "scans of cluster %q", name)
	}
	now := u.now()
	v := web.ClusterView{Cluster: clusterHealth(cs, now), Context: cs.Context, Created: cs.CreatedAt}
	for i, s := range scans {
		if i == clusterScans {
			v.Older = web.WithQuery(web.ClusterURL(name), "before", strconv.FormatInt(scans[i-1].ID, 10))
			break
		}
		v.Scans = append(v.Scans, scanRow(s.Scan))
	}
	if forms.before != 0 {
		v.Newer = web.ClusterURL(name)
	}
	m := u.meta(r, "Cluster "+name, web.NavClusters)
	if v.Actions, err = u.clusterActions(r, cs, forms, &m); err != nil {
		return err
	}
	return u.render(w, r, status, m, web.Cluster(v, now))
}

// clusterNames lists the live clusters' names, for the filters' choices.
func (u *UI) clusterNames(r *http.Request) ([]string, error) {
	statuses, err := u.st.ClusterStatuses(r.Context(), scopeOf(r.Context()))
	if err != nil {
		return nil, request.About(err, "list clusters")
	}
	names := make([]string, len(statuses))
	for i, c := range statuses {
		names[i] = c.Name
	}
	return names, nil
}
