package storage

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// SigningKey is one provider signing key. The private key is stored only
// encrypted (the idp package seals it with AES-GCM under a derived key); the
// algorithm is fixed per key so a verifier never takes it from a token.
type SigningKey struct {
	KID           string
	Alg           string // "ES256" or "RS256"
	PrivateKeyEnc []byte
	PublicJWK     []byte // JSON Web Key (RFC 7517), public part only
	CreatedAt     time.Time
	NotBefore     time.Time  // signing starts
	RetireAt      *time.Time // signing stops; still published until ExpiresAt
	ExpiresAt     *time.Time // dropped from the key set
	RevokedAt     *time.Time // compromised: neither signs nor verifies
}

// signingKeysLock serializes first-start key generation across replicas.
const signingKeysLock = 0x6d676b657973 // "mgkeys"

// InsertSigningKey stores k and announces it to every replica.
func (s *Store) InsertSigningKey(ctx context.Context, k SigningKey) error {
	return s.InTx(ctx, func(tx pgx.Tx) error {
		if err := insertSigningKey(ctx, tx, k); err != nil {
			return err
		}
		return Notify(ctx, tx, ChangeKey, k.KID)
	})
}

func insertSigningKey(ctx context.Context, q Querier, k SigningKey) error {
	_, err := q.Exec(ctx, `
		INSERT INTO signing_keys (kid, alg, private_key_enc, public_jwk, not_before, retire_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		k.KID, k.Alg, k.PrivateKeyEnc, k.PublicJWK, k.NotBefore, k.RetireAt, k.ExpiresAt)
	return classify(err)
}

// EnsureSigningKey runs make under a cluster-wide lock when no key of alg can
// sign at now, and stores what it returns, so that replicas starting together
// on an empty database create one key, not one each. It reports whether a key
// was created.
func (s *Store) EnsureSigningKey(ctx context.Context, alg string, now time.Time, make func() (SigningKey, error)) (bool, error) {
	created := false
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(signingKeysLock)); err != nil {
			return classify(err)
		}
		var exists bool
		err := tx.QueryRow(ctx, `
			SELECT EXISTS (SELECT 1 FROM signing_keys WHERE alg = $1 AND revoked_at IS NULL
			               AND not_before <= $2 AND (retire_at IS NULL OR retire_at > $2))`, alg, now).Scan(&exists)
		if err != nil || exists {
			return classify(err)
		}
		k, err := make()
		if err != nil {
			return err
		}
		if err := insertSigningKey(ctx, tx, k); err != nil {
			return err
		}
		created = true
		return Notify(ctx, tx, ChangeKey, k.KID)
	})
	return created, err
}

// SigningKeys returns every key that may still verify at now (not revoked,
// not expired), newest first.
func (s *Store) SigningKeys(ctx context.Context, now time.Time) ([]SigningKey, error) {
	rows, err := s.Pool.Query(ctx, `
		SELECT kid, alg, private_key_enc, public_jwk, created_at, not_before, retire_at, expires_at, revoked_at
		FROM signing_keys
		WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)
		ORDER BY not_before DESC, created_at DESC`, now)
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (SigningKey, error) {
		var k SigningKey
		err := row.Scan(&k.KID, &k.Alg, &k.PrivateKeyEnc, &k.PublicJWK, &k.CreatedAt, &k.NotBefore, &k.RetireAt, &k.ExpiresAt, &k.RevokedAt)
		return k, err
	})
	return out, classify(err)
}
