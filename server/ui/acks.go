package ui

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// The acknowledgements and rules page (issue 27): requests an admin approves or
// denies, acknowledgements in force to revoke, the history under a filter, the rules
// that declare tags mutable, and what matches nothing any more. Anyone signed in
// reads it; its actions are admins' only.

// ackListLimit is how many acknowledgements of one status the page lists.
const ackListLimit = 200

// ackRoutes are the acknowledgements page, its admin actions, and the mutation page
// with its acknowledge form, which viewers post too (as a request).
func (u *UI) ackRoutes(r chi.Router) {
	r.Get("/acknowledgements", u.handle(u.acksPage))
	r.Get("/mutations/{id}", u.handle(u.mutationPage))
	r.Post("/mutations/{id}/acknowledge", u.handle(u.acknowledgeForm))
	r.Group(func(r chi.Router) {
		r.Use(u.requireGlobalAdminUI)
		r.Post("/acknowledgements/rules", u.handle(u.createRuleForm))
		r.Post("/acknowledgements/rules/{id}/revoke", u.handle(u.revokeRuleForm))
		r.Post("/acknowledgements/{id}/approve", u.handle(u.decideAckForm(true)))
		r.Post("/acknowledgements/{id}/deny", u.handle(u.decideAckForm(false)))
		r.Post("/acknowledgements/{id}/revoke", u.handle(u.revokeAckForm))
	})
}

func (u *UI) acksPage(w http.ResponseWriter, r *http.Request) error {
	return u.renderAcks(w, r, http.StatusOK, web.RuleForm{})
}

// renderAcks renders the page for the query's filter, with the rule form as given.
func (u *UI) renderAcks(w http.ResponseWriter, r *http.Request, status int, form web.RuleForm) error {
	q, err := request.Parse(r.URL.RawQuery, "status", "done")
	if err != nil {
		return err
	}
	filter, err := q.OneOf("status", web.AckFilterCurrent, web.AckFilters...)
	if err != nil {
		return err
	}
	ctx := r.Context()
	now := u.now()
	v := web.AcksView{Filter: filter, Admin: access.PrincipalOf(ctx).IsAdmin(), Form: form, Now: now, Flash: flashes[q.Get("done")]}
	var statuses []string
	switch filter {
	case web.AckFilterCurrent:
		statuses = []string{store.AckActive}
	case web.AckFilterHistory:
		statuses = []string{store.AckEnded, store.AckDenied}
	case web.AckFilterAll:
		statuses = []string{store.AckActive, store.AckEnded, store.AckDenied}
	}
	// Requests past their end wait for the expiry job to deny them: they are history
	// already, not something to approve.
	requested, err := u.ackRows(ctx, store.AckRequested)
	if err != nil {
		return err
	}
	if filter != web.AckFilterHistory {
		for _, a := range requested {
			if a.Live(now) {
				v.Requested = append(v.Requested, a)
			}
		}
	}
	for _, s := range statuses {
		rows, err := u.ackRows(ctx, s)
		if err != nil {
			return err
		}
		v.Acks = append(v.Acks, rows...)
	}
	if filter == web.AckFilterHistory {
		for _, a := range requested {
			if !a.Live(now) {
				v.Acks = append(v.Acks, a)
			}
		}
	}
	// An active acknowledgement past its end that the job has not ended yet is history.
	v.Acks = slices.DeleteFunc(v.Acks, func(a web.AckRow) bool {
		live := a.Live(now)
		return (filter == web.AckFilterCurrent && !live) || (filter == web.AckFilterHistory && live)
	})
	slices.SortFunc(v.Acks, func(a, b web.AckRow) int { return cmp.Compare(b.ID, a.ID) })
	rules, err := u.st.Rules(ctx, false, scopeOf(ctx))
	if err != nil {
		return request.About(err, "list rules")
	}
	for _, rl := range rules {
		live := rl.Active(now)
		if filter == web.AckFilterAll || (filter == web.AckFilterHistory) != live {
			v.Rules = append(v.Rules, ruleRow(rl))
		}
	}
	if filter == web.AckFilterCurrent || filter == web.AckFilterAll {
		ur, ua, err := u.st.Unmatched(ctx)
		if err != nil {
			return request.About(err, "list unmatched rules and acknowledgements")
		}
		for _, rl := range ur {
			v.UnmatchedRules = append(v.UnmatchedRules, ruleRow(rl))
		}
		for _, a := range ua {
			row, err := u.ackRow(ctx, a)
			if err != nil {
				return err
			}
			v.UnmatchedAcks = append(v.UnmatchedAcks, row)
		}
	}
	return u.render(w, r, status, u.meta(r, "Acknowledgements", web.NavAcks), web.AcksPage(v))
}

// flashes are what the page says after an action, by the redirect's done=.
var flashes = map[string]string{
	"rule":     "Rule declared.",
	"revoked":  "Revoked: what it covered is decided again.",
	"approved": "Approved: the acknowledgement is active.",
	"denied":   "Denied.",
}

// ackRows are the acknowledgements of status, newest first, named by their mutation.
func (u *UI) ackRows(ctx context.Context, status string) ([]web.AckRow, error) {
	acks, err := u.st.Acks(ctx, store.AckFilter{Status: status, Limit: ackListLimit, Scope: scopeOf(ctx)})
	if err != nil {
		return nil, request.About(err, "list acknowledgements")
	}
	out := make([]web.AckRow, 0, len(acks))
	for _, a := range acks {
		row, err := u.ackRow(ctx, a)
		if err != nil {
			return nil, err
		}
		out = append(out, row)
	}
	return out, nil
}

// ackRow is a as the pages list it, with its mutation when it names one that is
// still stored (retention may have deleted it).
func (u *UI) ackRow(ctx context.Context, a store.Ack) (web.AckRow, error) {
	row := ackRowOf(a)
	if a.MutationID == 0 {
		return row, nil
	}
	m, err := u.st.MutationByID(ctx, a.MutationID, scopeOf(ctx))
	if errors.Is(err, store.ErrNotFound) {
		return row, nil
	}
	if err != nil {
		return row, request.About(err, "mutation %d", a.MutationID)
	}
	mr := mutationRow(m)
	row.Mutation = &mr
	return row, nil
}

func ackRowOf(a store.Ack) web.AckRow {
	return web.AckRow{
		ID: a.ID, MutationID: a.MutationID, Scope: a.Scope, Reason: a.Reason, Ticket: a.Ticket, Until: string(a.Until),
		ExpiresAt: a.ExpiresAt, Status: a.Status, RequestedBy: a.RequestedBy, RequestedAt: a.RequestedAt,
		DecidedBy: a.DecidedBy, DecidedAt: a.DecidedAt, EndedAt: a.EndedAt, EndReason: a.EndReason, EndedBy: a.EndedBy,
	}
}

func ruleRow(r store.Rule) web.RuleRow {
	return web.RuleRow{
		ID: r.ID, Scope: r.Scope, Reason: r.Reason, ExpiresAt: r.ExpiresAt, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt,
		EndedAt: r.EndedAt, EndReason: r.EndReason, EndedBy: r.EndedBy,
	}
}

// createRuleForm declares a rule; a bad scope, a missing reason or an expiry in the
// past re-renders the page with the message next to its field.
func (u *UI) createRuleForm(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(w, r); err != nil {
		return err
	}
	pf := r.PostForm
	form := web.RuleForm{Scope: strings.TrimSpace(pf.Get("scope")), Reason: strings.TrimSpace(pf.Get("reason")), Expires: strings.TrimSpace(pf.Get("expires"))}
	var expires *time.Time
	if form.Expires != "" {
		t, ok := formTime(form.Expires)
		if !ok {
			form.ExpError = badTime
			return u.renderAcks(w, r, http.StatusUnprocessableEntity, form)
		}
		expires = &t
	}
	// The API's check, one rule for both: the scope is stored normalized.
	nr, err := request.CheckRule(form.Scope, form.Reason, expires, u.now())
	if err != nil {
		var fe *request.FieldError
		if !errors.As(err, &fe) {
			return err
		}
		msg := capital(fe.Detail()) + "."
		switch fe.Field {
		case "scope":
			form.ScopeError = msg
		case "reason":
			form.ReasonError = msg
		default:
			form.ExpError = msg
		}
		return u.renderAcks(w, r, http.StatusUnprocessableEntity, form)
	}
	if _, err := u.st.CreateRule(r.Context(), access.Audit(r), nr); err != nil {
		return request.About(err, "declare rule")
	}
	return seeOther(w, r, "/acknowledgements?done=rule")
}

func (u *UI) revokeRuleForm(w http.ResponseWriter, r *http.Request) error {
	id, err := request.PathID(chi.URLParam(r, "id"), "rule")
	if err != nil {
		return err
	}
	if _, err := u.st.RevokeRule(r.Context(), access.Audit(r), id); err != nil {
		return ackActionError(err, "revoke rule %d", id)
	}
	return seeOther(w, r, "/acknowledgements?done=revoked")
}

// decideAckForm approves or denies a request.
func (u *UI) decideAckForm(approve bool) uiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := request.PathID(chi.URLParam(r, "id"), "acknowledgement")
		if err != nil {
			return err
		}
		if _, err := u.st.DecideAck(r.Context(), access.Audit(r), id, approve); err != nil {
			return ackActionError(err, "decide acknowledgement %d", id)
		}
		if approve {
			return seeOther(w, r, "/acknowledgements?done=approved")
		}
		return seeOther(w, r, "/acknowledgements?done=denied")
	}
}

func (u *UI) revokeAckForm(w http.ResponseWriter, r *http.Request) error {
	id, err := request.PathID(chi.URLParam(r, "id"), "acknowledgement")
	if err != nil {
		return err
	}
	if _, err := u.st.RevokeAck(r.Context(), access.Audit(r), id); err != nil {
		return ackActionError(err, "revoke acknowledgement %d", id)
	}
	return seeOther(w, r, "/acknowledgements?done=revoked")
}

// ackActionError maps a refused action (already decided, ended, its mutation
// resolved) to a 409 page that says why; anything else is classified as usual.
func ackActionError(err error, format string, args ...any) error {
	if errors.Is(err, store.ErrNotAllowed) {
		return request.Errorf(http.StatusConflict, "%s: it changed since the page was shown; reload it", err.Error())
	}
	return request.About(err, format, args...)
}

// badTime is the refusal of a time formTime does not read.
const badTime = "Not a time: give it as 2026-12-31T18:00 (UTC)."

// formTime reads a time as a datetime-local input sends it (taken as UTC, as the
// pages say), or in RFC 3339.
func formTime(s string) (time.Time, bool) {
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04", time.RFC3339} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// capital is s with its first letter upper-case, for a message shown as a sentence.
func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
