package store

import (
	"bytes"
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

// Audit actions of notification channels and routes: each is recorded in the
// transaction that makes the change (a test message changes nothing: its caller
// records ActionChannelTest with RecordAudit).
const (
	ActionChannelCreate = "channel.create"
	ActionChannelUpdate = "channel.update"
	ActionChannelDelete = "channel.delete"
	ActionChannelTest   = "channel.test"
	ActionRouteCreate   = "route.create"
	ActionRouteUpdate   = "route.update"
	ActionRouteDelete   = "route.delete"
)

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

// CreateChannel registers a channel, its secret sealed, and audits it (never the
// secret); ErrConflict when the name is taken.
func (s *Store) CreateChannel(ctx context.Context, a Audit, nc NewChannel) (Channel, error) {
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
		if err != nil {
			return conflict(err, fmt.Sprintf("channel %q", nc.Name))
		}
		return recordAudit(ctx, tx, a, ActionChannelCreate, c.Name, map[string]any{
			"id": c.ID, "kind": c.Kind, "enabled": c.Enabled, "secret": c.HasSecret,
		})
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

// UpdateChannel edits a channel and audits the edit (under its name before, never the
// secret); ErrNotFound when it does not exist, ErrConflict when the new name is taken.
func (s *Store) UpdateChannel(ctx context.Context, a Audit, id int64, ch ChannelChange) (Channel, error) {
	var c Channel
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var oldName string
		var oldConfig []byte
		err := tx.QueryRow(ctx, `SELECT name, config FROM notification_channels WHERE id = $1 FOR UPDATE`, id).Scan(&oldName, &oldConfig)
		if err != nil {
			return notFound(err)
		}
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
		if err != nil {
			return conflict(notFound(err), fmt.Sprintf("channel %q", ch.Name))
		}
		detail := map[string]any{"id": id, "enabled": c.Enabled, "secretReplaced": ch.ReplaceSecret}
		if c.Name != oldName {
			detail["name"] = c.Name
		}
		if !bytes.Equal(c.Config, oldConfig) {
			detail["configChanged"] = true
		}
		return recordAudit(ctx, tx, a, ActionChannelUpdate, oldName, detail)
	})
	if err != nil {
		return Channel{}, fmt.Errorf("update channel %d: %w", id, err)
	}
	return c, nil
}

// DeleteChannel deletes a channel, its routes and its deliveries (their jobs then find
// nothing to send), and audits it; ErrNotFound when it does not exist.
func (s *Store) DeleteChannel(ctx context.Context, a Audit, id int64) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var name, kind string
		if err := tx.QueryRow(ctx, `DELETE FROM notification_channels WHERE id = $1 RETURNING name, kind`, id).Scan(&name, &kind); err != nil {
			return notFound(err)
		}
		return recordAudit(ctx, tx, a, ActionChannelDelete, name, map[string]any{"id": id, "kind": kind})
	})
	if err != nil {
		return fmt.Errorf("delete channel %d: %w", id, err)
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
