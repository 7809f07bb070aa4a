package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
)

// Acknowledgements (issue 27) of one mutation or of a scope. A viewer's is a request
// an admin approves or denies; an admin's is active at once. The store audits every
// change in the transaction that makes it and settles the mutations' states.

// ackJSON is an acknowledgement as the API shows it.
type ackJSON struct {
	ID int64 `json:"id"`
	// Mutation is the mutation acknowledged; null for a scope.
	Mutation *int64 `json:"mutation"`
	// Scope is the scope acknowledged; null for a mutation.
	Scope     *string    `json:"scope"`
	Reason    string     `json:"reason"`
	Ticket    string     `json:"ticket"`
	Until     string     `json:"until"`
	ExpiresAt *time.Time `json:"expiresAt"`
	// Status is requested, active, denied or ended.
	Status      string     `json:"status"`
	RequestedBy string     `json:"requestedBy"`
	RequestedAt time.Time  `json:"requestedAt"`
	DecidedBy   string     `json:"decidedBy"`
	DecidedAt   *time.Time `json:"decidedAt"`
	EndedAt     *time.Time `json:"endedAt"`
	// EndReason is expired, resolved, changed or revoked; "" while not ended.
	EndReason string `json:"endReason"`
	EndedBy   string `json:"endedBy"`
}

func toAckJSON(k store.Ack) ackJSON {
	out := ackJSON{
		ID: k.ID, Reason: k.Reason, Ticket: k.Ticket, Until: string(k.Until), ExpiresAt: request.UTCPtr(k.ExpiresAt),
		Status: k.Status, RequestedBy: k.RequestedBy, RequestedAt: request.UTC(k.RequestedAt), DecidedBy: k.DecidedBy,
		DecidedAt: request.UTCPtr(k.DecidedAt), EndedAt: request.UTCPtr(k.EndedAt), EndReason: k.EndReason, EndedBy: k.EndedBy,
	}
	if k.MutationID != 0 {
		out.Mutation = &k.MutationID
	} else {
		out.Scope = &k.Scope
	}
	return out
}

// ackStatuses are the statuses the list filters on.
var ackStatuses = []string{store.AckRequested, store.AckActive, store.AckDenied, store.AckEnded}

func (a *API) listAcks(w http.ResponseWriter, r *http.Request) error {
	q, err := request.Parse(r.URL.RawQuery, "status", "mutation", "limit", "cursor")
	if err != nil {
		return err
	}
	status, err := q.OneOf("status", "", ackStatuses...)
	if err != nil {
		return err
	}
	var mutation int64
	if s := q.Get("mutation"); s != "" {
		if mutation, err = strconv.ParseInt(s, 10, 64); err != nil || mutation <= 0 {
			return request.BadRequest("query parameter mutation must be a mutation's id, not %q", request.Clip(s, 40))
		}
	}
	limit, err := q.Limit()
	if err != nil {
		return err
	}
	filter := request.FilterKey("status", status, "mutation", q.Get("mutation"))
	c, err := q.Cursor("acknowledgements", filter)
	if err != nil {
		return err
	}
	ks, err := a.st.Acks(r.Context(), store.AckFilter{Status: status, MutationID: mutation, BeforeID: c.ID, Limit: limit + 1, Scope: scopeOf(r.Context())})
	if err != nil {
		return request.About(err, "list acknowledgements")
	}
	items := make([]ackJSON, len(ks))
	for i, k := range ks {
		items[i] = toAckJSON(k)
	}
	return request.Respond(w, http.StatusOK, request.Page(items, limit, func(last ackJSON) request.Cursor {
		return request.Cursor{List: "acknowledgements", Filter: filter, ID: last.ID}
	}))
}

// ackID reads the {id} of an acknowledgement's path.
func ackID(r *http.Request) (int64, error) {
	return request.PathID(chi.URLParam(r, "id"), "acknowledgement")
}

func (a *API) getAck(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	id, err := ackID(r)
	if err != nil {
		return err
	}
	k, err := a.st.AckByID(r.Context(), id, scopeOf(r.Context()))
	if err != nil {
		return request.About(err, "acknowledgement %d", id)
	}
	return request.Respond(w, http.StatusOK, toAckJSON(k))
}

// ackRequest is the body of POST /api/v1/acknowledgements: mutation or scope.
type ackRequest struct {
	Mutation  int64      `json:"mutation"`
	Scope     string     `json:"scope"`
	Reason    string     `json:"reason"`
	Ticket    string     `json:"ticket"`
	Until     string     `json:"until"`
	ExpiresAt *time.Time `json:"expiresAt"`
}

func (a *API) createAck(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	var req ackRequest
	if err := request.DecodeBody(w, r, request.MaxOtherBody, &req); err != nil {
		return err
	}
	p := access.PrincipalOf(r.Context())
	// An admin of some groups acknowledges as an admin the mutations of their groups
	// only: of the others, they ask as a viewer does.
	admin := p.IsGlobalAdmin()
	if !admin && p.IsAdmin() && req.Mutation > 0 {
		_, err := a.st.MutationByID(r.Context(), req.Mutation, adminScopeOf(r.Context()))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return request.About(err, "mutation %d", req.Mutation)
		}
		admin = err == nil
	}
	na, err := request.CheckAck(request.AckFields{
		MutationID: req.Mutation, Scope: req.Scope, Reason: req.Reason, Ticket: req.Ticket, Until: req.Until, ExpiresAt: req.ExpiresAt,
	}, request.AckAsker{Admin: admin, MaxAhead: a.ackMax}, a.now())
	if err != nil {
		return err
	}
	subject := "scope"
	if na.MutationID != 0 {
		subject = fmt.Sprintf("mutation %d", na.MutationID)
	}
	// A scoped principal acknowledges the mutations of its scope, one at a time: one
	// outside it does not exist, and matchers may cover any cluster.
	if sc := scopeOf(r.Context()); sc.Limited {
		if na.MutationID == 0 {
			return request.Errorf(http.StatusForbidden, "a role scoped to cluster groups acknowledges mutations by id, not by matchers")
		}
		if _, err := a.st.MutationByID(r.Context(), na.MutationID, sc); err != nil {
			return request.About(err, "%s", subject)
		}
	}
	k, err := a.st.CreateAck(r.Context(), access.Audit(r), na)
	if err != nil {
		return request.About(err, "%s", subject)
	}
	a.log.Info("acknowledgement recorded", "ack_id", k.ID, "status", k.Status, "actor", p.Actor)
	w.Header().Set("Location", fmt.Sprintf("/api/v1/acknowledgements/%d", k.ID))
	return request.Respond(w, http.StatusCreated, toAckJSON(k))
}

func (a *API) approveAck(w http.ResponseWriter, r *http.Request) error {
	return a.decideAck(w, r, true)
}
func (a *API) denyAck(w http.ResponseWriter, r *http.Request) error { return a.decideAck(w, r, false) }

// decideAck approves or denies a requested acknowledgement (admins only: the router
// checks).
func (a *API) decideAck(w http.ResponseWriter, r *http.Request, approve bool) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	if err := request.NoBody(w, r); err != nil {
		return err
	}
	id, err := ackID(r)
	if err != nil {
		return err
	}
	k, err := a.st.DecideAck(r.Context(), access.Audit(r), id, approve)
	if err != nil {
		return request.About(err, "acknowledgement %d", id)
	}
	a.log.Info("acknowledgement decided", "ack_id", k.ID, "status", k.Status, "actor", access.PrincipalOf(r.Context()).Actor)
	return request.Respond(w, http.StatusOK, toAckJSON(k))
}

// revokeAck ends an active acknowledgement (admins) or withdraws a request (admins, and
// the viewer who asked for it).
func (a *API) revokeAck(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	if err := request.NoBody(w, r); err != nil {
		return err
	}
	id, err := ackID(r)
	if err != nil {
		return err
	}
	p := access.PrincipalOf(r.Context())
	// An admin of some groups ends, as an admin, the acknowledgements of their groups.
	admin := p.IsGlobalAdmin()
	if !admin && p.IsAdmin() {
		_, err := a.st.AckByID(r.Context(), id, adminScopeOf(r.Context()))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return request.About(err, "acknowledgement %d", id)
		}
		admin = err == nil
	}
	if !admin {
		k, err := a.st.AckByID(r.Context(), id, scopeOf(r.Context()))
		if err != nil {
			return request.About(err, "acknowledgement %d", id)
		}
		// An admin may approve it between this read and the revocation: the viewer
		// then ends an acknowledgement they asked for, which they could have withdrawn
		// a moment before.
		if k.RequestedBy != p.Actor || k.Status != store.AckRequested {
			return request.Errorf(http.StatusForbidden, "this needs an admin token: a viewer may withdraw only their own requests while they are requested")
		}
	}
	k, err := a.st.RevokeAck(r.Context(), access.Audit(r), id)
	if err != nil {
		return request.About(err, "acknowledgement %d", id)
	}
	a.log.Info("acknowledgement revoked", "ack_id", k.ID, "actor", p.Actor)
	return request.Respond(w, http.StatusOK, toAckJSON(k))
}

// unmatchedJSON is what matches nothing unresolved any more: candidates to revoke.
type unmatchedJSON struct {
	Rules            []ruleJSON `json:"rules"`
	Acknowledgements []ackJSON  `json:"acknowledgements"`
}

func (a *API) unmatched(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	rs, ks, err := a.st.Unmatched(r.Context())
	if err != nil {
		return request.About(err, "unmatched rules and acknowledgements")
	}
	now := a.now()
	out := unmatchedJSON{Rules: make([]ruleJSON, len(rs)), Acknowledgements: make([]ackJSON, len(ks))}
	for i, rl := range rs {
		out.Rules[i] = toRuleJSON(rl, now)
	}
	for i, k := range ks {
		out.Acknowledgements[i] = toAckJSON(k)
	}
	return request.Respond(w, http.StatusOK, out)
}
