package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// PermissionTable is the stored permission table: resources and the grants of roles on
// them, in order. Types and scopes are plain strings here; package authz gives them
// meaning and checks (compiles) a table before it is stored.
type PermissionTable struct {
	Resources []ResourceRecord
	Grants    []GrantRecord
}

// ResourceRecord is one row of resources.
type ResourceRecord struct {
	Name        string
	Type        string
	Description string
	URIs        []string
	Scopes      []string
}

// GrantRecord is one row of permissions: Role holds Scopes on Resource.
type GrantRecord struct {
	Role     string
	Resource string
	Scopes   []string
}

// policyLock is the advisory-lock key every change of the permission table takes, so
// that seeding, imports and single grants from several replicas never interleave.
const policyLock = 0x6d6c66706f6c // "mlfpol"

// PermissionTable reads the whole table from one snapshot.
func (s *Store) PermissionTable(ctx context.Context) (PermissionTable, error) {
	var t PermissionTable
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	err := pgx.BeginTxFunc(ctx, s.Pool, opts, func(tx pgx.Tx) error {
		var err error
		t, err = readPermissionTable(ctx, tx)
		return err
	})
	return t, err
}

func readPermissionTable(ctx context.Context, q Querier) (PermissionTable, error) {
	var t PermissionTable
	rows, err := q.Query(ctx, `SELECT name, type, description, uris, scopes FROM resources ORDER BY position, name`)
	if err != nil {
		return t, classify(err)
	}
	t.Resources, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (ResourceRecord, error) {
		var r ResourceRecord
		err := row.Scan(&r.Name, &r.Type, &r.Description, &r.URIs, &r.Scopes)
		return r, err
	})
	if err != nil {
		return t, classify(err)
	}
	rows, err = q.Query(ctx, `
		SELECT r.name, p.resource, p.scopes FROM permissions p JOIN roles r ON r.id = p.role_id
		ORDER BY p.position, r.name, p.resource`)
	if err != nil {
		return t, classify(err)
	}
	t.Grants, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (GrantRecord, error) {
		var g GrantRecord
		err := row.Scan(&g.Role, &g.Resource, &g.Scopes)
		return g, err
	})
	return t, classify(err)
}

// ReplacePermissionTable replaces the whole table in one transaction, audited and
// announced ("policy") to every replica. inspect, if not nil, sees the current table
// under the lock: it returns the audit record's detail, or an error that abandons the
// change and is returned as is. Every role a grant names must exist.
func (s *Store) ReplacePermissionTable(ctx context.Context, actor Actor, next PermissionTable,
	inspect func(current PermissionTable) (map[string]any, error)) error {
	if len(next.Resources) == 0 {
		return fmt.Errorf("%w: a permission table without resources denies every request", ErrInvalid)
	}
	return s.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(policyLock)); err != nil {
			return classify(err)
		}
		detail := map[string]any{}
		if inspect != nil {
			cur, err := readPermissionTable(ctx, tx)
			if err != nil {
				return err
			}
			if detail, err = inspect(cur); err != nil {
				return err
			}
		}
		for _, table := range []string{"permissions", "resources"} {
			if _, err := tx.Exec(ctx, `DELETE FROM `+table); err != nil {
				return classify(err)
			}
		}
		if err := insertPermissionTable(ctx, tx, next); err != nil {
			return err
		}
		return policyChanged(ctx, tx, Event{Actor: actor.Name, RemoteAddr: actor.Address, Action: "policy.import", Resource: "policy", Detail: detail})
	})
}

// SeedPermissionTable stores t when the table has no resources yet, reporting whether
// it did. Replicas starting together seed once: the first takes the lock and the rest
// find its rows.
func (s *Store) SeedPermissionTable(ctx context.Context, actor Actor, t PermissionTable) (seeded bool, err error) {
	err = s.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(policyLock)); err != nil {
			return classify(err)
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM resources)`).Scan(&exists); err != nil {
			return classify(err)
		}
		if exists {
			return nil
		}
		if err := insertPermissionTable(ctx, tx, t); err != nil {
			return err
		}
		seeded = true
		return policyChanged(ctx, tx, Event{Actor: actor.Name, RemoteAddr: actor.Address, Action: "policy.seed", Resource: "policy",
			Detail: map[string]any{"resources": len(t.Resources), "grants": len(t.Grants)}})
	})
	return seeded, err
}

func insertPermissionTable(ctx context.Context, tx pgx.Tx, t PermissionTable) error {
	roles := map[string]string{}
	for _, g := range t.Grants {
		if _, ok := roles[g.Role]; ok {
			continue
		}
		id, err := roleID(ctx, tx, g.Role)
		if err != nil {
			return fmt.Errorf("permission on %q: %w", g.Resource, err)
		}
		roles[g.Role] = id
	}
	var b pgx.Batch
	for i, r := range t.Resources {
		b.Queue(`INSERT INTO resources (name, type, description, uris, scopes, position) VALUES ($1, $2, $3, $4, $5, $6)`,
			r.Name, r.Type, r.Description, nonNil(r.URIs), nonNil(r.Scopes), i)
	}
	for i, g := range t.Grants {
		b.Queue(`INSERT INTO permissions (role_id, resource, scopes, position) VALUES ($1, $2, $3, $4)`,
			roles[g.Role], g.Resource, nonNil(g.Scopes), i)
	}
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		if err = classify(err); errors.Is(err, ErrConflict) {
			return fmt.Errorf("%w (a resource named twice, a role granted twice on one resource, or a grant on a missing resource)", err)
		}
		return err
	}
	return nil
}

// AllowScopes lets role do scopes on resource, adding to what it holds (in the order
// the resource lists its scopes). It reports whether anything changed: allowing what
// is held is no change, and is neither audited nor announced.
func (s *Store) AllowScopes(ctx context.Context, actor Actor, role, resource string, scopes ...string) (bool, error) {
	return s.changeGrant(ctx, actor, role, resource, scopes, true)
}

// DisallowScopes takes scopes on resource from role; a grant left without scopes is
// deleted. Taking what is not held is no change.
func (s *Store) DisallowScopes(ctx context.Context, actor Actor, role, resource string, scopes ...string) (bool, error) {
	return s.changeGrant(ctx, actor, role, resource, scopes, false)
}

func (s *Store) changeGrant(ctx context.Context, actor Actor, role, resource string, scopes []string, allow bool) (changed bool, err error) {
	if len(scopes) == 0 {
		return false, fmt.Errorf("%w: no scopes given", ErrInvalid)
	}
	err = s.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(policyLock)); err != nil {
			return classify(err)
		}
		rid, err := roleID(ctx, tx, role)
		if err != nil {
			return err
		}
		var offered, held []string
		err = tx.QueryRow(ctx, `SELECT scopes FROM resources WHERE name = $1`, resource).Scan(&offered)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: no resource %q", ErrNotFound, resource)
		} else if err != nil {
			return classify(err)
		}
		for _, sc := range scopes {
			if !slices.Contains(offered, sc) {
				return fmt.Errorf("%w: resource %q offers no %q scope (it offers %s)", ErrInvalid, resource, sc, strings.Join(offered, ", "))
			}
		}
		err = tx.QueryRow(ctx, `SELECT scopes FROM permissions WHERE role_id = $1 AND resource = $2`, rid, resource).Scan(&held)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return classify(err)
		}
		var next []string
		for _, sc := range offered {
			has, asked := slices.Contains(held, sc), slices.Contains(scopes, sc)
			if allow && (has || asked) || !allow && has && !asked {
				next = append(next, sc)
			}
		}
		if slices.Equal(next, held) {
			return nil
		}
		switch {
		case len(next) == 0:
			_, err = tx.Exec(ctx, `DELETE FROM permissions WHERE role_id = $1 AND resource = $2`, rid, resource)
		case held == nil:
			_, err = tx.Exec(ctx, `INSERT INTO permissions (role_id, resource, scopes, position)
				VALUES ($1, $2, $3, (SELECT coalesce(max(position) + 1, 0) FROM permissions))`, rid, resource, next)
		default:
			_, err = tx.Exec(ctx, `UPDATE permissions SET scopes = $3 WHERE role_id = $1 AND resource = $2`, rid, resource, next)
		}
		if err != nil {
			return classify(err)
		}
		changed = true
		action := "policy.disallow"
		if allow {
			action = "policy.allow"
		}
		return policyChanged(ctx, tx, Event{Actor: actor.Name, RemoteAddr: actor.Address, Action: action, Resource: "resource:" + resource,
			Detail: map[string]any{"role": role, "scopes": scopes, "before": nonNil(held), "after": nonNil(next)}})
	})
	return changed, err
}

// policyChanged audits a change of the table and tells every replica to reload it.
func policyChanged(ctx context.Context, tx pgx.Tx, e Event) error {
	if err := InsertEvent(ctx, tx, e); err != nil {
		return err
	}
	return Notify(ctx, tx, ChangePolicy, "")
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
