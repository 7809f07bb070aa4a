package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Declared-mutable tag rules (issue 27): what they say is in acks.go's comment.

// Rule is a declared-mutable tag rule.
type Rule struct {
	ID        int64
	Scope     string
	Reason    string
	ExpiresAt *time.Time
	CreatedBy string
	CreatedAt time.Time
	// EndedAt is when it was revoked or seen expired; EndReason says which.
	EndedAt   *time.Time
	EndReason string
	EndedBy   string
}

// Active reports whether r is in force at now.
func (r Rule) Active(now time.Time) bool {
	return r.EndedAt == nil && (r.ExpiresAt == nil || now.Before(*r.ExpiresAt))
}

const ruleColumns = `id, scope, reason, expires_at, created_by, created_at, ended_at, end_reason, ended_by`

func scanRule(row pgx.Row) (Rule, error) {
	var r Rule
	err := row.Scan(&r.ID, &r.Scope, &r.Reason, &r.ExpiresAt, &r.CreatedBy, &r.CreatedAt, &r.EndedAt, &r.EndReason, &r.EndedBy)
	return r, err
}

// NewRule is a rule to declare. Scope must parse (attention.ParseScope); the caller
// checks it and says why.
type NewRule struct {
	Scope     string
	Reason    string
	ExpiresAt *time.Time
}

// now is the database's clock, the one time every replica agrees on.
func now(ctx context.Context, tx pgx.Tx) (time.Time, error) {
	var t time.Time
	if err := tx.QueryRow(ctx, `SELECT now()`).Scan(&t); err != nil {
		return t, fmt.Errorf("read the clock: %w", err)
	}
	return t, nil
}

// CreateRule declares a rule, and settles what it now makes expected.
func (s *Store) CreateRule(ctx context.Context, a Audit, nr NewRule) (Rule, error) {
	var r Rule
	err := s.tx(ctx, func(tx pgx.Tx) error {
		at, err := now(ctx, tx)
		if err != nil {
			return err
		}
		if r, err = scanRule(tx.QueryRow(ctx, `
			INSERT INTO mutable_tag_rules (scope, reason, expires_at, created_by, created_at)
			VALUES ($1, $2, $3, $4, $5) RETURNING `+ruleColumns,
			nr.Scope, nr.Reason, nr.ExpiresAt, a.Actor, at)); err != nil {
			return err
		}
		return s.afterChange(ctx, tx, a, ActionRuleCreate, fmt.Sprintf("rule %d", r.ID), map[string]any{
			"scope": nr.Scope, "reason": nr.Reason, "expires": timeDetail(nr.ExpiresAt),
		}, at, unresolvedIDs)
	})
	if err != nil {
		return Rule{}, fmt.Errorf("create rule: %w", err)
	}
	return r, nil
}

// RevokeRule ends a rule now; ErrNotFound when there is none, ErrNotAllowed when it
// has ended already.
func (s *Store) RevokeRule(ctx context.Context, a Audit, id int64) (Rule, error) {
	var r Rule
	err := s.tx(ctx, func(tx pgx.Tx) error {
		at, err := now(ctx, tx)
		if err != nil {
			return err
		}
		if r, err = scanRule(tx.QueryRow(ctx, `SELECT `+ruleColumns+` FROM mutable_tag_rules WHERE id = $1 FOR UPDATE`, id)); err != nil {
			return notFound(err)
		}
		if r.EndedAt != nil {
			return fmt.Errorf("rule %d ended (%s): %w", id, r.EndReason, ErrNotAllowed)
		}
		if r, err = scanRule(tx.QueryRow(ctx, `
			UPDATE mutable_tag_rules SET ended_at = $2, end_reason = 'revoked', ended_by = $3 WHERE id = $1
			RETURNING `+ruleColumns, id, at, a.Actor)); err != nil {
			return err
		}
		return s.afterChange(ctx, tx, a, ActionRuleRevoke, fmt.Sprintf("rule %d", id), map[string]any{"scope": r.Scope},
			at, byRule(id))
	})
	if err != nil {
		return Rule{}, fmt.Errorf("revoke rule %d: %w", id, err)
	}
	return r, nil
}

// Rules returns every rule in scope sc (one whose matchers are confined to sc's groups:
// Scope.matchersSQL), newest first, or only those not ended.
func (s *Store) Rules(ctx context.Context, live bool, sc Scope) ([]Rule, error) {
	q := query{args: []any{live}}
	rows, err := s.pool.Query(ctx, `
		SELECT `+ruleColumns+` FROM mutable_tag_rules WHERE (NOT $1 OR ended_at IS NULL)`+sc.matchersSQL(&q, "scope")+` ORDER BY id DESC`, q.args...)
	if err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Rule, error) { return scanRule(r) })
	if err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	return out, nil
}

// Rule returns one rule in scope sc; ErrNotFound when there is none, or it is outside sc.
func (s *Store) Rule(ctx context.Context, id int64, sc Scope) (Rule, error) {
	q := query{args: []any{id}}
	r, err := scanRule(s.pool.QueryRow(ctx, `SELECT `+ruleColumns+` FROM mutable_tag_rules WHERE id = $1`+sc.matchersSQL(&q, "scope"), q.args...))
	if err != nil {
		return Rule{}, fmt.Errorf("rule %d: %w", id, notFound(err))
	}
	return r, nil
}
