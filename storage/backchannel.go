package storage

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// ChangeLogout: logout tokens are waiting to be sent; no id.
const ChangeLogout ChangeKind = "logout"

// RecordSessionClient notes that session gave tokens to client, so that the
// client hears of the session's end (OpenID Connect Back-Channel Logout).
func RecordSessionClient(ctx context.Context, q Querier, sessionID, clientID string) error {
	if sessionID == "" {
		return nil
	}
	_, err := q.Exec(ctx, `INSERT INTO session_clients (session_id, client_id)
		SELECT id, $2 FROM sessions WHERE id::text = $1 ON CONFLICT DO NOTHING`, sessionID, clientID)
	return classify(err)
}

// enqueueLogouts queues a logout token for every client with a back-channel
// logout URI that the sessions chosen by where (a condition on sessions s,
// with args) gave tokens to, and announces them. It runs in the transaction
// that ends those sessions.
func enqueueLogouts(ctx context.Context, q Querier, where string, args ...any) error {
	tag, err := q.Exec(ctx, `INSERT INTO backchannel_logouts (session_id, user_id, client_id)
		SELECT s.id, s.user_id, sc.client_id FROM sessions s
		JOIN session_clients sc ON sc.session_id = s.id
		JOIN clients c ON c.id = sc.client_id
		WHERE c.backchannel_logout_uri <> '' AND c.disabled_at IS NULL AND `+where, args...)
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return nil
	}
	return Notify(ctx, q, ChangeLogout, "")
}

// PendingLogout is one logout token to send.
type PendingLogout struct {
	ID                   int64
	SessionID, UserID    string
	ClientID, URI, IDAlg string
	Attempts             int
}

// ClaimLogouts leases up to limit due logout tokens to this replica for
// lease: other replicas skip them meanwhile, and a replica that dies while
// sending leaves them to be sent again after the lease.
func (s *Store) ClaimLogouts(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]PendingLogout, error) {
	rows, err := s.Pool.Query(ctx, `
		WITH due AS (
			SELECT id FROM backchannel_logouts WHERE next_attempt_at <= $1
			ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
		UPDATE backchannel_logouts b SET next_attempt_at = $1::timestamptz + $2::interval, attempts = b.attempts + 1
		FROM due, clients c WHERE b.id = due.id AND c.id = b.client_id
		RETURNING b.id, b.session_id::text, b.user_id::text, b.client_id, c.backchannel_logout_uri, c.id_token_alg, b.attempts`,
		now, lease, limit)
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (PendingLogout, error) {
		var l PendingLogout
		err := row.Scan(&l.ID, &l.SessionID, &l.UserID, &l.ClientID, &l.URI, &l.IDAlg, &l.Attempts)
		return l, err
	})
	return out, classify(err)
}

// LogoutDelivered removes a delivered logout token, or one given up on.
func (s *Store) LogoutDelivered(ctx context.Context, id int64) error {
	_, err := s.Pool.Exec(ctx, `DELETE FROM backchannel_logouts WHERE id = $1`, id)
	return classify(err)
}

// LogoutFailed schedules another attempt at next, keeping the reason.
func (s *Store) LogoutFailed(ctx context.Context, id int64, next time.Time, reason string) error {
	if len(reason) > 500 {
		reason = reason[:500]
	}
	_, err := s.Pool.Exec(ctx, `UPDATE backchannel_logouts SET next_attempt_at = $2, last_error = $3 WHERE id = $1`, id, next, reason)
	return classify(err)
}
