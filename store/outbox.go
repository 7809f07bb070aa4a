package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/scanner/attention"
	"github.com/tagdrift/tagdrift/scanner/detect"
)

// The outbox (issue 26): the three transactions that change mutations (CompleteScan,
// RecheckRefs, DeleteCluster) write, beside their changes, the notification events
// those changes are (notify.Decide), each with a delivery to every channel a route
// sends it to, and have the store's DeliveryJobs insert the delivery jobs in the same
// transaction. A crash can then neither lose a notification nor send one for a change
// that rolled back.

// Outbox is what the store needs to write the outbox.
type Outbox struct {
	// Jobs inserts the delivery jobs inside the transaction (River's InsertManyTx
	// behind it). Without it the store writes no notification at all: a command that
	// runs no delivery worker (tagdrift scan) must not leave deliveries no job sends.
	Jobs DeliveryJobs
	// Payload renders the payloads, when they are written.
	Payload notify.PayloadConfig
}

// SetOutbox has the store write notifications from now on. Call it before the store
// is used concurrently.
func (s *Store) SetOutbox(o Outbox) { s.outbox = o }

// mutationChange is one change a transaction made to a mutation, for notify.Decide.
type mutationChange struct {
	id          int64
	kind        detect.Kind
	prev, cur   attention.State
	prevDigests []string
	// reason, when set, is why it changed state (expected, acknowledgement-ended),
	// over the transaction's own.
	reason notify.Reason
}

// routesInTx reads the enabled routes of enabled channels, their matchers parsed. A
// route whose matchers no longer parse (the API refuses them) matches nothing rather
// than everything.
func routesInTx(ctx context.Context, tx pgx.Tx) ([]notify.Route, error) {
	rows, err := tx.Query(ctx, `
		SELECT r.id, r.channel_id, c.kind, COALESCE(r.cluster_group, ''), r.kinds, r.types, r.matchers, r.group_wait,
		       r.send_baseline
		FROM notification_routes r JOIN notification_channels c ON c.id = r.channel_id
		WHERE r.enabled AND c.enabled AND `+routeInScopeSQL+` ORDER BY r.id`)
	if err != nil {
		return nil, fmt.Errorf("read routes: %w", err)
	}
	var out []notify.Route
	for rows.Next() {
		var r notify.Route
		var matchers string
		if err := rows.Scan(&r.ID, &r.ChannelID, &r.ChannelKind, &r.ClusterGroup, &r.Kinds, &r.Types, &matchers,
			&r.GroupWait, &r.SendBaseline); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read routes: %w", err)
		}
		ms, err := notify.ParseMatchers(matchers)
		if err != nil {
			continue
		}
		r.Matchers = ms
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read routes: %w", err)
	}
	return out, nil
}

// writeOutbox writes the notification events of changes, made at at, with their
// deliveries and jobs. reason is the reason of what resolved; baseline says which
// mutations the first scan of a newly registered cluster opened. before holds the
// mutations as they were read before a purge deleted them (by id); the others are read
// now, in tx.
func (s *Store) writeOutbox(ctx context.Context, tx pgx.Tx, changes []mutationChange, at time.Time, reason notify.Reason,
	baseline func(Mutation) bool, before map[int64]Mutation) error {
	if s.outbox.Jobs == nil || len(changes) == 0 {
		return nil
	}
	routes, err := routesInTx(ctx, tx)
	if err != nil || len(routes) == 0 {
		return err
	}
	var ids []int64
	for _, c := range changes {
		if _, ok := before[c.id]; !ok {
			ids = append(ids, c.id)
		}
	}
	found := map[int64]Mutation{}
	if len(ids) > 0 {
		rows, err := tx.Query(ctx, mutationSQL+` WHERE m.id = ANY($1)`, ids)
		if err != nil {
			return fmt.Errorf("read changed mutations: %w", err)
		}
		ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Mutation, error) { return scanMutation(r) })
		if err != nil {
			return fmt.Errorf("read changed mutations: %w", err)
		}
		for _, m := range ms {
			found[m.ID] = m
		}
	}
	var events []OutboxEvent
	for _, c := range changes {
		m, ok := before[c.id]
		if !ok {
			if m, ok = found[c.id]; !ok {
				continue
			}
		}
		typ, ok := notify.Decide(m.Kind, notify.Snapshot{State: c.prev, Digests: c.prevDigests},
			notify.Snapshot{State: c.cur, Digests: m.Digests})
		if !ok {
			continue
		}
		state := c.cur
		if state == attention.StateAbsent {
			state = m.State
		}
		ev := notify.Event{
			Type: typ, At: at, Group: m.Group,
			Mutation: notify.Mutation{ID: m.ID, Mutation: m.Mutation, DetectedAt: m.DetectedAt, ResolvedAt: m.ResolvedAt, State: state},
		}
		if typ == notify.MutationAcknowledged && m.Ack != 0 {
			if ev.Acknowledgement, err = ackInTx(ctx, tx, m.Ack); err != nil {
				return err
			}
		}
		if c.reason != "" && (typ == notify.MutationResolved || typ == notify.MutationOpened) {
			ev.Reason = c.reason
		}
		if typ == notify.MutationResolved {
			if ev.Reason == "" {
				ev.Reason = reason
			}
			if ev.Mutation.ResolvedAt == nil {
				resolved := at
				ev.Mutation.ResolvedAt = &resolved
			}
		}
		if typ == notify.MutationChanged {
			ev.PreviousDigests = c.prevDigests
		}
		isBaseline := baseline != nil && (typ == notify.MutationOpened || typ == notify.EventRecorded) && baseline(m)
		targets := notify.Targets(routes, ev, isBaseline)
		if len(targets) == 0 {
			continue
		}
		body, err := notify.NewPayload(ev, s.outbox.Payload).Marshal()
		if err != nil {
			return err
		}
		oe := OutboxEvent{
			Type: string(typ), Reason: string(ev.Reason), MutationID: m.ID, Payload: body,
			PayloadVersion: notify.PayloadVersion, At: at, GroupKey: m.Ref, Baseline: isBaseline,
		}
		for _, t := range targets {
			oe.Deliveries = append(oe.Deliveries, OutboxDelivery{ChannelID: t.ChannelID, NotBefore: t.NotBefore, RouteIDs: t.RouteIDs})
		}
		events = append(events, oe)
	}
	if len(events) == 0 {
		return nil
	}
	_, err = enqueueNotifications(ctx, tx, events, s.outbox.Jobs)
	return err
}

// ackInTx reads acknowledgement id inside tx (which may have just approved it) as a
// mutation.acknowledged tells it.
func ackInTx(ctx context.Context, tx pgx.Tx, id int64) (*notify.Acknowledgement, error) {
	a, err := scanAck(tx.QueryRow(ctx, `SELECT `+ackColumns+` FROM acknowledgements WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("read acknowledgement %d: %w", id, notFound(err))
	}
	return &notify.Acknowledgement{
		ID: a.ID, Actor: a.RequestedBy, ApprovedBy: a.DecidedBy, Reason: a.Reason, Ticket: a.Ticket, Scope: a.Scope,
		Until: a.Until, ExpiresAt: a.ExpiresAt,
	}, nil
}
