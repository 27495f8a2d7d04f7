package storage

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// DeviceAuthorization is one device authorization request (RFC 8628) from
// /oauth/device_authorization until its device code yields tokens, once.
type DeviceAuthorization struct {
	DeviceCodeHash []byte
	UserCode       string // normalized: upper case, no separator
	ClientID       string
	Scopes         []string
	Status         string // pending, approved, denied, consumed
	UserID         string
	AuthTime       *time.Time
	AMR            []string
	RemoteAddr     string
	UserAgent      string
	PollInterval   int // seconds; grows by 5 with every slow_down
	LastPolledAt   *time.Time
	CreatedAt      time.Time
	ExpiresAt      time.Time
}

var (
	// ErrDevicePending: nobody approved or denied yet (authorization_pending).
	ErrDevicePending = errors.New("device authorization pending")
	// ErrDeviceSlowDown: polled faster than the interval, which grew by 5 s.
	ErrDeviceSlowDown = errors.New("device polled too fast")
	// ErrDeviceDenied: the user denied the request.
	ErrDeviceDenied = errors.New("device authorization denied")
	// ErrDeviceExpired: the device code expired.
	ErrDeviceExpired = errors.New("device code expired")
	// ErrDeviceConsumed: the device code already yielded tokens.
	ErrDeviceConsumed = errors.New("device code already used")
)

const deviceColumns = `device_code_hash, user_code, client_id, scopes, status, coalesce(user_id::text, ''), auth_time, amr,
	remote_addr, user_agent, poll_interval, last_polled_at, created_at, expires_at`

func scanDevice(row pgx.Row) (DeviceAuthorization, error) {
	var d DeviceAuthorization
	err := row.Scan(&d.DeviceCodeHash, &d.UserCode, &d.ClientID, &d.Scopes, &d.Status, &d.UserID, &d.AuthTime, &d.AMR,
		&d.RemoteAddr, &d.UserAgent, &d.PollInterval, &d.LastPolledAt, &d.CreatedAt, &d.ExpiresAt)
	return d, classify(err)
}

// InsertDeviceAuthorization stores a pending request. A user code already
// in use gives ErrConflict: the caller draws another one.
func (s *Store) InsertDeviceAuthorization(ctx context.Context, d DeviceAuthorization) error {
	if d.Scopes == nil {
		d.Scopes = []string{}
	}
	_, err := s.Pool.Exec(ctx, `
		INSERT INTO device_authorizations (device_code_hash, user_code, client_id, scopes, remote_addr, user_agent,
		                                   poll_interval, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		d.DeviceCodeHash, d.UserCode, d.ClientID, d.Scopes, d.RemoteAddr, d.UserAgent, d.PollInterval, d.CreatedAt, d.ExpiresAt)
	return classify(err)
}

// PendingDeviceByUserCode finds a request still waiting for a decision.
func (s *Store) PendingDeviceByUserCode(ctx context.Context, userCode string, now time.Time) (DeviceAuthorization, error) {
	return scanDevice(s.Pool.QueryRow(ctx, `SELECT `+deviceColumns+` FROM device_authorizations
		WHERE user_code = $1 AND status = 'pending' AND expires_at > $2`, userCode, now))
}

// DecideDevice approves (for userID, authenticated at authTime) or denies a
// pending request; a request decided, expired or unknown is ErrNotFound.
func (s *Store) DecideDevice(ctx context.Context, userCode string, approve bool, userID string, authTime time.Time, amr []string, now time.Time) error {
	status := "denied"
	if approve {
		status = "approved"
	}
	if amr == nil {
		amr = []string{}
	}
	tag, err := s.Pool.Exec(ctx, `
		UPDATE device_authorizations SET status = $2, user_id = $3, auth_time = $4, amr = $5, decided_at = $6
		WHERE user_code = $1 AND status = 'pending' AND expires_at > $6`, userCode, status, userID, authTime, amr, now)
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// PollDevice answers one poll of the token endpoint, inside the caller's
// transaction. An approved request is moved to consumed in one conditional
// UPDATE and returned: of any number of concurrent polls exactly one gets
// it. Otherwise the poll is counted (a poll sooner than the interval after
// the last one widens the interval by 5 seconds, RFC 8628 section 3.5) and
// the state is reported as ErrDevicePending, ErrDeviceSlowDown,
// ErrDeviceDenied, ErrDeviceExpired, ErrDeviceConsumed or ErrNotFound. The
// caller commits in every case, so the poll time is kept.
func PollDevice(ctx context.Context, q Querier, hash []byte, clientID string, now time.Time) (DeviceAuthorization, error) {
	d, err := scanDevice(q.QueryRow(ctx, `
		UPDATE device_authorizations SET status = 'consumed', last_polled_at = $3
		WHERE device_code_hash = $1 AND client_id = $2 AND status = 'approved' AND expires_at > $3
		RETURNING `+deviceColumns, hash, clientID, now))
	if !errors.Is(err, ErrNotFound) {
		return d, err
	}
	d, err = scanDevice(q.QueryRow(ctx, `SELECT `+deviceColumns+` FROM device_authorizations
		WHERE device_code_hash = $1 FOR UPDATE`, hash))
	switch {
	case err != nil:
		return DeviceAuthorization{}, err
	case d.ClientID != clientID:
		return DeviceAuthorization{}, ErrNotFound
	case !now.Before(d.ExpiresAt):
		return DeviceAuthorization{}, ErrDeviceExpired
	case d.Status == "denied":
		return DeviceAuthorization{}, ErrDeviceDenied
	case d.Status == "consumed":
		return DeviceAuthorization{}, ErrDeviceConsumed
	}
	slow := d.LastPolledAt != nil && now.Sub(*d.LastPolledAt) < time.Duration(d.PollInterval)*time.Second
	interval := d.PollInterval
	if slow {
		interval += 5
	}
	if _, err := q.Exec(ctx, `UPDATE device_authorizations SET last_polled_at = $2, poll_interval = $3 WHERE device_code_hash = $1`,
		hash, now, interval); err != nil {
		return DeviceAuthorization{}, classify(err)
	}
	if slow {
		return DeviceAuthorization{}, ErrDeviceSlowDown
	}
	return DeviceAuthorization{}, ErrDevicePending
}
