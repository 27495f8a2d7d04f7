package storage

import "context"

// UserByIDIn finds a user by id through q, so that a transaction that
// already holds a connection does not need a second one from the pool (20
// concurrent token requests each waiting for one would exhaust it).
func UserByIDIn(ctx context.Context, q Querier, id string) (User, error) {
	return scanUser(q.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id::text = $1`, id))
}
