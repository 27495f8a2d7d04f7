package storage

import (
	"context"
	"time"
)

// LoginThrottle is the password-guessing policy, counted in PostgreSQL so
// that every replica sees the same counters.
type LoginThrottle struct {
	// Free failures before delays start.
	Free int
	// Base is the first lock; each further failure doubles it up to Max.
	Base, Max time.Duration
	// Window: a key whose last failure is older starts again from zero, so a
	// lock is always temporary.
	Window time.Duration
}

// LoginLockedUntil returns the latest lock among keys that is still in
// force at now, or the zero time.
func (s *Store) LoginLockedUntil(ctx context.Context, keys []string, now time.Time) (time.Time, error) {
	var until *time.Time
	err := s.Pool.QueryRow(ctx, `SELECT max(locked_until) FROM login_attempts WHERE key = ANY($1) AND locked_until > $2`,
		keys, now).Scan(&until)
	if err != nil || until == nil {
		return time.Time{}, classify(err)
	}
	return *until, nil
}

// RecordLoginFailure counts a failure against key and, past the free
// failures, locks it for a delay that doubles with each failure. It returns
// the failure count and the lock (zero when none).
func (s *Store) RecordLoginFailure(ctx context.Context, key string, p LoginThrottle, now time.Time) (int, time.Time, error) {
	var failures int
	err := s.Pool.QueryRow(ctx, `
		INSERT INTO login_attempts AS a (key, failures, last_failure) VALUES ($1, 1, $2)
		ON CONFLICT (key) DO UPDATE SET
			failures = CASE WHEN a.last_failure < $2 - $3::interval THEN 1 ELSE a.failures + 1 END,
			last_failure = $2,
			locked_until = CASE WHEN a.last_failure < $2 - $3::interval THEN NULL ELSE a.locked_until END
		RETURNING failures`, key, now, p.Window).Scan(&failures)
	if err != nil {
		return 0, time.Time{}, classify(err)
	}
	over := failures - p.Free
	if over <= 0 {
		return failures, time.Time{}, nil
	}
	delay := p.Base
	for i := 1; i < over && delay < p.Max; i++ {
		delay *= 2
	}
	delay = min(delay, p.Max)
	until := now.Add(delay)
	_, err = s.Pool.Exec(ctx, `UPDATE login_attempts SET locked_until = greatest(coalesce(locked_until, $2), $2) WHERE key = $1`, key, until)
	return failures, until, classify(err)
}

// ResetLoginFailures forgets the failures counted against key (after a
// successful login of that account).
func (s *Store) ResetLoginFailures(ctx context.Context, key string) error {
	_, err := s.Pool.Exec(ctx, `DELETE FROM login_attempts WHERE key = $1`, key)
	return classify(err)
}
