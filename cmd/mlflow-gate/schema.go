package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mlflow-gate/mlflow-gate/migrations"
)

// schemaCheck tells /readyz whether the database's schema is the one this
// binary was built for: after `migrate down` (or a migration that failed
// half-way) a gate that keeps serving would answer with errors, so it says
// it is not ready instead. The version is read at most once per every, so
// probes cost no more than the database ping they already make.
type schemaCheck struct {
	db interface {
		QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	}
	every time.Duration

	mu     sync.Mutex
	at     time.Time
	state  migrations.State
	failed bool
}

// status is the readiness check's value and whether the gate may serve. A
// schema newer than the binary is reported without going unready: during a
// rolling upgrade the new replicas migrate first, and this one still works
// until it is replaced.
func (c *schemaCheck) status(ctx context.Context) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() || time.Since(c.at) >= c.every {
		s, err := migrations.ReadState(ctx, c.db)
		c.state, c.failed, c.at = s, err != nil, time.Now()
		if err != nil {
			c.at = time.Time{} // ask again at the next probe
		}
	}
	latest := migrations.Latest()
	switch s := c.state; {
	case c.failed:
		return "unreadable: the schema version could not be read", false
	case s.Dirty:
		return fmt.Sprintf("dirty: migration %d failed half-way; repair it, then run `mlflow-gate migrate force`", s.Version), false
	case s.Version < latest:
		return fmt.Sprintf("version %d, this binary needs %d: run `mlflow-gate migrate up`, or restart the gate", s.Version, latest), false
	case s.Version > latest:
		return fmt.Sprintf("version %d, newer than this binary's %d", s.Version, latest), true
	}
	return "ok", true
}
