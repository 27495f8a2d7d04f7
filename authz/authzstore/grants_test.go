package authzstore_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/mlflow-gate/mlflow-gate/authz"
	"github.com/mlflow-gate/mlflow-gate/authz/authzstore"
	"github.com/mlflow-gate/mlflow-gate/internal/testlog"
	"github.com/mlflow-gate/mlflow-gate/migrations"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

// TestResourceGrantsRoundTrip: grants and defaults stored, loaded, compiled
// and decided; a first start gives Admin manage and Default write on every
// resource nobody granted, which is today's behaviour.
func TestResourceGrantsRoundTrip(t *testing.T) {
	st := seeded(t)
	ctx := context.Background()
	a := storage.Actor{Name: "tester"}
	if _, err := st.CreateUser(ctx, a, "alice", "x", authz.RoleDefault); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateRole(ctx, a, "TeamA", ""); err != nil {
		t.Fatal(err)
	}
	l := authzstore.NewGrantsLoader(st, slog.New(slog.NewTextHandler(&testlog.Buffer{}, nil)))
	if err := l.Load(ctx); err != nil {
		t.Fatal(err)
	}
	decide := func(user string, roles []string, name string) authz.Level {
		lv, _, _ := l.Holder().Load().LevelOf(user, roles, authz.ResourceRef{Kind: authz.GrantExperiment, ID: "1", Name: name})
		return lv
	}
	if got := decide("alice", []string{authz.RoleDefault}, "x"); got != authz.LevelWrite {
		t.Fatalf("Default's level on a fresh database: %s", got)
	}
	if got := decide("admin", []string{authz.RoleAdmin, authz.RoleDefault}, "x"); got != authz.LevelManage {
		t.Fatalf("Admin's level on a fresh database: %s", got)
	}

	for _, g := range []storage.ResourceGrant{
		{Kind: "experiment", Role: "TeamA", Pattern: "team-a/*", Level: "write"},
		{Kind: "experiment", User: "alice", Resource: "1", Level: "none"},
	} {
		if err := st.PutResourceGrant(ctx, a, g); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SetRoleDefaultLevel(ctx, a, authz.RoleDefault, "none"); err != nil {
		t.Fatal(err)
	}
	// Putting the same grant again replaces its level.
	if err := st.PutResourceGrant(ctx, a, storage.ResourceGrant{Kind: "experiment", Role: "TeamA", Pattern: "team-a/*", Level: "read"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if got := decide("bob", []string{authz.RoleDefault, "TeamA"}, "team-a/churn"); got != authz.LevelRead {
		t.Fatalf("TeamA by pattern: %s", got)
	}
	if got := decide("bob", []string{authz.RoleDefault}, "team-a/churn"); got != authz.LevelNone {
		t.Fatalf("private by default: %s", got)
	}
	if got := decide("alice", []string{authz.RoleDefault, "TeamA"}, "team-a/churn"); got != authz.LevelNone {
		t.Fatalf("alice's explicit none: %s", got)
	}

	for name, g := range map[string]storage.ResourceGrant{
		"none for a role": {Kind: "experiment", Role: "TeamA", Resource: "2", Level: "none"},
		"unknown kind":    {Kind: "run", Role: "TeamA", Resource: "2", Level: "read"},
		"unknown level":   {Kind: "experiment", Role: "TeamA", Resource: "2", Level: "admin"},
		"both targets":    {Kind: "experiment", Role: "TeamA", Resource: "2", Pattern: "x*", Level: "read"},
	} {
		if err := st.PutResourceGrant(ctx, a, g); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := st.PutResourceGrant(ctx, a, storage.ResourceGrant{Kind: "experiment", User: "nobody", Resource: "2", Level: "read"}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a grant to a missing user: %v", err)
	}
	if err := st.DeleteRole(ctx, a, "TeamA"); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("deleting a role that holds grants: %v", err)
	}
	if err := st.DeleteResourceGrant(ctx, a, storage.ResourceGrant{Kind: "experiment", Role: "TeamA", Pattern: "team-a/*"}); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteResourceGrant(ctx, a, storage.ResourceGrant{Kind: "experiment", Role: "TeamA", Pattern: "team-a/*"}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("deleting it twice: %v", err)
	}
	evs, err := st.ListEvents(ctx, 1)
	if err != nil || evs[0].Action != "grant.delete" {
		t.Fatalf("audit: %v %v", evs, err)
	}
}

// TestUpgradeGivesExistingRolesTheirAccess: a database from before resource
// grants gets default levels that keep every existing role's access: the
// highest scope the route table gives the role, so the table alone still
// limits it; a role the table gives nothing gets nothing.
func TestUpgradeGivesExistingRolesTheirAccess(t *testing.T) {
	st := seeded(t)
	ctx := context.Background()
	a := storage.Actor{Name: "tester"}
	for role, scope := range map[string]string{"Reviewers": "read", "Cleaners": "delete", "Empty": ""} {
		if _, err := st.CreateRole(ctx, a, role, ""); err != nil {
			t.Fatal(err)
		}
		if scope == "" {
			continue
		}
		if _, err := st.AllowScopes(ctx, a, role, "runs", scope); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.AllowScopes(ctx, a, "Cleaners", "experiments", "read"); err != nil {
		t.Fatal(err)
	}
	m, err := migrations.New(st.Pool)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Down(ctx, int(migrations.Latest())-7); err != nil {
		t.Fatal(err)
	}
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	rg, err := st.LoadResourceGrants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{authz.RoleAdmin: "manage", authz.RoleDefault: "write", "Reviewers": "read", "Cleaners": "delete", "Empty": ""}
	for role, level := range want {
		if rg.Defaults[role] != level {
			t.Errorf("after the upgrade, %s's default is %q, want %q", role, rg.Defaults[role], level)
		}
	}
}
