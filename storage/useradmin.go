package storage

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// UserListing is a user as the admin pages list them.
type UserListing struct {
	User
	// LastLogin is the newest password login of the user (a sessions row's
	// authentication time), nil if never.
	LastLogin *time.Time
}

// SearchUsers lists users whose name contains q (any case), ordered by name,
// at most limit, starting after the name after (keyset paging on the
// lower(username) index; "" starts at the beginning). It reports whether more
// follow.
func (s *Store) SearchUsers(ctx context.Context, q, after string, limit int) ([]UserListing, bool, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	pattern := "%" + escapeLike(strings.ToLower(q)) + "%"
	rows, err := s.Pool.Query(ctx, `SELECT `+userColumns+`,
		(SELECT max(s.auth_time) FROM sessions s WHERE s.user_id = u.id)
		FROM users u
		WHERE lower(u.username) LIKE $1 AND lower(u.username) > lower($2)
		ORDER BY lower(u.username) LIMIT $3`, pattern, after, limit+1)
	if err != nil {
		return nil, false, classify(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (UserListing, error) {
		var l UserListing
		err := row.Scan(&l.ID, &l.Username, &l.Email, &l.EmailVerified, &l.Name, &l.GivenName, &l.FamilyName, &l.PasswordHash, &l.DisabledAt, &l.CreatedAt, &l.Roles, &l.LastLogin)
		return l, err
	})
	return onePage(out, limit, err)
}

// RoleMembers lists the usernames holding role, by name.
func (s *Store) RoleMembers(ctx context.Context, role string) ([]string, error) {
	if _, err := roleID(ctx, s.Pool, role); err != nil {
		return nil, err
	}
	rows, err := s.Pool.Query(ctx, `SELECT u.username FROM user_roles ur JOIN users u ON u.id = ur.user_id
		JOIN roles r ON r.id = ur.role_id WHERE r.name = $1 ORDER BY lower(u.username)`, role)
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return out, classify(err)
}

// SetRoleDescription changes a role's description, audited.
func (s *Store) SetRoleDescription(ctx context.Context, actor Actor, role, description string) error {
	return s.InTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE roles SET description = $2 WHERE name = $1`, role, description)
		if err != nil {
			return classify(err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: no role %q", ErrNotFound, role)
		}
		return s.audit(ctx, tx, Event{Actor: actor.Name, RemoteAddr: actor.Address, Action: "role.describe", Resource: "role:" + role})
	})
}

// DeleteRole removes a role nobody holds and the permission table does not
// name; Admin and Default, which the gate itself relies on, are never removed.
func (s *Store) DeleteRole(ctx context.Context, actor Actor, role string) error {
	if role == RoleAdmin || role == RoleDefault {
		return fmt.Errorf("%w: %s is built in and cannot be deleted", ErrConflict, role)
	}
	return s.InTx(ctx, func(tx pgx.Tx) error {
		id, err := roleID(ctx, tx, role)
		if err != nil {
			return err
		}
		var users, clients, grants int
		if err := tx.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM user_roles WHERE role_id = $1),
			(SELECT count(*) FROM client_roles WHERE role_id = $1),
			(SELECT count(*) FROM permissions WHERE role_id = $1) + (SELECT count(*) FROM resource_grants WHERE role_id = $1)`,
			id).Scan(&users, &clients, &grants); err != nil {
			return classify(err)
		}
		if users+clients+grants > 0 {
			return fmt.Errorf("%w: %s is held by %d users and %d clients and holds %d grants; revoke those first",
				ErrConflict, role, users, clients, grants)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM roles WHERE id = $1`, id); err != nil {
			return classify(err)
		}
		return s.audit(ctx, tx, Event{Actor: actor.Name, RemoteAddr: actor.Address, Action: "role.delete", Resource: "role:" + role})
	})
}
