package storage_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

func TestSearchUsersPagesByName(t *testing.T) {
	st := bootstrapped(t)
	ctx := context.Background()
	for i := range 7 {
		if _, err := st.CreateUser(ctx, storage.Actor{Name: "test"}, fmt.Sprintf("Team_%d", i), "x", storage.RoleDefault); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	after := ""
	for {
		page, more, err := st.SearchUsers(ctx, "team_", after, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range page {
			names = append(names, u.Username)
		}
		if !more {
			break
		}
		after = page[len(page)-1].Username
	}
	if fmt.Sprint(names) != "[Team_0 Team_1 Team_2 Team_3 Team_4 Team_5 Team_6]" {
		t.Fatalf("pages: %v", names)
	}
	// "_" is a literal, not LIKE's wildcard.
	if page, _, err := st.SearchUsers(ctx, "m_", "", 10); err != nil || len(page) != 7 {
		t.Fatalf("search m_: %d users, %v", len(page), err)
	}
	if page, _, err := st.SearchUsers(ctx, "a%", "", 10); err != nil || len(page) != 0 {
		t.Fatalf("search a%%: %d users, %v", len(page), err)
	}
}

func TestDeleteRoleOnlyWhenUnused(t *testing.T) {
	st := bootstrapped(t)
	ctx := context.Background()
	a := storage.Actor{Name: "test"}
	if _, err := st.CreateRole(ctx, a, "Team", "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(ctx, a, "carol", "x", "Team"); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteRole(ctx, a, "Team"); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("deleting a held role: %v", err)
	}
	if err := st.RevokeRole(ctx, a, "Team", "carol"); err != nil {
		t.Fatal(err)
	}
	if err := st.SetRoleDescription(ctx, a, "Team", "the team"); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteRole(ctx, a, "Team"); err != nil {
		t.Fatalf("deleting an unused role: %v", err)
	}
	if err := st.DeleteRole(ctx, a, storage.RoleDefault); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("deleting Default: %v", err)
	}
	if err := st.DeleteRole(ctx, a, "Team"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("deleting a missing role: %v", err)
	}
	evs, err := st.ListEvents(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if evs[0].Action != "role.delete" || evs[1].Action != "role.describe" {
		t.Fatalf("audit: %s, %s", evs[0].Action, evs[1].Action)
	}
}
