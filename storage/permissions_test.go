package storage_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

func smallTable() storage.PermissionTable {
	return storage.PermissionTable{
		Resources: []storage.ResourceRecord{
			{Name: "runs", Type: "run", Description: "every run", URIs: []string{}, Scopes: []string{"read", "write", "delete"}},
			{Name: "a_deletes", Type: "experiment", URIs: []string{"POST /api/2.0/mlflow/experiments/delete"}, Scopes: []string{"delete"}},
		},
		Grants: []storage.GrantRecord{
			{Role: "Default", Resource: "runs", Scopes: []string{"write", "read"}},
			{Role: "Admin", Resource: "runs", Scopes: []string{"read", "write", "delete"}},
			{Role: "Admin", Resource: "a_deletes", Scopes: []string{"delete"}},
		},
	}
}

func lastEvent(t *testing.T, st *storage.Store) storage.Event {
	t.Helper()
	evs, err := st.ListEvents(context.Background(), 1)
	if err != nil || len(evs) != 1 {
		t.Fatalf("audit: %v %v", evs, err)
	}
	return evs[0]
}

func TestPermissionTableReplaceKeepsOrderAndRefusesBadTables(t *testing.T) {
	st := bootstrapped(t)
	ctx := context.Background()
	if pt, err := st.PermissionTable(ctx); err != nil || len(pt.Resources)+len(pt.Grants) != 0 {
		t.Fatalf("fresh table: %+v %v", pt, err)
	}
	want := smallTable()
	var seen storage.PermissionTable
	err := st.ReplacePermissionTable(ctx, storage.Actor{Name: "tester"}, want, func(cur storage.PermissionTable) (map[string]any, error) {
		seen = cur
		return map[string]any{"note": "first"}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen.Resources) != 0 {
		t.Fatalf("inspect saw %+v, want the empty table", seen)
	}
	got, err := st.PermissionTable(ctx)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("read back:\n%+v\nwant\n%+v (%v)", got, want, err)
	}
	if e := lastEvent(t, st); e.Action != "policy.import" || e.Actor != "tester" || e.Detail["note"] != "first" {
		t.Fatalf("audit: %+v", e)
	}

	bad := map[string]struct {
		table storage.PermissionTable
		err   error
		text  string
	}{
		"unknown role": {storage.PermissionTable{Resources: want.Resources, Grants: []storage.GrantRecord{{Role: "Ghost", Resource: "runs", Scopes: []string{"read"}}}},
			storage.ErrNotFound, `no role "Ghost"`},
		"missing resource": {storage.PermissionTable{Resources: want.Resources[:1], Grants: want.Grants}, storage.ErrConflict, "missing resource"},
		"duplicate name":   {storage.PermissionTable{Resources: append(want.Resources[:1:1], want.Resources[0])}, storage.ErrConflict, "named twice"},
		"no scopes":        {storage.PermissionTable{Resources: []storage.ResourceRecord{{Name: "x", Type: "run"}}}, storage.ErrInvalid, ""},
		"empty":            {storage.PermissionTable{}, storage.ErrInvalid, "denies every request"},
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			err := st.ReplacePermissionTable(ctx, storage.Actor{Name: "tester"}, tc.table, nil)
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err %v, want %v containing %q", err, tc.err, tc.text)
			}
			if got, _ := st.PermissionTable(ctx); !reflect.DeepEqual(got, want) {
				t.Fatalf("a refused replace changed the table: %+v", got)
			}
		})
	}
	abandon := errors.New("abandon")
	if err := st.ReplacePermissionTable(ctx, storage.Actor{Name: "tester"}, storage.PermissionTable{Resources: want.Resources[1:]},
		func(storage.PermissionTable) (map[string]any, error) { return nil, abandon }); err != abandon {
		t.Fatalf("inspect's error: %v", err)
	}
	if got, _ := st.PermissionTable(ctx); !reflect.DeepEqual(got, want) {
		t.Fatalf("an abandoned replace changed the table: %+v", got)
	}
}

func TestAllowAndDisallowScopes(t *testing.T) {
	st := bootstrapped(t)
	ctx := context.Background()
	if err := st.ReplacePermissionTable(ctx, storage.Actor{Name: "tester"}, smallTable(), nil); err != nil {
		t.Fatal(err)
	}
	grants := func() map[string][]string {
		pt, err := st.PermissionTable(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string][]string{}
		for _, g := range pt.Grants {
			m[g.Role+"@"+g.Resource] = g.Scopes
		}
		return m
	}
	steps := []struct {
		allow   bool
		role    string
		res     string
		scopes  []string
		changed bool
		want    []string // Default@runs afterwards (nil: no grant)
	}{
		{true, "Default", "runs", []string{"delete"}, true, []string{"read", "write", "delete"}},
		{true, "Default", "runs", []string{"delete", "read"}, false, []string{"read", "write", "delete"}},
		{false, "Default", "runs", []string{"write"}, true, []string{"read", "delete"}},
		{false, "Default", "runs", []string{"write"}, false, []string{"read", "delete"}},
		{false, "Default", "runs", []string{"read", "delete"}, true, nil},
		{false, "Default", "runs", []string{"read"}, false, nil},
		{true, "Default", "runs", []string{"write"}, true, []string{"write"}},
	}
	for i, s := range steps {
		do := st.DisallowScopes
		if s.allow {
			do = st.AllowScopes
		}
		changed, err := do(ctx, storage.Actor{Name: "tester"}, s.role, s.res, s.scopes...)
		if err != nil || changed != s.changed {
			t.Fatalf("step %d: changed=%v err=%v, want changed=%v", i, changed, err, s.changed)
		}
		if got := grants()["Default@runs"]; !reflect.DeepEqual(got, s.want) {
			t.Fatalf("step %d: Default@runs %v, want %v", i, got, s.want)
		}
	}
	if e := lastEvent(t, st); e.Action != "policy.allow" || e.Resource != "resource:runs" || e.Detail["role"] != "Default" {
		t.Fatalf("audit: %+v", e)
	}
	// A re-added grant goes last, after the others.
	if pt, _ := st.PermissionTable(ctx); pt.Grants[len(pt.Grants)-1].Role != "Default" {
		t.Fatalf("grant order: %+v", pt.Grants)
	}
	for _, tc := range []struct {
		role, res, scope string
		err              error
		text             string
	}{
		{"Ghost", "runs", "read", storage.ErrNotFound, `no role "Ghost"`},
		{"Default", "nothing", "read", storage.ErrNotFound, `no resource "nothing"`},
		{"Default", "a_deletes", "read", storage.ErrInvalid, `offers no "read" scope (it offers delete)`},
	} {
		for _, do := range []func(context.Context, storage.Actor, string, string, ...string) (bool, error){st.AllowScopes, st.DisallowScopes} {
			if _, err := do(ctx, storage.Actor{Name: "tester"}, tc.role, tc.res, tc.scope); !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("%s %s %s: %v, want %v containing %q", tc.role, tc.res, tc.scope, err, tc.err, tc.text)
			}
		}
	}
	if _, err := st.AllowScopes(ctx, storage.Actor{Name: "tester"}, "Default", "runs"); !errors.Is(err, storage.ErrInvalid) {
		t.Errorf("no scopes: %v", err)
	}
}

func TestPermissionChangesAreAnnounced(t *testing.T) {
	st := bootstrapped(t)
	ctx := context.Background()
	conn, err := st.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+storage.Channel); err != nil {
		t.Fatal(err)
	}
	if err := st.ReplacePermissionTable(ctx, storage.Actor{Name: "tester"}, smallTable(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AllowScopes(ctx, storage.Actor{Name: "tester"}, "Default", "runs", "delete"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		n, err := conn.Conn().WaitForNotification(wctx)
		cancel()
		if err != nil || n.Payload != "policy:" {
			t.Fatalf("notification: %+v %v", n, err)
		}
	}
}

func TestSeedPermissionTableOnceEvenWhenConcurrent(t *testing.T) {
	st := bootstrapped(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	seeded := 0
	for range 4 {
		wg.Go(func() {
			ok, err := st.SeedPermissionTable(ctx, storage.Actor{Name: "mlflow-gate"}, smallTable())
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				seeded++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if seeded != 1 {
		t.Fatalf("seeded %d times, want 1", seeded)
	}
	if got, _ := st.PermissionTable(ctx); !reflect.DeepEqual(got, smallTable()) {
		t.Fatalf("seeded table: %+v", got)
	}
}
