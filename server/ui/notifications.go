package ui

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// The notifications admin pages (issue 26): channels (this file), one channel with its
// delivery log (notifications_channel.go) and routes (notifications_routes.go). A
// channel's secret is write-only: typed into a form, sealed, never shown again.

// notificationRoutes are the notifications pages; adminRoutes' admin check covers them.
func (u *UI) notificationRoutes(r chi.Router) {
	r.Get("/notifications", u.handle(u.channelsPage))
	r.Post("/notifications/channels", u.handle(u.createChannelForm))
	r.Get("/notifications/channels/{id}", u.handle(u.channelPage))
	r.Post("/notifications/channels/{id}", u.handle(u.editChannelForm))
	r.Post("/notifications/channels/{id}/test", u.handle(u.testChannelForm))
	r.Post("/notifications/channels/{id}/enable", u.handle(u.enableChannelForm(true)))
	r.Post("/notifications/channels/{id}/disable", u.handle(u.enableChannelForm(false)))
	r.Get("/notifications/channels/{id}/delete", u.handle(u.deleteChannelPage))
	r.Post("/notifications/channels/{id}/delete", u.handle(u.deleteChannelForm))
	r.Get("/notifications/routes", u.handle(u.routesPage))
	r.Post("/notifications/routes", u.handle(u.createRouteForm))
	r.Get("/notifications/routes/{id}", u.handle(u.routePage))
	r.Post("/notifications/routes/{id}", u.handle(u.editRouteForm))
	r.Post("/notifications/routes/{id}/enable", u.handle(u.enableRouteForm(true)))
	r.Post("/notifications/routes/{id}/disable", u.handle(u.enableRouteForm(false)))
	r.Post("/notifications/routes/{id}/delete", u.handle(u.deleteRouteForm))
}

// channelRows are the channels with their delivery stats.
func (u *UI) channelRows(r *http.Request) ([]web.ChannelRow, error) {
	cs, err := u.st.Channels(r.Context())
	if err != nil {
		return nil, request.About(err, "list channels")
	}
	stats, err := u.st.ChannelStatsByID(r.Context())
	if err != nil {
		return nil, request.About(err, "list channels")
	}
	rows := make([]web.ChannelRow, 0, len(cs))
	for _, c := range cs {
		rows = append(rows, channelRow(c, stats[c.ID]))
	}
	return rows, nil
}

func channelRow(c store.Channel, st store.ChannelStats) web.ChannelRow {
	return web.ChannelRow{
		ID: c.ID, Name: c.Name, Kind: c.Kind, Enabled: c.Enabled, HasSecret: c.HasSecret,
		LastStatus: st.LastStatus, LastError: st.LastError, LastAt: st.LastAt, Failed: st.Failed,
	}
}

func (u *UI) renderChannels(w http.ResponseWriter, r *http.Request, status int, form web.ChannelForm, test *web.TestResult) error {
	rows, err := u.channelRows(r)
	if err != nil {
		return err
	}
	v := web.ChannelsView{Channels: rows, Form: form, Test: test, Now: u.now()}
	return u.render(w, r, status, u.meta(r, "Notification channels", web.NavAdmin), web.NotificationsPage(v))
}

func (u *UI) channelsPage(w http.ResponseWriter, r *http.Request) error {
	return u.renderChannels(w, r, http.StatusOK, web.ChannelForm{Kind: "slack", Config: "{}", Enabled: true}, nil)
}

// channelFormOf reads a posted channel form: its fields and its secret.
func channelFormOf(r *http.Request) (web.ChannelForm, []byte) {
	f := web.ChannelForm{
		Name: strings.TrimSpace(r.PostForm.Get("name")), Kind: r.PostForm.Get("kind"),
		Config: strings.TrimSpace(r.PostForm.Get("config")), Enabled: r.PostForm.Get("enabled") == "true",
	}
	var secret []byte
	if s := strings.TrimSpace(r.PostForm.Get("secret")); s != "" {
		secret = []byte(s)
	}
	return f, secret
}

// refuse puts a refusal of request.Notifier.CheckChannel next to its field; false when
// err is not one.
func refuse(f *web.ChannelForm, err error) bool {
	var fe *request.FieldError
	if !errors.As(err, &fe) {
		return false
	}
	switch fe.Field {
	case "name":
		f.NameError = fe.Detail()
	case "kind":
		f.KindError = fe.Detail()
	case "secret":
		f.SecretError = fe.Detail()
	default:
		f.ConfigError = fe.Detail()
	}
	return true
}

func (u *UI) createChannelForm(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(w, r); err != nil {
		return err
	}
	f, secret := channelFormOf(r)
	config := json.RawMessage(f.Config)
	if f.Config == "" {
		config = nil
	}
	err := u.notify.CheckChannel(f.Name, f.Kind, config, secret)
	if err == nil {
		_, err = u.st.CreateChannel(r.Context(), access.Audit(r), store.NewChannel{Name: f.Name, Kind: f.Kind, Config: config, Secret: secret, Enabled: f.Enabled})
		if err == nil {
			return seeOther(w, r, web.AdminURL(web.AdminNotifications))
		}
		if errors.Is(err, store.ErrConflict) {
			f.NameError = "A channel of this name exists."
		} else {
			return request.About(err, "channel %q", f.Name)
		}
	} else if !refuse(&f, err) {
		return err
	}
	return u.renderChannels(w, r, http.StatusUnprocessableEntity, f, nil)
}

// audit records a test message, which changes nothing (the store audits the changes of
// channels and routes in their own transactions); a failure is logged.
func (u *UI) audit(r *http.Request, action, target string, detail map[string]any) {
	if err := u.st.RecordAudit(r.Context(), access.Audit(r), action, target, detail); err != nil {
		u.log.Error("record audit event", "action", action, "target", target, "error", err.Error())
	}
}

// channelOf returns the channel of the path's {id}.
func (u *UI) channelOf(r *http.Request) (store.Channel, error) {
	id, err := request.PathID(chi.URLParam(r, "id"), "channel")
	if err != nil {
		return store.Channel{}, err
	}
	c, err := u.st.Channel(r.Context(), id)
	if err != nil {
		return store.Channel{}, request.About(err, "channel %d", id)
	}
	return c, nil
}

// testChannelForm sends a test message and shows the outcome on the channels page (no
// redirect: the outcome is this answer's alone).
func (u *UI) testChannelForm(w http.ResponseWriter, r *http.Request) error {
	c, err := u.channelOf(r)
	if err != nil {
		return err
	}
	secret, err := u.st.ChannelSecret(r.Context(), c.ID)
	if err != nil {
		return request.About(err, "channel %d", c.ID)
	}
	out, err := u.notify.Test(r.Context(), c, secret, u.now())
	if err != nil {
		return err
	}
	u.audit(r, request.ActionChannelTest, c.Name, map[string]any{"id": c.ID, "delivered": out.Delivered, "errorClass": out.ErrorClass})
	return u.renderChannels(w, r, http.StatusOK, web.ChannelForm{Kind: "slack", Config: "{}", Enabled: true},
		&web.TestResult{Channel: c.Name, Delivered: out.Delivered, ErrorClass: out.ErrorClass})
}

func (u *UI) enableChannelForm(enabled bool) uiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := u.channelOf(r)
		if err != nil {
			return err
		}
		if _, err := u.st.UpdateChannel(r.Context(), access.Audit(r), c.ID, store.ChannelChange{Name: c.Name, Config: c.Config, Enabled: enabled}); err != nil {
			return request.About(err, "channel %d", c.ID)
		}
		return seeOther(w, r, web.AdminURL(web.AdminNotifications))
	}
}

func (u *UI) deleteChannelPage(w http.ResponseWriter, r *http.Request) error {
	c, err := u.channelOf(r)
	if err != nil {
		return err
	}
	v := web.ConfirmView{
		Title: "Delete channel", Question: "Delete the " + c.Kind + " channel " + c.Name + "?",
		Details: []string{"Its routes and its delivery log go with it.", "Deliveries waiting for it are dropped."},
		Action:  web.ChannelURL(c.ID, "delete"), Button: "Delete channel", Back: web.AdminURL(web.AdminNotifications),
	}
	return u.render(w, r, http.StatusOK, u.meta(r, "Delete channel", web.NavAdmin), web.ConfirmPage(v))
}

func (u *UI) deleteChannelForm(w http.ResponseWriter, r *http.Request) error {
	c, err := u.channelOf(r)
	if err != nil {
		return err
	}
	if err := u.st.DeleteChannel(r.Context(), access.Audit(r), c.ID); err != nil {
		return request.About(err, "channel %d", c.ID)
	}
	return seeOther(w, r, web.AdminURL(web.AdminNotifications))
}
