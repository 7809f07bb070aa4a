package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
)

// groupJSON is a cluster group: the clusters whose reports are correlated with each
// other (a tag-divergence spans the clusters of one group only).
type groupJSON struct {
	Name      string    `json:"name"`
	Clusters  int       `json:"clusters"`
	CreatedAt time.Time `json:"createdAt"`
}

func toGroupJSON(g store.Group) groupJSON {
	return groupJSON{Name: g.Name, Clusters: g.Clusters, CreatedAt: request.UTC(g.CreatedAt)}
}

func (a *API) listGroups(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	gs, err := a.st.Groups(r.Context(), scopeOf(r.Context()))
	if err != nil {
		return err
	}
	out := make([]groupJSON, 0, len(gs))
	for _, g := range gs {
		out = append(out, toGroupJSON(g))
	}
	return request.Respond(w, http.StatusOK, map[string]any{"items": out})
}

func (a *API) createGroup(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	var req struct {
		Name string `json:"name"`
	}
	if err := request.DecodeBody(w, r, request.MaxClusterBody, &req); err != nil {
		return err
	}
	g, err := a.st.CreateGroup(r.Context(), req.Name, access.Audit(r))
	if err != nil {
		return request.About(err, "group %q", req.Name)
	}
	w.Header().Set("Location", "/api/v1/groups/"+g.Name)
	return request.Respond(w, http.StatusCreated, toGroupJSON(g))
}

func (a *API) renameGroup(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	name := chi.URLParam(r, "name")
	var req struct {
		Name string `json:"name"`
	}
	if err := request.DecodeBody(w, r, request.MaxClusterBody, &req); err != nil {
		return err
	}
	g, err := a.st.RenameGroup(r.Context(), name, req.Name, access.Audit(r))
	if errors.Is(err, store.ErrConflict) {
		return request.Errorf(http.StatusConflict, "group %q cannot be renamed to %q: the default group keeps its name, and a name is used once", name, req.Name)
	}
	if err != nil {
		return request.About(err, "group %q", name)
	}
	return request.Respond(w, http.StatusOK, toGroupJSON(g))
}

func (a *API) deleteGroup(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	name := chi.URLParam(r, "name")
	err := a.st.DeleteGroup(r.Context(), name, access.Audit(r))
	if errors.Is(err, store.ErrConflict) {
		return request.Errorf(http.StatusConflict, "group %q is the default group or still has clusters: move them to another group first", name)
	}
	if err != nil {
		return request.About(err, "group %q", name)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
