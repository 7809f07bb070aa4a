package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Notification routes (issue 26): which events go to which channel. Channels and the
// audit actions are in notifications.go.

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

// routeTarget names a route in the audit trail.
func routeTarget(id int64) string { return "route " + strconv.FormatInt(id, 10) }

// routeDetail is a route as the audit trail records it.
func routeDetail(r Route) map[string]any {
	d := map[string]any{
		"id": r.ID, "channelId": r.ChannelID, "clusterGroup": r.ClusterGroup, "kinds": nonNilStrings(r.Kinds),
		"types": nonNilStrings(r.Types), "matchers": r.Matchers, "groupWait": r.GroupWait.String(),
		"repeatInterval": "", "sendBaseline": r.SendBaseline, "enabled": r.Enabled,
	}
	if r.RepeatInterval > 0 {
		d["repeatInterval"] = r.RepeatInterval.String()
	}
	return d
}

// CreateRoute adds a route and audits it; ErrNotFound when its channel does not exist.
func (s *Store) CreateRoute(ctx context.Context, a Audit, r Route) (Route, error) {
	var out Route
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = scanRoute(tx.QueryRow(ctx, `
			INSERT INTO notification_routes (channel_id, cluster_group, kinds, types, matchers, group_wait, repeat_interval, send_baseline, enabled)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			RETURNING `+routeColumns, routeArgs(r)...))
		if err != nil {
			return foreignKey(err)
		}
		return recordAudit(ctx, tx, a, ActionRouteCreate, routeTarget(out.ID), routeDetail(out))
	})
	if err != nil {
		return Route{}, fmt.Errorf("create route of channel %d: %w", r.ChannelID, err)
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

// UpdateRoute replaces route r.ID with r and audits it; ErrNotFound when it does not
// exist. Deliveries of it still waiting are checked against it as it is when they are
// sent (ClaimGroup).
func (s *Store) UpdateRoute(ctx context.Context, a Audit, r Route) (Route, error) {
	var out Route
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = scanRoute(tx.QueryRow(ctx, `
			UPDATE notification_routes SET channel_id = $2, cluster_group = $3, kinds = $4, types = $5, matchers = $6,
			       group_wait = $7, repeat_interval = $8, send_baseline = $9, enabled = $10, updated_at = now()
			WHERE id = $1 RETURNING `+routeColumns, append([]any{r.ID}, routeArgs(r)...)...))
		if err != nil {
			return foreignKey(notFound(err))
		}
		return recordAudit(ctx, tx, a, ActionRouteUpdate, routeTarget(out.ID), routeDetail(out))
	})
	if err != nil {
		return Route{}, fmt.Errorf("update route %d: %w", r.ID, err)
	}
	return out, nil
}

// DeleteRoute deletes a route and audits it (what it was); ErrNotFound when it does
// not exist.
func (s *Store) DeleteRoute(ctx context.Context, a Audit, id int64) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		r, err := scanRoute(tx.QueryRow(ctx, `DELETE FROM notification_routes WHERE id = $1 RETURNING `+routeColumns, id))
		if err != nil {
			return notFound(err)
		}
		return recordAudit(ctx, tx, a, ActionRouteDelete, routeTarget(id), routeDetail(r))
	})
	if err != nil {
		return fmt.Errorf("delete route %d: %w", id, err)
	}
	return nil
}

// Route returns one route; ErrNotFound when there is none.
func (s *Store) Route(ctx context.Context, id int64) (Route, error) {
	r, err := scanRoute(s.pool.QueryRow(ctx, `SELECT `+routeColumns+` FROM notification_routes WHERE id = $1`, id))
	if err != nil {
		return Route{}, fmt.Errorf("route %d: %w", id, notFound(err))
	}
	return r, nil
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
