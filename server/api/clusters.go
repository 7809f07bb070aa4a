package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
)

// clusterJSON is a cluster as the API shows it: never its kubeconfig or credentials.
type clusterJSON struct {
	Name          string            `json:"name"`
	Server        string            `json:"server"`
	Context       string            `json:"context"`
	Group         string            `json:"group"`
	ScanInterval  string            `json:"scanInterval"`
	ScanMode      string            `json:"scanMode"`
	Annotate      string            `json:"annotate"`
	Enabled       bool              `json:"enabled"`
	CreatedAt     time.Time         `json:"createdAt"`
	LastScan      *scanJSON         `json:"lastScan"`
	OpenMutations int               `json:"openMutations"`
	Watch         *clusterWatchJSON `json:"watch"`
}

// clusterWatchJSON is how a cluster in scan mode watch is watched.
type clusterWatchJSON struct {
	State        string     `json:"state"`
	StaleSince   *time.Time `json:"staleSince"`
	Note         string     `json:"note"`
	LastChange   *time.Time `json:"lastChange"`
	LastDetected *time.Time `json:"lastDetected"`
}

func toClusterJSON(c store.ClusterStatus) clusterJSON {
	out := clusterJSON{
		Name:          c.Name,
		Server:        c.Server,
		Context:       c.Context,
		Group:         c.Group,
		ScanInterval:  request.FormatDuration(c.ScanInterval),
		ScanMode:      c.ScanMode,
		Annotate:      c.Annotate,
		Enabled:       c.Enabled,
		CreatedAt:     request.UTC(c.CreatedAt),
		OpenMutations: c.OpenMutations,
	}
	if c.LastScan != nil {
		s := toScanJSON(store.ScanRecord{Scan: *c.LastScan, Cluster: c.Name})
		out.LastScan = &s
	}
	if w := c.Watch; w != nil {
		out.Watch = &clusterWatchJSON{State: w.State, StaleSince: request.UTCPtr(w.StaleSince), Note: w.Note,
			LastChange: request.UTCPtr(w.LastChange), LastDetected: request.UTCPtr(w.LastDetected)}
	}
	return out
}

func (a *API) listClusters(w http.ResponseWriter, r *http.Request) error {
	limit, after, err := request.UnfilteredPage(r, "clusters")
	if err != nil {
		return err
	}
	all, err := a.st.ClusterStatuses(r.Context(), scopeOf(r.Context()))
	if err != nil {
		return request.About(err, "list clusters")
	}
	// Few clusters: the store returns them all, by name, and the page is cut here.
	var items []clusterJSON
	for _, c := range all {
		if after.Name != "" && c.Name <= after.Name {
			continue
		}
		items = append(items, toClusterJSON(c))
		if len(items) > limit {
			break
		}
	}
	return request.Respond(w, http.StatusOK, request.Page(items, limit, func(last clusterJSON) request.Cursor {
		return request.Cursor{List: "clusters", Name: last.Name}
	}))
}

func (a *API) getCluster(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	name := chi.URLParam(r, "name")
	c, err := a.st.ClusterStatusByName(r.Context(), name, scopeOf(r.Context()))
	if err != nil {
		return request.About(err, "cluster %q", name)
	}
	return request.Respond(w, http.StatusOK, toClusterJSON(c))
}

// clusterRequest is the body of POST /api/v1/clusters.
type clusterRequest struct {
	Name         string `json:"name"`
	Kubeconfig   string `json:"kubeconfig"`
	Context      string `json:"context"`
	Group        string `json:"group"`
	ScanInterval string `json:"scanInterval"`
	ScanMode     string `json:"scanMode"`
	Annotate     string `json:"annotate"`
	Enabled      *bool  `json:"enabled"`
}

// checkScanMode refuses a scan mode other than poll and watch.
func checkScanMode(mode string) error {
	if mode != store.ScanModePoll && mode != store.ScanModeWatch {
		return request.BadRequest("scanMode must be poll or watch, not %q", mode)
	}
	return nil
}

func (a *API) createCluster(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	var req clusterRequest
	if err := request.DecodeBody(w, r, request.MaxClusterBody, &req); err != nil {
		return err
	}
	if !request.ClusterName.MatchString(req.Name) {
		return request.BadRequest("name must be 1 to 63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit, not %q", req.Name)
	}
	nc := store.NewCluster{Name: req.Name, Group: req.Group, ScanInterval: request.DefaultScanInterval, Annotate: "off", Enabled: true}
	if req.ScanInterval != "" {
		d, err := request.ParseDuration("scanInterval", req.ScanInterval, request.MinScanInterval)
		if err != nil {
			return err
		}
		nc.ScanInterval = d
	}
	if req.Annotate != "" {
		if err := request.CheckAnnotate(req.Annotate); err != nil {
			return err
		}
		nc.Annotate = req.Annotate
	}
	if req.Enabled != nil {
		nc.Enabled = *req.Enabled
	}
	if req.ScanMode != "" {
		if err := checkScanMode(req.ScanMode); err != nil {
			return err
		}
		nc.ScanMode = req.ScanMode
	}
	if req.Kubeconfig == "" {
		return request.BadRequest("kubeconfig is required: the kubeconfig file's content, as a string")
	}
	if err := a.groupInScope(r, req.Group); err != nil {
		return err
	}
	creds, err := a.vet.Vet(req.Kubeconfig, req.Context)
	if err != nil {
		return err
	}
	nc.Server, nc.Context, nc.Credentials = creds.Server, creds.Context, creds.Sealed
	c, err := a.st.RegisterCluster(r.Context(), nc, access.Audit(r))
	if err != nil {
		return request.About(err, "cluster %q", req.Name)
	}
	a.log.Info("cluster registered", "cluster", c.Name, "server", c.Server, "actor", access.PrincipalOf(r.Context()).Actor)
	w.Header().Set("Location", "/api/v1/clusters/"+c.Name)
	return request.Respond(w, http.StatusCreated, toClusterJSON(store.ClusterStatus{Cluster: c}))
}

// clusterChange is the body of PATCH /api/v1/clusters/{name}: absent fields keep their
// value.
type clusterChange struct {
	Kubeconfig   *string `json:"kubeconfig"`
	Context      *string `json:"context"`
	Group        *string `json:"group"`
	ScanInterval *string `json:"scanInterval"`
	ScanMode     *string `json:"scanMode"`
	Annotate     *string `json:"annotate"`
	Enabled      *bool   `json:"enabled"`
}

func (a *API) updateCluster(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	name := chi.URLParam(r, "name")
	var req clusterChange
	if err := request.DecodeBody(w, r, request.MaxClusterBody, &req); err != nil {
		return err
	}
	var ch store.ClusterChange
	switch {
	case req.Kubeconfig == nil && req.Context != nil:
		return request.BadRequest("context can only be changed with a kubeconfig: send both")
	case req.Kubeconfig != nil:
		ctxName := ""
		if req.Context != nil {
			ctxName = *req.Context
		}
		creds, err := a.vet.Vet(*req.Kubeconfig, ctxName)
		if err != nil {
			return err
		}
		ch.Server, ch.Context, ch.Credentials = &creds.Server, &creds.Context, creds.Sealed
	}
	if req.ScanInterval != nil {
		d, err := request.ParseDuration("scanInterval", *req.ScanInterval, request.MinScanInterval)
		if err != nil {
			return err
		}
		ch.ScanInterval = &d
	}
	if req.Annotate != nil {
		if err := request.CheckAnnotate(*req.Annotate); err != nil {
			return err
		}
		ch.Annotate = req.Annotate
	}
	if req.ScanMode != nil {
		if err := checkScanMode(*req.ScanMode); err != nil {
			return err
		}
		ch.ScanMode = req.ScanMode
	}
	ch.Enabled = req.Enabled
	ch.Group = req.Group
	if ch.Credentials == nil && ch.ScanInterval == nil && ch.Annotate == nil && ch.Enabled == nil && ch.Group == nil && ch.ScanMode == nil {
		return request.BadRequest("nothing to change: send any of kubeconfig (with context), group, scanInterval, scanMode, annotate, enabled")
	}
	before, err := a.st.ClusterStatusByName(r.Context(), name, scopeOf(r.Context()))
	if err != nil {
		return request.About(err, "cluster %q", name)
	}
	if err := a.administers(r, before); err != nil {
		return err
	}
	if ch.Group != nil {
		if err := a.groupInScope(r, *ch.Group); err != nil {
			return err
		}
	}
	ch.Within = adminScopeOf(r.Context())
	if _, err := a.st.UpdateCluster(r.Context(), name, ch, access.Audit(r)); err != nil {
		return request.About(err, "cluster %q", name)
	}
	if before.Annotate == "on" && ch.Annotate != nil && *ch.Annotate == "off" && a.scans != nil {
		// The change stands if this fails: the cluster's next scan removes the rest.
		if err := a.scans.Unannotate(context.WithoutCancel(r.Context()), before.ID); err != nil {
			a.log.Error("remove tagdrift's annotations", "cluster", name, "error", err.Error())
		}
	}
	c, err := a.st.ClusterStatusByName(r.Context(), name, scopeOf(r.Context()))
	if err != nil {
		return request.About(err, "cluster %q", name)
	}
	return request.Respond(w, http.StatusOK, toClusterJSON(c))
}

func (a *API) deleteCluster(w http.ResponseWriter, r *http.Request) error {
	q, err := request.Parse(r.URL.RawQuery, "purge")
	if err != nil {
		return err
	}
	purge, err := q.Boolean("purge")
	if err != nil {
		return err
	}
	if err := request.NoBody(w, r); err != nil {
		return err
	}
	name := chi.URLParam(r, "name")
	// tagdrift's keys leave the cluster's ReplicaSets first, while its credentials are
	// still at hand; the deletion goes ahead if that fails.
	// Outside the principal's scope, the cluster does not exist.
	c, err := a.st.ClusterStatusByName(r.Context(), name, scopeOf(r.Context()))
	if err != nil {
		return request.About(err, "cluster %q", name)
	}
	if err := a.administers(r, c); err != nil {
		return err
	}
	if a.scans != nil {
		if err := a.scans.Unannotate(context.WithoutCancel(r.Context()), c.ID); err != nil {
			a.log.Error("remove tagdrift's annotations", "cluster", name, "error", err.Error())
		}
	}
	deleted, err := a.st.DeleteClusterWithin(r.Context(), name, purge, adminScopeOf(r.Context()), access.Audit(r))
	if err != nil {
		return request.About(err, "cluster %q", name)
	}
	// The deletion queued the references the cluster ran for a recheck of their
	// tag-divergences; ask for it now. When that fails they stay queued, and the
	// scheduler's next tick (on any replica) rechecks them.
	if a.scans != nil {
		if err := a.scans.Recheck(context.WithoutCancel(r.Context())); err != nil {
			a.log.Warn("ask for a recheck after a cluster deletion", "cluster", name, "refs", len(deleted.Refs), "error", err.Error())
		}
	}
	a.log.Info("cluster deleted", "cluster", name, "purge", purge, "actor", access.PrincipalOf(r.Context()).Actor)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) requestScan(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	if err := request.NoBody(w, r); err != nil {
		return err
	}
	name := chi.URLParam(r, "name")
	c, err := a.st.ClusterStatusByName(r.Context(), name, scopeOf(r.Context()))
	if err != nil {
		return request.About(err, "cluster %q", name)
	}
	if err := a.administers(r, c); err != nil {
		return err
	}
	if !c.Enabled {
		// The scheduler cancels scans of disabled clusters: the request would stay
		// queued for ever.
		return request.Errorf(http.StatusConflict, "cluster %q is disabled: enable it first", name)
	}
	if a.scans == nil {
		return fmt.Errorf("scan cluster %q: no scheduler configured", name)
	}
	id, err := a.scans.ScanNow(r.Context(), c.ID, access.Audit(r))
	if err != nil {
		return request.About(err, "scan cluster %q", name)
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/scans/%d", id))
	return request.Respond(w, http.StatusAccepted, map[string]int64{"id": id})
}

// groupInScope refuses, with a 403, a cluster group outside the clusters the principal
// administers for a cluster it adds or moves: an admin of some groups names one of
// their own ("" is the default group, theirs only if they administer it). The refusal
// reads the same whether the group exists or not.
func (a *API) groupInScope(r *http.Request, group string) error {
	ok, err := a.administersGroup(r, group)
	if err != nil || ok {
		return err
	}
	return request.Errorf(http.StatusForbidden, "a scoped admin adds clusters to, and moves them between, their own groups only")
}

// administersGroup reports whether the principal administers the clusters of group
// ("" the default group).
func (a *API) administersGroup(r *http.Request, group string) (bool, error) {
	sc := adminScopeOf(r.Context())
	if !sc.Limited {
		return true, nil
	}
	if group == "" {
		group = store.DefaultGroup
	}
	gs, err := a.st.Groups(r.Context(), sc)
	if err != nil {
		return false, request.About(err, "cluster groups")
	}
	for _, g := range gs {
		if g.Name == group {
			return true, nil
		}
	}
	return false, nil
}

// administers refuses, with a 403, a change of cluster c, which the principal reads,
// when it does not administer it (a cluster it cannot read is a 404 before this: its
// name does not leak). The store checks again under the cluster's row lock.
func (a *API) administers(r *http.Request, c store.ClusterStatus) error {
	ok, err := a.administersGroup(r, c.Group)
	if err != nil || ok {
		return err
	}
	return request.Errorf(http.StatusForbidden, "cluster %q is in cluster group %q, which you may read but not administer", c.Name, c.Group)
}
