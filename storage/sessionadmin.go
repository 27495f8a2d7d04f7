package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// SessionListing is one row of `session list`: an SSO session (Kind
// "session") or a refresh-token family (Kind "family"), whose id is the
// family id. For a family, CreatedAt is its first token's issue time,
// LastUsedAt its newest token's, and ExpiresAt when its live token expires.
type SessionListing struct {
	Kind       string
	ID         string
	Username   string
	ClientID   string // families only
	SessionID  string // the SSO session a family descends from, if any
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time
	RevokedAt  *time.Time
}

// State is "active", "revoked" or "expired" at now.
func (l SessionListing) State(now time.Time) string {
	switch {
	case l.RevokedAt != nil:
		return "revoked"
	case !now.Before(l.ExpiresAt):
		return "expired"
	}
	return "active"
}

// ListSessions returns SSO sessions, then refresh-token families, of one
// user (by username) or of everyone when username is empty, newest first.
func (s *Store) ListSessions(ctx context.Context, username string) ([]SessionListing, error) {
	rows, err := s.Pool.Query(ctx, `
		SELECT 'session', s.id::text, u.username, '', '', s.created_at, s.last_seen_at, s.expires_at, s.revoked_at
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE $1 = '' OR lower(u.username) = lower($1)
		UNION ALL
		SELECT 'family', f.family_id::text, u.username, f.client_id, f.session_id, f.created, f.last_used, f.expires, f.revoked
		FROM (SELECT family_id, user_id, min(client_id) AS client_id, coalesce(min(session_id::text), '') AS session_id,
		             min(issued_at) AS created, max(issued_at) AS last_used,
		             coalesce(max(least(expires_at, family_expires_at)) FILTER (WHERE rotated_at IS NULL),
		                      max(least(expires_at, family_expires_at))) AS expires,
		             max(revoked_at) AS revoked
		      FROM refresh_tokens GROUP BY family_id, user_id) f
		JOIN users u ON u.id = f.user_id
		WHERE $1 = '' OR lower(u.username) = lower($1)
		ORDER BY 1 DESC, 6 DESC`, username)
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (SessionListing, error) {
		var l SessionListing
		err := row.Scan(&l.Kind, &l.ID, &l.Username, &l.ClientID, &l.SessionID, &l.CreatedAt, &l.LastUsedAt, &l.ExpiresAt, &l.RevokedAt)
		return l, err
	})
	return out, classify(err)
}

// RevokeSessionOrFamily ends what id names: an SSO session together with
// every refresh-token family descending from it, or one refresh-token
// family. Every replica is told (the "session" and "family" notifications),
// and the change is audited in the same transaction. It reports which kind
// id was and how many families were revoked.
func (s *Store) RevokeSessionOrFamily(ctx context.Context, actor Actor, id string, now time.Time) (kind string, families int, err error) {
	err = s.InTx(ctx, func(tx pgx.Tx) error {
		var revoked *time.Time
		err := tx.QueryRow(ctx, `SELECT revoked_at FROM sessions WHERE id::text = $1 FOR UPDATE`, id).Scan(&revoked)
		switch classify(err) {
		case nil:
			kind = "session"
			if revoked == nil {
				if err := revokeSession(ctx, tx, id, now); err != nil {
					return err
				}
			}
			rows, err := tx.Query(ctx, `SELECT DISTINCT family_id::text FROM refresh_tokens
				WHERE session_id::text = $1 AND revoked_at IS NULL`, id)
			if err != nil {
				return classify(err)
			}
			fams, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return classify(err)
			}
			if revoked != nil && len(fams) == 0 {
				return fmt.Errorf("%w: session %s is already revoked", ErrNotFound, id)
			}
			for _, f := range fams {
				if err := RevokeFamily(ctx, tx, f, now); err != nil {
					return err
				}
			}
			families = len(fams)
		case ErrNotFound:
			kind = "family"
			var live *bool
			err := tx.QueryRow(ctx, `SELECT bool_or(revoked_at IS NULL) FROM refresh_tokens WHERE family_id::text = $1`, id).Scan(&live)
			if err != nil {
				return classify(err)
			}
			if live == nil || !*live {
				return fmt.Errorf("%w: no active session or refresh-token family %q", ErrNotFound, id)
			}
			if err := RevokeFamily(ctx, tx, id, now); err != nil {
				return err
			}
			families = 1
		default:
			return classify(err)
		}
		return InsertEvent(ctx, tx, Event{At: now, Actor: actor.Name, RemoteAddr: actor.Address, Action: kind + ".revoke", Resource: kind + ":" + id,
			Detail: map[string]any{"families": families}})
	})
	return kind, families, err
}
