package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Session is a browser's single sign-on session at the provider. The cookie
// holds only its id, so ending it here ends it on every replica.
type Session struct {
	ID         string
	UserID     string
	AuthTime   time.Time
	AMR        []string
	UserAgent  string
	RemoteAddr string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	RevokedAt  *time.Time
}

// Active reports whether the session can still vouch for its user at now.
func (s Session) Active(now time.Time) bool {
	return s.RevokedAt == nil && now.Before(s.ExpiresAt)
}

// CreateSession starts a session for a user who has just authenticated. When
// replaces names the browser's previous session, that one is revoked in the
// same transaction (the session id rotates at every login).
func (s *Store) CreateSession(ctx context.Context, sess Session, replaces string) (Session, error) {
	if sess.AMR == nil {
		sess.AMR = []string{}
	}
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		if replaces != "" {
			if err := revokeSession(ctx, tx, replaces, sess.AuthTime); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
		}
		return classify(tx.QueryRow(ctx, `
			INSERT INTO sessions (user_id, auth_time, amr, user_agent, remote_addr, created_at, last_seen_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $2, $2, $6)
			RETURNING id::text, created_at, last_seen_at`,
			sess.UserID, sess.AuthTime, sess.AMR, sess.UserAgent, sess.RemoteAddr, sess.ExpiresAt,
		).Scan(&sess.ID, &sess.CreatedAt, &sess.LastSeenAt))
	})
	return sess, err
}

// SessionByID loads a session whatever its state; callers check Active.
func (s *Store) SessionByID(ctx context.Context, id string) (Session, error) {
	return SessionByIDIn(ctx, s.Pool, id)
}

// SessionByIDIn is SessionByID through q (a transaction's connection).
func SessionByIDIn(ctx context.Context, q Querier, id string) (Session, error) {
	var sess Session
	err := q.QueryRow(ctx, `
		SELECT id::text, user_id::text, auth_time, amr, user_agent, remote_addr, created_at, last_seen_at, expires_at, revoked_at
		FROM sessions WHERE id::text = $1`, id).Scan(&sess.ID, &sess.UserID, &sess.AuthTime, &sess.AMR, &sess.UserAgent,
		&sess.RemoteAddr, &sess.CreatedAt, &sess.LastSeenAt, &sess.ExpiresAt, &sess.RevokedAt)
	return sess, classify(err)
}

// RevokeSession ends a session and tells every replica.
func (s *Store) RevokeSession(ctx context.Context, id string, now time.Time) error {
	return s.InTx(ctx, func(tx pgx.Tx) error { return revokeSession(ctx, tx, id, now) })
}

func revokeSession(ctx context.Context, q Querier, id string, now time.Time) error {
	tag, err := q.Exec(ctx, `UPDATE sessions SET revoked_at = $2 WHERE id::text = $1 AND revoked_at IS NULL`, id, now)
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: no active session", ErrNotFound)
	}
	if err := enqueueLogouts(ctx, q, `s.id::text = $1`, id); err != nil {
		return err
	}
	return Notify(ctx, q, ChangeSession, id)
}

// RevokedSessions lists sessions revoked before they expired, for the
// in-memory revocation set: access tokens carry their session id (sid).
func (s *Store) RevokedSessions(ctx context.Context, now time.Time) (map[string]time.Time, error) {
	return idExpiries(s.Pool.Query(ctx, `SELECT id::text, expires_at FROM sessions WHERE revoked_at IS NOT NULL AND expires_at > $1`, now))
}

// RevokedSessionsOfUser lists one user's revoked, unexpired sessions: a
// password change or a disable revokes them in bulk with one "user"
// notification, and the verifier must learn every session id.
func (s *Store) RevokedSessionsOfUser(ctx context.Context, userID string, now time.Time) (map[string]time.Time, error) {
	return idExpiries(s.Pool.Query(ctx, `SELECT id::text, expires_at FROM sessions
		WHERE user_id::text = $1 AND revoked_at IS NOT NULL AND expires_at > $2`, userID, now))
}

// idExpiries collects (id, time) rows into a map.
func idExpiries(rows pgx.Rows, err error) (map[string]time.Time, error) {
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var id string
		var exp time.Time
		if err := rows.Scan(&id, &exp); err != nil {
			return nil, classify(err)
		}
		out[id] = exp
	}
	return out, classify(rows.Err())
}

// TouchSession records a use of the session (never moving it back).
func (s *Store) TouchSession(ctx context.Context, id string, at time.Time) error {
	_, err := s.Pool.Exec(ctx, `UPDATE sessions SET last_seen_at = greatest(last_seen_at, $2) WHERE id::text = $1`, id, at)
	return classify(err)
}

// ReauthenticateSession records that the session's user proved their password
// again at at (a sensitive action on the admin pages): the session's
// authentication time moves forward, never back.
func (s *Store) ReauthenticateSession(ctx context.Context, id string, at time.Time) error {
	tag, err := s.Pool.Exec(ctx, `UPDATE sessions SET auth_time = greatest(auth_time, $2), last_seen_at = greatest(last_seen_at, $2)
		WHERE id::text = $1 AND revoked_at IS NULL`, id, at)
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}
