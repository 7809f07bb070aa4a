package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
)

// Notification channels (issue 26): where notifications go. A channel's secret (a
// webhook's signing secret, a Slack URL, a routing key, a password) is write-only: it
// is sealed by the store, never answered, logged or audited.

// channelJSON is a channel as the API shows it: never its secret, only whether it has
// one.
type channelJSON struct {
	ID               int64             `json:"id"`
	Name             string            `json:"name"`
	Kind             string            `json:"kind"`
	Config           json.RawMessage   `json:"config"`
	HasSecret        bool              `json:"hasSecret"`
	Enabled          bool              `json:"enabled"`
	CreatedAt        time.Time         `json:"createdAt"`
	UpdatedAt        time.Time         `json:"updatedAt"`
	LastDelivery     *lastDeliveryJSON `json:"lastDelivery"`
	FailedDeliveries int               `json:"failedDeliveries"`
}

// lastDeliveryJSON is a channel's latest delivery at a glance.
type lastDeliveryJSON struct {
	Status     string    `json:"status"`
	At         time.Time `json:"at"`
	ErrorClass string    `json:"errorClass"`
}

func toChannelJSON(c store.Channel, st store.ChannelStats) channelJSON {
	cfg := c.Config
	if len(cfg) == 0 {
		cfg = json.RawMessage("{}")
	}
	out := channelJSON{
		ID: c.ID, Name: c.Name, Kind: c.Kind, Config: cfg, HasSecret: c.HasSecret, Enabled: c.Enabled,
		CreatedAt: request.UTC(c.CreatedAt), UpdatedAt: request.UTC(c.UpdatedAt), FailedDeliveries: st.Failed,
	}
	if st.LastStatus != "" {
		out.LastDelivery = &lastDeliveryJSON{Status: st.LastStatus, At: request.UTC(st.LastAt), ErrorClass: st.LastError}
	}
	return out
}

func (a *API) listChannels(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	cs, err := a.st.Channels(r.Context())
	if err != nil {
		return request.About(err, "list channels")
	}
	stats, err := a.st.ChannelStatsByID(r.Context())
	if err != nil {
		return request.About(err, "list channels")
	}
	out := make([]channelJSON, 0, len(cs))
	for _, c := range cs {
		out = append(out, toChannelJSON(c, stats[c.ID]))
	}
	return request.Respond(w, http.StatusOK, map[string]any{"items": out})
}

// channelParam reads the {id} of a channel's path and returns the channel.
func (a *API) channelParam(r *http.Request) (store.Channel, error) {
	id, err := request.PathID(chi.URLParam(r, "id"), "channel")
	if err != nil {
		return store.Channel{}, err
	}
	c, err := a.st.Channel(r.Context(), id)
	if err != nil {
		return store.Channel{}, request.About(err, "channel %d", id)
	}
	return c, nil
}

func (a *API) getChannel(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	c, err := a.channelParam(r)
	if err != nil {
		return err
	}
	return a.respondChannel(w, r, http.StatusOK, c)
}

// respondChannel answers c with its delivery stats.
func (a *API) respondChannel(w http.ResponseWriter, r *http.Request, status int, c store.Channel) error {
	stats, err := a.st.ChannelStatsByID(r.Context())
	if err != nil {
		return request.About(err, "channel %d", c.ID)
	}
	return request.Respond(w, status, toChannelJSON(c, stats[c.ID]))
}

// channelRequest is the body of POST /api/v1/notifications/channels.
type channelRequest struct {
	Name    string          `json:"name"`
	Kind    string          `json:"kind"`
	Config  json.RawMessage `json:"config"`
	Secret  *string         `json:"secret"`
	Enabled *bool           `json:"enabled"`
}

// secretBytes is a request's secret: nil when absent or empty.
func secretBytes(s *string) []byte {
	if s == nil || *s == "" {
		return nil
	}
	return []byte(*s)
}

// nullConfig is a config left out or null: none.
func nullConfig(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return raw
}

func (a *API) createChannel(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	var req channelRequest
	if err := request.DecodeBody(w, r, request.MaxOtherBody, &req); err != nil {
		return err
	}
	nc := store.NewChannel{Name: req.Name, Kind: req.Kind, Config: nullConfig(req.Config), Secret: secretBytes(req.Secret), Enabled: true}
	if req.Enabled != nil {
		nc.Enabled = *req.Enabled
	}
	if err := a.notifier.CheckChannel(nc.Name, nc.Kind, nc.Config, nc.Secret); err != nil {
		return err
	}
	c, err := a.st.CreateChannel(r.Context(), access.Audit(r), nc)
	if err != nil {
		return request.About(err, "channel %q", req.Name)
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/notifications/channels/%d", c.ID))
	return request.Respond(w, http.StatusCreated, toChannelJSON(c, store.ChannelStats{}))
}

// audit records a test message, which changes nothing (the store audits the changes of
// channels and routes in their own transactions): a failure here is logged.
func (a *API) audit(r *http.Request, action, target string, detail map[string]any) {
	if err := a.st.RecordAudit(r.Context(), access.Audit(r), action, target, detail); err != nil {
		a.log.Error("record audit event", "action", action, "target", target, "error", err.Error())
	}
}

// channelChange is the body of PATCH /api/v1/notifications/channels/{id}: absent fields
// keep their value; a secret replaces the stored one, and "" removes it.
type channelChange struct {
	Name    *string         `json:"name"`
	Config  json.RawMessage `json:"config"`
	Secret  *string         `json:"secret"`
	Enabled *bool           `json:"enabled"`
}

func (a *API) updateChannel(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	c, err := a.channelParam(r)
	if err != nil {
		return err
	}
	var req channelChange
	if err := request.DecodeBody(w, r, request.MaxOtherBody, &req); err != nil {
		return err
	}
	if req.Name == nil && req.Config == nil && req.Secret == nil && req.Enabled == nil {
		return request.BadRequest("nothing to change: send any of name, config, secret, enabled")
	}
	ch := store.ChannelChange{Name: c.Name, Config: c.Config, Enabled: c.Enabled}
	if req.Name != nil {
		ch.Name = *req.Name
	}
	if req.Config != nil {
		ch.Config = nullConfig(req.Config)
	}
	if req.Enabled != nil {
		ch.Enabled = *req.Enabled
	}
	// The settings are checked with the secret they will be used with: the new one, or
	// the one stored.
	secret := secretBytes(req.Secret)
	if req.Secret != nil {
		ch.ReplaceSecret, ch.Secret = true, secret
	} else if secret, err = a.st.ChannelSecret(r.Context(), c.ID); err != nil {
		return request.About(err, "channel %d", c.ID)
	}
	if err := a.notifier.CheckChannel(ch.Name, c.Kind, ch.Config, secret); err != nil {
		return err
	}
	out, err := a.st.UpdateChannel(r.Context(), access.Audit(r), c.ID, ch)
	if err != nil {
		return request.About(err, "channel %q", ch.Name)
	}
	return a.respondChannel(w, r, http.StatusOK, out)
}

func (a *API) deleteChannel(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	if err := request.NoBody(w, r); err != nil {
		return err
	}
	c, err := a.channelParam(r)
	if err != nil {
		return err
	}
	if err := a.st.DeleteChannel(r.Context(), access.Audit(r), c.ID); err != nil {
		return request.About(err, "channel %d", c.ID)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// testJSON is the outcome of a test message.
type testJSON struct {
	Delivered  bool   `json:"delivered"`
	ErrorClass string `json:"errorClass"`
	Retryable  bool   `json:"retryable"`
	DurationMS int64  `json:"durationMs"`
}

func (a *API) testChannel(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	if err := request.NoBody(w, r); err != nil {
		return err
	}
	c, err := a.channelParam(r)
	if err != nil {
		return err
	}
	secret, err := a.st.ChannelSecret(r.Context(), c.ID)
	if err != nil {
		return request.About(err, "channel %d", c.ID)
	}
	out, err := a.notifier.Test(r.Context(), c, secret, a.now())
	if err != nil {
		return err
	}
	a.audit(r, request.ActionChannelTest, c.Name, map[string]any{"id": c.ID, "delivered": out.Delivered, "errorClass": out.ErrorClass})
	a.log.Info("test message", "channel_id", c.ID, "kind", c.Kind, "delivered", out.Delivered, "error_class", out.ErrorClass)
	return request.Respond(w, http.StatusOK, testJSON{
		Delivered: out.Delivered, ErrorClass: out.ErrorClass, Retryable: out.Retryable, DurationMS: out.Duration.Milliseconds(),
	})
}

// deliveryJSON is one line of a channel's delivery log.
type deliveryJSON struct {
	ID          int64      `json:"id"`
	EventID     string     `json:"eventId"`
	Type        string     `json:"type"`
	Reason      string     `json:"reason"`
	MutationID  *int64     `json:"mutationId"`
	At          time.Time  `json:"at"`
	Status      string     `json:"status"`
	Attempts    int        `json:"attempts"`
	ErrorClass  string     `json:"errorClass"`
	NotBefore   time.Time  `json:"notBefore"`
	DeliveredAt *time.Time `json:"deliveredAt"`
}

func toDeliveryJSON(d store.Delivery) deliveryJSON {
	out := deliveryJSON{
		ID: d.ID, EventID: d.PublicID, Type: d.Type, Reason: d.Reason, At: request.UTC(d.EventAt), Status: d.Status,
		Attempts: d.Attempts, ErrorClass: d.LastError, NotBefore: request.UTC(d.NotBefore), DeliveredAt: request.UTCPtr(d.DeliveredAt),
	}
	if d.MutationID != 0 {
		id := d.MutationID
		out.MutationID = &id
	}
	return out
}

func (a *API) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	q, err := request.Parse(r.URL.RawQuery, "limit")
	if err != nil {
		return err
	}
	limit := request.DeliveryLogLimit
	if q.Get("limit") != "" {
		if limit, err = q.Limit(); err != nil {
			return err
		}
	}
	c, err := a.channelParam(r)
	if err != nil {
		return err
	}
	ds, err := a.st.DeliveryLog(r.Context(), c.ID, limit)
	if err != nil {
		return request.About(err, "channel %d", c.ID)
	}
	out := make([]deliveryJSON, 0, len(ds))
	for _, d := range ds {
		out = append(out, toDeliveryJSON(d))
	}
	return request.Respond(w, http.StatusOK, map[string]any{"items": out})
}
