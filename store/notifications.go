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
