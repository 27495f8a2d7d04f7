package idp

import (
	"context"
	"time"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// Administrative operations live in package admin, which imports idp; these
// fixtures do the same through storage so that protocol tests can set up
// clients, tokens and keys.

// testActor is who the fixtures' changes are audited as.
var testActor = storage.Actor{Name: "test"}

// patTTL is the lifetime fixtures give a personal access token when asked for 0.
const patTTL = 90 * 24 * time.Hour

func createClient(ctx context.Context, st *storage.Store, spec ClientSpec) (string, error) {
	c, secret, err := NewClient(spec)
	if err != nil {
		return "", err
	}
	return secret, st.CreateClient(ctx, testActor, c)
}

func createPAT(ctx context.Context, st *storage.Store, owner, name string, ttl time.Duration) (string, storage.PAT, error) {
	if ttl == 0 {
		ttl = patTTL
	}
	tok, rec, err := NewPAT(name, time.Now(), ttl)
	if err != nil {
		return "", storage.PAT{}, err
	}
	rec, err = st.InsertPAT(ctx, testActor, owner, rec)
	return tok, rec, err
}

func createClientPAT(ctx context.Context, st *storage.Store, clientID, name string) (string, storage.PAT, error) {
	tok, rec, err := NewPAT(name, time.Now(), patTTL)
	if err != nil {
		return "", storage.PAT{}, err
	}
	rec, err = st.InsertClientPAT(ctx, testActor, clientID, rec)
	return tok, rec, err
}

func rotateKey(ctx context.Context, st *storage.Store, kek []byte, alg string, delay, lifetime time.Duration, now time.Time) (storage.SigningKey, error) {
	k, err := NewSigningKey(alg, kek, now.Add(delay))
	if err != nil {
		return storage.SigningKey{}, err
	}
	return k, st.RotateSigningKey(ctx, testActor, k, lifetime, now)
}

func revokeKey(ctx context.Context, st *storage.Store, kid string, kek []byte, force bool, lifetime time.Duration, now time.Time) (string, error) {
	var replace func(alg string) (storage.SigningKey, error)
	if force {
		replace = func(alg string) (storage.SigningKey, error) { return NewSigningKey(alg, kek, now) }
	}
	return st.RevokeSigningKey(ctx, testActor, kid, lifetime, now, replace)
}
