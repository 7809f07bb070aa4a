package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Audit says who makes a change and from where; every method that changes what the
// API manages takes one and records the change in the same transaction.
type Audit struct {
	// Actor names who acts: "token:<id>:<name>" (token names are not unique),
	// "admin-token", "cli:<user>", "user:<name>" for a user signed in to the web UI,
	// "sso:<subject>" for a sign-in through an OpenID Connect provider, or
	// "serve:--cluster-kubeconfig".
	Actor      string
	RemoteAddr string
}

// AuditEvent is one recorded change.
type AuditEvent struct {
	ID         int64
	At         time.Time
	Actor      string
	Action     string // cluster.create, cluster.update, cluster.delete, token.create, token.revoke, user.*, scan.request
	Target     string // what was changed: a cluster, token or user name
	Detail     map[string]any
	RemoteAddr string
}

// Audit actions.
const (
	ActionClusterCreate = "cluster.create"
	ActionClusterUpdate = "cluster.update"
	ActionClusterDelete = "cluster.delete"
	ActionTokenCreate   = "token.create"
	ActionTokenRevoke   = "token.revoke"
	ActionUserAdd       = "user.add"
	ActionUserRole      = "user.role"
	ActionUserDisable   = "user.disable"
	ActionUserEnable    = "user.enable"
	ActionUserDelete    = "user.delete"
	ActionUserSignIn    = "user.signin"
	ActionUserSignOut   = "user.signout"
	ActionScanRequest   = "scan.request"
)

// recordAudit records a change inside the transaction that makes it. detail must never
// hold a secret.
func recordAudit(ctx context.Context, tx pgx.Tx, a Audit, action, target string, detail map[string]any) error {
	if detail == nil {
		detail = map[string]any{}
	}
	b, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO audit_events (actor, action, target, detail, remote_addr) VALUES ($1, $2, $3, $4, $5)`,
		a.Actor, action, target, b, a.RemoteAddr); err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// RecordAudit records an action that changes no row of its own (a scan asked for).
func (s *Store) RecordAudit(ctx context.Context, a Audit, action, target string, detail map[string]any) error {
	return s.tx(ctx, func(tx pgx.Tx) error { return recordAudit(ctx, tx, a, action, target, detail) })
}

// AuditEvents returns up to limit events, newest first, with ids below beforeID (0: from
// the newest).
func (s *Store) AuditEvents(ctx context.Context, beforeID int64, limit int) ([]AuditEvent, error) {
	return s.FindAuditEvents(ctx, AuditFilter{BeforeID: beforeID, Limit: limit})
}

// AuditFilter picks audit events; zero fields pick all.
type AuditFilter struct {
	Actor  string // exactly this actor ("user:alice")
	Action string // this action ("user.add"), or a family when it ends in a dot ("user.")
	Target string // exactly this target
	Since  time.Time
	Until  time.Time // before this time
	// BeforeID pages: only events with smaller ids (0: from the newest).
	BeforeID int64
	Limit    int
	// Scope, when limited, keeps only the events about clusters (cluster.*, scan.*)
	// whose target names a cluster of the scope: a scoped admin sees what was done to
	// their clusters, nothing about users, tokens or settings.
	Scope Scope
}

// FindAuditEvents returns up to f.Limit events that f picks, newest first.
func (s *Store) FindAuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	if f.BeforeID <= 0 {
		f.BeforeID = 1<<63 - 1
	}
	var since, until *time.Time
	if !f.Since.IsZero() {
		since = &f.Since
	}
	if !f.Until.IsZero() {
		until = &f.Until
	}
	action, family := f.Action, ""
	if strings.HasSuffix(action, ".") {
		action, family = "", strings.TrimSuffix(action, ".")
	}
	q := query{args: []any{f.BeforeID, f.Limit, f.Actor, action, family, f.Target, since, until}}
	scope := ""
	if f.Scope.Limited {
		scope = ` AND split_part(action, '.', 1) IN ('cluster', 'scan') AND target IN (SELECT c.name FROM clusters c WHERE true` +
			f.Scope.groupSQL(&q, "c.group_id") + `)`
	}
	rows, err := s.pool.Query(ctx, `
		SELECT id, at, actor, action, target, detail, remote_addr FROM audit_events
		WHERE id < $1`+scope+`
		  AND ($3 = '' OR actor = $3)
		  AND ($4 = '' OR action = $4)
		  AND ($5 = '' OR split_part(action, '.', 1) = $5)
		  AND ($6 = '' OR target = $6)
		  AND ($7::timestamptz IS NULL OR at >= $7)
		  AND ($8::timestamptz IS NULL OR at < $8)
		ORDER BY id DESC LIMIT $2`, q.args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditEvent, error) {
		var e AuditEvent
		return e, r.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.Target, &e.Detail, &e.RemoteAddr)
	})
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return out, nil
}
