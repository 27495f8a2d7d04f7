package storage_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mlflow-gate/mlflow-gate/storage"
	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

// recorder is a subscriber that notes what the feed tells it.
type recorder struct {
	mu      sync.Mutex
	reloads int
	changes []storage.Change
	fail    error // returned by the next Changed, once
}

func (r *recorder) Reload(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reloads++
	return nil
}

func (r *recorder) Changed(_ context.Context, c storage.Change) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, c)
	err := r.fail
	r.fail = nil
	return err
}

func (r *recorder) state() (int, []storage.Change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reloads, slices.Clone(r.changes)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func runFeed(t *testing.T, st *storage.Store, subs ...storage.Subscriber) *storage.Feed {
	t.Helper()
	f := storage.NewFeed(st, slog.New(slog.DiscardHandler))
	f.MinBackoff, f.Heartbeat = 10*time.Millisecond, 200*time.Millisecond
	for _, s := range subs {
		f.Subscribe("recorder", s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := f.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return f
}

func TestFeedBroadcastsChangesToEverySubscriber(t *testing.T) {
	st := storagetest.Store(t)
	a, b := &recorder{}, &recorder{}
	f := runFeed(t, st, a, b)
	if !f.Live() || f.Stale(time.Now(), 0) {
		t.Fatal("a connected feed is not live")
	}
	ctx := context.Background()
	if err := storage.Notify(ctx, st.Pool, storage.ChangePAT, "p1"); err != nil {
		t.Fatal(err)
	}
	if err := storage.Notify(ctx, st.Pool, storage.ChangePolicy, ""); err != nil {
		t.Fatal(err)
	}
	want := []storage.Change{{Kind: storage.ChangePAT, ID: "p1"}, {Kind: storage.ChangePolicy}}
	for _, r := range []*recorder{a, b} {
		waitUntil(t, "both changes", func() bool { _, c := r.state(); return len(c) == 2 })
		if n, c := r.state(); n != 1 || !slices.Equal(c, want) {
			t.Fatalf("reloads %d, changes %v; want 1 reload and %v", n, c, want)
		}
	}
}

// A lost connection is re-established and every subscriber told to reload,
// since what was committed meanwhile was announced to nobody; until then the
// feed is not live.
func TestFeedReloadsEverySubscriberOnReconnect(t *testing.T) {
	st := storagetest.Store(t)
	a, b := &recorder{}, &recorder{}
	f := runFeed(t, st, a, b)
	ctx := context.Background()
	feedPID := func() (pid int) {
		err := st.Pool.QueryRow(ctx, `SELECT coalesce(max(pid), 0) FROM pg_stat_activity
			WHERE application_name = $1 AND datname = current_database()`, storage.FeedApplicationName).Scan(&pid)
		if err != nil {
			t.Fatal(err)
		}
		return pid
	}
	for round := 1; round <= 2; round++ {
		pid := feedPID()
		if pid == 0 {
			t.Fatal("no feed connection in pg_stat_activity")
		}
		if _, err := st.Pool.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
			t.Fatal(err)
		}
		for _, r := range []*recorder{a, b} {
			waitUntil(t, "the reload after the reconnection", func() bool { n, _ := r.state(); return n == round+1 })
		}
		waitUntil(t, "live again", f.Live)
		if p := feedPID(); p == pid {
			t.Fatal("the feed kept its terminated connection")
		}
	}
	if f.Stale(time.Now(), 0) {
		t.Fatal("a reconnected feed is stale")
	}
}

// A subscriber that cannot apply a change makes the feed start over: every
// subscriber reloads.
func TestFeedReloadsWhenASubscriberFails(t *testing.T) {
	st := storagetest.Store(t)
	a, b := &recorder{fail: errors.New("lost track")}, &recorder{}
	runFeed(t, st, a, b)
	if err := storage.Notify(context.Background(), st.Pool, storage.ChangeUser, "u1"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the reload", func() bool { n, _ := b.state(); return n == 2 })
	if n, _ := a.state(); n != 2 {
		t.Fatalf("the failing subscriber reloaded %d times, want 2", n)
	}
}

func TestFeedNeverConnectedIsStale(t *testing.T) {
	f := storage.NewFeed(nil, nil)
	if f.Live() || !f.Stale(time.Now(), time.Hour) {
		t.Fatal("a feed that never connected is trusted")
	}
}
