package api

import (
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/go-chi/chi/v5"

	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
)

// tokenJSON is an API token as listed: never its secret.
type tokenJSON struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	CreatedBy  string     `json:"createdBy"`
	Owner      *string    `json:"owner"`
	CreatedAt  time.Time  `json:"createdAt"`
	LastUsedAt *time.Time `json:"lastUsedAt"`
	ExpiresAt  *time.Time `json:"expiresAt"`
	RevokedAt  *time.Time `json:"revokedAt"`
	// Scope is what the token's own grants read (docs/access.md), and Grants those
	// grants; at use they are cut to its owner's too.
	Scope  scopeJSON   `json:"scope"`
	Grants []grantJSON `json:"grants"`
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request) error {
	limit, c, err := request.UnfilteredPage(r, "tokens")
	if err != nil {
		return err
	}
	toks, err := a.st.Tokens(r.Context(), c.ID, limit+1)
	if err != nil {
		return request.About(err, "list tokens")
	}
	groups, err := a.st.Groups(r.Context(), store.Scope{}) // an admin of every cluster's list
	if err != nil {
		return request.About(err, "list cluster groups")
	}
	items := make([]tokenJSON, len(toks))
	for i, t := range toks {
		var owner *string
		if t.Owner != "" {
			owner = &t.Owner
		}
		items[i] = tokenJSON{
			ID: t.ID, Name: t.Name, Role: t.Role, CreatedBy: t.CreatedBy, Owner: owner, CreatedAt: request.UTC(t.CreatedAt),
			LastUsedAt: request.UTCPtr(t.LastUsedAt), ExpiresAt: request.UTCPtr(t.ExpiresAt), RevokedAt: request.UTCPtr(t.RevokedAt),
			Scope: namedScopeJSON(t.Grants.ReadScope(), groups), Grants: []grantJSON{},
		}
		for _, g := range t.Grants {
			items[i].Grants = append(items[i].Grants, grantJSON{Role: g.Role, scopeJSON: namedScopeJSON(g.Scope, groups)})
		}
	}
	return request.Respond(w, http.StatusOK, request.Page(items, limit, func(last tokenJSON) request.Cursor {
		return request.Cursor{List: "tokens", ID: last.ID}
	}))
}

// tokenRequest is the body of POST /api/v1/tokens.
type tokenRequest struct {
	Name      string `json:"name"`
	Role      string `json:"role"`
	ExpiresIn string `json:"expiresIn"`
}

// createdToken is the answer to POST /api/v1/tokens, the only time the secret is shown.
type createdToken struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	Token     string     `json:"token"`
	ExpiresAt *time.Time `json:"expiresAt"`
}

// maxTokenName bounds a token's name.
const maxTokenName = 100

func (a *API) createToken(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	var req tokenRequest
	if err := request.DecodeBody(w, r, request.MaxOtherBody, &req); err != nil {
		return err
	}
	if req.Name == "" || len(req.Name) > maxTokenName || strings.TrimSpace(req.Name) != req.Name ||
		strings.ContainsFunc(req.Name, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return request.BadRequest("name must be 1 to %d printable characters without leading or trailing spaces", maxTokenName)
	}
	if req.Role != store.RoleViewer && req.Role != store.RoleAdmin {
		return request.BadRequest("role must be viewer or admin, not %q", req.Role)
	}
	// The new token acts for the user the caller's token acts for, if any.
	nt := store.NewToken{Name: req.Name, Role: req.Role, OwnerID: access.PrincipalOf(r.Context()).UserID}
	if req.ExpiresIn != "" {
		d, err := request.ParseDuration("expiresIn", req.ExpiresIn, time.Minute)
		if err != nil {
			return err
		}
		at := a.now().Add(d).UTC()
		nt.ExpiresAt = &at
	}
	tok, secret, err := a.st.CreateToken(r.Context(), nt, access.Audit(r))
	if err != nil {
		return request.About(err, "token %q", req.Name)
	}
	a.log.Info("token created", "token_id", tok.ID, "name", tok.Name, "role", tok.Role, "actor", access.PrincipalOf(r.Context()).Actor)
	return request.Respond(w, http.StatusCreated, createdToken{
		ID: tok.ID, Name: tok.Name, Role: tok.Role, Token: secret, ExpiresAt: request.UTCPtr(tok.ExpiresAt),
	})
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	if err := request.NoBody(w, r); err != nil {
		return err
	}
	id, err := request.PathID(chi.URLParam(r, "id"), "token")
	if err != nil {
		return err
	}
	tok, err := a.st.RevokeToken(r.Context(), id, a.now(), access.Audit(r))
	if err != nil {
		return request.About(err, "unrevoked token %d", id)
	}
	a.log.Info("token revoked", "token_id", tok.ID, "name", tok.Name, "actor", access.PrincipalOf(r.Context()).Actor)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
