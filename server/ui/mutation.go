package ui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/tagdrift/tagdrift/scanner/attention"
	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// A mutation's page: what it is, its state and why (the acknowledgement that covers
// it, or the rule that makes it expected), its acknowledgements, and the acknowledge
// form. An admin's acknowledgement is active at once; a viewer's is a request, at most
// Config.ViewerAckMaxAge ahead, that an admin approves on the acknowledgements page.

func (u *UI) mutationPage(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	m, err := u.mutationOf(r)
	if err != nil {
		return err
	}
	return u.renderMutation(w, r, http.StatusOK, m, web.AckForm{Until: string(attention.UntilResolved)})
}

// mutationOf is the mutation of the path's {id}.
func (u *UI) mutationOf(r *http.Request) (store.Mutation, error) {
	id, err := request.PathID(chi.URLParam(r, "id"), "mutation")
	if err != nil {
		return store.Mutation{}, err
	}
	m, err := u.st.MutationByID(r.Context(), id, scopeOf(r.Context()))
	if err != nil {
		return store.Mutation{}, request.About(err, "mutation %d", id)
	}
	return m, nil
}

// adminOf reports whether the principal acknowledges mutation m as an admin: an admin
// of every cluster, or of m's clusters; of the others it reads, it asks as a viewer.
func (u *UI) adminOf(ctx context.Context, m store.Mutation) (bool, error) {
	p := access.PrincipalOf(ctx)
	if p.IsGlobalAdmin() || !p.IsAdmin() {
		return p.IsGlobalAdmin(), nil
	}
	_, err := u.st.MutationByID(ctx, m.ID, p.AdminScope())
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (u *UI) renderMutation(w http.ResponseWriter, r *http.Request, status int, m store.Mutation, form web.AckForm) error {
	ctx := r.Context()
	now := u.now()
	row := mutationRow(m)
	admin, err := u.adminOf(ctx, m)
	if err != nil {
		return request.About(err, "mutation %d", m.ID)
	}
	v := web.MutationView{
		Mutation: row, Admin: admin, MaxDays: int(u.viewerAckMax / (24 * time.Hour)),
		Form: form, Legend: web.NewLegend(), Now: now,
		Ackable: m.ResolvedAt == nil && !m.Kind.IsEvent() && m.State == attention.StateOpen,
	}
	if err := u.letters(ctx, v.Legend, []web.MutationRow{row}); err != nil {
		return err
	}
	rules, acks, err := u.st.Reasons(ctx, []store.Mutation{m}, scopeOf(ctx))
	if err != nil {
		return request.About(err, "why mutation %d is %s", m.ID, m.State)
	}
	if rl, ok := rules[m.Rule]; ok && m.State == attention.StateExpected {
		rr := ruleRow(rl)
		v.Rule = &rr
	}
	if a, ok := acks[m.Ack]; ok && m.State == attention.StateAcknowledged {
		ar := ackRowOf(a)
		v.Ack = &ar
	}
	history, err := u.st.Acks(ctx, store.AckFilter{MutationID: m.ID, Limit: ackListLimit, Scope: scopeOf(ctx)})
	if err != nil {
		return request.About(err, "acknowledgements of mutation %d", m.ID)
	}
	for _, a := range history {
		v.Acks = append(v.Acks, ackRowOf(a))
	}
	title := fmt.Sprintf("%s %d", m.Kind, m.ID)
	return u.render(w, r, status, u.meta(r, title, web.NavMutations), web.MutationPage(v))
}

// acknowledgeForm acknowledges the path's mutation (an admin) or asks to (a viewer);
// a refused form re-renders the page with the message next to its field (422).
func (u *UI) acknowledgeForm(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(w, r); err != nil {
		return err
	}
	m, err := u.mutationOf(r)
	if err != nil {
		return err
	}
	admin, err := u.adminOf(r.Context(), m)
	if err != nil {
		return request.About(err, "mutation %d", m.ID)
	}
	pf := r.PostForm
	form := web.AckForm{
		Reason: strings.TrimSpace(pf.Get("reason")), Ticket: strings.TrimSpace(pf.Get("ticket")),
		Until: pf.Get("until"), Expires: strings.TrimSpace(pf.Get("expires")),
	}
	na, ok := u.checkAck(&form, m.ID, admin, u.now())
	if !ok {
		return u.renderMutation(w, r, http.StatusUnprocessableEntity, m, form)
	}
	if _, err := u.st.CreateAck(r.Context(), access.Audit(r), na); err != nil {
		return ackActionError(err, "acknowledge mutation %d", m.ID)
	}
	return seeOther(w, r, web.MutationURL(m.ID))
}

// checkAck reads the acknowledge form of mutation id into a new acknowledgement with
// request.CheckAck (the API's check), setting the form's refusals; it reports whether
// there was none.
func (u *UI) checkAck(form *web.AckForm, id int64, admin bool, now time.Time) (store.NewAck, bool) {
	f := request.AckFields{MutationID: id, Reason: form.Reason, Ticket: form.Ticket, Until: form.Until}
	if form.Expires != "" {
		t, ok := formTime(form.Expires)
		if !ok {
			form.ExpError = badTime
			return store.NewAck{}, false
		}
		f.ExpiresAt = &t
	}
	na, err := request.CheckAck(f, request.AckAsker{Admin: admin, MaxAhead: u.viewerAckMax}, now)
	if err == nil {
		return na, true
	}
	var fe *request.FieldError
	if !errors.As(err, &fe) {
		form.ReasonError = capital(err.Error()) + "."
		return store.NewAck{}, false
	}
	msg := capital(fe.Detail()) + "."
	switch fe.Field {
	case "ticket":
		form.TicketError = msg
	case "until":
		form.UntilError = msg
	case "expiresAt":
		form.ExpError = msg
	default:
		form.ReasonError = msg
	}
	return store.NewAck{}, false
}

// whyLength is how much of a reason a list row shows; the mutation's page shows it
// all.
const whyLength = 160

// explain sets the Why of rows (mutationRow of ms, in the same order): who
// acknowledged each, until when and why, or the rule that makes it expected.
func (u *UI) explain(ctx context.Context, ms []store.Mutation, rows []web.MutationRow) error {
	rules, acks, err := u.st.Reasons(ctx, ms, scopeOf(ctx))
	if err != nil {
		return request.About(err, "why mutations are not open")
	}
	for i, m := range ms {
		switch {
		case m.State == attention.StateExpected:
			if rl, ok := rules[m.Rule]; ok {
				rows[i].Why = clipRunes(fmt.Sprintf("rule %d: %s", rl.ID, rl.Reason), whyLength)
			}
		case m.State == attention.StateAcknowledged:
			if a, ok := acks[m.Ack]; ok {
				rows[i].Why = clipRunes(fmt.Sprintf("%s, %s: %s", a.RequestedBy, ackRowOf(a).Ends(), a.Reason), whyLength)
			}
		}
	}
	return nil
}

// clipRunes shortens s to n characters and an ellipsis, never inside a character.
func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
