package storage

import (
	"context"
	"time"
)

// SweepExpired deletes provider rows that can no longer matter at now and
// reports how many went. Every replica may run it: the deletes are idempotent.
func (s *Store) SweepExpired(ctx context.Context, now time.Time) (int64, error) {
	stmts := []string{
		`DELETE FROM auth_requests WHERE expires_at < $1::timestamptz - interval '1 hour'`,
		`DELETE FROM revoked_tokens WHERE expires_at < $1`,
		`DELETE FROM sessions WHERE expires_at < $1`,
		`DELETE FROM refresh_tokens WHERE family_expires_at < $1`,
		`DELETE FROM login_attempts WHERE last_failure < $1::timestamptz - interval '1 day' AND (locked_until IS NULL OR locked_until < $1)`,
		`DELETE FROM personal_access_tokens WHERE coalesce(revoked_at, expires_at) < $1::timestamptz - interval '90 days'`,
		`DELETE FROM device_authorizations WHERE expires_at < $1::timestamptz - interval '1 hour'`,
		`DELETE FROM signing_keys WHERE expires_at < $1::timestamptz - interval '1 day'`,
	}
	var n int64
	for _, q := range stmts {
		tag, err := s.Pool.Exec(ctx, q, now)
		if err != nil {
			return n, classify(err)
		}
		n += tag.RowsAffected()
	}
	return n, nil
}
