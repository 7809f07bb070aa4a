package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/scanner/attention"
)

// Reminders (issue 26): a route with a repeat interval reminds its channel of each
// mutation it told of that is still open (not acknowledged, expected or resolved) once
// its last message about it through the route is that old. A reminder is a
// mutation.opened with reason repeat, written to the outbox as any other event (its
// delivery job in the same transaction) and sent by the same delivery worker; what is
// due is decided here, by the database's clock, when the scheduler's periodic job asks.
//
// A route reminds only of what it told: a mutation it never sent (a baseline, one that
// opened before the route existed, a delivery dropped) is not repeated. Nothing is
// written while the route's last message about the mutation is still pending (a
// receiver down does not pile reminders up). Alertmanager channels get none: the
// repost keeps their alerts firing, and Alertmanager's own repeat_interval reminds.

// repeatLock serializes the runs of EnqueueRepeats across replicas, so that two never
// write the same reminder (the second sees the first's deliveries pending).
const repeatLock = 260045

// Repeats is what one run of EnqueueRepeats wrote.
type Repeats struct {
	// Events is how many reminders (one per mutation), Deliveries how many deliveries
	// (one per channel reminded).
	Events, Deliveries int
}

// EnqueueRepeats writes the reminders due now. It writes nothing without an outbox
// (SetOutbox), as the other notifications.
func (s *Store) EnqueueRepeats(ctx context.Context) (Repeats, error) {
	var out Repeats
	if s.outbox.Jobs == nil {
		return out, nil
	}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, repeatLock); err != nil {
			return fmt.Errorf("wait for another run: %w", err)
		}
		at, err := now(ctx, tx)
		if err != nil {
			return err
		}
		due, err := dueRepeats(ctx, tx)
		if err != nil || len(due) == 0 {
			return err
		}
		routes, err := routesInTx(ctx, tx)
		if err != nil {
			return err
		}
		ids := make([]int64, 0, len(due))
		for id := range due {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		rows, err := tx.Query(ctx, mutationSQL+` WHERE m.id = ANY($1) AND m.resolved_at IS NULL AND m.state = 'open' ORDER BY m.id`, ids)
		if err != nil {
			return fmt.Errorf("read mutations due a reminder: %w", err)
		}
		ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Mutation, error) { return scanMutation(r) })
		if err != nil {
			return fmt.Errorf("read mutations due a reminder: %w", err)
		}
		var events []OutboxEvent
		for _, m := range ms {
			var mine []notify.Route
			for _, r := range routes {
				if slices.Contains(due[m.ID], r.ID) {
					mine = append(mine, r)
				}
			}
			ev := notify.Event{
				Type: notify.MutationOpened, Reason: notify.ReasonRepeat, At: at, Group: m.Group,
				Mutation: notify.Mutation{ID: m.ID, Mutation: m.Mutation, DetectedAt: m.DetectedAt, State: attention.StateOpen},
			}
			// The routes as they read now: one whose kinds, types or matchers no longer
			// take the mutation does not remind of it.
			targets := notify.Targets(mine, ev, false)
			if len(targets) == 0 {
				continue
			}
			body, err := notify.NewPayload(ev, s.outbox.Payload).Marshal()
			if err != nil {
				return err
			}
			oe := OutboxEvent{
				Type: string(ev.Type), Reason: string(ev.Reason), MutationID: m.ID, Payload: body,
				PayloadVersion: notify.PayloadVersion, At: at, GroupKey: m.Ref,
			}
			for _, t := range targets {
				// Due now, not after a group wait: the reminders of one reference due
				// together still go as one message.
				oe.Deliveries = append(oe.Deliveries, OutboxDelivery{ChannelID: t.ChannelID, NotBefore: at, RouteIDs: t.RouteIDs})
			}
			events = append(events, oe)
			out.Events++
			out.Deliveries += len(oe.Deliveries)
		}
		if len(events) == 0 {
			return nil
		}
		_, err = enqueueNotifications(ctx, tx, events, s.outbox.Jobs)
		return err
	})
	if err != nil {
		return Repeats{}, fmt.Errorf("enqueue reminders: %w", err)
	}
	return out, nil
}

// dueRepeats returns, by mutation, the routes due to remind of it now: enabled routes
// with a repeat interval, of enabled channels that are not Alertmanager's, and open
// mutations whose latest delivery to the route's channel through the route (or through
// any of its routes, for one written before deliveries named them) is no longer
// pending, and was sent (or given up) at least the interval ago. A dropped delivery
// was never sent and does not count.
func dueRepeats(ctx context.Context, tx pgx.Tx) (map[int64][]int64, error) {
	rows, err := tx.Query(ctx, `
		SELECT m.id, r.id
		FROM notification_routes r
		JOIN notification_channels c ON c.id = r.channel_id
		JOIN mutations m ON m.resolved_at IS NULL AND m.state = 'open'
		CROSS JOIN LATERAL (
			SELECT d.status, COALESCE(d.delivered_at, d.updated_at) AS at
			FROM notification_events e JOIN notification_deliveries d ON d.event_id = e.id AND d.channel_id = r.channel_id
			WHERE e.mutation_id = m.id AND d.status <> 'dropped'
			  AND (cardinality(d.route_ids) = 0 OR r.id = ANY(d.route_ids))
			ORDER BY e.id DESC LIMIT 1) last
		WHERE r.enabled AND c.enabled AND r.repeat_interval IS NOT NULL AND c.kind <> 'alertmanager'
		  AND last.status <> 'pending' AND last.at + r.repeat_interval <= now()
		ORDER BY m.id, r.id`)
	if err != nil {
		return nil, fmt.Errorf("find reminders due: %w", err)
	}
	defer rows.Close()
	out := map[int64][]int64{}
	for rows.Next() {
		var m, r int64
		if err := rows.Scan(&m, &r); err != nil {
			return nil, fmt.Errorf("find reminders due: %w", err)
		}
		out[m] = append(out[m], r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find reminders due: %w", err)
	}
	return out, nil
}
