package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Session is a signed-in user of the web UI.
type Session struct {
	User       User
	CreatedAt  time.Time
	LastSeenAt time.Time // exact to the minute: see Session
	// EndsAt is when the session ends whatever its use, before the absolute timeout:
	// set for a sign-in through a provider (its session maximum); nil otherwise.
	EndsAt *time.Time
}

// SessionTimeouts end sessions: one unused for Idle, and any older than Absolute.
type SessionTimeouts struct {
	Idle     time.Duration
	Absolute time.Duration
}

// sessionIDLen is the length of a session id: 32 random bytes in unpadded base64url.
const sessionIDLen = 43

// touchSessionEvery is how stale a session's recorded last use may grow before a read
// writes it again: a busy session costs one write a minute, not one per page.
const touchSessionEvery = time.Minute

// CreateSession starts a session for user id at now and returns its id, the only time
// it is seen: only its SHA-256 is stored. A new id is made at every sign-in, so an id
// planted before the sign-in (session fixation) is worth nothing. ErrNotFound when the
// user does not exist or is disabled. The sign-in is recorded in the audit trail.
func (s *Store) CreateSession(ctx context.Context, userID int64, now time.Time, a Audit) (string, Session, error) {
	id, err := newSessionID()
	if err != nil {
		return "", Session{}, fmt.Errorf("create session: %w", err)
	}
	var sess Session
	err = s.tx(ctx, func(tx pgx.Tx) error {
		u, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 AND disabled_at IS NULL FOR SHARE`, userID))
		if err != nil {
			return notFound(err)
		}
		if u.Provider != "" {
			// Only SignInWithProvider starts the session of a provider's user.
			return ErrNotFound
		}
		if err := insertSession(ctx, tx, id, &u, now, nil, a); err != nil {
			return err
		}
		sess = Session{User: u, CreatedAt: now, LastSeenAt: now}
		return recordAudit(ctx, tx, a, ActionUserSignIn, u.Name, map[string]any{"id": u.ID})
	})
	if err != nil {
		return "", Session{}, fmt.Errorf("create session for user %d: %w", userID, err)
	}
	return id, sess, nil
}

// insertSession stores the session id of user u, started at now and ending at endsAt
// (nil: by the timeouts only), and records the sign-in on u's row.
func insertSession(ctx context.Context, tx pgx.Tx, id string, u *User, now time.Time, endsAt *time.Time, a Audit) error {
	if _, err := tx.Exec(ctx, `
		INSERT INTO sessions (hash, user_id, created_at, last_seen_at, remote_addr, ends_at) VALUES ($1, $2, $3, $3, $4, $5)`,
		hashSecret(id), u.ID, now, a.RemoteAddr, endsAt); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE users SET last_sign_in_at = $2 WHERE id = $1`, u.ID, now); err != nil {
		return err
	}
	u.LastSignInAt = &now
	return nil
}

// newSessionID is a new session id: 32 random bytes in unpadded base64url.
func newSessionID() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Session returns the live session an id names at now, and records its use: ErrNotFound
// when the id is unknown, signed out, idle or older than the timeouts, or its user is
// disabled. The use is written only when the recorded one is a minute old or more, so
// the idle timeout holds to the minute. Errors never include the id.
func (s *Store) Session(ctx context.Context, id string, now time.Time, to SessionTimeouts) (Session, error) {
	if len(id) != sessionIDLen {
		return Session{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	if _, err := base64.RawURLEncoding.DecodeString(id); err != nil {
		return Session{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	hash := hashSecret(id)
	var sess Session
	u, err := scanUser(s.pool.QueryRow(ctx, `
		SELECT u.id, u.name, u.role, u.created_at, u.disabled_at, coalesce(u.provider, ''), coalesce(u.subject, ''),
			u.last_sign_in_at, `+grantsSQL("user_grants", "user_id", "u.id")+`,
			s.created_at, s.last_seen_at, s.ends_at
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.hash = $1 AND u.disabled_at IS NULL AND s.last_seen_at > $2 AND s.created_at > $3
		  AND (s.ends_at IS NULL OR s.ends_at > $4)`,
		hash, now.Add(-to.Idle), now.Add(-to.Absolute), now), &sess.CreatedAt, &sess.LastSeenAt, &sess.EndsAt)
	if err != nil {
		return Session{}, fmt.Errorf("session: %w", notFound(err))
	}
	sess.User = u
	if now.Sub(sess.LastSeenAt) >= touchSessionEvery {
		if _, err := s.pool.Exec(ctx, `UPDATE sessions SET last_seen_at = $2 WHERE hash = $1 AND last_seen_at < $2`, hash, now); err != nil {
			return Session{}, fmt.Errorf("session: record use: %w", err)
		}
		sess.LastSeenAt = now
	}
	return sess, nil
}

// DeleteSession ends a session (sign-out) and records it in the audit trail, with the
// session's user as the actor ("user:<name>") unless a.Actor says otherwise; an unknown
// or already ended id is no error and records nothing.
func (s *Store) DeleteSession(ctx context.Context, id string, a Audit) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var name string
		var userID int64
		err := tx.QueryRow(ctx, `
			DELETE FROM sessions s USING users u WHERE s.hash = $1 AND u.id = s.user_id
			RETURNING u.id, u.name`, hashSecret(id)).Scan(&userID, &name)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if a.Actor == "" {
			a.Actor = "user:" + name
		}
		return recordAudit(ctx, tx, a, ActionUserSignOut, name, map[string]any{"id": userID})
	})
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions deletes the sessions the timeouts ended at now and returns how
// many; reads already refuse them, this only keeps the table small.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time, to SessionTimeouts) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE last_seen_at <= $1 OR created_at <= $2 OR ends_at <= $3`,
		now.Add(-to.Idle), now.Add(-to.Absolute), now)
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return tag.RowsAffected(), nil
}

// deleteSessionsOf ends every session of a user, inside tx.
func deleteSessionsOf(ctx context.Context, tx pgx.Tx, userID int64) (int64, error) {
	tag, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID)
	if err != nil {
		return 0, fmt.Errorf("end sessions of user %d: %w", userID, err)
	}
	return tag.RowsAffected(), nil
}
