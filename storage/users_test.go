package storage_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mlflow-gate/mlflow-gate/storage"
	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

func cliClient() storage.Client {
	return storage.Client{ID: storage.CLIClientID, Public: true, Native: true,
		GrantTypes: []string{"authorization_code", "refresh_token"}, RedirectURIs: []string{"http://127.0.0.1/callback"}}
}

func bootstrapped(t *testing.T) *storage.Store {
	t.Helper()
	st := storagetest.Store(t)
	created, err := st.Bootstrap(context.Background(), storage.BootstrapAdmin{Username: "admin", PasswordHash: "x"}, cliClient())
	if err != nil || !created {
		t.Fatalf("bootstrap: created=%v err=%v", created, err)
	}
	return st
}

func TestBootstrapOnceEvenWhenConcurrent(t *testing.T) {
	st := storagetest.Store(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := st.Bootstrap(ctx, storage.BootstrapAdmin{Username: "admin", PasswordHash: "h"}, cliClient())
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				created++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if created != 1 {
		t.Fatalf("bootstrap created things %d times, want 1", created)
	}
	// A restart changes nothing.
	if ok, err := st.Bootstrap(ctx, storage.BootstrapAdmin{Username: "other", PasswordHash: "h"}, cliClient()); ok || err != nil {
		t.Fatalf("second bootstrap: created=%v err=%v", ok, err)
	}
	users, err := st.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 || users[0].Username != "admin" || len(users[0].Roles) != 2 {
		t.Fatalf("users after bootstrap: %+v", users)
	}
	c, err := st.ClientByID(ctx, storage.CLIClientID)
	if err != nil || !c.Public || !c.Builtin || c.SecretHash != nil {
		t.Fatalf("cli client: %+v %v", c, err)
	}
}

func TestUsersAndRoles(t *testing.T) {
	st := bootstrapped(t)
	ctx := context.Background()
	if _, err := st.CreateUser(ctx, storage.Actor{Name: "test"}, "alice", "hash"); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		err  error
		want error
	}{
		"duplicate user":             {err: second(st.CreateUser(ctx, storage.Actor{Name: "test"}, "alice", "h")), want: storage.ErrConflict},
		"duplicate user, other case": {err: second(st.CreateUser(ctx, storage.Actor{Name: "test"}, "ALICE", "h")), want: storage.ErrConflict},
		"bad username":               {err: second(st.CreateUser(ctx, storage.Actor{Name: "test"}, "al ice", "h")), want: storage.ErrInvalid},
		"unknown role":               {err: st.GrantRole(ctx, storage.Actor{Name: "test"}, "Nope", "alice"), want: storage.ErrNotFound},
		"unknown user":               {err: st.GrantRole(ctx, storage.Actor{Name: "test"}, storage.RoleDefault, "bob"), want: storage.ErrNotFound},
		"duplicate role":             {err: second(st.CreateRole(ctx, storage.Actor{Name: "test"}, storage.RoleAdmin, "")), want: storage.ErrConflict},
		"revoke not held":            {err: st.RevokeRole(ctx, storage.Actor{Name: "test"}, storage.RoleAdmin, "alice"), want: storage.ErrNotFound},
		"unknown user by name":       {err: second(st.UserByName(ctx, "nobody")), want: storage.ErrNotFound},
	} {
		t.Run(name, func(t *testing.T) {
			if !errors.Is(tc.err, tc.want) {
				t.Fatalf("got %v, want %v", tc.err, tc.want)
			}
		})
	}
	if err := st.GrantRole(ctx, storage.Actor{Name: "test"}, storage.RoleDefault, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := st.GrantRole(ctx, storage.Actor{Name: "test"}, storage.RoleDefault, "alice"); err != nil {
		t.Fatalf("granting a held role again: %v", err)
	}
	u, err := st.UserByName(ctx, "Alice")
	if err != nil || len(u.Roles) != 1 || u.Roles[0] != storage.RoleDefault {
		t.Fatalf("alice: %+v %v", u, err)
	}
	events, err := st.ListEvents(ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) == 0 || events[0].Action != "role.grant" || events[0].Actor != "test" {
		t.Fatalf("newest audit event: %+v", events)
	}
}

func TestLastAdminIsKept(t *testing.T) {
	st := bootstrapped(t)
	ctx := context.Background()
	if err := st.SetDisabled(ctx, storage.Actor{Name: "test"}, "admin", true); !errors.Is(err, storage.ErrLastAdmin) {
		t.Fatalf("disable last admin: %v", err)
	}
	if err := st.RevokeRole(ctx, storage.Actor{Name: "test"}, storage.RoleAdmin, "admin"); !errors.Is(err, storage.ErrLastAdmin) {
		t.Fatalf("demote last admin: %v", err)
	}
	// With a second enabled admin either may go, but not both.
	if _, err := st.CreateUser(ctx, storage.Actor{Name: "test"}, "root2", "h"); err != nil {
		t.Fatal(err)
	}
	if err := st.GrantRole(ctx, storage.Actor{Name: "test"}, storage.RoleAdmin, "root2"); err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeRole(ctx, storage.Actor{Name: "test"}, storage.RoleAdmin, "admin"); err != nil {
		t.Fatalf("demote one of two admins: %v", err)
	}
	if err := st.SetDisabled(ctx, storage.Actor{Name: "test"}, "root2", true); !errors.Is(err, storage.ErrLastAdmin) {
		t.Fatalf("disable the remaining admin: %v", err)
	}
	// A disabled admin does not count as the one that keeps the gate manageable.
	if err := st.GrantRole(ctx, storage.Actor{Name: "test"}, storage.RoleAdmin, "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(ctx, storage.Actor{Name: "test"}, "carol", "h"); err != nil {
		t.Fatal(err)
	}
	if err := st.GrantRole(ctx, storage.Actor{Name: "test"}, storage.RoleAdmin, "carol"); err != nil {
		t.Fatal(err)
	}
	if err := st.SetDisabled(ctx, storage.Actor{Name: "test"}, "carol", true); err != nil {
		t.Fatal(err)
	}
	if err := st.SetDisabled(ctx, storage.Actor{Name: "test"}, "admin", true); err != nil {
		t.Fatalf("disable admin while root2 is enabled: %v", err)
	}
	if err := st.SetDisabled(ctx, storage.Actor{Name: "test"}, "root2", true); !errors.Is(err, storage.ErrLastAdmin) {
		t.Fatalf("disable root2 while the others are disabled: %v", err)
	}
}

// Two concurrent demotions of the last two admins: exactly one may succeed.
func TestLastAdminUnderConcurrency(t *testing.T) {
	st := bootstrapped(t)
	ctx := context.Background()
	if _, err := st.CreateUser(ctx, storage.Actor{Name: "test"}, "root2", "h"); err != nil {
		t.Fatal(err)
	}
	if err := st.GrantRole(ctx, storage.Actor{Name: "test"}, storage.RoleAdmin, "root2"); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	for _, u := range []string{"admin", "root2"} {
		go func() { errs <- st.SetDisabled(ctx, storage.Actor{Name: "test"}, u, true) }()
	}
	failed := 0
	for range 2 {
		if err := <-errs; errors.Is(err, storage.ErrLastAdmin) {
			failed++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if failed != 1 {
		t.Fatalf("%d of 2 concurrent disables were refused, want exactly 1", failed)
	}
}

func TestPasswordChangeAndDisableEndSessions(t *testing.T) {
	st := bootstrapped(t)
	ctx := context.Background()
	u, err := st.CreateUser(ctx, storage.Actor{Name: "test"}, "alice", "h1")
	if err != nil {
		t.Fatal(err)
	}
	activeSessions := func() int {
		var n int
		if err := st.Pool.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL`, u.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	newSession := func() {
		if _, err := st.Pool.Exec(ctx, `INSERT INTO sessions (user_id, auth_time, expires_at) VALUES ($1, now(), $2)`, u.ID, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	newSession()
	if err := st.SetPassword(ctx, storage.Actor{Name: "test"}, "alice", "h2"); err != nil {
		t.Fatal(err)
	}
	if n := activeSessions(); n != 0 {
		t.Fatalf("%d sessions survive a password change", n)
	}
	got, _ := st.UserByName(ctx, "alice")
	if got.PasswordHash != "h2" {
		t.Fatalf("hash not replaced: %q", got.PasswordHash)
	}
	newSession()
	if err := st.SetDisabled(ctx, storage.Actor{Name: "test"}, "alice", true); err != nil {
		t.Fatal(err)
	}
	if n := activeSessions(); n != 0 {
		t.Fatalf("%d sessions survive disabling", n)
	}
	if got, _ := st.UserByName(ctx, "alice"); got.Enabled() {
		t.Fatal("alice still enabled")
	}
	if err := st.SetDisabled(ctx, storage.Actor{Name: "test"}, "alice", false); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.UserByName(ctx, "alice"); !got.Enabled() {
		t.Fatal("alice not re-enabled")
	}
}

func second[T any](_ T, err error) error { return err }
