package migrations

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/golang-migrate/migrate/v4"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

//go:embed sql/*.sql
var files embed.FS

// Table is where golang-migrate records the applied version.
const Table = "schema_migrations"

// ErrNewerDatabase means the database was migrated by a newer mlflow-gate.
var ErrNewerDatabase = errors.New("database schema is newer than this mlflow-gate binary")

// ErrDirty means a migration failed half-way and needs an operator.
var ErrDirty = errors.New("database schema is marked dirty by a failed migration")

// Latest is the highest version embedded in this binary.
func Latest() uint {
	var max uint
	entries, _ := fs.ReadDir(files, "sql")
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		if !ok {
			continue
		}
		if v, err := strconv.ParseUint(num, 10, 32); err == nil && uint(v) > max {
			max = uint(v)
		}
	}
	return max
}

// Name is the name of migration v ("000003_authz"), or "" for a version
// this binary does not have.
func Name(v uint) string {
	entries, _ := fs.ReadDir(files, "sql")
	for _, e := range entries {
		base, ok := strings.CutSuffix(e.Name(), ".up.sql")
		num, _, _ := strings.Cut(base, "_")
		if n, err := strconv.ParseUint(num, 10, 32); ok && err == nil && uint(n) == v {
			return base
		}
	}
	return ""
}

// Migrator applies the embedded migrations to one database.
type Migrator struct {
	m    *migrate.Migrate
	pool *pgxpool.Pool
}

// lockKey serializes Check-then-apply across replicas. golang-migrate locks
// only around applying, so without this a replica could read the version
// while another replica's migration is half-way (dirty) and refuse to start.
const lockKey = 0x6d6967726174 // "migrat"

// locked runs fn while holding the session advisory lock. The lock lives on
// a connection of its own, outside the pool: waiters must not take the pool
// connections that the lock holder's migration needs.
func (g *Migrator) locked(ctx context.Context, fn func() error) error {
	conn, err := pgx.ConnectConfig(ctx, g.pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("migrations: connecting for the lock: %w", err)
	}
	// Closing the connection releases the lock, also when fn fails.
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(lockKey)); err != nil {
		return fmt.Errorf("migrations: taking the lock: %w", err)
	}
	return fn()
}

// New prepares a migrator over pool. golang-migrate takes a PostgreSQL
// advisory lock around every change, so replicas starting together on an
// empty database apply each migration exactly once.
func New(pool *pgxpool.Pool) (*Migrator, error) {
	src, err := iofs.New(files, "sql")
	if err != nil {
		return nil, fmt.Errorf("migrations: reading embedded files: %w", err)
	}
	// Closing this *sql.DB (which m.Close does) leaves the pool open.
	db := stdlib.OpenDBFromPool(pool)
	drv, err := migratepgx.WithInstance(db, &migratepgx.Config{MigrationsTable: Table})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("migrations: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", drv)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return &Migrator{m: m, pool: pool}, nil
}

// Close releases the migrator's connection (not the pool).
func (g *Migrator) Close() error {
	serr, derr := g.m.Close()
	return errors.Join(serr, derr)
}

// Version reports the applied version; 0 means an empty database.
func (g *Migrator) Version() (version uint, dirty bool, err error) {
	v, d, err := g.m.Version()
	if errors.Is(err, migrate.ErrNilVersion) {
		return 0, false, nil
	}
	return v, d, err
}

// Check refuses a database that is dirty or newer than this binary.
func (g *Migrator) Check() error {
	v, dirty, err := g.Version()
	if err != nil {
		return fmt.Errorf("migrations: reading version: %w", err)
	}
	if dirty {
		return fmt.Errorf("%w (version %d); repair it, then run `mlflow-gate migrate force`", ErrDirty, v)
	}
	if v > Latest() {
		return fmt.Errorf("%w: database at version %d, binary knows up to %d; run a newer mlflow-gate", ErrNewerDatabase, v, Latest())
	}
	return nil
}

// Up applies every pending migration after checking the guard.
func (g *Migrator) Up(ctx context.Context) error {
	return g.locked(ctx, func() error {
		if err := g.Check(); err != nil {
			return err
		}
		g.m.GracefulStop = stopOn(ctx)
		if err := g.m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
			return fmt.Errorf("migrations: up: %w", err)
		}
		return nil
	})
}

// Down reverts steps migrations (all of them when steps <= 0).
func (g *Migrator) Down(ctx context.Context, steps int) error {
	return g.locked(ctx, func() error {
		if err := g.Check(); err != nil {
			return err
		}
		g.m.GracefulStop = stopOn(ctx)
		var err error
		if steps <= 0 {
			err = g.m.Down()
		} else {
			err = g.m.Steps(-steps)
		}
		if err != nil && !errors.Is(err, migrate.ErrNoChange) {
			return fmt.Errorf("migrations: down: %w", err)
		}
		return nil
	})
}

// Force marks version v as applied and clean, for repair after a failure.
func (g *Migrator) Force(v int) error {
	return g.m.Force(v)
}

func stopOn(ctx context.Context) chan bool {
	ch := make(chan bool, 1)
	go func() {
		<-ctx.Done()
		ch <- true
	}()
	return ch
}
