package ui

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/web"
)

// The notification routes page: which events go to which channel.

func (u *UI) renderRoutes(w http.ResponseWriter, r *http.Request, status int, form web.RouteForm) error {
	channels, err := u.channelRows(r)
	if err != nil {
		return err
	}
	rs, err := u.st.Routes(r.Context())
	if err != nil {
		return request.About(err, "list routes")
	}
	groups, err := u.groupNames(r)
	if err != nil {
		return err
	}
	names := map[int64]string{}
	for _, c := range channels {
		names[c.ID] = c.Name + " (" + c.Kind + ")"
	}
	v := web.RoutesView{Channels: channels, Groups: groups, Kinds: request.MutationKinds(), Types: request.EventTypes(), Form: form}
	for _, rt := range rs {
		row := web.RouteRow{
			ID: rt.ID, Channel: names[rt.ChannelID], ClusterGroup: "all clusters", Kinds: orAll(rt.Kinds), Types: orAll(rt.Types),
			Matchers: rt.Matchers, GroupWait: request.FormatDuration(rt.GroupWait), RepeatInterval: "never",
			SendBaseline: rt.SendBaseline, Enabled: rt.Enabled,
		}
		if rt.ClusterGroup != "" {
			row.ClusterGroup = "group " + rt.ClusterGroup
		}
		if rt.RepeatInterval > 0 {
			row.RepeatInterval = request.FormatDuration(rt.RepeatInterval)
		}
		v.Routes = append(v.Routes, row)
	}
	return u.render(w, r, status, u.meta(r, "Notification routes", web.NavAdmin), web.RoutesPage(v))
}

func orAll(s []string) string {
	if len(s) == 0 {
		return "all"
	}
	return strings.Join(s, ", ")
}

func (u *UI) groupNames(r *http.Request) ([]string, error) {
	gs, err := u.st.Groups(r.Context())
	if err != nil {
		return nil, request.About(err, "list groups")
	}
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.Name
	}
	return out, nil
}

func (u *UI) routesPage(w http.ResponseWriter, r *http.Request) error {
	return u.renderRoutes(w, r, http.StatusOK, web.RouteForm{GroupWait: "30s"})
}

func (u *UI) createRouteForm(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(w, r); err != nil {
		return err
	}
	pf := r.PostForm
	form := web.RouteForm{
		ChannelID: pf.Get("channel"), ClusterGroup: pf.Get("group"), Matchers: strings.TrimSpace(pf.Get("matchers")),
		GroupWait: strings.TrimSpace(pf.Get("groupWait")), RepeatInterval: strings.TrimSpace(pf.Get("repeatInterval")),
		Kinds: pf["kind"], Types: pf["type"], SendBaseline: pf.Get("sendBaseline") == "true", Errors: map[string]string{},
	}
	id, _ := strconv.ParseInt(form.ChannelID, 10, 64)
	groups, err := u.groupNames(r)
	if err != nil {
		return err
	}
	rt, err := request.CheckRoute(request.RouteFields{
		ChannelID: id, ClusterGroup: form.ClusterGroup, Kinds: form.Kinds, Types: form.Types, Matchers: form.Matchers,
		GroupWait: form.GroupWait, RepeatInterval: form.RepeatInterval, SendBaseline: form.SendBaseline, Enabled: true,
	}, groups)
	if err == nil {
		_, err = u.st.CreateRoute(r.Context(), access.Audit(r), rt)
		if err == nil {
			return seeOther(w, r, "/admin/notifications/routes")
		}
		if request.Classify(r, err, "").Status != http.StatusNotFound {
			return request.About(err, "route")
		}
		form.Errors["channelId"] = "This channel no longer exists."
	} else {
		var fe *request.FieldError
		if !asFieldError(err, &fe) {
			return err
		}
		form.Errors[fe.Field] = fe.Detail()
	}
	return u.renderRoutes(w, r, http.StatusUnprocessableEntity, form)
}

func (u *UI) deleteRouteForm(w http.ResponseWriter, r *http.Request) error {
	id, err := request.PathID(chi.URLParam(r, "id"), "route")
	if err != nil {
		return err
	}
	if err := u.st.DeleteRoute(r.Context(), access.Audit(r), id); err != nil {
		return request.About(err, "route %d", id)
	}
	return seeOther(w, r, "/admin/notifications/routes")
}

func asFieldError(err error, fe **request.FieldError) bool { return errors.As(err, fe) }
