package migrations_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-gate/mlflow-gate/migrations"
)

// A serving gate's shared hold shuts a revert out, and names the gate; two
// gates hold it together; a gate that starts during a revert waits for it.
func TestServingLock(t *testing.T) {
	ctx := context.Background()
	pool := open(t)

	rev, err := migrations.LockOutServing(ctx, pool)
	if err != nil {
		t.Fatalf("no gate serving: %v", err)
	}
	// A second revert is shut out by the first.
	if _, err := migrations.LockOutServing(ctx, pool); !errors.Is(err, migrations.ErrServing) || !strings.Contains(err.Error(), "another `mlflow-gate migrate down`") {
		t.Fatalf("a revert during a revert: %v", err)
	}
	// A gate starting now waits, and says so, until the revert ends.
	waited := make(chan struct{}, 1)
	held := make(chan *migrations.ServingLock, 1)
	go func() {
		l, err := migrations.HoldServing(ctx, pool, func() { waited <- struct{}{} })
		if err != nil {
			t.Error(err)
		}
		held <- l
	}()
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Fatal("a gate starting during a revert did not say it waits")
	}
	select {
	case <-held:
		t.Fatal("a gate took the serving lock during a revert")
	case <-time.After(200 * time.Millisecond):
	}
	rev.Release()
	var first *migrations.ServingLock
	select {
	case first = <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the gate still waits after the revert ended")
	}
	second, err := migrations.HoldServing(ctx, pool, func() { t.Error("a second gate waited for the first") })
	if err != nil {
		t.Fatal(err)
	}

	_, err = migrations.LockOutServing(ctx, pool)
	var se *migrations.ServingError
	if !errors.As(err, &se) || len(se.Holders) != 2 || !strings.Contains(err.Error(), "2 gate(s) serving this database") {
		t.Fatalf("revert under two gates: %v", err)
	}
	first.Close()
	second.Close()
	rev, err = migrations.LockOutServing(ctx, pool)
	if err != nil {
		t.Fatalf("after the gates stopped: %v", err)
	}
	rev.Release()
}

// Run keeps the lock across a lost connection: it takes the lock again.
func TestServingLockSurvivesALostConnection(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pool := open(t)
	l, err := migrations.HoldServing(ctx, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	lost := make(chan error, 10)
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, 50*time.Millisecond, func(err error) { lost <- err }) }()
	// The administrator (or a failover) ends the gate's session.
	if _, err := pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'mlflow-gate serve'`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("the lost connection was not noticed")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		rev, err := migrations.LockOutServing(ctx, pool)
		if errors.Is(err, migrations.ErrServing) {
			break
		}
		rev.Release() // not taken again yet: let the gate have it
		if time.Now().After(deadline) {
			t.Fatalf("the lock was not taken again: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// ReadState reads the version table as the migrator leaves it: absent, at a
// version, dirty, empty after reverting everything.
func TestReadState(t *testing.T) {
	ctx := context.Background()
	pool := open(t)
	if s, err := migrations.ReadState(ctx, pool); err != nil || s != (migrations.State{}) || s.Current() {
		t.Fatalf("no version table: %+v %v", s, err)
	}
	m, err := migrations.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if s, err := migrations.ReadState(ctx, pool); err != nil || s.Version != migrations.Latest() || !s.Current() {
		t.Fatalf("migrated: %+v %v", s, err)
	}
	if err := m.Down(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if s, _ := migrations.ReadState(ctx, pool); s.Version != migrations.Latest()-1 || s.Current() {
		t.Fatalf("one reverted: %+v", s)
	}
	if _, err := pool.Exec(ctx, `UPDATE `+migrations.Table+` SET dirty = true`); err != nil {
		t.Fatal(err)
	}
	if s, _ := migrations.ReadState(ctx, pool); !s.Dirty || s.Current() {
		t.Fatalf("dirty: %+v", s)
	}
	if err := m.Force(int(migrations.Latest() - 1)); err != nil {
		t.Fatal(err)
	}
	if err := m.Down(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if s, err := migrations.ReadState(ctx, pool); err != nil || s.Version != 0 {
		t.Fatalf("all reverted: %+v %v", s, err)
	}
}

func TestName(t *testing.T) {
	if n := migrations.Name(1); !strings.HasPrefix(n, "000001_") || strings.Contains(n, ".") {
		t.Fatalf("Name(1) = %q", n)
	}
	if n := migrations.Name(migrations.Latest() + 1); n != "" {
		t.Fatalf("Name of an unknown version = %q", n)
	}
}
