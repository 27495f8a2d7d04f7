package idp

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// signingKey is a key that can sign now.
type signingKey struct {
	kid  string
	alg  string
	priv crypto.Signer
}

// scheduledKey is a key that signs from notBefore until the next one's
// notBefore: the switch happens on every replica's clock, notification or not.
type scheduledKey struct {
	notBefore time.Time
	key       *signingKey
}

// verifyKey is a published key: its algorithm is the one stored with it.
type verifyKey struct {
	kid string
	alg string
	pub crypto.PublicKey
	jwk jose.JSONWebKey
	exp *time.Time // dropped from the published set at this time
}

// signingAlgs are the algorithms the provider keeps a signing key of, each
// rotated alike: access tokens are signed with the configured one (ES256 is
// the fast default), ID tokens and logout tokens with the client's.
var signingAlgs = []string{AlgRS256, AlgES256}

// keyring caches the key set: SigningKey and KeySet are needed for every
// token, so they never cost a database round trip on the hot path.
type keyring struct {
	st  *storage.Store
	kek []byte
	alg string // of access tokens
	now func() time.Time
	gap time.Duration // minimum time between reloads caused by unknown kids

	mu       sync.RWMutex
	signers  map[string][]scheduledKey // by alg, newest notBefore first; never empty once loaded
	byKID    map[string]*verifyKey
	ordered  []*verifyKey
	loadedAt time.Time
}

func newKeyring(st *storage.Store, cfg *Config) *keyring {
	return &keyring{st: st, kek: cfg.KeyEncryptionKey, alg: cfg.SigningAlg, now: cfg.Now, gap: cfg.KeyReloadInterval,
		byKID: map[string]*verifyKey{}}
}

// ensure creates a key of each algorithm on first start (under a
// cluster-wide lock; a database made by an older gate gets the missing one)
// and loads the key set.
func (k *keyring) ensure(ctx context.Context) error {
	for _, alg := range signingAlgs {
		if _, err := k.st.EnsureSigningKey(ctx, alg, k.now(), func() (storage.SigningKey, error) {
			return generateKey(alg, k.kek, k.now())
		}); err != nil {
			return fmt.Errorf("%s signing key: %w", alg, err)
		}
	}
	return k.reload(ctx)
}

// reload replaces the cached key set with the database's. Keys that have
// not retired are decrypted ahead, so that a scheduled successor signs from
// its not_before without a reload.
func (k *keyring) reload(ctx context.Context) error {
	now := k.now()
	recs, err := k.st.SigningKeys(ctx, now)
	if err != nil {
		return fmt.Errorf("loading signing keys: %w", err)
	}
	byKID := make(map[string]*verifyKey, len(recs))
	var ordered []*verifyKey
	signers := make(map[string][]scheduledKey, len(signingAlgs))
	active := map[string]bool{}
	for _, r := range recs {
		var jwk jose.JSONWebKey
		if err := json.Unmarshal(r.PublicJWK, &jwk); err != nil || !jwk.Valid() || !jwk.IsPublic() {
			return fmt.Errorf("signing key %s: public key is unreadable", r.KID)
		}
		vk := &verifyKey{kid: r.KID, alg: r.Alg, pub: jwk.Key, jwk: jwk, exp: r.ExpiresAt}
		byKID[r.KID] = vk
		ordered = append(ordered, vk)
		if (r.RetireAt != nil && !r.RetireAt.After(now)) || active[r.Alg] {
			continue
		}
		priv, err := openPrivateKey(k.kek, r)
		if err != nil {
			return err
		}
		signers[r.Alg] = append(signers[r.Alg], scheduledKey{notBefore: r.NotBefore, key: &signingKey{kid: r.KID, alg: r.Alg, priv: priv}})
		active[r.Alg] = !r.NotBefore.After(now) // older keys can no longer sign
	}
	for _, alg := range signingAlgs {
		if !active[alg] {
			return fmt.Errorf("no %s signing key is active", alg)
		}
	}
	k.mu.Lock()
	k.signers, k.byKID, k.ordered, k.loadedAt = signers, byKID, ordered, now
	k.mu.Unlock()
	return nil
}

// signingKey is the newest key of alg whose not_before has passed; alg is
// one of signingAlgs.
func (k *keyring) signingKey(alg string) *signingKey {
	now := k.now()
	k.mu.RLock()
	defer k.mu.RUnlock()
	signers := k.signers[alg]
	for _, s := range signers {
		if !s.notBefore.After(now) {
			return s.key
		}
	}
	return signers[len(signers)-1].key
}

// has reports whether kid is still in the set: a token verified earlier
// stops being accepted the moment its key is revoked.
func (k *keyring) has(kid string) bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	_, ok := k.byKID[kid]
	return ok
}

// lookup finds a verification key by kid. On a miss it reloads the set at
// most once per interval, so a stream of tokens with made-up kids cannot
// turn into a stream of database queries.
func (k *keyring) lookup(ctx context.Context, kid string) (*verifyKey, error) {
	k.mu.RLock()
	vk, ok := k.byKID[kid]
	last := k.loadedAt
	k.mu.RUnlock()
	if ok {
		return vk, nil
	}
	if kid == "" || k.now().Sub(last) < k.gap {
		return nil, ErrUnknownKey
	}
	k.mu.Lock()
	if k.now().Sub(k.loadedAt) < k.gap { // another caller just reloaded
		vk, ok = k.byKID[kid]
		k.mu.Unlock()
		if ok {
			return vk, nil
		}
		return nil, ErrUnknownKey
	}
	k.loadedAt = k.now()
	k.mu.Unlock()
	if err := k.reload(ctx); err != nil {
		return nil, ErrUnknownKey
	}
	k.mu.RLock()
	vk, ok = k.byKID[kid]
	k.mu.RUnlock()
	if !ok {
		return nil, ErrUnknownKey
	}
	return vk, nil
}

// jwks is the public key set served at the JWKS endpoint (RFC 7517 section 5).
func (k *keyring) jwks() jose.JSONWebKeySet {
	k.mu.RLock()
	defer k.mu.RUnlock()
	now := k.now()
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(k.ordered))}
	for _, vk := range k.ordered {
		if vk.exp == nil || now.Before(*vk.exp) {
			set.Keys = append(set.Keys, vk.jwk)
		}
	}
	return set
}

// algorithms lists the algorithms ID tokens may be signed with, for
// discovery: RS256 first, which OpenID Connect Discovery requires.
func (k *keyring) algorithms() []string { return slices.Clone(signingAlgs) }

// generateKey makes a new key of alg and seals its private part.
func generateKey(alg string, kek []byte, now time.Time) (storage.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case AlgES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case AlgRS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return storage.SigningKey{}, fmt.Errorf("unsupported algorithm %q", alg)
	}
	if err != nil {
		return storage.SigningKey{}, err
	}
	jwk := jose.JSONWebKey{Key: priv.Public(), Algorithm: alg, Use: "sig"}
	tp, err := jwk.Thumbprint(crypto.SHA256) // RFC 7638: a kid derived from the key itself
	if err != nil {
		return storage.SigningKey{}, err
	}
	jwk.KeyID = b64.EncodeToString(tp)
	pub, err := json.Marshal(jwk)
	if err != nil {
		return storage.SigningKey{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return storage.SigningKey{}, err
	}
	sealed, err := seal(kek, der, keyAAD(jwk.KeyID, alg))
	if err != nil {
		return storage.SigningKey{}, err
	}
	return storage.SigningKey{KID: jwk.KeyID, Alg: alg, PrivateKeyEnc: sealed, PublicJWK: pub, NotBefore: now}, nil
}

// keyAAD binds a sealed private key to its kid and algorithm, so a row
// whose columns were swapped does not decrypt.
func keyAAD(kid, alg string) []byte {
	return []byte("mlflow-gate signing key\x00" + kid + "\x00" + alg)
}

func openPrivateKey(kek []byte, r storage.SigningKey) (crypto.Signer, error) {
	der, err := open(kek, r.PrivateKeyEnc, keyAAD(r.KID, r.Alg))
	if err != nil {
		return nil, fmt.Errorf("signing key %s does not decrypt: is the master secret the one it was created with? ", r.KID)
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", r.KID, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("signing key %s is not a signer", r.KID)
	}
	ok = (r.Alg == AlgES256 && isP256(signer)) || (r.Alg == AlgRS256 && isRSA(signer))
	if !ok {
		return nil, fmt.Errorf("signing key %s does not match its algorithm %s", r.KID, r.Alg)
	}
	return signer, nil
}

func isP256(s crypto.Signer) bool {
	k, ok := s.(*ecdsa.PrivateKey)
	return ok && k.Curve == elliptic.P256()
}

func isRSA(s crypto.Signer) bool {
	k, ok := s.(*rsa.PrivateKey)
	return ok && k.N.BitLen() >= 2048
}

// seal encrypts with AES-256-GCM; the random nonce is prepended.
func seal(key, plaintext, aad []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return gcm.Seal(nonce, nonce, plaintext, aad), nil
}

func open(key, sealed, aad []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if len(sealed) < gcm.NonceSize() {
		return nil, errors.New("sealed value too short")
	}
	return gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], aad)
}

// sha256Sum is the digest under which tokens, codes and PATs are stored.
func sha256Sum(s string) []byte {
	d := sha256.Sum256([]byte(s))
	return d[:]
}
