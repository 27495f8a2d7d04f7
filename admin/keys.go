package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mlflow-gate/mlflow-gate/idp"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

// ListKeys lists the signing keys, newest first.
func (s *Service) ListKeys(ctx context.Context, a Actor) ([]storage.SigningKey, error) {
	if err := s.authorize(ctx, a); err != nil {
		return nil, err
	}
	keys, err := s.st.ListSigningKeys(ctx)
	return keys, classify(err)
}

// RotateKey makes the next signing key of alg (idp.AlgES256 or AlgRS256). It
// is published at once and signs after delay on every replica; the keys it
// replaces stop signing then and stay published for the key lifetime.
func (s *Service) RotateKey(ctx context.Context, a Actor, alg string, delay time.Duration) (storage.SigningKey, error) {
	if err := s.authorize(ctx, a); err != nil {
		return storage.SigningKey{}, err
	}
	if alg != idp.AlgES256 && alg != idp.AlgRS256 {
		return storage.SigningKey{}, Errorf(EInvalid, "unsupported algorithm %q: use ES256 or RS256", alg)
	}
	if delay < 0 {
		return storage.SigningKey{}, Errorf(EInvalid, "the publish delay must not be negative")
	}
	now := s.cfg.Now()
	k, err := idp.NewSigningKey(alg, s.cfg.KeyEncryptionKey, now.Add(delay))
	if err != nil {
		return storage.SigningKey{}, err
	}
	if err := s.st.RotateSigningKey(ctx, a.audit(), k, s.cfg.KeyLifetime, now); err != nil {
		return storage.SigningKey{}, classify(fmt.Errorf("storing the next signing key: %w", err))
	}
	return k, nil
}

// RevokeKey revokes kid: every replica drops it from the key set and refuses
// what it signed. Revoking the only key able to sign for its algorithm is a
// conflict (wrapping storage.ErrOnlySigningKey) unless force, which makes a
// replacement that signs at once; its kid is returned.
func (s *Service) RevokeKey(ctx context.Context, a Actor, kid string, force bool) (string, error) {
	if err := s.authorize(ctx, a); err != nil {
		return "", err
	}
	now := s.cfg.Now()
	var replace func(alg string) (storage.SigningKey, error)
	if force {
		if len(s.cfg.KeyEncryptionKey) != 32 {
			return "", errors.New("the key encryption key must be 32 bytes")
		}
		replace = func(alg string) (storage.SigningKey, error) {
			return idp.NewSigningKey(alg, s.cfg.KeyEncryptionKey, now)
		}
	}
	repl, err := s.st.RevokeSigningKey(ctx, a.audit(), kid, s.cfg.KeyLifetime, now, replace)
	return repl, classify(err)
}
