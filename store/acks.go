package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/scanner/attention"
)

// Declared-mutable tag rules and acknowledgements (issue 27). Every change is audited
// in its own transaction, and settles the state of what it may move (store.settle),
// with the notifications that is.

// Audit actions of rules and acknowledgements.
const (
	ActionRuleCreate = "rule.create"
	ActionRuleRevoke = "rule.revoke"
	ActionAckRequest = "ack.request"
	ActionAckCreate  = "ack.create"
	ActionAckApprove = "ack.approve"
	ActionAckDeny    = "ack.deny"
	ActionAckRevoke  = "ack.revoke"
)

// ErrNotAllowed means the change does not apply to the record as it is (approving an
// acknowledgement that is not requested, acknowledging a resolved mutation).
var ErrNotAllowed = errors.New("not allowed")

// Acknowledgement statuses.
const (
	AckRequested = "requested"
	AckActive    = "active"
	AckDenied    = "denied"
	AckEnded     = "ended"
)

// Ack is an acknowledgement.
type Ack struct {
	ID int64
	// MutationID is the mutation acknowledged, 0 for a scope.
	MutationID int64
	Scope      string
	Reason     string
	Ticket     string
	Until      attention.Until
	ExpiresAt  *time.Time
	// Digests are the mutation's digests when it was approved (until changed).
	Digests     []string
	Status      string
	RequestedBy string
	RequestedAt time.Time
	DecidedBy   string
	DecidedAt   *time.Time
	EndedAt     *time.Time
	// EndReason is expired, resolved, changed or revoked.
	EndReason string
	EndedBy   string
}

const ackColumns = `id, COALESCE(mutation_id, 0), scope, reason, ticket, until, expires_at, digests, status,
	requested_by, requested_at, decided_by, decided_at, ended_at, end_reason, ended_by`

func scanAck(row pgx.Row) (Ack, error) {
	var a Ack
	var until string
	err := row.Scan(&a.ID, &a.MutationID, &a.Scope, &a.Reason, &a.Ticket, &until, &a.ExpiresAt, &a.Digests, &a.Status,
		&a.RequestedBy, &a.RequestedAt, &a.DecidedBy, &a.DecidedAt, &a.EndedAt, &a.EndReason, &a.EndedBy)
	a.Until = attention.Until(until)
	return a, err
}

// NewAck is an acknowledgement to record: of MutationID, or of Scope (which must parse,
// and then Until must be UntilTime). Approved records it active at once (an admin's
// own); else it is requested, for an admin to decide. The caller checks the limits of
// who asks (a viewer's longest time).
type NewAck struct {
	MutationID int64
	Scope      string
	Reason     string
	Ticket     string
	Until      attention.Until
	ExpiresAt  *time.Time
	Approved   bool
}

// CreateAck records an acknowledgement and, approved, settles what it covers.
// ErrNotFound when its mutation does not exist; ErrNotAllowed when that is resolved or
// is a history event (born resolved, nothing to acknowledge).
func (s *Store) CreateAck(ctx context.Context, a Audit, na NewAck) (Ack, error) {
	var out Ack
	err := s.tx(ctx, func(tx pgx.Tx) error {
		at, err := now(ctx, tx)
		if err != nil {
			return err
		}
		digests, err := ackable(ctx, tx, na.MutationID)
		if err != nil {
			return err
		}
		status, action := AckRequested, ActionAckRequest
		var decidedBy string
		var decidedAt *time.Time
		if na.Approved {
			status, action, decidedBy, decidedAt = AckActive, ActionAckCreate, a.Actor, &at
		}
		if out, err = scanAck(tx.QueryRow(ctx, `
			INSERT INTO acknowledgements (mutation_id, scope, reason, ticket, until, expires_at, digests, status,
			                              requested_by, requested_at, decided_by, decided_at)
			VALUES (NULLIF($1, 0), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING `+ackColumns,
			na.MutationID, na.Scope, na.Reason, na.Ticket, string(na.Until), na.ExpiresAt, nonNilStrings(digests), status,
			a.Actor, at, decidedBy, decidedAt)); err != nil {
			return err
		}
		detail := ackDetail(out)
		if !na.Approved {
			return recordAudit(ctx, tx, a, action, fmt.Sprintf("acknowledgement %d", out.ID), detail)
		}
		return s.afterChange(ctx, tx, a, action, fmt.Sprintf("acknowledgement %d", out.ID), detail, at, byAck(out))
	})
	if err != nil {
		return Ack{}, fmt.Errorf("acknowledge: %w", err)
	}
	return out, nil
}

// ackable returns the digests of mutation id, which an acknowledgement may cover (0 is
// a scope's: none).
func ackable(ctx context.Context, tx pgx.Tx, id int64) ([]string, error) {
	if id == 0 {
		return nil, nil
	}
	var kind string
	var digests []string
	var resolved bool
	if err := tx.QueryRow(ctx, `SELECT kind, digests, resolved_at IS NOT NULL FROM mutations WHERE id = $1 FOR UPDATE`, id).
		Scan(&kind, &digests, &resolved); err != nil {
		return nil, fmt.Errorf("mutation %d: %w", id, notFound(err))
	}
	if kind == "tag-moved" || kind == "pod-drift" {
		return nil, fmt.Errorf("mutation %d is a %s event, recorded resolved: %w", id, kind, ErrNotAllowed)
	}
	if resolved {
		return nil, fmt.Errorf("mutation %d is resolved: %w", id, ErrNotAllowed)
	}
	return digests, nil
}

// DecideAck approves or denies a requested acknowledgement; ErrNotFound when there is
// none, ErrNotAllowed when it is not requested (or its mutation resolved meanwhile).
func (s *Store) DecideAck(ctx context.Context, a Audit, id int64, approve bool) (Ack, error) {
	var out Ack
	err := s.tx(ctx, func(tx pgx.Tx) error {
		at, err := now(ctx, tx)
		if err != nil {
			return err
		}
		cur, err := scanAck(tx.QueryRow(ctx, `SELECT `+ackColumns+` FROM acknowledgements WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return notFound(err)
		}
		if cur.Status != AckRequested {
			return fmt.Errorf("acknowledgement %d is %s, not requested: %w", id, cur.Status, ErrNotAllowed)
		}
		target := fmt.Sprintf("acknowledgement %d", id)
		if !approve {
			if out, err = scanAck(tx.QueryRow(ctx, `
				UPDATE acknowledgements SET status = 'denied', decided_by = $2, decided_at = $3 WHERE id = $1
				RETURNING `+ackColumns, id, a.Actor, at)); err != nil {
				return err
			}
			return recordAudit(ctx, tx, a, ActionAckDeny, target, ackDetail(out))
		}
		// An until-changed acknowledgement covers the digests it is approved on.
		digests, err := ackable(ctx, tx, cur.MutationID)
		if err != nil {
			return err
		}
		if cur.ExpiresAt != nil && !at.Before(*cur.ExpiresAt) {
			return fmt.Errorf("acknowledgement %d expired before it was approved: %w", id, ErrNotAllowed)
		}
		if out, err = scanAck(tx.QueryRow(ctx, `
			UPDATE acknowledgements SET status = 'active', decided_by = $2, decided_at = $3, digests = $4 WHERE id = $1
			RETURNING `+ackColumns, id, a.Actor, at, nonNilStrings(digests))); err != nil {
			return err
		}
		return s.afterChange(ctx, tx, a, ActionAckApprove, target, ackDetail(out), at, byAck(out))
	})
	if err != nil {
		return Ack{}, fmt.Errorf("decide acknowledgement %d: %w", id, err)
	}
	return out, nil
}

// RevokeAck ends an active acknowledgement, or withdraws a requested one;
// ErrNotFound when there is none, ErrNotAllowed when it has ended or was denied.
func (s *Store) RevokeAck(ctx context.Context, a Audit, id int64) (Ack, error) {
	var out Ack
	err := s.tx(ctx, func(tx pgx.Tx) error {
		at, err := now(ctx, tx)
		if err != nil {
			return err
		}
		cur, err := scanAck(tx.QueryRow(ctx, `SELECT `+ackColumns+` FROM acknowledgements WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return notFound(err)
		}
		if cur.Status != AckActive && cur.Status != AckRequested {
			return fmt.Errorf("acknowledgement %d is %s: %w", id, cur.Status, ErrNotAllowed)
		}
		if out, err = scanAck(tx.QueryRow(ctx, `
			UPDATE acknowledgements SET status = 'ended', ended_at = $2, end_reason = 'revoked', ended_by = $3 WHERE id = $1
			RETURNING `+ackColumns, id, at, a.Actor)); err != nil {
			return err
		}
		return s.afterChange(ctx, tx, a, ActionAckRevoke, fmt.Sprintf("acknowledgement %d", id), ackDetail(out), at, byAckID(id))
	})
	if err != nil {
		return Ack{}, fmt.Errorf("revoke acknowledgement %d: %w", id, err)
	}
	return out, nil
}

// AckFilter selects acknowledgements, newest first.
type AckFilter struct {
	// Status is one of the Ack* statuses; "" for all.
	Status string
	// MutationID selects the acknowledgements of one mutation; 0 for all.
	MutationID int64
	BeforeID   int64
	Limit      int
	// Scope keeps the acknowledgements the reader's role covers (ackScopeSQL).
	Scope Scope
}

// ackScopeSQL is the condition that an acknowledgement (of acknowledgements, not
// aliased) is in sc: one of a mutation in sc, or one of matchers confined to sc's
// groups (Scope.matchersSQL).
func ackScopeSQL(q *query, sc Scope) string {
	if !sc.Limited {
		return ""
	}
	return " AND (CASE WHEN mutation_id IS NOT NULL THEN mutation_id IN (SELECT m.id FROM mutations m WHERE true" +
		sc.mutationSQL(q, "m") + ") ELSE true" + sc.matchersSQL(q, "scope") + " END)"
}

// Acks returns the acknowledgements f selects.
func (s *Store) Acks(ctx context.Context, f AckFilter) ([]Ack, error) {
	q := query{args: []any{f.Status, f.MutationID, f.BeforeID, limitOf(f.Limit)}}
	rows, err := s.pool.Query(ctx, `
		SELECT `+ackColumns+` FROM acknowledgements
		WHERE ($1 = '' OR status = $1) AND ($2 = 0 OR mutation_id = $2) AND ($3 = 0 OR id < $3)`+ackScopeSQL(&q, f.Scope)+`
		ORDER BY id DESC LIMIT $4`, q.args...)
	if err != nil {
		return nil, fmt.Errorf("list acknowledgements: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Ack, error) { return scanAck(r) })
	if err != nil {
		return nil, fmt.Errorf("list acknowledgements: %w", err)
	}
	return out, nil
}

// AckByID returns one acknowledgement in scope sc; ErrNotFound when there is none, or
// it is outside sc.
func (s *Store) AckByID(ctx context.Context, id int64, sc Scope) (Ack, error) {
	q := query{args: []any{id}}
	a, err := scanAck(s.pool.QueryRow(ctx, `SELECT `+ackColumns+` FROM acknowledgements WHERE id = $1`+ackScopeSQL(&q, sc), q.args...))
	if err != nil {
		return Ack{}, fmt.Errorf("acknowledgement %d: %w", id, notFound(err))
	}
	return a, nil
}

// Expired is what one run of the expiry job ended.
type Expired struct {
	Rules, Acks, Settled int
	// RuleIDs and AckIDs are the rules and acknowledgements that ended; ClusterIDs the
	// live clusters touched by a mutation whose state changed (its own, or one with a
	// place in it), whose ReplicaSet annotation is to be written again.
	RuleIDs, AckIDs, ClusterIDs []int64
}

// SettleExpired ends the rules and acknowledgements whose time has come by the
// database's clock, settles the mutations they decided, and writes the notifications
// that is (an acknowledgement that expires while its mutation is still there opens it
// again). Any replica may run it: the rows it ends are locked, so two runs end each
// once.
func (s *Store) SettleExpired(ctx context.Context) (Expired, error) {
	var e Expired
	err := s.tx(ctx, func(tx pgx.Tx) error {
		at, err := now(ctx, tx)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
			UPDATE mutable_tag_rules SET ended_at = expires_at, end_reason = 'expired'
			WHERE ended_at IS NULL AND expires_at <= $1 RETURNING id`, at)
		if err != nil {
			return fmt.Errorf("end expired rules: %w", err)
		}
		rules, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return fmt.Errorf("end expired rules: %w", err)
		}
		rows, err = tx.Query(ctx, `
			UPDATE acknowledgements SET status = 'ended', ended_at = expires_at, end_reason = 'expired'
			WHERE status = 'active' AND expires_at <= $1 RETURNING id`, at)
		if err != nil {
			return fmt.Errorf("end expired acknowledgements: %w", err)
		}
		acks, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return fmt.Errorf("end expired acknowledgements: %w", err)
		}
		// A request not decided before its time is denied by it.
		if _, err := tx.Exec(ctx, `
			UPDATE acknowledgements SET status = 'denied', decided_at = $1, end_reason = 'expired'
			WHERE status = 'requested' AND expires_at <= $1`, at); err != nil {
			return fmt.Errorf("end expired requests: %w", err)
		}
		e.Rules, e.Acks, e.RuleIDs, e.AckIDs = len(rules), len(acks), rules, acks
		if len(rules)+len(acks) == 0 {
			return nil
		}
		rows, err = tx.Query(ctx, `
			SELECT id FROM mutations WHERE state_rule_id = ANY($1) OR state_ack_id = ANY($2) ORDER BY id`, rules, acks)
		if err != nil {
			return fmt.Errorf("read what expired rules and acknowledgements decided: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return fmt.Errorf("read what expired rules and acknowledgements decided: %w", err)
		}
		// A rule's end may change nothing but events, whose state is fixed when they
		// are recorded: only unresolved conditions move.
		changed, err := s.resettleChanged(ctx, tx, ids, at)
		if err != nil {
			return err
		}
		e.Settled = len(changed)
		if e.ClusterIDs, err = clustersTouched(ctx, tx, changed); err != nil {
			return err
		}
		for _, id := range rules {
			if err := recordAudit(ctx, tx, Audit{Actor: "tagdrift:expiry"}, "rule.expire", fmt.Sprintf("rule %d", id), nil); err != nil {
				return err
			}
		}
		for _, id := range acks {
			if err := recordAudit(ctx, tx, Audit{Actor: "tagdrift:expiry"}, "ack.expire", fmt.Sprintf("acknowledgement %d", id), nil); err != nil {
				return err
			}
		}
		return bumpDataVersion(ctx, tx)
	})
	if err != nil {
		return Expired{}, fmt.Errorf("settle expired rules and acknowledgements: %w", err)
	}
	return e, nil
}

// afterChange audits a change of a rule or an acknowledgement, settles the mutations
// which picks, and moves the data version.
func (s *Store) afterChange(ctx context.Context, tx pgx.Tx, a Audit, action, target string, detail map[string]any,
	at time.Time, which func(context.Context, pgx.Tx) ([]int64, error)) error {
	if err := recordAudit(ctx, tx, a, action, target, detail); err != nil {
		return err
	}
	ids, err := which(ctx, tx)
	if err != nil {
		return err
	}
	if _, err := s.resettle(ctx, tx, ids, at); err != nil {
		return err
	}
	return bumpDataVersion(ctx, tx)
}

// byRule picks the mutations rule id decides.
func byRule(id int64) func(context.Context, pgx.Tx) ([]int64, error) {
	return func(ctx context.Context, tx pgx.Tx) ([]int64, error) {
		return idsOf(ctx, tx, `SELECT id FROM mutations WHERE state_rule_id = $1 AND resolved_at IS NULL ORDER BY id`, id)
	}
}

// byAckID picks the mutations acknowledgement id covers.
func byAckID(id int64) func(context.Context, pgx.Tx) ([]int64, error) {
	return func(ctx context.Context, tx pgx.Tx) ([]int64, error) {
		return idsOf(ctx, tx, `SELECT id FROM mutations WHERE state_ack_id = $1 ORDER BY id`, id)
	}
}

// byAck picks what a newly active acknowledgement may cover: its mutation, or every
// unresolved one for a scope.
func byAck(a Ack) func(context.Context, pgx.Tx) ([]int64, error) {
	if a.MutationID != 0 {
		return func(context.Context, pgx.Tx) ([]int64, error) { return []int64{a.MutationID}, nil }
	}
	return unresolvedIDs
}

func idsOf(ctx context.Context, tx pgx.Tx, sql string, arg any) ([]int64, error) {
	rows, err := tx.Query(ctx, sql, arg)
	if err != nil {
		return nil, fmt.Errorf("read mutations to settle: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("read mutations to settle: %w", err)
	}
	return ids, nil
}

func ackDetail(a Ack) map[string]any {
	d := map[string]any{"reason": a.Reason, "until": string(a.Until), "status": a.Status}
	if a.MutationID != 0 {
		d["mutation"] = a.MutationID
	} else {
		d["scope"] = a.Scope
	}
	if a.Ticket != "" {
		d["ticket"] = a.Ticket
	}
	if a.ExpiresAt != nil {
		d["expires"] = timeDetail(a.ExpiresAt)
	}
	return d
}
