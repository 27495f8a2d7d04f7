package migrations_test

import (
	"context"
	"errors"
	"maps"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mlflow-gate/mlflow-gate/migrations"
	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

func open(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), storagetest.EmptyDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func tables(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var s string
	err := pool.QueryRow(context.Background(), `SELECT coalesce(string_agg(table_name, ',' ORDER BY table_name), '')
		FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> $1`, migrations.Table).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestEveryUpHasADown(t *testing.T) {
	entries, err := os.ReadDir("sql")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, e := range entries {
		names[e.Name()] = true
	}
	ups := 0
	for n := range names {
		if base, ok := strings.CutSuffix(n, ".up.sql"); ok {
			ups++
			if !names[base+".down.sql"] {
				t.Errorf("%s has no %s.down.sql", n, base)
			}
		}
	}
	if ups == 0 || migrations.Latest() == 0 {
		t.Fatalf("no migrations found (latest %d)", migrations.Latest())
	}
}

func TestUpDownUpRoundTrips(t *testing.T) {
	ctx := context.Background()
	pool := open(t)
	m, err := migrations.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	first := tables(t, pool)
	if !strings.Contains(first, "users") || !strings.Contains(first, "audit_events") {
		t.Fatalf("tables after up: %s", first)
	}
	if v, dirty, _ := m.Version(); v != migrations.Latest() || dirty {
		t.Fatalf("version %d dirty=%v, want %d", v, dirty, migrations.Latest())
	}
	if err := m.Down(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if left := tables(t, pool); left != "" {
		t.Fatalf("down left tables behind: %s", left)
	}
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if again := tables(t, pool); again != first {
		t.Fatalf("second up differs:\n%s\n%s", first, again)
	}
	// Stepping down one at a time also works from the top.
	for range migrations.Latest() {
		if err := m.Down(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	if v, _, _ := m.Version(); v != 0 {
		t.Fatalf("after stepping down: version %d", v)
	}
}

func TestRefusesNewerDatabase(t *testing.T) {
	ctx := context.Background()
	pool := open(t)
	m, err := migrations.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE `+migrations.Table+` SET version = $1`, migrations.Latest()+1); err != nil {
		t.Fatal(err)
	}
	if err := m.Up(ctx); !errors.Is(err, migrations.ErrNewerDatabase) {
		t.Fatalf("Up on a newer database: %v, want ErrNewerDatabase", err)
	}
	if _, err := pool.Exec(ctx, `UPDATE `+migrations.Table+` SET version = $1, dirty = true`, migrations.Latest()); err != nil {
		t.Fatal(err)
	}
	if err := m.Up(ctx); !errors.Is(err, migrations.ErrDirty) {
		t.Fatalf("Up on a dirty database: %v, want ErrDirty", err)
	}
}

// Replicas starting together must apply each migration once and all succeed.
func TestConcurrentUp(t *testing.T) {
	ctx := context.Background()
	pool := open(t)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			m, err := migrations.New(pool)
			if err != nil {
				errs <- err
				return
			}
			defer m.Close()
			errs <- m.Up(ctx)
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent up: %v", err)
		}
	}
	if !strings.Contains(tables(t, pool), "users") {
		t.Fatal("schema missing after concurrent up")
	}
}

// TestMLflowScopeMigration: the API scope goes to the command-line client and
// to service clients that exist before it, to no other client, and the down
// migration takes it away again.
func TestMLflowScopeMigration(t *testing.T) {
	ctx := context.Background()
	pool := open(t)
	m, err := migrations.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	for v, _, _ := m.Version(); v > 4; v, _, _ = m.Version() {
		if err := m.Down(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `
		INSERT INTO clients (id, secret_hash, public, native, grant_types, builtin) VALUES
			('mlflow-gate-cli', NULL, true, true, '{authorization_code,refresh_token}', true),
			('trainer', '\x00', false, false, '{client_credentials}', false),
			('webapp', '\x00', false, false, '{authorization_code,refresh_token}', false),
			('spa', NULL, true, false, '{authorization_code}', false)`); err != nil {
		t.Fatal(err)
	}
	scopes := func() map[string]bool {
		t.Helper()
		rows, err := pool.Query(ctx, `SELECT id, 'mlflow' = ANY (scopes) FROM clients`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]bool{}
		for rows.Next() {
			var id string
			var has bool
			if err := rows.Scan(&id, &has); err != nil {
				t.Fatal(err)
			}
			out[id] = has
		}
		return out
	}
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"mlflow-gate-cli": true, "trainer": true, "webapp": false, "spa": false}
	if got := scopes(); !maps.Equal(got, want) {
		t.Fatalf("API access after the migration: %v, want %v", got, want)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM clients WHERE array_position(scopes, 'openid') IS NULL`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the migration lost other scopes: %d, %v", n, err)
	}
	for v, _, _ := m.Version(); v > 4; v, _, _ = m.Version() {
		if err := m.Down(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	for id, has := range scopes() {
		if has {
			t.Errorf("%s keeps the mlflow scope after the down migration", id)
		}
	}
}
