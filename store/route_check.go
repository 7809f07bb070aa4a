package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/notify"
)

// Routes at delivery time (issue 26): a delivery remembers the routes that chose it
// (route_ids). When it is first sent, after its group wait, one of them must still
// exist, point at its channel, be enabled and match its event as the route reads now;
// otherwise it is dropped, with why. A delivery already attempted is not checked again:
// its receiver may hold it already, and a retry sends the same message.

// Why a delivery is dropped (its last error).
const (
	DropRouteDeleted  = "route-deleted"
	DropRouteMoved    = "route-moved"
	DropRouteDisabled = "route-disabled"
	DropRouteNoMatch  = "route-no-longer-matches"
)

// routeNow is a route as it reads now, for the check of a delivery.
type routeNow struct {
	notify.Route
	enabled bool
	// parsed is false when its matchers no longer parse: it matches nothing.
	parsed bool
}

// routesNowInTx reads every route, enabled or not, by id.
func routesNowInTx(ctx context.Context, tx pgx.Tx) (map[int64]routeNow, error) {
	rows, err := tx.Query(ctx, `
		SELECT r.id, r.channel_id, c.kind, COALESCE(r.cluster_group, ''), r.kinds, r.types, r.matchers, r.group_wait,
		       r.send_baseline, r.enabled AND `+routeInScopeSQL+`
		FROM notification_routes r JOIN notification_channels c ON c.id = r.channel_id`)
	if err != nil {
		return nil, fmt.Errorf("read routes: %w", err)
	}
	defer rows.Close()
	out := map[int64]routeNow{}
	for rows.Next() {
		var r routeNow
		var matchers string
		if err := rows.Scan(&r.ID, &r.ChannelID, &r.ChannelKind, &r.ClusterGroup, &r.Kinds, &r.Types, &matchers,
			&r.GroupWait, &r.SendBaseline, &r.enabled); err != nil {
			return nil, fmt.Errorf("read routes: %w", err)
		}
		ms, err := notify.ParseMatchers(matchers)
		r.Matchers, r.parsed = ms, err == nil
		out[r.ID] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read routes: %w", err)
	}
	return out, nil
}

// whyUnrouted says why a delivery to channel of payload (of a baseline scan when
// baseline is set), chosen by routeIDs, is no longer sent; "" when one of those routes still sends it, or when it has none (written
// before routes were remembered). Of several routes, the reason told is the one
// nearest to sending: no longer matching, then disabled, moved, deleted.
func whyUnrouted(routes map[int64]routeNow, channel int64, routeIDs []int64, payload json.RawMessage, baseline bool) (string, error) {
	if len(routeIDs) == 0 {
		return "", nil
	}
	var p notify.Payload
	if err := json.Unmarshal(payload, &p); err != nil {
		return "", fmt.Errorf("decode payload: %w", err)
	}
	ev := notify.EventOf(p)
	why, rank := DropRouteDeleted, 0
	for _, id := range routeIDs {
		r, ok := routes[id]
		var w string
		var k int
		switch {
		case !ok:
			continue
		case r.ChannelID != channel:
			w, k = DropRouteMoved, 1
		case !r.enabled:
			w, k = DropRouteDisabled, 2
		case !r.parsed || !r.Matches(ev, baseline):
			w, k = DropRouteNoMatch, 3
		default:
			return "", nil
		}
		if k > rank {
			why, rank = w, k
		}
	}
	return why, nil
}

// dropDeliveries marks deliveries dropped at at, for why, out of any group.
func dropDeliveries(ctx context.Context, tx pgx.Tx, ids []int64, why string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `
		UPDATE notification_deliveries SET status = 'dropped', last_error = $2, merged_into = NULL, updated_at = $3
		WHERE id = ANY($1) AND status = 'pending'`, ids, why, at); err != nil {
		return fmt.Errorf("drop deliveries %v: %w", ids, err)
	}
	return nil
}

func nonNilIDs(ids []int64) []int64 {
	if ids == nil {
		return []int64{}
	}
	return ids
}
