package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

var (
	// ErrNotFound: the record does not exist (or is not visible to the caller).
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique or foreign-key constraint refused the change.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: a check constraint refused a value (for example a username's shape).
	ErrInvalid = errors.New("invalid value")
)

// Querier is what both *pgxpool.Pool and pgx.Tx provide.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Store owns the connection pool.
type Store struct {
	Pool *pgxpool.Pool
}

// New wraps an open pool.
func New(pool *pgxpool.Pool) *Store {
	return &Store{Pool: pool}
}

// Open parses url and creates a pool without waiting for the server; call
// Ping (or WaitReady) to learn whether it is reachable.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors can echo the URL, password included.
		return nil, errors.New("database URL is not a valid PostgreSQL connection string")
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "mlflow-gate"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("database: %w", redact(err))
	}
	return New(pool), nil
}

// Close closes the pool.
func (s *Store) Close() { s.Pool.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.Pool.Ping(ctx); err != nil {
		return fmt.Errorf("database unreachable: %w", redact(err))
	}
	return nil
}

// Tx is an open transaction, as InTx hands it to fn; it is a Querier, so
// callers outside storage need not import pgx.
type Tx = pgx.Tx

// InTx runs fn in a transaction, committing when fn returns nil.
func (s *Store) InTx(ctx context.Context, fn func(tx Tx) error) error {
	return pgx.BeginFunc(ctx, s.Pool, fn)
}

// classify maps PostgreSQL errors onto the package's sentinels.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505", "23503": // unique_violation, foreign_key_violation
			return fmt.Errorf("%w: %s", ErrConflict, pgErr.ConstraintName)
		case "23514", "22P02", "23502": // check_violation, invalid_text_representation, not_null
			return fmt.Errorf("%w: %s", ErrInvalid, pgErr.ConstraintName)
		}
	}
	return err
}

// ConnectProblem says whether a failed connection cannot heal by waiting,
// and what to do about it: the server refused the user or the password, or
// the database does not exist (SQLSTATE 28P01, 28000, 3D000), or the
// connection string is invalid. hint is "" for problems that may heal (the
// server is not up yet, the network).
func ConnectProblem(err error) (permanent bool, hint string) {
	var pgErr *pgconn.PgError
	var pe *pgconn.ParseConfigError
	switch {
	case errors.As(err, &pe) || strings.Contains(err.Error(), "invalid connection string"):
		return true, "MLFLOW_GATE_DATABASE_URL is not a valid postgres:// URL"
	case errors.As(err, &pgErr) && (pgErr.Code == "28P01" || pgErr.Code == "28000"):
		return true, "PostgreSQL refused the user or password in MLFLOW_GATE_DATABASE_URL"
	case errors.As(err, &pgErr) && pgErr.Code == "3D000":
		return true, "the database named in MLFLOW_GATE_DATABASE_URL does not exist; create it (createdb, or CREATE DATABASE) and grant it to the gate's user"
	}
	return false, ""
}

// redact keeps connection errors useful without leaking the connection
// string: pgconn.ConnectError prints host and user, never the password, but
// parse errors may quote the URL, so those are replaced wholesale.
func redact(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return errors.New("invalid connection string")
	}
	return err
}
