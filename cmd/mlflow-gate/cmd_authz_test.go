package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mlflow-gate/mlflow-gate/authz"
	"github.com/mlflow-gate/mlflow-gate/authz/authzstore"
	"github.com/mlflow-gate/mlflow-gate/storage"
	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

// authzEnv is a migrated database with the bootstrap roles, the default permission
// table, alice (Default), carol (Default, disabled) and admin (Admin, Default).
func authzEnv(t *testing.T) map[string]string {
	t.Helper()
	url := storagetest.EmptyDatabase(t)
	env := map[string]string{"MLFLOW_GATE_DATABASE_URL": url}
	if _, stderr, code := gate(t, env, "", "migrate", "up"); code != 0 {
		t.Fatalf("migrate up: %s", stderr)
	}
	ctx := context.Background()
	st, err := storage.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Bootstrap(ctx, storage.BootstrapAdmin{Username: "admin", PasswordHash: "x"}, cliClient()); err != nil {
		t.Fatal(err)
	}
	if ok, err := authzstore.SeedIfEmpty(ctx, st); err != nil || !ok {
		t.Fatalf("seed: %v %v", ok, err)
	}
	for _, u := range []string{"alice", "carol"} {
		if _, stderr, code := gate(t, env, "correct horse battery staple\n", "user", "add", u, "--password-stdin"); code != 0 {
			t.Fatalf("user add %s: %s", u, stderr)
		}
	}
	if _, stderr, code := gate(t, env, "", "user", "disable", "carol"); code != 0 {
		t.Fatalf("user disable: %s", stderr)
	}
	return env
}

// mustGate runs a command that has to succeed and returns its stdout.
// mustGate runs a command that has to succeed. `authz explain` succeeds
// with exit 0 for ALLOW and 1 for DENY, silently: both are answers.
func mustGate(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	out, stderr, code := gate(t, env, "", args...)
	if len(args) > 1 && args[0] == "authz" && args[1] == "explain" {
		if want := map[bool]int{true: 0, false: 1}[strings.HasPrefix(out, "ALLOW")]; code != want || stderr != "" {
			t.Fatalf("%v: exit %d (want %d for %.5s), stderr %q", args, code, want, out, stderr)
		}
		return out
	}
	if code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, stderr)
	}
	return out
}

// failGate runs a command that has to fail with code and one stderr line containing want.
func failGate(t *testing.T, env map[string]string, code int, want string, args ...string) {
	t.Helper()
	_, stderr, got := gate(t, env, "", args...)
	if got != code || !strings.Contains(stderr, want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("%v: exit %d, stderr %q; want exit %d and one line containing %q", args, got, stderr, code, want)
	}
}

func TestAuthzExportImport(t *testing.T) {
	env := authzEnv(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "table.yaml")
	mustGate(t, env, "authz", "export", file)
	orig, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if out := mustGate(t, env, "authz", "export", "-"); out != string(orig) {
		t.Fatal("export - differs from export FILE")
	}
	tbl, err := authz.UnmarshalTableYAML(orig)
	if err != nil || len(authz.Diff(authz.DefaultTable(), tbl)) != 0 {
		t.Fatalf("exported table is not the seeded default (%v): %v", err, authz.Diff(authz.DefaultTable(), tbl))
	}
	unchanged := func() {
		t.Helper()
		if out := mustGate(t, env, "authz", "export", "-"); out != string(orig) {
			t.Fatalf("the stored table changed:\n%s", out)
		}
	}
	// The round trip is no change.
	for _, args := range [][]string{{"authz", "import", file, "--dry-run"}, {"authz", "import", file}} {
		if out := mustGate(t, env, args...); out != "no change\n" {
			t.Fatalf("%v: %q", args, out)
		}
	}
	unchanged()

	// Default may delete runs: the dry run shows it and changes nothing, the import applies it.
	i := slices.IndexFunc(tbl.Permissions, func(p authz.Permission) bool { return p.Role == authz.RoleDefault && p.Resource == "runs" })
	tbl.Permissions[i].Scopes = append(tbl.Permissions[i].Scopes, authz.ScopeDelete)
	changed := writeTable(t, dir, "changed.yaml", tbl)
	wantDiff := "~ permission Default on runs: scopes read,write → read,write,delete\n"
	if out := mustGate(t, env, "authz", "import", "--dry-run", changed); out != wantDiff+"dry run: 1 changes, nothing written\n" {
		t.Fatalf("dry run: %q", out)
	}
	unchanged()
	deleteRun := []string{"authz", "explain", "--user", "alice", "POST", "/api/2.0/mlflow/runs/delete"}
	if out := mustGate(t, env, deleteRun...); !strings.HasPrefix(out, "DENY") {
		t.Fatalf("before the import:\n%s", out)
	}
	if out := mustGate(t, env, "authz", "import", changed); !strings.HasPrefix(out, wantDiff) || !strings.Contains(out, "imported") {
		t.Fatalf("import: %q", out)
	}
	// The table is the ceiling; Default's level on experiments (write) still
	// refuses a delete until the resource permissions allow it too.
	if out := mustGate(t, env, deleteRun...); !strings.HasPrefix(out, "DENY") || !strings.Contains(out, "the table allows it: allowed by Default#delete on runs") ||
		!strings.Contains(out, "needs delete on every experiment") {
		t.Fatalf("after the import:\n%s", out)
	}
	mustGate(t, env, "perm", "default", "Default", "delete")
	if out := mustGate(t, env, deleteRun...); !strings.HasPrefix(out, "ALLOW") || !strings.Contains(out, "allowed by Default#delete on runs") {
		t.Fatalf("after perm default Default delete:\n%s", out)
	}
	mustGate(t, env, "perm", "default", "Default", "write")
	mustGate(t, env, "authz", "import", file)
	unchanged()

	// Bad files: exit 1, one line, the table untouched.
	bad := map[string]string{
		"garbage.yaml": "resources: [\n",
		"unknown.yaml": "version: 1\nresources: []\npermissions: []\nextra: 1\n",
		"empty.yaml":   "",
		"nores.yaml":   "version: 1\nresources: []\npermissions: []\n",
	}
	for name, content := range bad {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		failGate(t, env, 1, name, "authz", "import", p)
		failGate(t, env, 1, name, "authz", "import", "--dry-run", p)
	}
	catchAll := slices.Clone(tbl.Resources)
	tbl.Resources[0].URIs = []string{"/*"}
	failGate(t, env, 1, "not a route pattern", "authz", "import", writeTable(t, dir, "catchall.yaml", tbl))
	tbl.Resources = catchAll
	tbl.Permissions[i].Role = "Ghost"
	ghost := writeTable(t, dir, "ghost.yaml", tbl)
	failGate(t, env, 1, `no role "Ghost"`, "authz", "import", ghost)
	failGate(t, env, 1, `no role "Ghost"`, "authz", "import", "--dry-run", ghost)
	failGate(t, env, 1, "no such file", "authz", "import", filepath.Join(dir, "missing.yaml"))
	unchanged()
}

func writeTable(t *testing.T, dir, name string, tbl authz.Table) string {
	t.Helper()
	b, err := authz.MarshalTableYAML(tbl)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAuthzAllowDisallowExplain(t *testing.T) {
	env := authzEnv(t)
	dir := t.TempDir()
	body := filepath.Join(dir, "body.json")
	if err := os.WriteFile(body, []byte(`{"experiment_id": "7"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	create := []string{"authz", "explain", "--user", "alice", "POST", "/api/2.0/mlflow/runs/create", "--body", body}
	out := mustGate(t, env, create...)
	if !strings.HasPrefix(out, "ALLOW POST /api/2.0/mlflow/runs/create\n") || !strings.Contains(out, "allowed by Default#write on runs") ||
		!strings.Contains(out, "experiment 7 (body experiment_id)") {
		t.Fatalf("explain before the disallow:\n%s", out)
	}
	if out := mustGate(t, env, "authz", "disallow", "Default", "runs", "write"); out != "Default may no longer write on runs\n" {
		t.Fatalf("disallow: %q", out)
	}
	if out := mustGate(t, env, "authz", "disallow", "Default", "runs", "write"); !strings.Contains(out, "nothing changed") {
		t.Fatalf("second disallow: %q", out)
	}
	out = mustGate(t, env, create...)
	if !strings.HasPrefix(out, "DENY") || !strings.Contains(out, "denied: no role of [Default] holds write on runs") {
		t.Fatalf("explain after the disallow:\n%s", out)
	}
	if out := mustGate(t, env, "authz", "allow", "Default", "runs", "write"); out != "Default may now write on runs\n" {
		t.Fatalf("allow: %q", out)
	}
	if out := mustGate(t, env, "authz", "list"); !strings.Contains(out, "RESOURCE") || !hasRow(out, "Default", "runs", "read,write") {
		t.Fatalf("list:\n%s", out)
	}

	for _, tc := range []struct {
		user string
		args []string
		want []string
	}{
		{"alice", []string{"POST", "/api/2.0/mlflow/runs/delete"}, []string{"DENY", "denied: no role of [Default] holds delete on runs", "\nrule "}},
		{"alice", []string{"POST", "/ajax-api/2.0/mlflow/experiments/delete"}, []string{"DENY", "holds delete on experiments"}},
		{"alice", []string{"GET", "/api/3.0/mlflow/gateway/secrets/list"}, []string{"DENY", "holds read on gateway"}},
		{"admin", []string{"POST", "/api/2.0/mlflow/runs/delete"}, []string{"ALLOW", "allowed by Admin#delete on runs", "Admin#read,write,delete,manage on runs"}},
		{"alice", []string{"GET", "/api/2.0/mlflow/nothing/here"}, []string{"DENY", "denied: unknown route"}},
		{"alice", []string{"GET", "/api/2.0/mlflow/runs/get?run_id=1&run_id=2"}, []string{"DENY", "400 Bad Request"}},
		{"alice", []string{"GET", "/api/2.0/mlflow-artifacts/artifacts/1/%2e%2e/2"}, []string{"DENY", "400", "dot segment"}},
		{"carol", []string{"GET", "/api/2.0/mlflow/runs/get", "--query", "run_id=1"}, []string{"DENY", "carol is disabled", "allowed by Default#read on runs"}},
	} {
		out := mustGate(t, env, append([]string{"authz", "explain", "--user", tc.user}, tc.args...)...)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("explain %s %v lacks %q:\n%s", tc.user, tc.args, w, out)
			}
		}
	}
	dup := filepath.Join(dir, "dup.json")
	if err := os.WriteFile(dup, []byte(`{"run_id": "1", "run_id": "2"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := mustGate(t, env, "authz", "explain", "--user", "alice", "POST", "/api/2.0/mlflow/runs/delete", "--body", dup); !strings.Contains(out, "400") {
		t.Errorf("duplicate JSON key:\n%s", out)
	}

	if out := mustGate(t, env, "authz", "explain", "--user", "alice", "POST", "/api/2.0/mlflow/runs/delete"); !hasRow(out, "rule", "none") {
		t.Errorf("a denial names no rule:\n%s", out)
	}
	failGate(t, env, 1, `no role "Ghost"`, "authz", "allow", "Ghost", "runs", "read")
	failGate(t, env, 1, `no resource "nothing"`, "authz", "disallow", "Default", "nothing", "read")
	failGate(t, env, 1, `offers no "use" scope (it offers read, write, delete, manage)`, "authz", "allow", "Default", "runs", "use")
	failGate(t, env, 2, `unknown scope "fly"`, "authz", "allow", "Default", "runs", "fly")
	failGate(t, env, 2, "usage", "authz", "allow", "Default", "runs")
	failGate(t, env, 1, `no user "nobody"`, "authz", "explain", "--user", "nobody", "GET", "/health")
	failGate(t, env, 2, "--user is required", "authz", "explain", "GET", "/health")
}

// hasRow reports whether a line of out has exactly these fields.
func hasRow(out string, fields ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		if slices.Equal(strings.Fields(line), fields) {
			return true
		}
	}
	return false
}

// Before serve seeds it, the table is empty: the commands say so, and an import fills it.
func TestAuthzOnAnEmptyTable(t *testing.T) {
	env := map[string]string{"MLFLOW_GATE_DATABASE_URL": storagetest.EmptyDatabase(t)}
	mustGate(t, env, "migrate", "up")
	failGate(t, env, 1, "the permission table is empty", "authz", "list")
	failGate(t, env, 1, "the permission table is empty", "authz", "export", "-")
	file := writeTable(t, t.TempDir(), "default.yaml", authz.DefaultTable())
	failGate(t, env, 1, `no role "Default"`, "authz", "import", "--dry-run", file)
	mustGate(t, env, "role", "add", "Admin")
	mustGate(t, env, "role", "add", "Default")
	out := mustGate(t, env, "authz", "import", file)
	if !strings.HasPrefix(out, "+ resource experiments (experiment; read,write,delete,manage)\n") || !strings.Contains(out, "+ permission Admin#write,delete on demo") {
		t.Fatalf("import into an empty table:\n%s", out)
	}
	if out := mustGate(t, env, "authz", "list"); !hasRow(out, "Admin", "demo", "write,delete") {
		t.Fatalf("list:\n%s", out)
	}
}

// authz list shows what each resource is for: its own description, or, for
// a table stored without descriptions (before the defaults had them), its
// type's.
func TestAuthzListShowsDescriptions(t *testing.T) {
	env := map[string]string{"MLFLOW_GATE_DATABASE_URL": storagetest.EmptyDatabase(t)}
	mustGate(t, env, "migrate", "up")
	mustGate(t, env, "role", "add", "Admin")
	mustGate(t, env, "role", "add", "Default")
	tbl := authz.DefaultTable()
	for i := range tbl.Resources {
		tbl.Resources[i].Description = ""
	}
	tbl.Resources = append(tbl.Resources, authz.Resource{Name: "run-deletion", Type: authz.TypeRun, Description: "deleting runs, kept to a few",
		URIs: []string{"POST /api/2.0/mlflow/runs/delete"}, Scopes: []authz.Scope{authz.ScopeDelete}})
	mustGate(t, env, "authz", "import", writeTable(t, t.TempDir(), "t.yaml", tbl))
	out := mustGate(t, env, "authz", "list")
	for _, row := range [][2]string{
		{"(every experiment route)", authz.TypeDescription(authz.TypeExperiment)},
		{"(every gateway route)", authz.TypeDescription(authz.TypeGateway)},
		{"POST /api/2.0/mlflow/runs/delete", "deleting runs, kept to a few"},
	} {
		if !regexp.MustCompile(regexp.QuoteMeta(row[0]) + ` +` + regexp.QuoteMeta(row[1]) + "\n").MatchString(out) {
			t.Errorf("authz list lacks %q described as %q:\n%s", row[0], row[1], out)
		}
	}
}
