package storage

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// bootstrapLock is the advisory-lock key under which first-start setup runs,
// so that replicas starting together on an empty database create things once.
const bootstrapLock = 0x6d6c666c6f77 // "mlflow"

// BootstrapAdmin is the first administrator.
type BootstrapAdmin struct {
	Username     string
	PasswordHash string
}

// Bootstrapped reports whether first-start setup has already run.
func (s *Store) Bootstrapped(ctx context.Context) (bool, error) {
	var done bool
	err := s.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM roles WHERE name = $1)`, RoleAdmin).Scan(&done)
	return done, classify(err)
}

// Bootstrap creates, on an empty database, the roles Admin and Default, the
// admin user holding Admin, and the public command-line client. It reports
// whether it created them: on every later start it changes nothing.
func (s *Store) Bootstrap(ctx context.Context, admin BootstrapAdmin, cli Client) (created bool, err error) {
	err = s.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(bootstrapLock)); err != nil {
			return classify(err)
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM roles WHERE name = $1)`, RoleAdmin).Scan(&exists); err != nil {
			return classify(err)
		}
		if exists {
			return nil
		}
		stmts := []struct {
			sql  string
			args []any
		}{
			{`INSERT INTO roles (name, description) VALUES ($1, 'Administrators: every scope, including delete and server-side actions')`, []any{RoleAdmin}},
			{`INSERT INTO roles (name, description) VALUES ($1, 'Every user: read and write, no delete')`, []any{RoleDefault}},
			// On resources nobody granted: Admin may do what its routes allow, Default write.
			{`INSERT INTO role_default_levels (role_id, level)
			  SELECT id, CASE WHEN name = $1 THEN 'manage' ELSE 'write' END FROM roles WHERE name IN ($1, $2)`, []any{RoleAdmin, RoleDefault}},
			{`INSERT INTO users (username, password_hash) VALUES ($1, $2)`, []any{admin.Username, admin.PasswordHash}},
			{`INSERT INTO user_roles (user_id, role_id)
			  SELECT u.id, r.id FROM users u, roles r WHERE u.username = $1 AND r.name IN ($2, $3)`, []any{admin.Username, RoleAdmin, RoleDefault}},
		}
		for _, st := range stmts {
			if _, err := tx.Exec(ctx, st.sql, st.args...); err != nil {
				return classify(err)
			}
		}
		cli.Builtin = true
		if err := insertClient(ctx, tx, cli); err != nil {
			return err
		}
		created = true
		return InsertEvent(ctx, tx, Event{Actor: "mlflow-gate", Action: "bootstrap", Resource: "user:" + admin.Username})
	})
	return created, err
}
