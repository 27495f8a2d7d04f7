package storage

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// RefreshToken is one link of a refresh-token family: every use rotates the
// token (the old one is marked rotated, a new one is issued in the same
// family); presenting a rotated token again revokes the family.
type RefreshToken struct {
	ID              string
	TokenHash       []byte // SHA-256 of the opaque token; the token itself is never stored
	FamilyID        string
	ParentID        string
	ClientID        string
	UserID          string
	SessionID       string
	Scopes          []string
	AMR             []string
	AuthTime        time.Time
	AccessTokenID   string
	AccessExpiresAt *time.Time
	IssuedAt        time.Time
	ExpiresAt       time.Time // idle expiry, pushed forward by each rotation
	FamilyExpiresAt time.Time // absolute expiry of the family
	RotatedAt       *time.Time
	RevokedAt       *time.Time
}

var (
	// ErrRefreshReuse: a rotated refresh token was presented again; the
	// caller revokes the family (OAuth 2.0 Security BCP, RFC 9700 section 4.14.2).
	ErrRefreshReuse = errors.New("refresh token reused")
	// ErrRefreshRevoked: the token's family was revoked.
	ErrRefreshRevoked = errors.New("refresh token revoked")
	// ErrRefreshExpired: idle or absolute lifetime exceeded.
	ErrRefreshExpired = errors.New("refresh token expired")
	// ErrRefreshClient: the token belongs to another client.
	ErrRefreshClient = errors.New("refresh token issued to another client")
)

const refreshColumns = `id::text, token_hash, family_id::text, coalesce(parent_id::text, ''), client_id, user_id::text,
	coalesce(session_id::text, ''), scopes, amr, auth_time, access_token_id, access_expires_at, issued_at, expires_at,
	family_expires_at, rotated_at, revoked_at`

func scanRefresh(row pgx.Row) (RefreshToken, error) {
	var t RefreshToken
	err := row.Scan(&t.ID, &t.TokenHash, &t.FamilyID, &t.ParentID, &t.ClientID, &t.UserID, &t.SessionID, &t.Scopes, &t.AMR,
		&t.AuthTime, &t.AccessTokenID, &t.AccessExpiresAt, &t.IssuedAt, &t.ExpiresAt, &t.FamilyExpiresAt, &t.RotatedAt, &t.RevokedAt)
	return t, classify(err)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// InsertRefreshToken stores t; an empty FamilyID starts a new family.
func InsertRefreshToken(ctx context.Context, q Querier, t RefreshToken) (RefreshToken, error) {
	if t.Scopes == nil {
		t.Scopes = []string{}
	}
	if t.AMR == nil {
		t.AMR = []string{}
	}
	return scanRefresh(q.QueryRow(ctx, `
		INSERT INTO refresh_tokens (token_hash, family_id, parent_id, client_id, user_id, session_id, scopes, amr, auth_time,
		                            access_token_id, access_expires_at, issued_at, expires_at, family_expires_at)
		VALUES ($1, coalesce($2::uuid, gen_random_uuid()), $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		RETURNING `+refreshColumns,
		t.TokenHash, nullable(t.FamilyID), nullable(t.ParentID), t.ClientID, t.UserID, nullable(t.SessionID), t.Scopes, t.AMR,
		t.AuthTime, t.AccessTokenID, t.AccessExpiresAt, t.IssuedAt, t.ExpiresAt, t.FamilyExpiresAt))
}

// RotateRefreshToken marks the token with hash used, in one conditional
// UPDATE, and returns it: of concurrent presentations exactly one wins. The
// losers and any later presentation get ErrRefreshReuse (with the token, so
// the caller can revoke its family), or ErrNotFound, ErrRefreshClient,
// ErrRefreshRevoked, ErrRefreshExpired.
func RotateRefreshToken(ctx context.Context, q Querier, hash []byte, clientID string, now time.Time) (RefreshToken, error) {
	t, err := scanRefresh(q.QueryRow(ctx, `
		UPDATE refresh_tokens SET rotated_at = $3
		WHERE token_hash = $1 AND client_id = $2 AND rotated_at IS NULL AND revoked_at IS NULL
		  AND expires_at > $3 AND family_expires_at > $3
		RETURNING `+refreshColumns, hash, clientID, now))
	if !errors.Is(err, ErrNotFound) {
		return t, err
	}
	t, err = scanRefresh(q.QueryRow(ctx, `SELECT `+refreshColumns+` FROM refresh_tokens WHERE token_hash = $1`, hash))
	switch {
	case err != nil:
		return RefreshToken{}, err
	case t.ClientID != clientID:
		return RefreshToken{}, ErrRefreshClient
	case t.RotatedAt != nil:
		return t, ErrRefreshReuse
	case t.RevokedAt != nil:
		return t, ErrRefreshRevoked
	default:
		return t, ErrRefreshExpired
	}
}

// RevokeFamily revokes every token of a refresh family and puts the access
// tokens minted with them on the revocation list until they expire, then
// tells every replica.
func RevokeFamily(ctx context.Context, q Querier, familyID string, now time.Time) error {
	if _, err := q.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id::text = $1 AND revoked_at IS NULL`,
		familyID, now); err != nil {
		return classify(err)
	}
	if _, err := q.Exec(ctx, `
		INSERT INTO revoked_tokens (jti, expires_at, revoked_at)
		SELECT access_token_id, access_expires_at, $2 FROM refresh_tokens
		WHERE family_id::text = $1 AND access_token_id <> '' AND access_expires_at > $2
		ON CONFLICT (jti) DO NOTHING`, familyID, now); err != nil {
		return classify(err)
	}
	return Notify(ctx, q, ChangeFamily, familyID)
}

// RevokeFamily is the transactional convenience form of the function.
func (s *Store) RevokeFamily(ctx context.Context, familyID string, now time.Time) error {
	return s.InTx(ctx, func(tx pgx.Tx) error { return RevokeFamily(ctx, tx, familyID, now) })
}

// RevokeAccessToken puts one access token id on the revocation list until it
// expires and tells every replica.
func RevokeAccessToken(ctx context.Context, q Querier, jti string, expires, now time.Time) error {
	if jti == "" || !expires.After(now) {
		return nil
	}
	if _, err := q.Exec(ctx, `INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES ($1, $2, $3)
		ON CONFLICT (jti) DO NOTHING`, jti, expires, now); err != nil {
		return classify(err)
	}
	return Notify(ctx, q, ChangeToken, jti)
}

// RevokeCodeTokens revokes what an authorization code was exchanged for:
// called when the code is presented again (RFC 6749 section 4.1.2).
func (s *Store) RevokeCodeTokens(ctx context.Context, a AuthRequest, now time.Time) error {
	return s.InTx(ctx, func(tx pgx.Tx) error {
		if a.RefreshFamilyID != "" {
			if err := RevokeFamily(ctx, tx, a.RefreshFamilyID, now); err != nil {
				return err
			}
		}
		if a.AccessExpiresAt != nil {
			return RevokeAccessToken(ctx, tx, a.AccessTokenID, *a.AccessExpiresAt, now)
		}
		return nil
	})
}

// RevokedTokens returns the revoked access-token ids not yet expired at now.
func (s *Store) RevokedTokens(ctx context.Context, now time.Time) (map[string]time.Time, error) {
	rows, err := s.Pool.Query(ctx, `SELECT jti, expires_at FROM revoked_tokens WHERE expires_at > $1`, now)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var jti string
		var exp time.Time
		if err := rows.Scan(&jti, &exp); err != nil {
			return nil, classify(err)
		}
		out[jti] = exp
	}
	return out, classify(rows.Err())
}

// RevokedTokenExpiry reports when a revoked token id leaves the list.
func (s *Store) RevokedTokenExpiry(ctx context.Context, jti string) (time.Time, error) {
	var exp time.Time
	err := s.Pool.QueryRow(ctx, `SELECT expires_at FROM revoked_tokens WHERE jti = $1`, jti).Scan(&exp)
	return exp, classify(err)
}

// ClientsCreatedSince maps the clients created after t to when: a token
// that names one of them and was issued before is an earlier client's of the
// same id, removed since.
func (s *Store) ClientsCreatedSince(ctx context.Context, t time.Time) (map[string]time.Time, error) {
	return idExpiries(s.Pool.Query(ctx, `SELECT id, created_at FROM clients WHERE created_at > $1`, t))
}

// DisabledClients lists the ids of disabled clients.
func (s *Store) DisabledClients(ctx context.Context) (map[string]bool, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id FROM clients WHERE disabled_at IS NOT NULL`)
	if err != nil {
		return nil, classify(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, classify(err)
	}
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// RefreshTokenByHash finds a refresh token by the SHA-256 of its value,
// whatever its state (introspection and revocation).
func (s *Store) RefreshTokenByHash(ctx context.Context, hash []byte) (RefreshToken, error) {
	return scanRefresh(s.Pool.QueryRow(ctx, `SELECT `+refreshColumns+` FROM refresh_tokens WHERE token_hash = $1`, hash))
}
