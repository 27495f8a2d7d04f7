package authzstore_test

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/mlflow-gate/mlflow-gate/authz"
	"github.com/mlflow-gate/mlflow-gate/authz/authzstore"
	"github.com/mlflow-gate/mlflow-gate/migrations"
	"github.com/mlflow-gate/mlflow-gate/storage"
	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

// seeded returns a store with the roles of storage.Bootstrap and the default table.
func seeded(t *testing.T) *storage.Store {
	t.Helper()
	st := storagetest.Store(t)
	ctx := context.Background()
	cli := storage.Client{ID: storage.CLIClientID, Public: true, Native: true,
		GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"http://127.0.0.1/callback"}}
	if _, err := st.Bootstrap(ctx, storage.BootstrapAdmin{Username: "admin", PasswordHash: "x"}, cli); err != nil {
		t.Fatal(err)
	}
	if ok, err := authzstore.SeedIfEmpty(ctx, st); err != nil || !ok {
		t.Fatalf("seed: %v %v", ok, err)
	}
	return st
}

func TestRecordsRoundTrip(t *testing.T) {
	def := authz.DefaultTable()
	def.Resources = append(def.Resources, authz.Resource{Name: "one", Type: authz.TypeRun, Description: "d",
		URIs: []string{"POST /api/2.0/mlflow/runs/delete"}, Scopes: []authz.Scope{authz.ScopeDelete, authz.ScopeRead}})
	back, err := authzstore.FromRecords(authzstore.ToRecords(def))
	if err != nil || !reflect.DeepEqual(back, def) {
		t.Fatalf("round trip differs (%v): %v", err, authz.Diff(def, back))
	}
	_, err = authzstore.FromRecords(storage.PermissionTable{Resources: []storage.ResourceRecord{{Name: "x", Scopes: []string{"fly"}}}})
	if err == nil || !strings.Contains(err.Error(), `resource "x": authz: unknown scope "fly"`) {
		t.Fatalf("unknown scope: %v", err)
	}
}

func TestSeedIfEmptyOnceFromFourReplicas(t *testing.T) {
	st := storagetest.Store(t)
	ctx := context.Background()
	if _, err := authzstore.SeedIfEmpty(ctx, st); err == nil || !strings.Contains(err.Error(), "no role") {
		t.Fatalf("seeding before the roles exist: %v", err)
	}
	cli := storage.Client{ID: storage.CLIClientID, Public: true, Native: true,
		GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"http://127.0.0.1/callback"}}
	if _, err := st.Bootstrap(ctx, storage.BootstrapAdmin{Username: "admin", PasswordHash: "x"}, cli); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	n := 0
	for range 4 {
		wg.Go(func() {
			ok, err := authzstore.SeedIfEmpty(ctx, st)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				n++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if n != 1 {
		t.Fatalf("seeded %d times, want 1", n)
	}
	got, err := authzstore.Load(ctx, st)
	if err != nil || !reflect.DeepEqual(got, authz.DefaultTable()) {
		t.Fatalf("stored table is not the default (%v): %v", err, authz.Diff(authz.DefaultTable(), got))
	}
	evs, _ := st.ListEvents(ctx, 100)
	seeds := 0
	for _, e := range evs {
		if e.Action == "policy.seed" {
			seeds++
		}
	}
	if seeds != 1 {
		t.Fatalf("%d policy.seed audit events", seeds)
	}
}

func TestImport(t *testing.T) {
	st := seeded(t)
	ctx := context.Background()
	events := func() int {
		evs, _ := st.ListEvents(ctx, 1000)
		return len(evs)
	}
	before := events()
	// Importing the stored table is no change and writes nothing.
	cur, err := authzstore.Load(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if diff, err := authzstore.Import(ctx, st, storage.Actor{Name: "tester"}, cur); err != nil || len(diff) != 0 || events() != before {
		t.Fatalf("same table: diff %v err %v, events %d→%d", diff, err, before, events())
	}
	// A changed table is stored with its diff.
	next := cur
	next.Permissions = append([]authz.Permission{{Role: authz.RoleDefault, Resource: "runs",
		Scopes: []authz.Scope{authz.ScopeRead, authz.ScopeWrite, authz.ScopeDelete}}}, next.Permissions...)
	next.Permissions = deletePermission(next.Permissions, authz.RoleDefault, "runs", 1)
	diff, err := authzstore.Import(ctx, st, storage.Actor{Name: "tester"}, next)
	if err != nil || len(diff) != 1 || diff[0] != "~ permission Default on runs: scopes read,write → read,write,delete" {
		t.Fatalf("diff %q err %v", diff, err)
	}
	if got, _ := authzstore.Load(ctx, st); !reflect.DeepEqual(got, next) {
		t.Fatalf("stored table differs: %v", authz.Diff(next, got))
	}
	// A table that does not compile is refused before the database is touched.
	broken := authzstore.ToRecords(next)
	broken.Resources[0].URIs = []string{"/*"}
	bt, _ := authzstore.FromRecords(broken)
	if _, err := authzstore.Import(ctx, st, storage.Actor{Name: "tester"}, bt); err == nil || !strings.Contains(err.Error(), "catch-all") && !strings.Contains(err.Error(), "not a route pattern") {
		t.Fatalf("broken table: %v", err)
	}
	if got, _ := authzstore.Load(ctx, st); !reflect.DeepEqual(got, next) {
		t.Fatalf("a refused import changed the table: %v", authz.Diff(next, got))
	}
}

// deletePermission drops the nth (0-based) permission of role on resource.
func deletePermission(ps []authz.Permission, role, resource string, nth int) []authz.Permission {
	for i, p := range ps {
		if p.Role == role && p.Resource == resource {
			if nth == 0 {
				return append(ps[:i:i], ps[i+1:]...)
			}
			nth--
		}
	}
	return ps
}

func TestAllowDisallowDecide(t *testing.T) {
	st := seeded(t)
	ctx := context.Background()
	decide := func() bool {
		t.Helper()
		tbl, err := authzstore.Load(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		p, err := authz.Compile(tbl)
		if err != nil {
			t.Fatal(err)
		}
		d := p.Decide(authz.Subject{Name: "alice", Roles: []string{authz.RoleDefault}},
			&authz.Request{Method: "POST", Path: "/api/2.0/mlflow/runs/delete"})
		return d.Allow
	}
	if decide() {
		t.Fatal("Default may delete runs in the default table")
	}
	if ok, err := authzstore.Allow(ctx, st, storage.Actor{Name: "tester"}, authz.RoleDefault, "runs", authz.ScopeDelete); err != nil || !ok || !decide() {
		t.Fatalf("allow: %v %v", ok, err)
	}
	if ok, err := authzstore.Disallow(ctx, st, storage.Actor{Name: "tester"}, authz.RoleDefault, "runs", authz.ScopeDelete); err != nil || !ok || decide() {
		t.Fatalf("disallow: %v %v", ok, err)
	}
}

// TestUpgradeAddsEffectScopes: a database seeded before writes were decided by their
// effects gets the scopes those effects ask for on the seed's resources and Admin's
// permissions, so upgrading leaves Admin able to do what it did, and the stored table
// equals a fresh seed's. The down migration takes them back.
func TestUpgradeAddsEffectScopes(t *testing.T) {
	st := seeded(t)
	ctx := context.Background()
	m, err := migrations.New(st.Pool)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// Back to just before 000006_effect_scopes, whatever came after it.
	if err := m.Down(ctx, int(migrations.Latest())-5); err != nil {
		t.Fatal(err)
	}
	if v, _, err := m.Version(); err != nil || v != 5 {
		t.Fatalf("after the down migrations: version %d, %v", v, err)
	}
	old, err := authzstore.Load(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(old, authz.DefaultTable()) {
		t.Fatal("the down migration changed nothing")
	}
	p, err := authz.Compile(old)
	if err != nil {
		t.Fatal(err)
	}
	admin := authz.Subject{Name: "admin", Roles: []string{authz.RoleAdmin}}
	req, err := authz.ReadRequest(authz.Input{Method: "POST", RawPath: "/api/2.0/mlflow/model-versions/create",
		Body: []byte(`{"name":"m","source":"s3://bucket/model"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Decide(admin, req); d.Allow {
		t.Fatalf("the old table already lets Admin register an outside source: %v", d)
	}
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := authzstore.Load(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, authz.DefaultTable()) {
		t.Fatalf("upgraded table differs from a fresh seed: %v", authz.Diff(authz.DefaultTable(), got))
	}
	if p, err = authz.Compile(got); err != nil {
		t.Fatal(err)
	}
	if d := p.Decide(admin, req); !d.Allow {
		t.Fatalf("after the upgrade Admin is refused: %v", d)
	}
}
