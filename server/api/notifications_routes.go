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

// Notification routes (issue 26): which events go to which channel.

// routeJSON is a route as the API shows it.
type routeJSON struct {
	ID        int64 `json:"id"`
	ChannelID int64 `json:"channelId"`
	// ClusterGroup is "" for every cluster.
	ClusterGroup   string    `json:"clusterGroup"`
	Kinds          []string  `json:"kinds"`
	Types          []string  `json:"types"`
	Matchers       string    `json:"matchers"`
	GroupWait      string    `json:"groupWait"`
	RepeatInterval string    `json:"repeatInterval"`
	SendBaseline   bool      `json:"sendBaseline"`
	Enabled        bool      `json:"enabled"`
	CreatedAt      time.Time `json:"createdAt"`
	UpdatedAt      time.Time `json:"updatedAt"`
}

func toRouteJSON(r store.Route) routeJSON {
	out := routeJSON{
		ID: r.ID, ChannelID: r.ChannelID, ClusterGroup: r.ClusterGroup, Kinds: nonNil(r.Kinds), Types: nonNil(r.Types),
		Matchers: r.Matchers, GroupWait: request.FormatDuration(r.GroupWait), SendBaseline: r.SendBaseline,
		Enabled: r.Enabled, CreatedAt: request.UTC(r.CreatedAt), UpdatedAt: request.UTC(r.UpdatedAt),
	}
	if r.RepeatInterval > 0 {
		out.RepeatInterval = request.FormatDuration(r.RepeatInterval)
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (a *API) listRoutes(w http.ResponseWriter, r *http.Request) error {
	q, err := request.Parse(r.URL.RawQuery, "channelId")
	if err != nil {
		return err
	}
	var channel int64
	if s := q.Get("channelId"); s != "" {
		if channel, err = request.PathID(s, "channel"); err != nil {
			return err
		}
	}
	rs, err := a.st.Routes(r.Context(), adminScopeOf(r.Context()))
	if err != nil {
		return request.About(err, "list routes")
	}
	out := make([]routeJSON, 0, len(rs))
	for _, rt := range rs {
		if channel == 0 || rt.ChannelID == channel {
			out = append(out, toRouteJSON(rt))
		}
	}
	return request.Respond(w, http.StatusOK, map[string]any{"items": out})
}

// routeParam reads the {id} of a route's path and returns the route.
func (a *API) routeParam(r *http.Request) (store.Route, error) {
	id, err := request.PathID(chi.URLParam(r, "id"), "route")
	if err != nil {
		return store.Route{}, err
	}
	rt, err := a.st.Route(r.Context(), id, adminScopeOf(r.Context()))
	if err != nil {
		return store.Route{}, request.About(err, "route %d", id)
	}
	return rt, nil
}

func (a *API) getRoute(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	rt, err := a.routeParam(r)
	if err != nil {
		return err
	}
	return request.Respond(w, http.StatusOK, toRouteJSON(rt))
}

// routeRequest is the body of POST and PATCH /api/v1/notifications/routes: on PATCH,
// absent fields keep their value.
type routeRequest struct {
	ChannelID      *int64    `json:"channelId"`
	ClusterGroup   *string   `json:"clusterGroup"`
	Kinds          *[]string `json:"kinds"`
	Types          *[]string `json:"types"`
	Matchers       *string   `json:"matchers"`
	GroupWait      *string   `json:"groupWait"`
	RepeatInterval *string   `json:"repeatInterval"`
	SendBaseline   *bool     `json:"sendBaseline"`
	Enabled        *bool     `json:"enabled"`
}

// fields applies req to f.
func (req routeRequest) apply(f *request.RouteFields) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	if req.ChannelID != nil {
		f.ChannelID = *req.ChannelID
	}
	set(&f.ClusterGroup, req.ClusterGroup)
	set(&f.Matchers, req.Matchers)
	set(&f.GroupWait, req.GroupWait)
	set(&f.RepeatInterval, req.RepeatInterval)
	if req.Kinds != nil {
		f.Kinds = *req.Kinds
	}
	if req.Types != nil {
		f.Types = *req.Types
	}
	if req.SendBaseline != nil {
		f.SendBaseline = *req.SendBaseline
	}
	if req.Enabled != nil {
		f.Enabled = *req.Enabled
	}
}

// checkRoute checks f against the groups and channels there are.
func (a *API) checkRoute(r *http.Request, f request.RouteFields) (store.Route, error) {
	gs, err := a.st.Groups(r.Context(), adminScopeOf(r.Context()))
	if err != nil {
		return store.Route{}, request.About(err, "route")
	}
	names := make([]string, len(gs))
	for i, g := range gs {
		names[i] = g.Name
	}
	rt, err := request.CheckRoute(f, names)
	if err != nil {
		return store.Route{}, err
	}
	// A scoped admin's route is of one of their groups (the others are not in names:
	// refused as unknown), and keeps their scope, which its deliveries are checked
	// against when routed and when sent.
	if sc := adminScopeOf(r.Context()); sc.Limited {
		if rt.ClusterGroup == "" {
			return store.Route{}, request.Errorf(http.StatusForbidden, "an admin of some cluster groups routes one of their groups: set clusterGroup")
		}
		rt.Scope = sc
	}
	if _, err := a.st.Channel(r.Context(), rt.ChannelID); err != nil {
		if request.Classify(r, err, "").Status == http.StatusNotFound {
			return store.Route{}, request.BadRequest("channelId %d is not a channel", rt.ChannelID)
		}
		return store.Route{}, err
	}
	return rt, nil
}

func (a *API) createRoute(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	var req routeRequest
	if err := request.DecodeBody(w, r, request.MaxOtherBody, &req); err != nil {
		return err
	}
	f := request.RouteFields{Enabled: true}
	req.apply(&f)
	rt, err := a.checkRoute(r, f)
	if err != nil {
		return err
	}
	out, err := a.st.CreateRoute(r.Context(), access.Audit(r), rt)
	if err != nil {
		return request.About(err, "channel %d", rt.ChannelID)
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/notifications/routes/%d", out.ID))
	return request.Respond(w, http.StatusCreated, toRouteJSON(out))
}

// routeFields is rt as fields to edit.
func routeFields(rt store.Route) request.RouteFields {
	f := request.RouteFields{
		ChannelID: rt.ChannelID, ClusterGroup: rt.ClusterGroup, Kinds: rt.Kinds, Types: rt.Types, Matchers: rt.Matchers,
		GroupWait: rt.GroupWait.String(), SendBaseline: rt.SendBaseline, Enabled: rt.Enabled,
	}
	if rt.RepeatInterval > 0 {
		f.RepeatInterval = rt.RepeatInterval.String()
	}
	return f
}

func (a *API) updateRoute(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	before, err := a.routeParam(r)
	if err != nil {
		return err
	}
	var req routeRequest
	if err := request.DecodeBody(w, r, request.MaxOtherBody, &req); err != nil {
		return err
	}
	if req == (routeRequest{}) {
		return request.BadRequest("nothing to change: send any of channelId, clusterGroup, kinds, types, matchers, groupWait, repeatInterval, sendBaseline, enabled")
	}
	f := routeFields(before)
	req.apply(&f)
	rt, err := a.checkRoute(r, f)
	if err != nil {
		return err
	}
	rt.ID = before.ID
	out, err := a.st.UpdateRoute(r.Context(), access.Audit(r), rt)
	if err != nil {
		return request.About(err, "route %d", before.ID)
	}
	return request.Respond(w, http.StatusOK, toRouteJSON(out))
}

func (a *API) deleteRoute(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	if err := request.NoBody(w, r); err != nil {
		return err
	}
	rt, err := a.routeParam(r)
	if err != nil {
		return err
	}
	if err := a.st.DeleteRoute(r.Context(), access.Audit(r), rt.ID); err != nil {
		return request.About(err, "route %d", rt.ID)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
