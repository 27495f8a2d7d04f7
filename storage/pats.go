package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// PAT is a personal access token record. The token itself is shown once at
// creation and stored only as its SHA-256 (never argon2: verifying a bearer
// token must stay cheap, or it becomes a denial-of-service lever).
type PAT struct {
	ID         string
	UserID     string
	ClientID   string // set instead of UserID when a service client owns the token
	Username   string // the owner's name (a client's id), for listings and Basic auth
	Name       string
	Prefix     string // the token's first characters, to recognize it in listings
	Hash       []byte
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// Active reports whether the token may be used at now.
func (p PAT) Active(now time.Time) bool {
	return p.RevokedAt == nil && (p.ExpiresAt == nil || now.Before(*p.ExpiresAt))
}

const patColumns = `p.id::text, coalesce(p.user_id::text, ''), coalesce(p.client_id, ''), coalesce(u.username, p.client_id, ''), p.name, p.token_prefix, p.token_hash,
	p.created_at, p.expires_at, p.last_used_at, p.revoked_at`

func scanPAT(row pgx.Row) (PAT, error) {
	var p PAT
	err := row.Scan(&p.ID, &p.UserID, &p.ClientID, &p.Username, &p.Name, &p.Prefix, &p.Hash, &p.CreatedAt, &p.ExpiresAt, &p.LastUsedAt, &p.RevokedAt)
	return p, classify(err)
}

// InsertPAT stores a new token for the user username and audits it.
func (s *Store) InsertPAT(ctx context.Context, actor Actor, username string, p PAT) (PAT, error) {
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		uid, err := userID(ctx, tx, username, false)
		if err != nil {
			return err
		}
		p, err = scanPAT(tx.QueryRow(ctx, `
			WITH p AS (INSERT INTO personal_access_tokens (user_id, name, token_prefix, token_hash, created_at, expires_at)
			           VALUES ($1, $2, $3, $4, $5, $6) RETURNING *)
			SELECT `+patColumns+` FROM p LEFT JOIN users u ON u.id = p.user_id`,
			uid, p.Name, p.Prefix, p.Hash, p.CreatedAt, p.ExpiresAt))
		if err != nil {
			return err
		}
		return InsertEvent(ctx, tx, Event{Actor: actor.Name, RemoteAddr: actor.Address, Action: "token.create", Resource: "user:" + p.Username,
			Detail: map[string]any{"token_id": p.ID, "name": p.Name}})
	})
	return p, err
}

// InsertClientPAT stores a new token owned by a confidential service client
// and audits it.
func (s *Store) InsertClientPAT(ctx context.Context, actor Actor, clientID string, p PAT) (PAT, error) {
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		var public bool
		var disabled *time.Time
		err := tx.QueryRow(ctx, `SELECT public, disabled_at FROM clients WHERE id = $1`, clientID).Scan(&public, &disabled)
		if err = classify(err); err != nil {
			return fmt.Errorf("%w: no client %q", err, clientID)
		}
		if public || disabled != nil {
			return fmt.Errorf("%w: client %q is public or disabled; only enabled confidential clients hold tokens", ErrInvalid, clientID)
		}
		p, err = scanPAT(tx.QueryRow(ctx, `
			WITH p AS (INSERT INTO personal_access_tokens (client_id, name, token_prefix, token_hash, created_at, expires_at)
			           VALUES ($1, $2, $3, $4, $5, $6) RETURNING *)
			SELECT `+patColumns+` FROM p LEFT JOIN users u ON u.id = p.user_id`,
			clientID, p.Name, p.Prefix, p.Hash, p.CreatedAt, p.ExpiresAt))
		if err != nil {
			return err
		}
		return InsertEvent(ctx, tx, Event{Actor: actor.Name, RemoteAddr: actor.Address, Action: "token.create", Resource: "client:" + clientID,
			Detail: map[string]any{"token_id": p.ID, "name": p.Name}})
	})
	return p, err
}

// PATByHash finds a token by the SHA-256 of its value, whatever its state.
func (s *Store) PATByHash(ctx context.Context, hash []byte) (PAT, error) {
	return scanPAT(s.Pool.QueryRow(ctx, `SELECT `+patColumns+` FROM personal_access_tokens p
		LEFT JOIN users u ON u.id = p.user_id WHERE p.token_hash = $1`, hash))
}

// PATByID finds a token by id.
func (s *Store) PATByID(ctx context.Context, id string) (PAT, error) {
	return scanPAT(s.Pool.QueryRow(ctx, `SELECT `+patColumns+` FROM personal_access_tokens p
		LEFT JOIN users u ON u.id = p.user_id WHERE p.id::text = $1`, id))
}

// ListPATs lists the tokens of username, or of every user when username is
// empty, newest first.
func (s *Store) ListPATs(ctx context.Context, username string) ([]PAT, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+patColumns+` FROM personal_access_tokens p
		LEFT JOIN users u ON u.id = p.user_id
		WHERE p.user_id IS NOT NULL AND ($1 = '' OR lower(u.username) = lower($1))
		ORDER BY p.created_at DESC, p.id`, username)
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (PAT, error) { return scanPAT(row) })
	return out, classify(err)
}

// ListClientPATs lists the tokens owned by service clients (one client's
// when clientID is not empty), newest first.
func (s *Store) ListClientPATs(ctx context.Context, clientID string) ([]PAT, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+patColumns+` FROM personal_access_tokens p
		LEFT JOIN users u ON u.id = p.user_id
		WHERE p.client_id IS NOT NULL AND ($1 = '' OR p.client_id = $1)
		ORDER BY p.created_at DESC, p.id`, clientID)
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (PAT, error) { return scanPAT(row) })
	return out, classify(err)
}

// RevokePAT revokes a token by id, audits it and tells every replica.
func (s *Store) RevokePAT(ctx context.Context, actor Actor, id string, now time.Time) error {
	return s.InTx(ctx, func(tx pgx.Tx) error {
		var owner string
		err := tx.QueryRow(ctx, `
			UPDATE personal_access_tokens p SET revoked_at = $2
			WHERE p.id::text = $1 AND p.revoked_at IS NULL
			RETURNING coalesce('user:' || (SELECT username FROM users WHERE id = p.user_id), 'client:' || p.client_id)`,
			id, now).Scan(&owner)
		if err = classify(err); err != nil {
			return fmt.Errorf("%w: no active token %q", err, id)
		}
		if err := Notify(ctx, tx, ChangePAT, id); err != nil {
			return err
		}
		return InsertEvent(ctx, tx, Event{Actor: actor.Name, RemoteAddr: actor.Address, Action: "token.revoke", Resource: owner,
			Detail: map[string]any{"token_id": id}})
	})
}

// TouchPAT records a use of the token (callers rate-limit this).
func (s *Store) TouchPAT(ctx context.Context, id string, now time.Time) error {
	_, err := s.Pool.Exec(ctx, `UPDATE personal_access_tokens SET last_used_at = $2 WHERE id::text = $1`, id, now)
	return classify(err)
}
