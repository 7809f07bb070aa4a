package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Notifications (issue 26): channels with sealed secrets, routes, and the outbox of
// events and their deliveries. The store knows neither River nor the senders: the
// caller hands EnqueueNotifications what inserts the delivery jobs inside the same
// transaction, and sends what Delivery returns.

// Channel kinds.
const (
	ChannelWebhook      = "webhook"
	ChannelSlack        = "slack"
	ChannelPagerDuty    = "pagerduty"
	ChannelAlertmanager = "alertmanager"
	ChannelEmail        = "email"
)

// NewChannel is a channel to register.
type NewChannel struct {
	Name string
	// Kind is one of the Channel* kinds.
	Kind string
	// Config is the channel's settings that are not secret, as JSON (nil for {}).
	Config json.RawMessage
	// Secret is sealed with the keyring; nil for a channel without one.
	Secret  []byte
	Enabled bool
}

// Channel is a registered channel. Its secret is not part of it: ChannelSecret opens
// it, for sending only.
type Channel struct {
	ID        int64
	Name      string
	Kind      string
	Config    json.RawMessage
	HasSecret bool
	Enabled   bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// channelAAD binds a sealed secret to its channel, so that a secret copied onto another
// row (or a cluster's) does not open.
func channelAAD(id int64) []byte {
	return []byte("notification-channel:" + strconv.FormatInt(id, 10))
}

const channelColumns = `id, name, kind, config, secret IS NOT NULL, enabled, created_at, updated_at`

func scanChannel(row pgx.Row) (Channel, error) {
	var c Channel
	err := row.Scan(&c.ID, &c.Name, &c.Kind, &c.Config, &c.HasSecret, &c.Enabled, &c.CreatedAt, &c.UpdatedAt)
	return c, err
}

// conflict maps a unique violation to ErrConflict.
func conflict(err error, what string) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("%s: %w", what, ErrConflict)
	}
	return err
}

// CreateChannel registers a channel, its secret sealed; ErrConflict when the name is
// taken.
func (s *Store) CreateChannel(ctx context.Context, nc NewChannel) (Channel, error) {
	var c Channel
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var id int64
		if err := tx.QueryRow(ctx, `SELECT nextval('notification_channels_id_seq')`).Scan(&id); err != nil {
			return fmt.Errorf("channel id: %w", err)
		}
		sealed, keyID, err := s.sealChannelSecret(id, nc.Secret)
		if err != nil {
			return err
		}
		c, err = scanChannel(tx.QueryRow(ctx, `
			INSERT INTO notification_channels (id, name, kind, config, secret, key_id, enabled)
			VALUES ($1, $2, $3, COALESCE($4, '{}'::jsonb), $5, $6, $7)
			RETURNING `+channelColumns,
			id, nc.Name, nc.Kind, jsonArg(nc.Config), sealed, keyID, nc.Enabled))
		return conflict(err, fmt.Sprintf("channel %q", nc.Name))
	})
	if err != nil {
		return Channel{}, fmt.Errorf("create channel: %w", err)
	}
	return c, nil
}

// sealChannelSecret seals secret for channel id; nil, nil for none.
func (s *Store) sealChannelSecret(id int64, secret []byte) ([]byte, *int64, error) {
	if secret == nil {
		return nil, nil, nil
	}
	sealed, err := s.keys.Seal(secret, channelAAD(id))
	if err != nil {
		return nil, nil, fmt.Errorf("seal secret of channel %d: %w", id, err)
	}
	keyID := int64(s.keys.Primary())
	return sealed, &keyID, nil
}

// jsonArg passes raw JSON to a jsonb parameter, nil as NULL.
func jsonArg(raw json.RawMessage) any {
	if raw == nil {
		return nil
	}
	return string(raw)
}

// Channel returns one channel.
func (s *Store) Channel(ctx context.Context, id int64) (Channel, error) {
	c, err := scanChannel(s.pool.QueryRow(ctx, `SELECT `+channelColumns+` FROM notification_channels WHERE id = $1`, id))
	if err != nil {
		return Channel{}, fmt.Errorf("channel %d: %w", id, notFound(err))
	}
	return c, nil
}

// Channels returns every channel, by name.
func (s *Store) Channels(ctx context.Context) ([]Channel, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+channelColumns+` FROM notification_channels ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Channel, error) { return scanChannel(r) })
	if err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	return out, nil
}

// ChannelChange is an edit of a channel. The secret is replaced only when
// ReplaceSecret is set (a form that leaves the secret blank keeps it).
type ChannelChange struct {
	Name          string
	Config        json.RawMessage
	Enabled       bool
	ReplaceSecret bool
	Secret        []byte
}

// UpdateChannel edits a channel; ErrNotFound when it does not exist, ErrConflict when
// the new name is taken.
func (s *Store) UpdateChannel(ctx context.Context, id int64, ch ChannelChange) (Channel, error) {
	var c Channel
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		if ch.ReplaceSecret {
			sealed, keyID, err := s.sealChannelSecret(id, ch.Secret)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE notification_channels SET secret = $2, key_id = $3 WHERE id = $1`, id, sealed, keyID); err != nil {
				return fmt.Errorf("replace secret: %w", err)
			}
		}
		c, err = scanChannel(tx.QueryRow(ctx, `
			UPDATE notification_channels SET name = $2, config = COALESCE($3, '{}'::jsonb), enabled = $4, updated_at = now()
			WHERE id = $1 RETURNING `+channelColumns, id, ch.Name, jsonArg(ch.Config), ch.Enabled))
		return conflict(notFound(err), fmt.Sprintf("channel %q", ch.Name))
	})
	if err != nil {
		return Channel{}, fmt.Errorf("update channel %d: %w", id, err)
	}
	return c, nil
}

// DeleteChannel deletes a channel, its routes and its deliveries (their jobs then find
// nothing to send); ErrNotFound when it does not exist.
func (s *Store) DeleteChannel(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM notification_channels WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete channel %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete channel %d: %w", id, ErrNotFound)
	}
	return nil
}

// ChannelSecret opens a channel's secret, for sending; nil for a channel without one.
func (s *Store) ChannelSecret(ctx context.Context, id int64) ([]byte, error) {
	var sealed []byte
	if err := s.pool.QueryRow(ctx, `SELECT secret FROM notification_channels WHERE id = $1`, id).Scan(&sealed); err != nil {
		return nil, fmt.Errorf("secret of channel %d: %w", id, notFound(err))
	}
	if sealed == nil {
		return nil, nil
	}
	plain, err := s.keys.Open(sealed, channelAAD(id))
	if err != nil {
		return nil, fmt.Errorf("secret of channel %d: %w", id, err)
	}
	return plain, nil
}

// Route says which events go to a channel.
type Route struct {
	ID        int64
	ChannelID int64
	// ClusterGroup limits the route to one cluster group; "" is every cluster.
	ClusterGroup string
	// Kinds and Types limit it to those mutation kinds and event types; empty is all.
	Kinds, Types []string
	// Matchers are Alertmanager matchers over the label set ({cluster=~"prod-.*"}),
	// parsed by the service; "" matches all.
	Matchers string
	// GroupWait is how long what opens for the route and one reference is gathered
	// into one message. Default 30 s (NewRoute's zero is 0: no wait).
	GroupWait time.Duration
	// RepeatInterval repeats still-open mutations; 0 never.
	RepeatInterval time.Duration
	// SendBaseline sends what the first scan of a new cluster opens.
	SendBaseline bool
	Enabled      bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

const routeColumns = `id, channel_id, COALESCE(cluster_group, ''), kinds, types, matchers, group_wait, repeat_interval,
	send_baseline, enabled, created_at, updated_at`

func scanRoute(row pgx.Row) (Route, error) {
	var r Route
	var repeat *time.Duration
	err := row.Scan(&r.ID, &r.ChannelID, &r.ClusterGroup, &r.Kinds, &r.Types, &r.Matchers, &r.GroupWait, &repeat,
		&r.SendBaseline, &r.Enabled, &r.CreatedAt, &r.UpdatedAt)
	if repeat != nil {
		r.RepeatInterval = *repeat
	}
	return r, err
}

// routeArgs are r's columns as parameters $2..$10 of routeColumns' order.
func routeArgs(r Route) []any {
	var group, repeat any
	if r.ClusterGroup != "" {
		group = r.ClusterGroup
	}
	if r.RepeatInterval > 0 {
		repeat = r.RepeatInterval
	}
	return []any{r.ChannelID, group, nonNilStrings(r.Kinds), nonNilStrings(r.Types), r.Matchers, r.GroupWait, repeat, r.SendBaseline, r.Enabled}
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// CreateRoute adds a route; ErrNotFound when its channel does not exist.
func (s *Store) CreateRoute(ctx context.Context, r Route) (Route, error) {
	out, err := scanRoute(s.pool.QueryRow(ctx, `
		INSERT INTO notification_routes (channel_id, cluster_group, kinds, types, matchers, group_wait, repeat_interval, send_baseline, enabled)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		RETURNING `+routeColumns, routeArgs(r)...))
	if err != nil {
		return Route{}, fmt.Errorf("create route of channel %d: %w", r.ChannelID, foreignKey(err))
	}
	return out, nil
}

// foreignKey maps a foreign key violation (a channel that does not exist) to
// ErrNotFound.
func foreignKey(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" {
		return ErrNotFound
	}
	return err
}

// UpdateRoute replaces route r.ID with r; ErrNotFound when it does not exist.
func (s *Store) UpdateRoute(ctx context.Context, r Route) (Route, error) {
	out, err := scanRoute(s.pool.QueryRow(ctx, `
		UPDATE notification_routes SET channel_id = $2, cluster_group = $3, kinds = $4, types = $5, matchers = $6,
		       group_wait = $7, repeat_interval = $8, send_baseline = $9, enabled = $10, updated_at = now()
		WHERE id = $1 RETURNING `+routeColumns, append([]any{r.ID}, routeArgs(r)...)...))
	if err != nil {
		return Route{}, fmt.Errorf("update route %d: %w", r.ID, foreignKey(notFound(err)))
	}
	return out, nil
}

// DeleteRoute deletes a route; ErrNotFound when it does not exist.
func (s *Store) DeleteRoute(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM notification_routes WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete route %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete route %d: %w", id, ErrNotFound)
	}
	return nil
}

// Routes returns every route, enabled or not, of enabled channels or not, by id.
func (s *Store) Routes(ctx context.Context) ([]Route, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+routeColumns+` FROM notification_routes ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Route, error) { return scanRoute(r) })
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	return out, nil
}

// OutboxEvent is one notification event to write, with the channels it goes to.
type OutboxEvent struct {
	Type   string
	Reason string
	// MutationID is the mutation's id; 0 for none.
	MutationID int64
	// Payload is the event's payload, rendered now (a purge must not lose it), without
	// its id: the sender sets the event's public id. PayloadVersion is its shape.
	Payload        json.RawMessage
	PayloadVersion int
	At             time.Time
	// GroupKey gathers, per channel, the deliveries that may go as one message when
	// due together (the mutation's reference); "" gathers none.
	GroupKey string
	// Deliveries are the channels it goes to (each once), and when each may be sent.
	Deliveries []OutboxDelivery
}

// OutboxDelivery is one channel an event goes to.
type OutboxDelivery struct {
	ChannelID int64
	NotBefore time.Time
}

// QueuedDelivery is a delivery written, for its job: the job's argument is ID, and it
// is scheduled at NotBefore.
type QueuedDelivery struct {
	ID        int64
	NotBefore time.Time
}

// DeliveryJobs inserts the jobs of deliveries inside tx, the transaction that wrote
// them (River's InsertManyTx behind it), so that a delivery exists exactly when its job
// does.
type DeliveryJobs func(ctx context.Context, tx pgx.Tx, deliveries []QueuedDelivery) error

// EnqueueNotifications writes events and their deliveries, and has jobs insert the
// delivery jobs, in one transaction. A channel named twice for one event gets one
// delivery, at the earlier time.
func (s *Store) EnqueueNotifications(ctx context.Context, events []OutboxEvent, jobs DeliveryJobs) ([]QueuedDelivery, error) {
	var out []QueuedDelivery
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = enqueueNotifications(ctx, tx, events, jobs)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("enqueue notifications: %w", err)
	}
	return out, nil
}

// enqueueNotifications is EnqueueNotifications inside the caller's transaction: the
// scan, re-check and cluster deletion transactions call it beside their changes.
func enqueueNotifications(ctx context.Context, tx pgx.Tx, events []OutboxEvent, jobs DeliveryJobs) ([]QueuedDelivery, error) {
	var queued []QueuedDelivery
	for _, ev := range events {
		var mutation *int64
		if ev.MutationID != 0 {
			mutation = &ev.MutationID
		}
		var eventID int64
		if err := tx.QueryRow(ctx, `
			INSERT INTO notification_events (type, mutation_id, reason, payload, payload_version, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			ev.Type, mutation, ev.Reason, string(ev.Payload), ev.PayloadVersion, ev.At).Scan(&eventID); err != nil {
			return nil, fmt.Errorf("write %s event of mutation %d: %w", ev.Type, ev.MutationID, err)
		}
		for _, d := range ev.Deliveries {
			var q QueuedDelivery
			err := tx.QueryRow(ctx, `
				INSERT INTO notification_deliveries (event_id, channel_id, not_before, created_at, updated_at, group_key)
				VALUES ($1, $2, $3, $4, $4, $5)
				ON CONFLICT (event_id, channel_id) DO UPDATE SET not_before = LEAST(notification_deliveries.not_before, EXCLUDED.not_before)
				RETURNING id, not_before`, eventID, d.ChannelID, d.NotBefore, ev.At, ev.GroupKey).Scan(&q.ID, &q.NotBefore)
			if err != nil {
				return nil, fmt.Errorf("write delivery of %s event to channel %d: %w", ev.Type, d.ChannelID, foreignKey(err))
			}
			queued = upsertQueued(queued, q)
		}
	}
	if len(queued) > 0 && jobs != nil {
		if err := jobs(ctx, tx, queued); err != nil {
			return nil, fmt.Errorf("insert %d delivery jobs: %w", len(queued), err)
		}
	}
	return queued, nil
}

// upsertQueued adds q to qs, or updates the entry of the same delivery.
func upsertQueued(qs []QueuedDelivery, q QueuedDelivery) []QueuedDelivery {
	for i := range qs {
		if qs[i].ID == q.ID {
			qs[i] = q
			return qs
		}
	}
	return append(qs, q)
}

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// Delivery is what a delivery job sends: the event (its public id is the webhook-id)
// and the channel.
type Delivery struct {
	ID             int64
	EventID        int64
	PublicID       string
	Type           string
	Reason         string
	MutationID     int64
	Payload        json.RawMessage
	PayloadVersion int
	EventAt        time.Time
	Channel        Channel
	Status         string
	Attempts       int
	LastError      string
	NotBefore      time.Time
	DeliveredAt    *time.Time
	// MergedInto is the delivery whose message carries this one (group wait), 0 for
	// none: this one's own job then leaves it to that one.
	MergedInto int64
}

const deliveryColumns = `d.id, e.id, e.public_id, e.type, e.reason, COALESCE(e.mutation_id, 0), e.payload, e.payload_version,
	e.created_at, c.id, c.name, c.kind, c.config, c.secret IS NOT NULL, c.enabled, c.created_at, c.updated_at,
	d.status, d.attempts, d.last_error, d.not_before, d.delivered_at, COALESCE(d.merged_into, 0)`

func scanDelivery(row pgx.Row) (Delivery, error) {
	var d Delivery
	c := &d.Channel
	err := row.Scan(&d.ID, &d.EventID, &d.PublicID, &d.Type, &d.Reason, &d.MutationID, &d.Payload, &d.PayloadVersion,
		&d.EventAt, &c.ID, &c.Name, &c.Kind, &c.Config, &c.HasSecret, &c.Enabled, &c.CreatedAt, &c.UpdatedAt,
		&d.Status, &d.Attempts, &d.LastError, &d.NotBefore, &d.DeliveredAt, &d.MergedInto)
	return d, err
}

// Delivery returns one delivery with its event and channel; ErrNotFound when it is gone
// (its channel deleted): its job then has nothing to do.
func (s *Store) Delivery(ctx context.Context, id int64) (Delivery, error) {
	d, err := scanDelivery(s.pool.QueryRow(ctx, `
		SELECT `+deliveryColumns+`
		FROM notification_deliveries d JOIN notification_events e ON e.id = d.event_id
		JOIN notification_channels c ON c.id = d.channel_id
		WHERE d.id = $1`, id))
	if err != nil {
		return Delivery{}, fmt.Errorf("delivery %d: %w", id, notFound(err))
	}
	return d, nil
}

// RecordAttempt records one attempt of a delivery at at: delivered when errClass is "",
// else its error class (tagdrift's words, never the receiver's), failed for good when
// final. A delivered delivery stays delivered (a job retried after it succeeded). The
// deliveries merged into it (ClaimGroup) share the attempt: they went in its message.
func (s *Store) RecordAttempt(ctx context.Context, id int64, at time.Time, errClass string, final bool) error {
	status := DeliveryPending
	switch {
	case errClass == "":
		status = DeliveryDelivered
	case final:
		status = DeliveryFailed
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE notification_deliveries SET attempts = attempts + 1, status = $3::text, last_error = $4, updated_at = $2::timestamptz,
		       delivered_at = CASE WHEN $3::text = 'delivered' THEN $2::timestamptz END
		WHERE (id = $1 OR merged_into = $1) AND status <> 'delivered'`, id, at, status, errClass)
	if err != nil {
		return fmt.Errorf("record attempt of delivery %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		if _, err := s.Delivery(ctx, id); err != nil {
			return fmt.Errorf("record attempt: %w", err)
		}
	}
	return nil
}

// DeliveryLog returns a channel's latest deliveries, newest first, at most limit.
func (s *Store) DeliveryLog(ctx context.Context, channelID int64, limit int) ([]Delivery, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT `+deliveryColumns+`
		FROM notification_deliveries d JOIN notification_events e ON e.id = d.event_id
		JOIN notification_channels c ON c.id = d.channel_id
		WHERE d.channel_id = $1 ORDER BY d.id DESC LIMIT $2`, channelID, limit)
	if err != nil {
		return nil, fmt.Errorf("delivery log of channel %d: %w", channelID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) { return scanDelivery(r) })
	if err != nil {
		return nil, fmt.Errorf("delivery log of channel %d: %w", channelID, err)
	}
	return out, nil
}

// CheckChannelSecrets opens every channel's secret, so that a wrong or missing key fails
// when the service starts, not at the first delivery.
func (s *Store) CheckChannelSecrets(ctx context.Context) error {
	rows, err := s.pool.Query(ctx, `SELECT id, name, secret FROM notification_channels WHERE secret IS NOT NULL ORDER BY id`)
	if err != nil {
		return fmt.Errorf("read channel secrets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var name string
		var sealed []byte
		if err := rows.Scan(&id, &name, &sealed); err != nil {
			return fmt.Errorf("read channel secrets: %w", err)
		}
		if _, err := s.keys.Open(sealed, channelAAD(id)); err != nil {
			return fmt.Errorf("secret of channel %q: %w", name, err)
		}
	}
	return rows.Err()
}

// RotateChannelKeys re-seals, under the newest key, the channel secrets sealed under
// older keys, all in one transaction (channels are few), and returns how many. RotateKeys
// does the same for clusters; serve is to call both.
func (s *Store) RotateChannelKeys(ctx context.Context) (int, error) {
	primary := int64(s.keys.Primary())
	n := 0
	err := s.tx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, secret FROM notification_channels WHERE key_id <> $1 ORDER BY id FOR UPDATE`, primary)
		if err != nil {
			return fmt.Errorf("take channel secrets to re-seal: %w", err)
		}
		type row struct {
			id     int64
			sealed []byte
		}
		found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			return x, r.Scan(&x.id, &x.sealed)
		})
		if err != nil {
			return fmt.Errorf("take channel secrets to re-seal: %w", err)
		}
		for _, r := range found {
			plain, err := s.keys.Open(r.sealed, channelAAD(r.id))
			if err != nil {
				return fmt.Errorf("channel %d: %w", r.id, err)
			}
			resealed, err := s.keys.Seal(plain, channelAAD(r.id))
			if err != nil {
				return fmt.Errorf("re-seal channel %d: %w", r.id, err)
			}
			if _, err := tx.Exec(ctx, `UPDATE notification_channels SET secret = $2, key_id = $3 WHERE id = $1`, r.id, resealed, primary); err != nil {
				return fmt.Errorf("store channel %d re-sealed: %w", r.id, err)
			}
		}
		n = len(found)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("rotate channel keys: %w", err)
	}
	return n, nil
}

// maxGroup bounds how many deliveries one message carries.
const maxGroup = 100

// ClaimGroup makes delivery id the message of its group: on its first attempt, the
// other pending deliveries to its channel with its group key (the same reference),
// due by now and never attempted, are claimed for it (at most 100), so that what
// opened for one reference within the group wait goes as one message; on a retry, the
// same ones it claimed then, so that the retried message is the same, under the same
// id. It returns them, in event order, without id itself. carried is false when id is
// no longer its own to send (claimed by another, delivered, failed, or gone): its job
// has nothing to do. merge false claims nothing new: for a channel whose messages are
// one per mutation (PagerDuty's), and for any attempt of a job but its first (a job
// rescued after its replica died may have sent already, without recording it).
func (s *Store) ClaimGroup(ctx context.Context, id int64, now time.Time, merge bool) (group []Delivery, carried bool, err error) {
	err = s.tx(ctx, func(tx pgx.Tx) error {
		var status, key string
		var channel int64
		var mergedInto *int64
		var attempts int
		err := tx.QueryRow(ctx, `
			SELECT status, channel_id, group_key, merged_into, attempts FROM notification_deliveries WHERE id = $1 FOR UPDATE`, id).
			Scan(&status, &channel, &key, &mergedInto, &attempts)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if status != DeliveryPending || mergedInto != nil {
			return nil
		}
		carried = true
		if merge && key != "" && attempts == 0 {
			if _, err := tx.Exec(ctx, `
				UPDATE notification_deliveries SET merged_into = $1, updated_at = $4
				WHERE id IN (
					SELECT d.id FROM notification_deliveries d
					WHERE d.channel_id = $2 AND d.group_key = $3 AND d.status = 'pending' AND d.merged_into IS NULL
					  AND d.id <> $1 AND d.attempts = 0 AND d.not_before <= $4
					  AND NOT EXISTS (SELECT 1 FROM notification_deliveries x WHERE x.merged_into = d.id)
					ORDER BY d.id LIMIT $5
					FOR UPDATE SKIP LOCKED)`, id, channel, key, now, maxGroup-1); err != nil {
				return fmt.Errorf("claim its group: %w", err)
			}
		}
		rows, err := tx.Query(ctx, `
			SELECT `+deliveryColumns+`
			FROM notification_deliveries d JOIN notification_events e ON e.id = d.event_id
			JOIN notification_channels c ON c.id = d.channel_id
			WHERE d.merged_into = $1 ORDER BY e.id`, id)
		if err != nil {
			return fmt.Errorf("read its group: %w", err)
		}
		group, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) { return scanDelivery(r) })
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("claim the group of delivery %d: %w", id, err)
	}
	return group, carried, nil
}

// OpenAlert is the latest payload delivered to a channel about a mutation still open.
type OpenAlert struct {
	MutationID int64
	PublicID   string
	Payload    json.RawMessage
}

// OpenAlerts returns, for an Alertmanager channel, the mutations still open whose
// latest event delivered to it opened or changed them: the alerts it must be told
// again, while they are open, so that they do not expire. One acknowledged (or
// declared expected) is not reposted, even when the channel's routes do not send it
// mutation.acknowledged: its alert ends by itself, and fires again with the
// mutation.opened that its acknowledgement's end is.
func (s *Store) OpenAlerts(ctx context.Context, channelID int64) ([]OpenAlert, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT l.mutation_id, l.public_id, l.payload FROM (
			SELECT DISTINCT ON (e.mutation_id) e.mutation_id, e.public_id, e.payload, e.type
			FROM notification_deliveries d JOIN notification_events e ON e.id = d.event_id
			WHERE d.channel_id = $1 AND d.status = 'delivered' AND e.mutation_id IS NOT NULL AND e.type <> 'event.recorded'
			ORDER BY e.mutation_id, e.id DESC) l
		JOIN mutations m ON m.id = l.mutation_id AND m.resolved_at IS NULL AND m.state = 'open'
		WHERE l.type IN ('mutation.opened', 'mutation.changed')
		ORDER BY l.mutation_id`, channelID)
	if err != nil {
		return nil, fmt.Errorf("open alerts of channel %d: %w", channelID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (OpenAlert, error) {
		var a OpenAlert
		return a, r.Scan(&a.MutationID, &a.PublicID, &a.Payload)
	})
	if err != nil {
		return nil, fmt.Errorf("open alerts of channel %d: %w", channelID, err)
	}
	return out, nil
}
