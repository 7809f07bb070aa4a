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
	// Scope is the scope of the admin who made or last changed it (migration 000053):
	// limited, it delivers only events of its groups, checked at routing and again at
	// sending; its ClusterGroup must then be one of them. A global admin's change
	// keeps the scope a scoped admin left.
	Scope Scope
}

const routeColumns = `id, channel_id, COALESCE(cluster_group, ''), kinds, types, matchers, group_wait, repeat_interval,
	send_baseline, enabled, created_at, updated_at, scope_groups IS NOT NULL, COALESCE(scope_groups, '{}')`

// routeInScopeSQL holds when route r may deliver: a route of a global admin, or one
// whose group is among its scope's groups (by id, so that a renamed or deleted group
// is followed).
const routeInScopeSQL = `(r.scope_groups IS NULL OR COALESCE(r.cluster_group, '') IN
	(SELECT sg.name FROM cluster_groups sg WHERE sg.id = ANY(r.scope_groups)))`

func scanRoute(row pgx.Row) (Route, error) {
	var r Route
	var repeat *time.Duration
	var groups []int64
	err := row.Scan(&r.ID, &r.ChannelID, &r.ClusterGroup, &r.Kinds, &r.Types, &r.Matchers, &r.GroupWait, &repeat,
		&r.SendBaseline, &r.Enabled, &r.CreatedAt, &r.UpdatedAt, &r.Scope.Limited, &groups)
	if repeat != nil {
		r.RepeatInterval = *repeat
	}
	if r.Scope.Limited {
		r.Scope.GroupIDs = append([]int64{}, groups...)
	}
	return r, err
}

// routeScopeArg is r's scope as the scope_groups column holds it: NULL for every
// cluster.
func routeScopeArg(r Route) any {
	if !r.Scope.Limited {
		return nil
	}
	return r.Scope.ids()
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
			INSERT INTO notification_routes (channel_id, cluster_group, kinds, types, matchers, group_wait, repeat_interval, send_baseline, enabled,
			                                 scope_groups)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			RETURNING `+routeColumns, append(routeArgs(r), routeScopeArg(r))...))
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
			       group_wait = $7, repeat_interval = $8, send_baseline = $9, enabled = $10, updated_at = now(),
			       scope_groups = COALESCE($11, scope_groups)
			WHERE id = $1 RETURNING `+routeColumns, append(append([]any{r.ID}, routeArgs(r)...), routeScopeArg(r))...))
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

// routeVisibleSQL is the condition that a route is in scope sc: one of a group of sc.
func routeVisibleSQL(q *query, sc Scope) string {
	if !sc.Limited {
		return ""
	}
	return " AND cluster_group IN (SELECT sg.name FROM cluster_groups sg WHERE true" + sc.groupSQL(q, "sg.id") + ")"
}

// Route returns one route in scope sc (one of a group of sc, for a limited scope);
// ErrNotFound when there is none, or it is outside sc.
func (s *Store) Route(ctx context.Context, id int64, sc Scope) (Route, error) {
	q := query{args: []any{id}}
	r, err := scanRoute(s.pool.QueryRow(ctx, `SELECT `+routeColumns+` FROM notification_routes WHERE id = $1`+routeVisibleSQL(&q, sc), q.args...))
	if err != nil {
		return Route{}, fmt.Errorf("route %d: %w", id, notFound(err))
	}
	return r, nil
}

// Routes returns every route in scope sc, enabled or not, of enabled channels or not,
// by id.
func (s *Store) Routes(ctx context.Context, sc Scope) ([]Route, error) {
	var q query
	rows, err := s.pool.Query(ctx, `SELECT `+routeColumns+` FROM notification_routes WHERE true`+routeVisibleSQL(&q, sc)+` ORDER BY id`, q.args...)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Route, error) { return scanRoute(r) })
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	return out, nil
}
