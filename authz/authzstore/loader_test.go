package authzstore_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-gate/mlflow-gate/authz"
	"github.com/mlflow-gate/mlflow-gate/authz/authzstore"
	"github.com/mlflow-gate/mlflow-gate/internal/testlog"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

// startLoader loads st's table and runs a loader on a change feed of its own
// until the test ends.
func startLoader(t *testing.T, st *storage.Store) (*authzstore.Loader, *testlog.Buffer) {
	t.Helper()
	var logs testlog.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	l := authzstore.NewLoader(st, log)
	feed := storage.NewFeed(st, log)
	feed.MinBackoff, feed.Heartbeat = 20*time.Millisecond, 200*time.Millisecond
	l.Subscribe(feed)
	ctx, cancel := context.WithCancel(context.Background())
	if err := l.Load(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := feed.Run(ctx); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	waitFor(t, "the listener", func() bool { return l.Status().Listening })
	return l, &logs
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a second", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// otherReplica opens a second store (its own pool) on st's database.
func otherReplica(t *testing.T, st *storage.Store) *storage.Store {
	t.Helper()
	other, err := storage.Open(context.Background(), st.Pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	return other
}

func defaultMayCreateRuns(h *authz.Holder) bool {
	return h.Decide(authz.Subject{Name: "alice", Roles: []string{authz.RoleDefault}},
		&authz.Request{Method: "POST", Path: "/api/2.0/mlflow/runs/create"}).Allow
}

func TestLoaderFollowsChangesFromAnotherReplica(t *testing.T) {
	st := seeded(t)
	l, _ := startLoader(t, st)
	h := l.Holder()
	if !defaultMayCreateRuns(h) {
		t.Fatal("the default policy should let Default create runs")
	}
	other := otherReplica(t, st)
	ctx := context.Background()
	if _, err := authzstore.Disallow(ctx, other, storage.Actor{Name: "tester"}, authz.RoleDefault, "runs", authz.ScopeWrite); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the disallow", func() bool { return !defaultMayCreateRuns(h) })
	if _, err := authzstore.Allow(ctx, other, storage.Actor{Name: "tester"}, authz.RoleDefault, "runs", authz.ScopeWrite); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the allow", func() bool { return defaultMayCreateRuns(h) })
}

func TestLoaderReconnectsAndReloads(t *testing.T) {
	st := seeded(t)
	l, logs := startLoader(t, st)
	ctx := context.Background()
	listener := func() (pid int) {
		err := st.Pool.QueryRow(ctx, `SELECT coalesce(max(pid), 0) FROM pg_stat_activity
			WHERE application_name = $1 AND datname = current_database()`, storage.FeedApplicationName).Scan(&pid)
		if err != nil {
			t.Fatal(err)
		}
		return pid
	}
	for round := range 2 {
		pid := listener()
		if pid == 0 {
			t.Fatal("no listener connection in pg_stat_activity")
		}
		if _, err := st.Pool.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
			t.Fatal(err)
		}
		// A change made while the listener may be down is announced to nobody; the
		// reconnection's full reload must pick it up.
		scope := authz.ScopeWrite
		change := authzstore.Disallow
		if round == 1 {
			change = authzstore.Allow
		}
		if _, err := change(ctx, st, storage.Actor{Name: "tester"}, authz.RoleDefault, "runs", scope); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the reload after the reconnection", func() bool { return defaultMayCreateRuns(l.Holder()) == (round == 1) })
		waitFor(t, "a new listener", func() bool { p := listener(); return p != 0 && p != pid })
	}
	if !strings.Contains(logs.String(), "reconnecting") {
		t.Fatalf("the lost connection was not logged:\n%s", logs)
	}
}

func TestLoaderKeepsThePolicyWhenTheTableDoesNotCompile(t *testing.T) {
	st := seeded(t)
	l, logs := startLoader(t, st)
	ctx := context.Background()
	before := l.Holder().Load()
	// Only a hand-edited database can hold such a table: every write path compiles.
	if _, err := st.Pool.Exec(ctx, `UPDATE resources SET uris = '{/nowhere/*}' WHERE name = 'runs'`); err != nil {
		t.Fatal(err)
	}
	if err := storage.Notify(ctx, st.Pool, storage.ChangePolicy, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the failed load", func() bool { return l.Status().Err != nil })
	if l.Holder().Load() != before || !strings.Contains(logs.String(), "policy not loaded") ||
		!strings.Contains(l.Status().Err.Error(), "does not compile") {
		t.Fatalf("kept=%v status=%v logs:\n%s", l.Holder().Load() == before, l.Status().Err, logs)
	}
	// Notifications of other kinds do not reload.
	if _, err := st.Pool.Exec(ctx, `UPDATE resources SET uris = '{}' WHERE name = 'runs'`); err != nil {
		t.Fatal(err)
	}
	if err := storage.Notify(ctx, st.Pool, storage.ChangeUser, "42"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if l.Status().Err == nil {
		t.Fatal("a user notification reloaded the policy")
	}
	if err := storage.Notify(ctx, st.Pool, storage.ChangePolicy, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the repaired table", func() bool { return l.Status().Err == nil && l.Holder().Load() != before })
}
