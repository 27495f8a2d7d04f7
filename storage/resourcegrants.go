package storage

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ResourceGrant is a stored grant of a level on a resource or a pattern.
type ResourceGrant struct {
	ID       int64
	Kind     string // experiment, registered-model or gateway-endpoint
	User     string // the user's name, or ""
	Role     string // the role's name, or ""
	Resource string
	Pattern  string
	Level    string // none, read, write, delete or manage
	Owner    bool   // recorded from a create the user made
}

// ResourceGrants are every grant and every role's default level.
type ResourceGrants struct {
	Grants   []ResourceGrant
	Defaults map[string]string // role → level
}

// LoadResourceGrants reads every grant and role default.
func (s *Store) LoadResourceGrants(ctx context.Context) (ResourceGrants, error) {
	rows, err := s.Pool.Query(ctx, `
		SELECT g.id, g.kind, coalesce(u.username, ''), coalesce(r.name, ''), g.resource, g.pattern, g.level, g.owner
		FROM resource_grants g LEFT JOIN users u ON u.id = g.user_id LEFT JOIN roles r ON r.id = g.role_id
		ORDER BY g.id`)
	if err != nil {
		return ResourceGrants{}, classify(err)
	}
	grants, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ResourceGrant, error) {
		var g ResourceGrant
		err := row.Scan(&g.ID, &g.Kind, &g.User, &g.Role, &g.Resource, &g.Pattern, &g.Level, &g.Owner)
		return g, err
	})
	if err != nil {
		return ResourceGrants{}, classify(err)
	}
	out := ResourceGrants{Grants: grants, Defaults: map[string]string{}}
	rows, err = s.Pool.Query(ctx, `SELECT r.name, d.level FROM role_default_levels d JOIN roles r ON r.id = d.role_id`)
	if err != nil {
		return ResourceGrants{}, classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		var role, level string
		if err := rows.Scan(&role, &level); err != nil {
			return ResourceGrants{}, classify(err)
		}
		out.Defaults[role] = level
	}
	return out, classify(rows.Err())
}

// principalIDs resolves a grant's user or role name.
func principalIDs(ctx context.Context, q Querier, user, role string) (uid, rid *string, err error) {
	if user != "" {
		id, err := userID(ctx, q, user, false)
		if err != nil {
			return nil, nil, err
		}
		return &id, nil, nil
	}
	id, err := roleID(ctx, q, role)
	if err != nil {
		return nil, nil, err
	}
	return nil, &id, nil
}

// PutResourceGrant stores g, replacing the level of the same principal on
// the same resource or pattern; audited and announced.
func (s *Store) PutResourceGrant(ctx context.Context, actor Actor, g ResourceGrant) error {
	return s.InTx(ctx, func(tx pgx.Tx) error {
		uid, rid, err := principalIDs(ctx, tx, g.User, g.Role)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO resource_grants (kind, user_id, role_id, resource, pattern, level, owner)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (kind, coalesce(user_id::text, ''), coalesce(role_id::text, ''), resource, pattern)
			DO UPDATE SET level = excluded.level, owner = resource_grants.owner AND excluded.owner`,
			g.Kind, uid, rid, g.Resource, g.Pattern, g.Level, g.Owner)
		if err = classify(err); err != nil {
			return fmt.Errorf("%w (resource grant %s %s%s %s)", err, g.Kind, g.Resource, g.Pattern, g.Level)
		}
		if err := s.audit(ctx, tx, Event{Actor: actor.Name, RemoteAddr: actor.Address, Action: "grant.put",
			Resource: g.Kind + ":" + g.Resource + g.Pattern, Detail: grantDetail(g)}); err != nil {
			return err
		}
		return Notify(ctx, tx, ChangeGrants, "")
	})
}

// DeleteResourceGrant removes the principal's grant on the resource or
// pattern; ErrNotFound when there is none.
func (s *Store) DeleteResourceGrant(ctx context.Context, actor Actor, g ResourceGrant) error {
	return s.InTx(ctx, func(tx pgx.Tx) error {
		uid, rid, err := principalIDs(ctx, tx, g.User, g.Role)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM resource_grants WHERE kind = $1 AND user_id IS NOT DISTINCT FROM $2
			AND role_id IS NOT DISTINCT FROM $3 AND resource = $4 AND pattern = $5`, g.Kind, uid, rid, g.Resource, g.Pattern)
		if err != nil {
			return classify(err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: no such grant", ErrNotFound)
		}
		if err := s.audit(ctx, tx, Event{Actor: actor.Name, RemoteAddr: actor.Address, Action: "grant.delete",
			Resource: g.Kind + ":" + g.Resource + g.Pattern, Detail: grantDetail(g)}); err != nil {
			return err
		}
		return Notify(ctx, tx, ChangeGrants, "")
	})
}

// SetRoleDefaultLevel sets role's level on resources nobody granted ("" removes it).
func (s *Store) SetRoleDefaultLevel(ctx context.Context, actor Actor, role, level string) error {
	return s.InTx(ctx, func(tx pgx.Tx) error {
		rid, err := roleID(ctx, tx, role)
		if err != nil {
			return err
		}
		if level == "" {
			_, err = tx.Exec(ctx, `DELETE FROM role_default_levels WHERE role_id = $1`, rid)
		} else {
			_, err = tx.Exec(ctx, `INSERT INTO role_default_levels (role_id, level) VALUES ($1, $2)
				ON CONFLICT (role_id) DO UPDATE SET level = excluded.level`, rid, level)
		}
		if err = classify(err); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, Event{Actor: actor.Name, RemoteAddr: actor.Address, Action: "grant.default",
			Resource: "role:" + role, Detail: map[string]any{"level": level}}); err != nil {
			return err
		}
		return Notify(ctx, tx, ChangeGrants, "")
	})
}

func grantDetail(g ResourceGrant) map[string]any {
	d := map[string]any{"kind": g.Kind, "level": g.Level}
	if g.User != "" {
		d["user"] = g.User
	} else {
		d["role"] = g.Role
	}
	if g.Pattern != "" {
		d["pattern"] = g.Pattern
	}
	if g.Owner {
		d["owner"] = true
	}
	return d
}
