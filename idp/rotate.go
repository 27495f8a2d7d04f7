package idp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// JWKSMaxAge is how long clients may cache the key set (Cache-Control on
// the JWKS endpoint). A rotated key is published longer than this before it
// signs, so no client meets a kid it has not seen.
const JWKSMaxAge = 5 * time.Minute

// DefaultPublishDelay is how long `keys rotate` publishes the next key
// before it starts signing: twice JWKSMaxAge.
const DefaultPublishDelay = 2 * JWKSMaxAge

// keySkew covers clocks that differ between replicas and relying parties.
const keySkew = time.Minute

// KeyLifetime is how long a key stays published after it stops signing:
// the longest-lived token it may have signed (access or ID token; refresh
// tokens are opaque and not signed), plus clock skew.
func KeyLifetime(accessTTL, idTTL time.Duration) time.Duration {
	return max(accessTTL, idTTL) + keySkew
}

// RotateKey makes the next signing key of alg, sealed under kek as on first
// start. It is published at once and signs from now+delay on every replica;
// the keys it replaces stop signing then and stay published for lifetime.
func RotateKey(ctx context.Context, st *storage.Store, actor string, kek []byte, alg string, delay, lifetime time.Duration, now time.Time) (storage.SigningKey, error) {
	if len(kek) != 32 {
		return storage.SigningKey{}, errors.New("the key encryption key must be 32 bytes")
	}
	k, err := generateKey(alg, kek, now.Add(delay).Truncate(time.Millisecond))
	if err != nil {
		return storage.SigningKey{}, err
	}
	if err := st.RotateSigningKey(ctx, actor, k, lifetime, now); err != nil {
		return storage.SigningKey{}, fmt.Errorf("storing the next signing key: %w", err)
	}
	return k, nil
}

// RevokeKey revokes kid: every replica drops it from the key set and
// refuses what it signed as soon as it is told. Revoking the only key able
// to sign for its algorithm is refused unless force, which makes a
// replacement (sealed under kek) that signs at once; its kid is returned.
// Relying parties that cached the key set meet the replacement's kid before
// their cache expires, which is the price of an emergency.
func RevokeKey(ctx context.Context, st *storage.Store, actor, kid string, kek []byte, force bool, lifetime time.Duration, now time.Time) (string, error) {
	var replace func(alg string) (storage.SigningKey, error)
	if force {
		if len(kek) != 32 {
			return "", errors.New("the key encryption key must be 32 bytes")
		}
		replace = func(alg string) (storage.SigningKey, error) { return generateKey(alg, kek, now) }
	}
	return st.RevokeSigningKey(ctx, actor, kid, lifetime, now, replace)
}
