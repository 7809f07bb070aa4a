package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The outbox's deliveries (issue 26): the events written with their deliveries, what a
// delivery job sends and records, a channel's delivery log, the group wait's merging,
// and the Alertmanager alerts still open. Channels and routes are in notifications.go.

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
	// Baseline is set on an event of the first scan of a newly registered cluster:
	// only routes that send the baseline send it, when it is written and when it is
	// first sent.
	Baseline bool
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
	// RouteIDs are the routes that chose it: when it is first sent, one of them must
	// still be there, enabled, and match it (ClaimGroup). None: it is sent regardless.
	RouteIDs []int64
}

// QueuedDelivery is a delivery written, for its job: the job's argument is ID, and it
// is scheduled at NotBefore.
type QueuedDelivery struct {
	ID        int64
	NotBefore time.Time
	// Lead is true for the first delivery the transaction wrote of its channel and
	// group key, and for one of no group: the one whose job will most likely send the
	// group's message. The others' jobs mostly find their delivery carried by it, at
	// one read each, so they may run after other work (a lower priority, which orders
	// only the jobs that are due): the 1,998 such jobs of a fleet-wide change take
	// River seconds to run through, and another reference's message is not to wait
	// behind them.
	Lead bool
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
	type group struct {
		channel int64
		key     string
	}
	led := map[group]bool{}
	for _, ev := range events {
		var mutation *int64
		if ev.MutationID != 0 {
			mutation = &ev.MutationID
		}
		var eventID int64
		if err := tx.QueryRow(ctx, `
			INSERT INTO notification_events (type, mutation_id, reason, payload, payload_version, created_at, baseline)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
			ev.Type, mutation, ev.Reason, string(ev.Payload), ev.PayloadVersion, ev.At, ev.Baseline).Scan(&eventID); err != nil {
			return nil, fmt.Errorf("write %s event of mutation %d: %w", ev.Type, ev.MutationID, err)
		}
		for _, d := range ev.Deliveries {
			var q QueuedDelivery
			err := tx.QueryRow(ctx, `
				INSERT INTO notification_deliveries (event_id, channel_id, not_before, created_at, updated_at, group_key, route_ids)
				VALUES ($1, $2, $3, $4, $4, $5, $6)
				ON CONFLICT (event_id, channel_id) DO UPDATE SET not_before = LEAST(notification_deliveries.not_before, EXCLUDED.not_before),
				       route_ids = ARRAY(SELECT DISTINCT unnest(notification_deliveries.route_ids || EXCLUDED.route_ids) ORDER BY 1)
				RETURNING id, not_before`, eventID, d.ChannelID, d.NotBefore, ev.At, ev.GroupKey, nonNilIDs(d.RouteIDs)).Scan(&q.ID, &q.NotBefore)
			if err != nil {
				return nil, fmt.Errorf("write delivery of %s event to channel %d: %w", ev.Type, d.ChannelID, foreignKey(err))
			}
			k := group{d.ChannelID, ev.GroupKey}
			q.Lead = ev.GroupKey == "" || !led[k]
			led[k] = true
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
			q.Lead = q.Lead || qs[i].Lead
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
	// DeliveryDropped: not sent, because no route that chose it still sends it when its
	// time came (its last error says why: route-deleted, route-disabled, route-moved,
	// route-no-longer-matches).
	DeliveryDropped = "dropped"
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
	// RouteIDs are the routes that chose it; none for one written before they were
	// remembered.
	RouteIDs []int64
	// Baseline is its event's OutboxEvent.Baseline.
	Baseline bool
}

const deliveryColumns = `d.id, e.id, e.public_id, e.type, e.reason, COALESCE(e.mutation_id, 0), e.payload, e.payload_version,
	e.created_at, c.id, c.name, c.kind, c.config, c.secret IS NOT NULL, c.enabled, c.created_at, c.updated_at,
	d.status, d.attempts, d.last_error, d.not_before, d.delivered_at, COALESCE(d.merged_into, 0), d.route_ids, e.baseline`

func scanDelivery(row pgx.Row) (Delivery, error) {
	var d Delivery
	c := &d.Channel
	err := row.Scan(&d.ID, &d.EventID, &d.PublicID, &d.Type, &d.Reason, &d.MutationID, &d.Payload, &d.PayloadVersion,
		&d.EventAt, &c.ID, &c.Name, &c.Kind, &c.Config, &c.HasSecret, &c.Enabled, &c.CreatedAt, &c.UpdatedAt,
		&d.Status, &d.Attempts, &d.LastError, &d.NotBefore, &d.DeliveredAt, &d.MergedInto, &d.RouteIDs, &d.Baseline)
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

// ClaimGroup makes delivery id the message of its group: on its first attempt, the
// other pending deliveries to its channel with its group key (the same reference),
// due by now and never attempted, are claimed for it, however many (the channel's
// sender keeps its message within its receiver's limits: notify.SendGroup), so that
// what opened for one reference within the group wait goes as one message; on a retry, the
// same ones it claimed then, so that the retried message is the same, under the same
// id. It returns them, in event order, without id itself. carried is false when id is
// no longer its own to send (claimed by another, delivered, failed, or gone): its job
// has nothing to do. merge false claims nothing new: for a channel whose messages are
// one per mutation (PagerDuty's), and for any attempt of a job but its first (a job
// rescued after its replica died may have sent already, without recording it).
//
// A delivery never attempted (id, or one it would claim) is first checked against its
// routes as they are now (route_check.go): one that no route still sends is dropped,
// not claimed, not sent; id dropped is not carried. dropped counts the deliveries so
// dropped (id among them).
func (s *Store) ClaimGroup(ctx context.Context, id int64, now time.Time, merge bool) (group []Delivery, carried bool, dropped int, err error) {
	err = s.tx(ctx, func(tx pgx.Tx) error {
		// Claims of one channel and group key take turns: otherwise a job holding its
		// own row while another claims the group is skipped (SKIP LOCKED) and sends
		// alone, and what was due together goes as two messages.
		if _, err := tx.Exec(ctx, `
			SELECT pg_advisory_xact_lock(hashtextextended(d.channel_id::text || '/' || d.group_key, 27))
			FROM notification_deliveries d WHERE d.id = $1 AND d.group_key <> ''`, id); err != nil {
			return fmt.Errorf("wait for its group's claims: %w", err)
		}
		var status, key string
		var channel int64
		var mergedInto *int64
		var attempts int
		var routeIDs []int64
		var payload json.RawMessage
		var baseline bool
		err := tx.QueryRow(ctx, `
			SELECT d.status, d.channel_id, d.group_key, d.merged_into, d.attempts, d.route_ids, e.payload, e.baseline
			FROM notification_deliveries d JOIN notification_events e ON e.id = d.event_id
			WHERE d.id = $1 FOR UPDATE OF d`, id).
			Scan(&status, &channel, &key, &mergedInto, &attempts, &routeIDs, &payload, &baseline)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if status != DeliveryPending || mergedInto != nil {
			return nil
		}
		var routes map[int64]routeNow
		if attempts == 0 {
			if routes, err = routesNowInTx(ctx, tx); err != nil {
				return err
			}
			why, err := whyUnrouted(routes, channel, routeIDs, payload, baseline)
			if err != nil {
				return fmt.Errorf("check the routes of delivery %d: %w", id, err)
			}
			if why != "" {
				dropped = 1
				return dropDeliveries(ctx, tx, []int64{id}, why, now)
			}
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
					FOR UPDATE SKIP LOCKED)`, id, channel, key, now); err != nil {
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
		claimed, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) { return scanDelivery(r) })
		if err != nil {
			return err
		}
		// Those no route still sends are dropped, one statement a reason.
		drop := map[string][]int64{}
		for _, d := range claimed {
			if d.Attempts == 0 && routes != nil {
				why, err := whyUnrouted(routes, channel, d.RouteIDs, d.Payload, d.Baseline)
				if err != nil {
					return fmt.Errorf("check the routes of delivery %d: %w", d.ID, err)
				}
				if why != "" {
					drop[why] = append(drop[why], d.ID)
					dropped++
					continue
				}
			}
			group = append(group, d)
		}
		for why, ids := range drop {
			if err := dropDeliveries(ctx, tx, ids, why, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, 0, fmt.Errorf("claim the group of delivery %d: %w", id, err)
	}
	return group, carried, dropped, nil
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

// WaitsBehind reports whether delivery id must wait for an earlier one: a delivery to
// its channel about the same mutation, still pending and not carried in another's
// message, attempted or written within the hour. A receiver then gets one mutation's
// events in the order they happened: an acknowledgement before its end, so that
// Alertmanager does not end an alert that opened again, nor PagerDuty acknowledge an
// incident triggered again. Ids only decrease along a wait, so waits never form a
// cycle; a delivery quiet for an hour (retrying far apart, or its job lost) is no longer
// waited for.
func (s *Store) WaitsBehind(ctx context.Context, id int64) (bool, error) {
	var waits bool
	err := s.pool.QueryRow(ctx, `
		SELECT EXISTS (
			SELECT 1 FROM notification_deliveries d
			JOIN notification_events e ON e.id = d.event_id
			JOIN notification_deliveries d2 ON d2.channel_id = d.channel_id AND d2.id < d.id
			JOIN notification_events e2 ON e2.id = d2.event_id
			WHERE d.id = $1 AND e.mutation_id IS NOT NULL AND e2.mutation_id = e.mutation_id
			  AND d2.status = 'pending' AND d2.merged_into IS NULL AND d2.updated_at > now() - interval '1 hour')`,
		id).Scan(&waits)
	if err != nil {
		return false, fmt.Errorf("deliveries before %d: %w", id, err)
	}
	return waits, nil
}
