package api

import (
	"net/http"
	"slices"

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

// grantsRequest is the body of PUT /api/v1/users/{name}/grants and
// /api/v1/tokens/{id}/grants: the roles held, each on the clusters of the cluster
// groups it names, or with none on every cluster.
type grantsRequest struct {
	Grants []struct {
		Role   string   `json:"role"`
		Groups []string `json:"groups"`
	} `json:"grants"`
}

// grantJSON is a grant as the API shows it: a role on every cluster, or on the named
// groups' clusters.
type grantJSON struct {
	Role string `json:"role"`
	scopeJSON
}

// grantsJSON is the answer to PUT .../grants: the grants held, as stored (one per role).
type grantsJSON struct {
	Grants []grantJSON `json:"grants"`
}

func readGrantsRequest(w http.ResponseWriter, r *http.Request) ([]store.NamedGrant, error) {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return nil, err
	}
	var req grantsRequest
	if err := request.DecodeBody(w, r, request.MaxOtherBody, &req); err != nil {
		return nil, err
	}
	if len(req.Grants) == 0 || len(req.Grants) > maxScopeGroups {
		return nil, request.BadRequest("grants: give 1 to %d grants, each a role on every cluster or on some cluster groups", maxScopeGroups)
	}
	out := make([]store.NamedGrant, len(req.Grants))
	for i, g := range req.Grants {
		if g.Role != store.RoleViewer && g.Role != store.RoleAdmin {
			return nil, request.BadRequest("grants: role must be viewer or admin, not %q", g.Role)
		}
		if len(g.Groups) > maxScopeGroups {
			return nil, request.BadRequest("a grant names at most %d groups", maxScopeGroups)
		}
		for _, name := range g.Groups {
			if err := store.ValidGroupName(name); err != nil {
				return nil, request.BadRequest("grants: groups: %v", err)
			}
		}
		out[i] = store.NamedGrant{Role: g.Role, Groups: g.Groups}
	}
	return out, nil
}

// toGrantsJSON names the groups of gs.
func (a *API) toGrantsJSON(r *http.Request, gs store.Grants) ([]grantJSON, error) {
	groups, err := a.st.Groups(r.Context(), store.Scope{}) // an admin of every cluster's
	if err != nil {
		return nil, request.About(err, "list cluster groups")
	}
	out := make([]grantJSON, len(gs))
	for i, g := range gs {
		out[i] = grantJSON{Role: g.Role, scopeJSON: namedScopeJSON(g.Scope, groups)}
	}
	return out, nil
}

// namedScopeJSON is sc with its groups named (those of groups: a deleted one is left out).
func namedScopeJSON(sc store.Scope, groups []store.Group) scopeJSON {
	out := scopeJSON{All: !sc.Limited, Groups: []string{}}
	for _, g := range groups {
		if sc.Limited && sc.HasGroup(g.ID) {
			out.Groups = append(out.Groups, g.Name)
		}
	}
	slices.Sort(out.Groups)
	return out
}

// setUserGrants replaces a user's grants (user.grants in the audit trail); their
// sessions and tokens follow at their next request.
func (a *API) setUserGrants(w http.ResponseWriter, r *http.Request) error {
	named, err := readGrantsRequest(w, r)
	if err != nil {
		return err
	}
	name := chi.URLParam(r, "name")
	u, err := a.st.SetUserGrants(r.Context(), name, named, access.Audit(r))
	if err != nil {
		return request.About(err, "user %q or its groups", name)
	}
	a.log.Info("user grants set", "user", name, "actor", access.PrincipalOf(r.Context()).Actor)
	out, err := a.toGrantsJSON(r, u.Grants)
	if err != nil {
		return err
	}
	return request.Respond(w, http.StatusOK, grantsJSON{Grants: out})
}

// setTokenGrants replaces a token's grants (token.grants); never wider than its
// owner's (409).
func (a *API) setTokenGrants(w http.ResponseWriter, r *http.Request) error {
	named, err := readGrantsRequest(w, r)
	if err != nil {
		return err
	}
	id, err := request.PathID(chi.URLParam(r, "id"), "token")
	if err != nil {
		return err
	}
	t, err := a.st.SetTokenGrants(r.Context(), id, named, access.Audit(r))
	if err != nil {
		return request.About(err, "token %d or its groups", id)
	}
	a.log.Info("token grants set", "token_id", id, "actor", access.PrincipalOf(r.Context()).Actor)
	out, err := a.toGrantsJSON(r, t.Grants)
	if err != nil {
		return err
	}
	return request.Respond(w, http.StatusOK, grantsJSON{Grants: out})
}
