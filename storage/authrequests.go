package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// AuthRequest is one authorization request (RFC 6749 section 4.1.1) from its
// creation at /authorize until its code is consumed at the token endpoint.
type AuthRequest struct {
	ID                  string
	ClientID            string
	RedirectURI         string
	Scopes              []string
	State               string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string
	Prompt              []string
	MaxAge              *int32
	LoginHint           string
	BrowserHash         []byte
	UserID              string
	SessionID           string
	AuthTime            *time.Time
	AMR                 []string
	CodeExpiresAt       *time.Time
	CodeUsedAt          *time.Time
	RefreshFamilyID     string
	AccessTokenID       string
	AccessExpiresAt     *time.Time
	CreatedAt           time.Time
	ExpiresAt           time.Time
}

// Done reports whether a user has authenticated for the request.
func (a AuthRequest) Done() bool { return a.UserID != "" }

var (
	// ErrCodeReplay: the code was already exchanged. The caller must revoke
	// what the first exchange produced (RFC 6749 section 4.1.2).
	ErrCodeReplay = errors.New("authorization code already used")
	// ErrCodeExpired: the code is past its lifetime.
	ErrCodeExpired = errors.New("authorization code expired")
	// ErrCodeClient: the code was issued to another client.
	ErrCodeClient = errors.New("authorization code issued to another client")
)

const authRequestColumns = `id::text, client_id, redirect_uri, scopes, state, nonce, code_challenge, code_challenge_method,
	prompt, max_age, login_hint, browser_hash, coalesce(user_id::text, ''), coalesce(session_id::text, ''), auth_time, amr,
	code_expires_at, code_used_at, coalesce(refresh_family_id::text, ''), access_token_id, access_expires_at, created_at, expires_at`

func scanAuthRequest(row pgx.Row) (AuthRequest, error) {
	var a AuthRequest
	err := row.Scan(&a.ID, &a.ClientID, &a.RedirectURI, &a.Scopes, &a.State, &a.Nonce, &a.CodeChallenge, &a.CodeChallengeMethod,
		&a.Prompt, &a.MaxAge, &a.LoginHint, &a.BrowserHash, &a.UserID, &a.SessionID, &a.AuthTime, &a.AMR,
		&a.CodeExpiresAt, &a.CodeUsedAt, &a.RefreshFamilyID, &a.AccessTokenID, &a.AccessExpiresAt, &a.CreatedAt, &a.ExpiresAt)
	return a, classify(err)
}

// CreateAuthRequest stores a request waiting for the user to log in and
// returns it with its id.
func (s *Store) CreateAuthRequest(ctx context.Context, a AuthRequest) (AuthRequest, error) {
	if a.Scopes == nil {
		a.Scopes = []string{}
	}
	if a.Prompt == nil {
		a.Prompt = []string{}
	}
	return scanAuthRequest(s.Pool.QueryRow(ctx, `
		INSERT INTO auth_requests (client_id, redirect_uri, scopes, state, nonce, code_challenge, code_challenge_method,
		                           prompt, max_age, login_hint, browser_hash, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		RETURNING `+authRequestColumns,
		a.ClientID, a.RedirectURI, a.Scopes, a.State, a.Nonce, a.CodeChallenge, a.CodeChallengeMethod,
		a.Prompt, a.MaxAge, a.LoginHint, a.BrowserHash, a.CreatedAt, a.ExpiresAt))
}

// AuthRequestByID loads a request that has not expired at now.
func (s *Store) AuthRequestByID(ctx context.Context, id string, now time.Time) (AuthRequest, error) {
	return scanAuthRequest(s.Pool.QueryRow(ctx, `SELECT `+authRequestColumns+` FROM auth_requests
		WHERE id::text = $1 AND expires_at > $2`, id, now))
}

// CompleteAuthRequest records who authenticated and the hash of the code
// issued for the request. Only a request nobody completed yet changes, so
// one request yields at most one code.
func (s *Store) CompleteAuthRequest(ctx context.Context, id, userID, sessionID string, authTime time.Time, amr []string,
	codeHash []byte, codeExpires, now time.Time) error {
	if amr == nil {
		amr = []string{}
	}
	tag, err := s.Pool.Exec(ctx, `
		UPDATE auth_requests SET user_id = $2, session_id = $3, auth_time = $4, amr = $5, code_hash = $6, code_expires_at = $7
		WHERE id::text = $1 AND user_id IS NULL AND code_hash IS NULL AND expires_at > $8`,
		id, userID, nullable(sessionID), authTime, amr, codeHash, codeExpires, now)
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: authorization request is gone or already completed", ErrNotFound)
	}
	return nil
}

// ConsumeCode marks the code single-use-consumed in one conditional UPDATE
// and returns its request, so that of any number of concurrent redemptions
// exactly one succeeds. The client id is part of the condition: a client
// presenting another client's code does not burn it. On failure it reports
// ErrNotFound, ErrCodeClient, ErrCodeExpired or ErrCodeReplay (with the
// request, whose recorded tokens the caller revokes).
//
// Run it in the transaction that also records the tokens (RecordCodeTokens):
// a concurrent redemption then waits on the row lock and, once the first
// commits, sees the code used and the tokens to revoke.
func ConsumeCode(ctx context.Context, q Querier, codeHash []byte, clientID string, now time.Time) (AuthRequest, error) {
	a, err := scanAuthRequest(q.QueryRow(ctx, `
		UPDATE auth_requests SET code_used_at = $3
		WHERE code_hash = $1 AND client_id = $2 AND code_used_at IS NULL AND code_expires_at > $3
		RETURNING `+authRequestColumns, codeHash, clientID, now))
	if !errors.Is(err, ErrNotFound) {
		return a, err
	}
	a, err = scanAuthRequest(q.QueryRow(ctx, `SELECT `+authRequestColumns+` FROM auth_requests WHERE code_hash = $1`, codeHash))
	switch {
	case err != nil:
		return AuthRequest{}, err
	case a.CodeUsedAt != nil:
		return a, ErrCodeReplay
	case a.ClientID != clientID:
		return AuthRequest{}, ErrCodeClient
	default:
		return AuthRequest{}, ErrCodeExpired
	}
}

// RecordCodeTokens remembers what a code was exchanged for, inside the
// exchange's transaction, so a replay can revoke it.
func RecordCodeTokens(ctx context.Context, q Querier, id, familyID, accessTokenID string, accessExpires time.Time) error {
	var fam any
	if familyID != "" {
		fam = familyID
	}
	_, err := q.Exec(ctx, `UPDATE auth_requests SET refresh_family_id = $2, access_token_id = $3, access_expires_at = $4
		WHERE id::text = $1`, id, fam, accessTokenID, accessExpires)
	return classify(err)
}
