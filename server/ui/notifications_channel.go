package ui

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// One channel's page: its delivery log and its settings.

func (u *UI) renderChannel(w http.ResponseWriter, r *http.Request, status int, c store.Channel, form web.ChannelForm) error {
	stats, err := u.st.ChannelStatsByID(r.Context())
	if err != nil {
		return request.About(err, "channel %d", c.ID)
	}
	ds, err := u.st.DeliveryLog(r.Context(), c.ID, request.DeliveryLogLimit)
	if err != nil {
		return request.About(err, "channel %d", c.ID)
	}
	v := web.ChannelView{Channel: channelRow(c, stats[c.ID]), Form: form, Now: u.now()}
	for _, d := range ds {
		typ := d.Type
		if d.Reason != "" {
			typ += " (" + d.Reason + ")" // a reminder, an acknowledgement ended, why it resolved
		}
		v.Deliveries = append(v.Deliveries, web.DeliveryRow{
			At: d.EventAt, Type: typ, Status: d.Status, ErrorClass: d.LastError, EventID: d.PublicID, Attempts: d.Attempts,
		})
	}
	return u.render(w, r, status, u.meta(r, "Channel "+c.Name, web.NavAdmin), web.ChannelPage(v))
}

func (u *UI) channelPage(w http.ResponseWriter, r *http.Request) error {
	c, err := u.channelOf(r)
	if err != nil {
		return err
	}
	cfg := string(c.Config)
	if cfg == "" {
		cfg = "{}"
	}
	return u.renderChannel(w, r, http.StatusOK, c, web.ChannelForm{Name: c.Name, Kind: c.Kind, Config: cfg, Enabled: c.Enabled})
}

// editChannelForm saves a channel's settings; a blank secret keeps the stored one.
func (u *UI) editChannelForm(w http.ResponseWriter, r *http.Request) error {
	c, err := u.channelOf(r)
	if err != nil {
		return err
	}
	if err := readForm(w, r); err != nil {
		return err
	}
	f, secret := channelFormOf(r)
	f.Kind = c.Kind
	ch := store.ChannelChange{Name: f.Name, Config: json.RawMessage(f.Config), Enabled: f.Enabled}
	if f.Config == "" {
		ch.Config = nil
	}
	if secret != nil {
		ch.ReplaceSecret, ch.Secret = true, secret
	} else if secret, err = u.st.ChannelSecret(r.Context(), c.ID); err != nil {
		return request.About(err, "channel %d", c.ID)
	}
	err = u.notify.CheckChannel(ch.Name, c.Kind, ch.Config, secret)
	if err == nil {
		var out store.Channel
		out, err = u.st.UpdateChannel(r.Context(), access.Audit(r), c.ID, ch)
		if err == nil {
			return seeOther(w, r, web.ChannelURL(out.ID, ""))
		}
		if !errors.Is(err, store.ErrConflict) {
			return request.About(err, "channel %d", c.ID)
		}
		f.NameError = "A channel of this name exists."
	} else if !refuse(&f, err) {
		return err
	}
	return u.renderChannel(w, r, http.StatusUnprocessableEntity, c, f)
}
