package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrOnlySigningKey: revoking the key would leave no key of its algorithm
// able to sign, and no replacement was given.
var ErrOnlySigningKey = errors.New("the only key able to sign")

// State names where a key is in its life at now: "next" (published, not
// signing yet), "active", "retired" (published until its tokens expire),
// "expired" or "revoked".
func (k SigningKey) State(now time.Time) string {
	switch {
	case k.RevokedAt != nil:
		return "revoked"
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return "expired"
	case k.RetireAt != nil && !now.Before(*k.RetireAt):
		return "retired"
	case now.Before(k.NotBefore):
		return "next"
	}
	return "active"
}

// ListSigningKeys returns every stored key, newest first, without the
// sealed private parts.
func (s *Store) ListSigningKeys(ctx context.Context) ([]SigningKey, error) {
	rows, err := s.Pool.Query(ctx, `
		SELECT kid, alg, public_jwk, created_at, not_before, retire_at, expires_at, revoked_at
		FROM signing_keys ORDER BY not_before DESC, created_at DESC`)
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (SigningKey, error) {
		var k SigningKey
		err := row.Scan(&k.KID, &k.Alg, &k.PublicJWK, &k.CreatedAt, &k.NotBefore, &k.RetireAt, &k.ExpiresAt, &k.RevokedAt)
		return k, err
	})
	return out, classify(err)
}

// RotateSigningKey stores k, which starts signing at k.NotBefore, and
// reschedules the keys of its algorithm: each stops signing when the next
// one starts, and stays published for lifetime after that (the longest a
// token it signed can live). Every replica is told; the change is audited.
func (s *Store) RotateSigningKey(ctx context.Context, actor Actor, k SigningKey, lifetime time.Duration, now time.Time) error {
	return s.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(signingKeysLock)); err != nil {
			return classify(err)
		}
		if err := insertSigningKey(ctx, tx, k); err != nil {
			return err
		}
		if err := rescheduleKeys(ctx, tx, k.Alg, lifetime, now); err != nil {
			return err
		}
		if err := InsertEvent(ctx, tx, Event{At: now, Actor: actor.Name, RemoteAddr: actor.Address, Action: "key.rotate", Resource: "key:" + k.KID,
			Detail: map[string]any{"alg": k.Alg, "not_before": k.NotBefore}}); err != nil {
			return err
		}
		return Notify(ctx, tx, ChangeKey, k.KID)
	})
}

// RevokeSigningKey marks kid revoked: it neither signs nor verifies from the
// moment replicas are told. When it is the only key of its algorithm able to
// sign at now, replacement must make one of that algorithm (it starts
// signing at once);
// otherwise ErrOnlySigningKey. It reports the replacement's kid, if any.
func (s *Store) RevokeSigningKey(ctx context.Context, actor Actor, kid string, lifetime time.Duration, now time.Time,
	replacement func(alg string) (SigningKey, error)) (string, error) {
	var replaced string
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(signingKeysLock)); err != nil {
			return classify(err)
		}
		var alg string
		err := tx.QueryRow(ctx, `UPDATE signing_keys SET revoked_at = $2 WHERE kid = $1 AND revoked_at IS NULL RETURNING alg`,
			kid, now).Scan(&alg)
		if errors.Is(classify(err), ErrNotFound) {
			return fmt.Errorf("%w: no unrevoked key %q", ErrNotFound, kid)
		} else if err != nil {
			return classify(err)
		}
		if err := rescheduleKeys(ctx, tx, alg, lifetime, now); err != nil {
			return err
		}
		var usable bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM signing_keys WHERE alg = $1 AND revoked_at IS NULL
			AND not_before <= $2 AND (retire_at IS NULL OR retire_at > $2))`, alg, now).Scan(&usable); err != nil {
			return classify(err)
		}
		if !usable {
			if replacement == nil {
				return fmt.Errorf("%w: %s is %w for %s", ErrConflict, kid, ErrOnlySigningKey, alg)
			}
			k, err := replacement(alg)
			if err != nil {
				return err
			}
			k.NotBefore = now
			if err := insertSigningKey(ctx, tx, k); err != nil {
				return err
			}
			if err := rescheduleKeys(ctx, tx, alg, lifetime, now); err != nil {
				return err
			}
			replaced = k.KID
		}
		if err := InsertEvent(ctx, tx, Event{At: now, Actor: actor.Name, RemoteAddr: actor.Address, Action: "key.revoke", Resource: "key:" + kid,
			Detail: map[string]any{"alg": alg, "replacement": replaced}}); err != nil {
			return err
		}
		return Notify(ctx, tx, ChangeKey, kid)
	})
	return replaced, err
}

// rescheduleKeys orders the unrevoked, not yet retired keys of alg by
// not_before: each retires when the next starts signing and expires
// lifetime later; the newest never retires.
func rescheduleKeys(ctx context.Context, q Querier, alg string, lifetime time.Duration, now time.Time) error {
	rows, err := q.Query(ctx, `SELECT kid, not_before FROM signing_keys
		WHERE alg = $1 AND revoked_at IS NULL AND (retire_at IS NULL OR retire_at > $2)
		ORDER BY not_before, created_at`, alg, now)
	if err != nil {
		return classify(err)
	}
	type sched struct {
		kid string
		nb  time.Time
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (sched, error) {
		var k sched
		return k, row.Scan(&k.kid, &k.nb)
	})
	if err != nil {
		return classify(err)
	}
	for i, k := range keys {
		var retire, expires *time.Time
		if i+1 < len(keys) {
			r, e := keys[i+1].nb, keys[i+1].nb.Add(lifetime)
			retire, expires = &r, &e
		}
		if _, err := q.Exec(ctx, `UPDATE signing_keys SET retire_at = $2, expires_at = $3 WHERE kid = $1`,
			k.kid, retire, expires); err != nil {
			return classify(err)
		}
	}
	return nil
}
