package idp

import (
	"errors"
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

// KeyEncryptionPurpose is the purpose the key sealing private signing keys is
// derived for from MLFLOW_GATE_SECRET: serve and `keys rotate` must derive the
// same key, so it is written only here.
const KeyEncryptionPurpose = "signing-key-encryption"

// keySkew covers clocks that differ between replicas and relying parties.
const keySkew = time.Minute

// KeyLifetime is how long a key stays published after it stops signing:
// the longest-lived token it may have signed (access or ID token; refresh
// tokens are opaque and not signed), plus clock skew.
func KeyLifetime(accessTTL, idTTL time.Duration) time.Duration {
	return max(accessTTL, idTTL) + keySkew
}

// NewSigningKey makes a signing key of alg, sealed under kek (32 bytes, the
// key derived with KeyEncryptionPurpose) as on first start, that signs from
// notBefore. Storing it is the admin layer's business.
func NewSigningKey(alg string, kek []byte, notBefore time.Time) (storage.SigningKey, error) {
	if len(kek) != 32 {
		return storage.SigningKey{}, errors.New("the key encryption key must be 32 bytes")
	}
	return generateKey(alg, kek, notBefore.Truncate(time.Millisecond))
}
