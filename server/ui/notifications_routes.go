package ui

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// The notification routes pages: the list with the form that adds one, and one route's
// page that edits it. Both forms go through request.CheckRoute, the API's checks.

// routeOptions fills what the route forms choose from: the channels, groups, kinds and
// event types.
func (u *UI) routeOptions(r *http.Request) (web.RouteOptions, error) {
	channels, err := u.channelRows(r)
	if err != nil {
		return web.RouteOptions{}, err
	}
	groups, err := u.groupNames(r)
	if err != nil {
		return web.RouteOptions{}, err
	}
	return web.RouteOptions{Channels: channels, Groups: groups, Kinds: request.MutationKinds(), Types: request.EventTypes()}, nil
}

func (u *UI) renderRoutes(w http.ResponseWriter, r *http.Request, status int, form web.RouteForm) error {
	opts, err := u.routeOptions(r)
	if err != nil {
		return err
	}
	rs, err := u.st.Routes(r.Context(), scopeOf(r.Context()))
	if err != nil {
		return request.About(err, "list routes")
	}
	names := map[int64]string{}
	for _, c := range opts.Channels {
		names[c.ID] = c.Name + " (" + c.Kind + ")"
	}
	v := web.RoutesView{RouteOptions: opts, Form: form}
	for _, rt := range rs {
		v.Routes = append(v.Routes, routeRow(rt, names[rt.ChannelID]))
	}
	return u.render(w, r, status, u.meta(r, "Notification routes", web.NavAdmin), web.RoutesPage(v))
}

// routeRow is rt as the list shows it, sent to channel.
func routeRow(rt store.Route, channel string) web.RouteRow {
	row := web.RouteRow{
		ID: rt.ID, Channel: channel, ClusterGroup: "all clusters", Kinds: orAll(rt.Kinds), Types: orAll(rt.Types),
		Matchers: rt.Matchers, GroupWait: request.FormatDuration(rt.GroupWait), RepeatInterval: "never",
		SendBaseline: rt.SendBaseline, Enabled: rt.Enabled,
	}
	if rt.ClusterGroup != "" {
		row.ClusterGroup = "group " + rt.ClusterGroup
	}
	if rt.RepeatInterval > 0 {
		row.RepeatInterval = request.FormatDuration(rt.RepeatInterval)
	}
	return row
}

func orAll(s []string) string {
	if len(s) == 0 {
		return "all"
	}
	return strings.Join(s, ", ")
}

func (u *UI) groupNames(r *http.Request) ([]string, error) {
	gs, err := u.st.Groups(r.Context(), scopeOf(r.Context()))
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
	return u.renderRoutes(w, r, http.StatusOK, web.RouteForm{GroupWait: "30s", Enabled: true})
}

// routeFormOf reads a posted route form. A new route is enabled; an edited one is as
// its Enabled box says.
func routeFormOf(r *http.Request, creating bool) web.RouteForm {
	pf := r.PostForm
	return web.RouteForm{
		ChannelID: pf.Get("channel"), ClusterGroup: pf.Get("group"), Matchers: strings.TrimSpace(pf.Get("matchers")),
		GroupWait: strings.TrimSpace(pf.Get("groupWait")), RepeatInterval: strings.TrimSpace(pf.Get("repeatInterval")),
		Kinds: pf["kind"], Types: pf["type"], SendBaseline: pf.Get("sendBaseline") == "true",
		Enabled: creating || pf.Get("enabled") == "true", Errors: map[string]string{},
	}
}

// checkRouteForm checks form as the API checks a route; a refusal goes next to its
// field (false), any other error is returned.
func (u *UI) checkRouteForm(r *http.Request, form *web.RouteForm) (store.Route, bool, error) {
	groups, err := u.groupNames(r)
	if err != nil {
		return store.Route{}, false, err
	}
	id, _ := strconv.ParseInt(form.ChannelID, 10, 64)
	rt, err := request.CheckRoute(request.RouteFields{
		ChannelID: id, ClusterGroup: form.ClusterGroup, Kinds: form.Kinds, Types: form.Types, Matchers: form.Matchers,
		GroupWait: form.GroupWait, RepeatInterval: form.RepeatInterval, SendBaseline: form.SendBaseline, Enabled: form.Enabled,
	}, groups)
	var fe *request.FieldError
	switch {
	case err == nil:
		return rt, true, nil
	case errors.As(err, &fe):
		form.Errors[fe.Field] = fe.Detail()
		return store.Route{}, false, nil
	}
	return store.Route{}, false, err
}

// routeSaved maps what the store answered to a save of form: nil when saved, a refusal
// next to the channel when the channel is gone, any other error returned.
func routeSaved(r *http.Request, form *web.RouteForm, err error) (bool, error) {
	if err == nil {
		return true, nil
	}
	if request.Classify(r, err, "").Status != http.StatusNotFound {
		return false, request.About(err, "route")
	}
	form.Errors["channelId"] = "This channel no longer exists."
	return false, nil
}

func (u *UI) createRouteForm(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(w, r); err != nil {
		return err
	}
	form := routeFormOf(r, true)
	rt, ok, err := u.checkRouteForm(r, &form)
	if err != nil {
		return err
	}
	if ok {
		_, err = u.st.CreateRoute(r.Context(), access.Audit(r), rt)
		if ok, err = routeSaved(r, &form, err); err != nil {
			return err
		} else if ok {
			return seeOther(w, r, web.RoutesURL)
		}
	}
	return u.renderRoutes(w, r, http.StatusUnprocessableEntity, form)
}

// routeOf returns the route of the path's {id}.
func (u *UI) routeOf(r *http.Request) (store.Route, error) {
	id, err := request.PathID(chi.URLParam(r, "id"), "route")
	if err != nil {
		return store.Route{}, err
	}
	rt, err := u.st.Route(r.Context(), id, scopeOf(r.Context()))
	if err != nil {
		return store.Route{}, request.About(err, "route %d", id)
	}
	return rt, nil
}

func (u *UI) renderRoute(w http.ResponseWriter, r *http.Request, status int, rt store.Route, form web.RouteForm) error {
	opts, err := u.routeOptions(r)
	if err != nil {
		return err
	}
	channel := "channel " + strconv.FormatInt(rt.ChannelID, 10)
	for _, c := range opts.Channels {
		if c.ID == rt.ChannelID {
			channel = c.Name + " (" + c.Kind + ")"
		}
	}
	v := web.RouteView{RouteOptions: opts, Route: routeRow(rt, channel), Form: form}
	return u.render(w, r, status, u.meta(r, "Route "+strconv.FormatInt(rt.ID, 10), web.NavAdmin), web.RoutePage(v))
}

// routePage shows one route's settings in a form that edits them.
func (u *UI) routePage(w http.ResponseWriter, r *http.Request) error {
	rt, err := u.routeOf(r)
	if err != nil {
		return err
	}
	form := web.RouteForm{
		ChannelID: strconv.FormatInt(rt.ChannelID, 10), ClusterGroup: rt.ClusterGroup, Matchers: rt.Matchers,
		GroupWait: request.FormatDuration(rt.GroupWait), Kinds: rt.Kinds, Types: rt.Types, SendBaseline: rt.SendBaseline,
		Enabled: rt.Enabled,
	}
	if rt.RepeatInterval > 0 {
		form.RepeatInterval = request.FormatDuration(rt.RepeatInterval)
	}
	return u.renderRoute(w, r, http.StatusOK, rt, form)
}

// editRouteForm saves a route's settings, as PATCH does with every field sent.
func (u *UI) editRouteForm(w http.ResponseWriter, r *http.Request) error {
	before, err := u.routeOf(r)
	if err != nil {
		return err
	}
	if err := readForm(w, r); err != nil {
		return err
	}
	form := routeFormOf(r, false)
	rt, ok, err := u.checkRouteForm(r, &form)
	if err != nil {
		return err
	}
	if ok {
		rt.ID = before.ID
		_, err = u.st.UpdateRoute(r.Context(), access.Audit(r), rt)
		if errors.Is(err, store.ErrNotFound) {
			// The route or its channel: which one, the route's page says.
			if _, gone := u.st.Route(r.Context(), before.ID, scopeOf(r.Context())); gone != nil {
				return request.About(gone, "route %d", before.ID)
			}
		}
		if ok, err = routeSaved(r, &form, err); err != nil {
			return err
		} else if ok {
			return seeOther(w, r, web.RoutesURL)
		}
	}
	return u.renderRoute(w, r, http.StatusUnprocessableEntity, before, form)
}

// enableRouteForm enables or disables a route, nothing else changed.
func (u *UI) enableRouteForm(enabled bool) uiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		rt, err := u.routeOf(r)
		if err != nil {
			return err
		}
		rt.Enabled = enabled
		if _, err := u.st.UpdateRoute(r.Context(), access.Audit(r), rt); err != nil {
			return request.About(err, "route %d", rt.ID)
		}
		return seeOther(w, r, web.RoutesURL)
	}
}

func (u *UI) deleteRouteForm(w http.ResponseWriter, r *http.Request) error {
	id, err := request.PathID(chi.URLParam(r, "id"), "route")
	if err != nil {
		return err
	}
	if err := u.st.DeleteRoute(r.Context(), access.Audit(r), id); err != nil {
		return request.About(err, "route %d", id)
	}
	return seeOther(w, r, web.RoutesURL)
}
