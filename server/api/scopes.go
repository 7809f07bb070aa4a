package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
)

// scopeRequest is the body of PUT /api/v1/users/{name}/scope and
// /api/v1/tokens/{id}/scope: the cluster groups the role covers; none (an empty list
// or null) for every cluster.
type scopeRequest struct {
	Groups []string `json:"groups"`
}

// scopeJSON is a scope as the API shows it: every cluster, or the named groups'.
type scopeJSON struct {
	All    bool     `json:"all"`
	Groups []string `json:"groups"`
}

func toScopeJSON(groups []string) scopeJSON {
	if len(groups) == 0 {
		return scopeJSON{All: true, Groups: []string{}}
	}
	return scopeJSON{Groups: groups}
}

// maxScopeGroups bounds the groups of one scope.
const maxScopeGroups = 100

func readScopeRequest(w http.ResponseWriter, r *http.Request) ([]string, error) {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return nil, err
	}
	var req scopeRequest
	if err := request.DecodeBody(w, r, request.MaxOtherBody, &req); err != nil {
		return nil, err
	}
	if len(req.Groups) > maxScopeGroups {
		return nil, request.BadRequest("a scope names at most %d groups", maxScopeGroups)
	}
	for _, g := range req.Groups {
		if err := store.ValidGroupName(g); err != nil {
			return nil, request.BadRequest("groups: %v", err)
		}
	}
	return req.Groups, nil
}

// setUserScope scopes a user's role to cluster groups (user.scope in the audit trail);
// their sessions and tokens follow at their next request.
func (a *API) setUserScope(w http.ResponseWriter, r *http.Request) error {
	groups, err := readScopeRequest(w, r)
	if err != nil {
		return err
	}
	name := chi.URLParam(r, "name")
	if err := a.st.SetUserScope(r.Context(), name, groups, access.Audit(r)); err != nil {
		return request.About(err, "user %q or its groups", name)
	}
	a.log.Info("user scope set", "user", name, "groups", groups, "actor", access.PrincipalOf(r.Context()).Actor)
	return request.Respond(w, http.StatusOK, toScopeJSON(groups))
}

// setTokenScope scopes a token to cluster groups (token.scope); never wider than its
// owner's scope (409).
func (a *API) setTokenScope(w http.ResponseWriter, r *http.Request) error {
	groups, err := readScopeRequest(w, r)
	if err != nil {
		return err
	}
	id, err := request.PathID(chi.URLParam(r, "id"), "token")
	if err != nil {
		return err
	}
	if err := a.st.SetTokenScope(r.Context(), id, groups, access.Audit(r)); err != nil {
		return request.About(err, "token %d or its groups", id)
	}
	a.log.Info("token scope set", "token_id", id, "groups", groups, "actor", access.PrincipalOf(r.Context()).Actor)
	return request.Respond(w, http.StatusOK, toScopeJSON(groups))
}
