package server

import (
	"net/http"

	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// clusterScans is how many of a cluster's scans its page lists.
const clusterScans = 50

func (u *ui) clusters(w http.ResponseWriter, r *http.Request) error {
	if _, err := parseQuery(r.URL.RawQuery); err != nil {
		return err
	}
	statuses, err := u.st.ClusterStatuses(r.Context())
	if err != nil {
		return about(err, "list clusters")
	}
	now := u.now()
	v := web.ClustersView{}
	for _, cs := range statuses {
		v.Clusters = append(v.Clusters, clusterHealth(cs, now))
	}
	return u.render(w, r, http.StatusOK, u.meta(r, "Clusters", web.NavClusters), web.Clusters(v, now))
}

func (u *ui) cluster(w http.ResponseWriter, r *http.Request) error {
	if _, err := parseQuery(r.URL.RawQuery); err != nil {
		return err
	}
	name := pathParam(r, "name")
	cs, err := u.st.ClusterStatusByName(r.Context(), name)
	if err != nil {
		return about(err, "cluster %q", name)
	}
	scans, err := u.st.ListScans(r.Context(), store.ScanFilter{Cluster: name, Limit: clusterScans + 1})
	if err != nil {
		return about(err, "scans of cluster %q", name)
	}
	now := u.now()
	v := web.ClusterView{Cluster: clusterHealth(cs, now), Context: cs.Context, Created: cs.CreatedAt}
	for i, s := range scans {
		if i == clusterScans {
			v.MoreScans = true
			break
		}
		v.Scans = append(v.Scans, scanRow(s.Scan))
	}
	return u.render(w, r, http.StatusOK, u.meta(r, "Cluster "+name, web.NavClusters), web.Cluster(v, now))
}

// clusterNames lists the live clusters' names, for the filters' choices.
func (u *ui) clusterNames(r *http.Request) ([]string, error) {
	statuses, err := u.st.ClusterStatuses(r.Context())
	if err != nil {
		return nil, about(err, "list clusters")
	}
	names := make([]string, len(statuses))
	for i, c := range statuses {
		names[i] = c.Name
	}
	return names, nil
}
