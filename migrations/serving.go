package migrations

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// servingKey is the advisory-lock key of serving gates. Every `serve` holds
// it shared for as long as it runs, on a connection of its own; reverting
// migrations takes it exclusively, so it can see that gates are serving and
// refuse, and so no gate starts half-way through a revert.
const servingKey int64 = 0x67617465737276 // "gatesrv"

// ServingLock is a serving gate's shared hold on servingKey.
type ServingLock struct {
	cfg  *pgx.ConnConfig
	conn *pgx.Conn
}

// HoldServing takes the serving lock shared on a new connection (outside the
// pool, whose connections come and go). While a revert holds the lock it
// calls waiting once, then waits for the revert to end or ctx to.
func HoldServing(ctx context.Context, pool *pgxpool.Pool, waiting func()) (*ServingLock, error) {
	l := &ServingLock{cfg: pool.Config().ConnConfig.Copy()}
	l.cfg.RuntimeParams["application_name"] = "mlflow-gate serve"
	if err := l.take(ctx, waiting); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *ServingLock) take(ctx context.Context, waiting func()) error {
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return fmt.Errorf("serving lock: connecting: %w", err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock_shared($1)`, servingKey).Scan(&ok); err != nil {
		conn.Close(context.Background())
		return fmt.Errorf("serving lock: %w", err)
	}
	if !ok {
		if waiting != nil {
			waiting()
		}
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock_shared($1)`, servingKey); err != nil {
			conn.Close(context.Background())
			return fmt.Errorf("serving lock: waiting: %w", err)
		}
	}
	l.conn = conn
	return nil
}

// Run keeps the lock until ctx ends: every interval it checks the lock's
// connection, and when PostgreSQL lost it (a restart, a network cut) it
// takes the lock again on a new one, calling lost with the reason. It
// returns nil when ctx ends, having released the lock.
func (l *ServingLock) Run(ctx context.Context, interval time.Duration, lost func(error)) error {
	defer l.Close()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if l.conn != nil {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := l.conn.Ping(pctx)
			cancel()
			if err == nil || ctx.Err() != nil {
				continue
			}
			if lost != nil {
				lost(err)
			}
			l.conn.Close(context.Background())
			l.conn = nil
		}
		if err := l.take(ctx, nil); err != nil && lost != nil && ctx.Err() == nil {
			lost(err)
		}
	}
}

// Close releases the lock (by closing its connection).
func (l *ServingLock) Close() {
	if l.conn != nil {
		l.conn.Close(context.Background())
		l.conn = nil
	}
}

// Holder is a session that holds the serving lock, as PostgreSQL reports it.
type Holder struct {
	PID int32
	// Client is the session's client address, or "" when PostgreSQL does not
	// show it to this role (or it came over a Unix socket).
	Client string
	// Reverting: the session holds the lock exclusively, for a revert.
	Reverting bool
}

// ErrServing means gates are serving the database (or another revert is
// running), so migrations were not reverted.
var ErrServing = errors.New("gates are serving this database")

// ServingError names the sessions that hold the serving lock.
type ServingError struct{ Holders []Holder }

func (e *ServingError) Error() string {
	var gates, clients []string
	for _, h := range e.Holders {
		if h.Reverting {
			return "another `mlflow-gate migrate down` is running on this database (PostgreSQL backend " + fmt.Sprint(h.PID) + ")"
		}
		gates = append(gates, fmt.Sprint(h.PID))
		if h.Client != "" {
			clients = append(clients, h.Client)
		}
	}
	if len(gates) == 0 {
		return "a gate is starting or serving on this database"
	}
	msg := fmt.Sprintf("%d gate(s) serving this database (PostgreSQL backends %s", len(gates), strings.Join(gates, ", "))
	if len(clients) > 0 {
		msg += "; from " + strings.Join(clients, ", ")
	}
	return msg + ")"
}

func (e *ServingError) Unwrap() error { return ErrServing }

// Revert is an exclusive hold on the serving lock for reverting migrations.
type Revert struct{ conn *pgx.Conn }

// LockOutServing takes the serving lock exclusively, without waiting. While
// gates serve (or another revert runs) it returns a *ServingError naming
// them, which matches ErrServing.
func LockOutServing(ctx context.Context, pool *pgxpool.Pool) (*Revert, error) {
	cfg := pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = "mlflow-gate migrate down"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("serving lock: connecting: %w", err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, servingKey).Scan(&ok); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("serving lock: %w", err)
	}
	if ok {
		return &Revert{conn: conn}, nil
	}
	defer conn.Close(context.Background())
	holders, err := servingHolders(ctx, conn)
	if err != nil {
		return nil, err
	}
	return nil, &ServingError{Holders: holders}
}

// Release ends the revert's hold; gates waiting to start go on. The lock is
// given back by its own statement before the connection closes: a closed
// connection's backend may still hold it for a moment while it exits, and
// the next revert would take it for another one running.
func (r *Revert) Release() {
	if r != nil && r.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = r.conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, servingKey)
		cancel()
		r.conn.Close(context.Background())
		r.conn = nil
	}
}

// servingHolders lists the sessions holding servingKey in this database. An
// advisory lock on one bigint key shows in pg_locks as classid (high 32
// bits), objid (low 32 bits) and objsubid 1.
func servingHolders(ctx context.Context, conn *pgx.Conn) ([]Holder, error) {
	rows, err := conn.Query(ctx, `
		SELECT l.pid, coalesce(host(a.client_addr), ''), l.mode = 'ExclusiveLock'
		FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
			AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
			AND l.classid::bigint = $1 AND l.objid::bigint = $2 AND l.pid <> pg_backend_pid()
		ORDER BY l.pid`, servingKey>>32, servingKey&0xffffffff)
	if err != nil {
		return nil, fmt.Errorf("serving lock: listing its holders: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Holder, error) {
		var h Holder
		err := row.Scan(&h.PID, &h.Client, &h.Reverting)
		return h, err
	})
}

// State is the schema version a database is at, as /readyz reports it.
type State struct {
	Version uint
	Dirty   bool
}

// Current says whether the database is at exactly this binary's version,
// and clean.
func (s State) Current() bool { return s.Version == Latest() && !s.Dirty }

// ReadState reads the applied version straight from the version table (one
// cheap query, no migrator): a database without the table is at 0.
func ReadState(ctx context.Context, q interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}) (State, error) {
	var s State
	var v int64
	err := q.QueryRow(ctx, `SELECT version, dirty FROM `+Table+` LIMIT 1`).Scan(&v, &s.Dirty)
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows), errors.As(err, &pgErr) && pgErr.Code == "42P01": // undefined_table
		return State{}, nil
	case err != nil:
		return State{}, err
	}
	s.Version = uint(v)
	return s, nil
}
