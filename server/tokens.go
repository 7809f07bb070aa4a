package server

import (
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/go-chi/chi/v5"

	"github.com/tagdrift/tagdrift/store"
)

// tokenJSON is an API token as listed: never its secret.
type tokenJSON struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	CreatedBy  string     `json:"createdBy"`
	CreatedAt  time.Time  `json:"createdAt"`
	LastUsedAt *time.Time `json:"lastUsedAt"`
	ExpiresAt  *time.Time `json:"expiresAt"`
	RevokedAt  *time.Time `json:"revokedAt"`
}

func (a *api) listTokens(w http.ResponseWriter, r *http.Request) error {
	limit, c, err := unfilteredPage(r, "tokens")
	if err != nil {
		return err
	}
	toks, err := a.st.Tokens(r.Context(), c.ID, limit+1)
	if err != nil {
		return about(err, "list tokens")
	}
	items := make([]tokenJSON, len(toks))
	for i, t := range toks {
		items[i] = tokenJSON{
			ID: t.ID, Name: t.Name, Role: t.Role, CreatedBy: t.CreatedBy, CreatedAt: utc(t.CreatedAt),
			LastUsedAt: utcPtr(t.LastUsedAt), ExpiresAt: utcPtr(t.ExpiresAt), RevokedAt: utcPtr(t.RevokedAt),
		}
	}
	return respond(w, http.StatusOK, page(items, limit, func(last tokenJSON) cursor {
		return cursor{List: "tokens", ID: last.ID}
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

func (a *api) createToken(w http.ResponseWriter, r *http.Request) error {
	if _, err := parseQuery(r.URL.RawQuery); err != nil {
		return err
	}
	var req tokenRequest
	if err := decodeBody(w, r, maxOtherBody, &req); err != nil {
		return err
	}
	if req.Name == "" || len(req.Name) > maxTokenName || strings.TrimSpace(req.Name) != req.Name ||
		strings.ContainsFunc(req.Name, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return badRequest("name must be 1 to %d printable characters without leading or trailing spaces", maxTokenName)
	}
	if req.Role != store.RoleViewer && req.Role != store.RoleAdmin {
		return badRequest("role must be viewer or admin, not %q", req.Role)
	}
	nt := store.NewToken{Name: req.Name, Role: req.Role}
	if req.ExpiresIn != "" {
		d, err := parseDuration("expiresIn", req.ExpiresIn, time.Minute)
		if err != nil {
			return err
		}
		at := a.now().Add(d).UTC()
		nt.ExpiresAt = &at
	}
	tok, secret, err := a.st.CreateToken(r.Context(), nt, audit(r))
	if err != nil {
		return about(err, "token %q", req.Name)
	}
	a.log.Info("token created", "token_id", tok.ID, "name", tok.Name, "role", tok.Role, "actor", principalOf(r.Context()).actor)
	return respond(w, http.StatusCreated, createdToken{
		ID: tok.ID, Name: tok.Name, Role: tok.Role, Token: secret, ExpiresAt: utcPtr(tok.ExpiresAt),
	})
}

func (a *api) revokeToken(w http.ResponseWriter, r *http.Request) error {
	if _, err := parseQuery(r.URL.RawQuery); err != nil {
		return err
	}
	if err := noBody(w, r); err != nil {
		return err
	}
	id, err := pathID(chi.URLParam(r, "id"), "token")
	if err != nil {
		return err
	}
	tok, err := a.st.RevokeToken(r.Context(), id, a.now(), audit(r))
	if err != nil {
		return about(err, "unrevoked token %d", id)
	}
	a.log.Info("token revoked", "token_id", tok.ID, "name", tok.Name, "actor", principalOf(r.Context()).actor)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// auditJSON is one audit event.
type auditJSON struct {
	ID         int64          `json:"id"`
	At         time.Time      `json:"at"`
	Actor      string         `json:"actor"`
	Action     string         `json:"action"`
	Target     string         `json:"target"`
	Detail     map[string]any `json:"detail"`
	RemoteAddr string         `json:"remoteAddr"`
}

func (a *api) listAudit(w http.ResponseWriter, r *http.Request) error {
	limit, c, err := unfilteredPage(r, "audit")
	if err != nil {
		return err
	}
	events, err := a.st.AuditEvents(r.Context(), c.ID, limit+1)
	if err != nil {
		return about(err, "list audit events")
	}
	items := make([]auditJSON, len(events))
	for i, e := range events {
		detail := e.Detail
		if detail == nil {
			detail = map[string]any{}
		}
		items[i] = auditJSON{ID: e.ID, At: utc(e.At), Actor: e.Actor, Action: e.Action, Target: e.Target, Detail: detail, RemoteAddr: e.RemoteAddr}
	}
	return respond(w, http.StatusOK, page(items, limit, func(last auditJSON) cursor {
		return cursor{List: "audit", ID: last.ID}
	}))
}
