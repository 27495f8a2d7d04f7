package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Role is a named set of permissions held by users (and service clients).
type Role struct {
	ID          string
	Name        string
	Description string
	Members     int
}

// CreateRole adds a role.
func (s *Store) CreateRole(ctx context.Context, actor Actor, name, description string) (Role, error) {
	var r Role
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO roles (name, description) VALUES ($1, $2) RETURNING id::text, name, description`,
			name, description).Scan(&r.ID, &r.Name, &r.Description)
		if err = classify(err); err != nil {
			if errors.Is(err, ErrConflict) {
				return fmt.Errorf("%w: role %q already exists", ErrConflict, name)
			}
			if errors.Is(err, ErrInvalid) {
				return fmt.Errorf("%w: role name %q (a letter, then letters, digits, _ or -, up to 64)", ErrInvalid, name)
			}
			return err
		}
		// A new role gives access to no resource until it is granted some or
		// given a default level (perm default): a team role must not open
		// every experiment when Default has been made private. Admin, if made
		// by hand, manages everything, as the bootstrap's does.
		if name == RoleAdmin {
			if _, err := tx.Exec(ctx, `INSERT INTO role_default_levels (role_id, level) VALUES ($1, 'manage')`, r.ID); err != nil {
				return classify(err)
			}
		}
		return s.audit(ctx, tx, Event{Actor: actor.Name, RemoteAddr: actor.Address, Action: "role.create", Resource: "role:" + name})
	})
	return r, err
}

// ListRoles returns every role with its member count.
func (s *Store) ListRoles(ctx context.Context) ([]Role, error) {
	rows, err := s.Pool.Query(ctx, `
		SELECT r.id::text, r.name, r.description, (SELECT count(*) FROM user_roles ur WHERE ur.role_id = r.id)
		FROM roles r ORDER BY r.name`)
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Role, error) {
		var r Role
		err := row.Scan(&r.ID, &r.Name, &r.Description, &r.Members)
		return r, err
	})
	return out, classify(err)
}

func roleID(ctx context.Context, q Querier, name string) (string, error) {
	var id string
	err := q.QueryRow(ctx, `SELECT id::text FROM roles WHERE name = $1`, name).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("%w: no role %q", ErrNotFound, name)
	}
	return id, classify(err)
}

// GrantRole gives username the role; granting a held role changes nothing.
func (s *Store) GrantRole(ctx context.Context, actor Actor, role, username string) error {
	return s.InTx(ctx, func(tx pgx.Tx) error {
		rid, err := roleID(ctx, tx, role)
		if err != nil {
			return err
		}
		uid, err := userID(ctx, tx, username, false)
		if err != nil {
			return err
		}
		granted, err := s.grantRole(ctx, tx, actor, rid, role, uid, username)
		if err != nil || !granted {
			return err
		}
		return Notify(ctx, tx, ChangeUser, uid)
	})
}

// grantRole gives the user uid the role rid inside tx, audited; it reports
// whether the user did not hold it yet.
func (s *Store) grantRole(ctx context.Context, tx pgx.Tx, actor Actor, rid, role, uid, username string) (bool, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO user_roles (user_id, role_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, uid, rid)
	if err != nil {
		return false, classify(err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	return true, s.audit(ctx, tx, Event{Actor: actor.Name, RemoteAddr: actor.Address, Action: "role.grant", Resource: "user:" + username, Detail: map[string]any{"role": role}})
}

// RevokeRole takes the role from username; refusing to demote the last Admin.
func (s *Store) RevokeRole(ctx context.Context, actor Actor, role, username string) error {
	return s.InTx(ctx, func(tx pgx.Tx) error {
		rid, err := roleID(ctx, tx, role)
		if err != nil {
			return err
		}
		uid, err := userID(ctx, tx, username, true)
		if err != nil {
			return err
		}
		if role == RoleAdmin {
			if err := guardLastAdmin(ctx, tx, uid); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, `DELETE FROM user_roles WHERE user_id = $1 AND role_id = $2`, uid, rid)
		if err != nil {
			return classify(err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: user %q does not hold role %q", ErrNotFound, username, role)
		}
		if err := Notify(ctx, tx, ChangeUser, uid); err != nil {
			return err
		}
		return s.audit(ctx, tx, Event{Actor: actor.Name, RemoteAddr: actor.Address, Action: "role.revoke", Resource: "user:" + username, Detail: map[string]any{"role": role}})
	})
}
