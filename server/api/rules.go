package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
)

// Declared-mutable tag rules (issue 27): the tag-moved, pod-drift and tag-divergence
// inside a rule's scope are expected, not open. Anyone reads them; admins declare and
// revoke them; the store audits every change in the transaction that makes it.

// ruleJSON is a rule as the API shows it.
type ruleJSON struct {
	ID int64 `json:"id"`
	// Scope is as it was declared, in Alertmanager's matcher syntax.
	Scope     string     `json:"scope"`
	Reason    string     `json:"reason"`
	ExpiresAt *time.Time `json:"expiresAt"`
	CreatedBy string     `json:"createdBy"`
	CreatedAt time.Time  `json:"createdAt"`
	// Active says it is in force now: not revoked, its time not come.
	Active bool `json:"active"`
	// EndedAt is when it was revoked or seen expired, EndReason which (revoked,
	// expired; "" while not ended), EndedBy who revoked it.
	EndedAt   *time.Time `json:"endedAt"`
	EndReason string     `json:"endReason"`
	EndedBy   string     `json:"endedBy"`
}

func toRuleJSON(r store.Rule, now time.Time) ruleJSON {
	return ruleJSON{
		ID: r.ID, Scope: r.Scope, Reason: r.Reason, ExpiresAt: request.UTCPtr(r.ExpiresAt), CreatedBy: r.CreatedBy,
		CreatedAt: request.UTC(r.CreatedAt), Active: r.Active(now), EndedAt: request.UTCPtr(r.EndedAt),
		EndReason: r.EndReason, EndedBy: r.EndedBy,
	}
}

func (a *API) listRules(w http.ResponseWriter, r *http.Request) error {
	q, err := request.Parse(r.URL.RawQuery, "live")
	if err != nil {
		return err
	}
	live, err := q.Boolean("live")
	if err != nil {
		return err
	}
	rs, err := a.st.Rules(r.Context(), live, scopeOf(r.Context()))
	if err != nil {
		return request.About(err, "list rules")
	}
	now := a.now()
	items := make([]ruleJSON, len(rs))
	for i, rl := range rs {
		items[i] = toRuleJSON(rl, now)
	}
	// Rules are few (an admin declares each): one page holds them all.
	return request.Respond(w, http.StatusOK, request.List[ruleJSON]{Items: items})
}

func (a *API) getRule(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	id, err := request.PathID(chi.URLParam(r, "id"), "rule")
	if err != nil {
		return err
	}
	rl, err := a.st.Rule(r.Context(), id, scopeOf(r.Context()))
	if err != nil {
		return request.About(err, "rule %d", id)
	}
	return request.Respond(w, http.StatusOK, toRuleJSON(rl, a.now()))
}

// ruleRequest is the body of POST /api/v1/rules.
type ruleRequest struct {
	Scope     string     `json:"scope"`
	Reason    string     `json:"reason"`
	ExpiresAt *time.Time `json:"expiresAt"`
}

func (a *API) createRule(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	var req ruleRequest
	if err := request.DecodeBody(w, r, request.MaxOtherBody, &req); err != nil {
		return err
	}
	nr, err := request.CheckRule(req.Scope, req.Reason, req.ExpiresAt, a.now())
	if err != nil {
		return err
	}
	rl, err := a.st.CreateRule(r.Context(), access.Audit(r), nr)
	if err != nil {
		return request.About(err, "rule")
	}
	a.log.Info("rule declared", "rule_id", rl.ID, "scope", rl.Scope, "actor", access.PrincipalOf(r.Context()).Actor)
	w.Header().Set("Location", fmt.Sprintf("/api/v1/rules/%d", rl.ID))
	return request.Respond(w, http.StatusCreated, toRuleJSON(rl, a.now()))
}

func (a *API) revokeRule(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	if err := request.NoBody(w, r); err != nil {
		return err
	}
	id, err := request.PathID(chi.URLParam(r, "id"), "rule")
	if err != nil {
		return err
	}
	rl, err := a.st.RevokeRule(r.Context(), access.Audit(r), id)
	if err != nil {
		return request.About(err, "rule %d", id)
	}
	a.log.Info("rule revoked", "rule_id", rl.ID, "actor", access.PrincipalOf(r.Context()).Actor)
	return request.Respond(w, http.StatusOK, toRuleJSON(rl, a.now()))
}
