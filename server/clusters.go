package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
	"github.com/tagdrift/tagdrift/store"
)

// clusterJSON is a cluster as the API shows it: never its kubeconfig or credentials.
type clusterJSON struct {
	Name          string    `json:"name"`
	Server        string    `json:"server"`
	Context       string    `json:"context"`
	ScanInterval  string    `json:"scanInterval"`
	Annotate      string    `json:"annotate"`
	Enabled       bool      `json:"enabled"`
	CreatedAt     time.Time `json:"createdAt"`
	LastScan      *scanJSON `json:"lastScan"`
	OpenMutations int       `json:"openMutations"`
}

func toClusterJSON(c store.ClusterStatus) clusterJSON {
	out := clusterJSON{
		Name:          c.Name,
		Server:        c.Server,
		Context:       c.Context,
		ScanInterval:  formatDuration(c.ScanInterval),
		Annotate:      c.Annotate,
		Enabled:       c.Enabled,
		CreatedAt:     utc(c.CreatedAt),
		OpenMutations: c.OpenMutations,
	}
	if c.LastScan != nil {
		s := toScanJSON(store.ScanRecord{Scan: *c.LastScan, Cluster: c.Name})
		out.LastScan = &s
	}
	return out
}

// clusterName is the rule for names of registered clusters: a DNS-label-like name, so
// that it is safe in URLs, logs, labels and metrics.
var clusterName = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$`)

// Cluster settings.
const (
	defaultScanInterval = 5 * time.Minute
	minScanInterval     = 10 * time.Second
)

func (a *api) listClusters(w http.ResponseWriter, r *http.Request) error {
	limit, after, err := unfilteredPage(r, "clusters")
	if err != nil {
		return err
	}
	all, err := a.st.ClusterStatuses(r.Context())
	if err != nil {
		return about(err, "list clusters")
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
	return respond(w, http.StatusOK, page(items, limit, func(last clusterJSON) cursor {
		return cursor{List: "clusters", Name: last.Name}
	}))
}

func (a *api) getCluster(w http.ResponseWriter, r *http.Request) error {
	if _, err := parseQuery(r.URL.RawQuery); err != nil {
		return err
	}
	name := chi.URLParam(r, "name")
	c, err := a.st.ClusterStatusByName(r.Context(), name)
	if err != nil {
		return about(err, "cluster %q", name)
	}
	return respond(w, http.StatusOK, toClusterJSON(c))
}

// clusterRequest is the body of POST /api/v1/clusters.
type clusterRequest struct {
	Name         string `json:"name"`
	Kubeconfig   string `json:"kubeconfig"`
	Context      string `json:"context"`
	ScanInterval string `json:"scanInterval"`
	Annotate     string `json:"annotate"`
	Enabled      *bool  `json:"enabled"`
}

func (a *api) createCluster(w http.ResponseWriter, r *http.Request) error {
	if _, err := parseQuery(r.URL.RawQuery); err != nil {
		return err
	}
	var req clusterRequest
	if err := decodeBody(w, r, maxClusterBody, &req); err != nil {
		return err
	}
	if !clusterName.MatchString(req.Name) {
		return badRequest("name must be 1 to 63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit, not %q", req.Name)
	}
	nc := store.NewCluster{Name: req.Name, ScanInterval: defaultScanInterval, Annotate: "off", Enabled: true}
	if req.ScanInterval != "" {
		d, err := parseDuration("scanInterval", req.ScanInterval, minScanInterval)
		if err != nil {
			return err
		}
		nc.ScanInterval = d
	}
	if req.Annotate != "" {
		if err := checkAnnotate(req.Annotate); err != nil {
			return err
		}
		nc.Annotate = req.Annotate
	}
	if req.Enabled != nil {
		nc.Enabled = *req.Enabled
	}
	if req.Kubeconfig == "" {
		return badRequest("kubeconfig is required: the kubeconfig file's content, as a string")
	}
	creds, err := a.vet(req.Kubeconfig, req.Context)
	if err != nil {
		return err
	}
	nc.Server, nc.Context, nc.Credentials = creds.server, creds.context, creds.sealed
	c, err := a.st.RegisterCluster(r.Context(), nc, audit(r))
	if err != nil {
		return about(err, "cluster %q", req.Name)
	}
	a.log.Info("cluster registered", "cluster", c.Name, "server", c.Server, "actor", principalOf(r.Context()).actor)
	w.Header().Set("Location", "/api/v1/clusters/"+c.Name)
	return respond(w, http.StatusCreated, toClusterJSON(store.ClusterStatus{Cluster: c}))
}

func checkAnnotate(s string) error {
	if s != "off" && s != "on" {
		return badRequest("annotate must be off or on, not %q", s)
	}
	return nil
}

// vetted is what the store keeps of a posted kubeconfig.
type vetted struct {
	server, context string
	sealed          []byte // the reduced kubeconfig, encoded for the store to seal
}

// vet checks a posted kubeconfig against the policy; a refusal is a
// *kubeconfig.FieldError, which fail turns into a 400 naming the field.
func (a *api) vet(raw, context string) (vetted, error) {
	if len(raw) > maxKubeconfig {
		return vetted{}, newHTTPError(http.StatusRequestEntityTooLarge, "kubeconfig larger than %d bytes", maxKubeconfig)
	}
	reduced, err := kubeconfig.Vet([]byte(raw), context, a.policy)
	if err != nil {
		return vetted{}, err
	}
	b, err := json.Marshal(reduced)
	if err != nil {
		return vetted{}, fmt.Errorf("encode credentials: %w", err)
	}
	return vetted{server: reduced.Server, context: reduced.Context, sealed: b}, nil
}

// clusterChange is the body of PATCH /api/v1/clusters/{name}: absent fields keep their
// value.
type clusterChange struct {
	Kubeconfig   *string `json:"kubeconfig"`
	Context      *string `json:"context"`
	ScanInterval *string `json:"scanInterval"`
	Annotate     *string `json:"annotate"`
	Enabled      *bool   `json:"enabled"`
}

func (a *api) updateCluster(w http.ResponseWriter, r *http.Request) error {
	if _, err := parseQuery(r.URL.RawQuery); err != nil {
		return err
	}
	name := chi.URLParam(r, "name")
	var req clusterChange
	if err := decodeBody(w, r, maxClusterBody, &req); err != nil {
		return err
	}
	var ch store.ClusterChange
	switch {
	case req.Kubeconfig == nil && req.Context != nil:
		return badRequest("context can only be changed with a kubeconfig: send both")
	case req.Kubeconfig != nil:
		ctxName := ""
		if req.Context != nil {
			ctxName = *req.Context
		}
		creds, err := a.vet(*req.Kubeconfig, ctxName)
		if err != nil {
			return err
		}
		ch.Server, ch.Context, ch.Credentials = &creds.server, &creds.context, creds.sealed
	}
	if req.ScanInterval != nil {
		d, err := parseDuration("scanInterval", *req.ScanInterval, minScanInterval)
		if err != nil {
			return err
		}
		ch.ScanInterval = &d
	}
	if req.Annotate != nil {
		if err := checkAnnotate(*req.Annotate); err != nil {
			return err
		}
		ch.Annotate = req.Annotate
	}
	ch.Enabled = req.Enabled
	if ch.Credentials == nil && ch.ScanInterval == nil && ch.Annotate == nil && ch.Enabled == nil {
		return badRequest("nothing to change: send any of kubeconfig (with context), scanInterval, annotate, enabled")
	}
	before, err := a.st.ClusterStatusByName(r.Context(), name)
	if err != nil {
		return about(err, "cluster %q", name)
	}
	if _, err := a.st.UpdateCluster(r.Context(), name, ch, audit(r)); err != nil {
		return about(err, "cluster %q", name)
	}
	if before.Annotate == "on" && ch.Annotate != nil && *ch.Annotate == "off" && a.scans != nil {
		// The change stands if this fails: the cluster's next scan removes the rest.
		if err := a.scans.Unannotate(context.WithoutCancel(r.Context()), before.ID); err != nil {
			a.log.Error("remove tagdrift's annotations", "cluster", name, "error", err.Error())
		}
	}
	c, err := a.st.ClusterStatusByName(r.Context(), name)
	if err != nil {
		return about(err, "cluster %q", name)
	}
	return respond(w, http.StatusOK, toClusterJSON(c))
}

func (a *api) deleteCluster(w http.ResponseWriter, r *http.Request) error {
	q, err := parseQuery(r.URL.RawQuery, "purge")
	if err != nil {
		return err
	}
	purge, err := q.boolean("purge")
	if err != nil {
		return err
	}
	if err := noBody(w, r); err != nil {
		return err
	}
	name := chi.URLParam(r, "name")
	// tagdrift's keys leave the cluster's ReplicaSets first, while its credentials are
	// still at hand; the deletion goes ahead if that fails.
	if c, err := a.st.ClusterStatusByName(r.Context(), name); err == nil && a.scans != nil {
		if err := a.scans.Unannotate(context.WithoutCancel(r.Context()), c.ID); err != nil {
			a.log.Error("remove tagdrift's annotations", "cluster", name, "error", err.Error())
		}
	}
	deleted, err := a.st.DeleteCluster(r.Context(), name, purge, audit(r))
	if err != nil {
		return about(err, "cluster %q", name)
	}
	// The deletion queued the references the cluster ran for a recheck of their
	// tag-divergences; ask for it now. When that fails they stay queued, and the
	// scheduler's next tick (on any replica) rechecks them.
	if a.scans != nil {
		if err := a.scans.Recheck(context.WithoutCancel(r.Context())); err != nil {
			a.log.Warn("ask for a recheck after a cluster deletion", "cluster", name, "refs", len(deleted.Refs), "error", err.Error())
		}
	}
	a.log.Info("cluster deleted", "cluster", name, "purge", purge, "actor", principalOf(r.Context()).actor)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *api) requestScan(w http.ResponseWriter, r *http.Request) error {
	if _, err := parseQuery(r.URL.RawQuery); err != nil {
		return err
	}
	if err := noBody(w, r); err != nil {
		return err
	}
	name := chi.URLParam(r, "name")
	c, err := a.st.ClusterStatusByName(r.Context(), name)
	if err != nil {
		return about(err, "cluster %q", name)
	}
	if !c.Enabled {
		// The scheduler cancels scans of disabled clusters: the request would stay
		// queued for ever.
		return newHTTPError(http.StatusConflict, "cluster %q is disabled: enable it first", name)
	}
	if a.scans == nil {
		return fmt.Errorf("scan cluster %q: no scheduler configured", name)
	}
	id, err := a.scans.ScanNow(r.Context(), c.ID, audit(r))
	if err != nil {
		return about(err, "scan cluster %q", name)
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/scans/%d", id))
	return respond(w, http.StatusAccepted, map[string]int64{"id": id})
}
