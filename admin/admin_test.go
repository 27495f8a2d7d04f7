package admin_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mlflow-gate/mlflow-gate/admin"
	"github.com/mlflow-gate/mlflow-gate/authz"
	"github.com/mlflow-gate/mlflow-gate/authz/authzstore"
	"github.com/mlflow-gate/mlflow-gate/idp"
	"github.com/mlflow-gate/mlflow-gate/idp/password"
	"github.com/mlflow-gate/mlflow-gate/storage"
	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

const goodPassword = "correct horse battery staple"

// service returns the admin service over a bootstrapped database with the
// default permission table.
func service(t *testing.T) (*admin.Service, *storage.Store) {
	t.Helper()
	st := storagetest.Store(t)
	ctx := context.Background()
	cli := storage.Client{ID: storage.CLIClientID, Public: true, Native: true,
		GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"http://127.0.0.1/callback"}}
	if _, err := st.Bootstrap(ctx, storage.BootstrapAdmin{Username: "admin", PasswordHash: "x"}, cli); err != nil {
		t.Fatal(err)
	}
	if _, err := authzstore.SeedIfEmpty(ctx, st); err != nil {
		t.Fatal(err)
	}
	kek := make([]byte, 32)
	params := password.Params{Memory: 8 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	return admin.New(st, admin.Config{KeyEncryptionKey: kek, KeyLifetime: time.Hour, PasswordParams: &params}), st
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if admin.ErrorCode(err) != code {
		t.Errorf("%s: %v (code %q), want code %q", what, err, admin.ErrorCode(err), code)
	}
}

func actions(t *testing.T, st *storage.Store) []string {
	t.Helper()
	events, err := st.ListEvents(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range events {
		out = append(out, e.Actor+" "+e.Action+" "+e.Resource)
	}
	return out
}

func TestAddUserWithRolesIsOneTransaction(t *testing.T) {
	ad, st := service(t)
	ctx := context.Background()
	before := len(actions(t, st))
	_, err := ad.AddUser(ctx, admin.CLI, "alice", goodPassword, storage.Profile{}, []string{storage.RoleDefault, "Nope"})
	wantCode(t, "unknown role", err, admin.ENotFound)
	if _, err := st.UserByName(ctx, "alice"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("alice exists after a failed add: %v", err)
	}
	if n := len(actions(t, st)); n != before {
		t.Errorf("a failed add left %d audit records", n-before)
	}

	u, err := ad.AddUser(ctx, admin.CLI, "alice", goodPassword, storage.Profile{}, []string{storage.RoleDefault, storage.RoleAdmin})
	if err != nil || !slices.Equal(u.Roles, []string{storage.RoleAdmin, storage.RoleDefault}) {
		t.Fatalf("add: %+v %v", u, err)
	}
	stored, err := st.UserByName(ctx, "alice")
	if err != nil || !slices.Equal(stored.Roles, u.Roles) || stored.PasswordHash == "" || stored.PasswordHash == goodPassword {
		t.Fatalf("stored: %+v %v", stored, err)
	}
	got := actions(t, st)[:3]
	want := []string{"cli role.grant user:alice", "cli role.grant user:alice", "cli user.create user:alice"}
	if !slices.Equal(got, want) {
		t.Errorf("audit %q, want %q", got, want)
	}

	_, err = ad.AddUser(ctx, admin.CLI, "ALICE", goodPassword, storage.Profile{}, nil)
	wantCode(t, "duplicate", err, admin.EConflict)
	_, err = ad.AddUser(ctx, admin.CLI, "bob", "short", storage.Profile{}, nil)
	wantCode(t, "weak password", err, admin.EInvalid)
	_, err = ad.AddUser(ctx, admin.CLI, "b ob", goodPassword, storage.Profile{}, nil)
	wantCode(t, "bad name", err, admin.EInvalid)
	wantCode(t, "last admin", ad.SetDisabled(ctx, admin.CLI, "admin", true), "")
	wantCode(t, "last admin", ad.SetDisabled(ctx, admin.CLI, "alice", true), admin.EConflict)
	wantCode(t, "no such user", ad.SetPassword(ctx, admin.CLI, "nobody", goodPassword), admin.ENotFound)
	wantCode(t, "revoke not held", ad.RevokeRole(ctx, admin.CLI, "Nope", "alice"), admin.ENotFound)
}

func TestWebActor(t *testing.T) {
	ad, st := service(t)
	ctx := context.Background()
	if _, err := ad.AddUser(ctx, admin.CLI, "carol", goodPassword, storage.Profile{}, []string{storage.RoleDefault}); err != nil {
		t.Fatal(err)
	}
	carol := admin.Actor{Kind: admin.ActorWeb, User: "carol", Address: "192.0.2.9"}
	_, err := ad.AddRole(ctx, carol, "Auditor", "")
	wantCode(t, "a non-admin on the pages", err, admin.EForbidden)
	_, err = ad.ListUsers(ctx, admin.Actor{Kind: admin.ActorWeb, User: "ghost"})
	wantCode(t, "an unknown user on the pages", err, admin.EForbidden)

	web := admin.Actor{Kind: admin.ActorWeb, User: "admin", Address: "192.0.2.1"}
	if _, err := ad.AddRole(ctx, web, "Auditor", "reads the audit log"); err != nil {
		t.Fatal(err)
	}
	events, err := st.ListEvents(ctx, 1)
	if err != nil || len(events) != 1 || events[0].Action != "role.create" || events[0].Actor != "admin" || events[0].RemoteAddr != "192.0.2.1" {
		t.Fatalf("audit: %+v %v", events, err)
	}
	if err := ad.SetDisabled(ctx, admin.CLI, "carol", true); err != nil {
		t.Fatal(err)
	}
	if err := ad.GrantRole(ctx, admin.CLI, storage.RoleAdmin, "carol"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "a disabled admin on the pages", ad.GrantRole(ctx, carol, "Auditor", "carol"), admin.EForbidden)
}

func TestTokensClientsSessions(t *testing.T) {
	ad, _ := service(t)
	ctx := context.Background()
	_, _, err := ad.CreatePAT(ctx, admin.CLI, "admin", admin.PATOptions{TTL: 400 * 24 * time.Hour})
	wantCode(t, "over-long token", err, admin.EInvalid)
	_, _, err = ad.CreatePAT(ctx, admin.CLI, "nobody", admin.PATOptions{})
	wantCode(t, "token of nobody", err, admin.ENotFound)
	tok, rec, err := ad.CreatePAT(ctx, admin.CLI, "ADMIN", admin.PATOptions{Name: "laptop"})
	if err != nil || idp.CheckPATFormat(tok) != nil || rec.Username != "admin" || rec.ExpiresAt.Sub(rec.CreatedAt) != admin.DefaultPATLimits.Default {
		t.Fatalf("create: %q %+v %v", tok, rec, err)
	}
	if err := ad.RevokePAT(ctx, admin.CLI, rec.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "revoke twice", ad.RevokePAT(ctx, admin.CLI, rec.ID), admin.ENotFound)

	_, err = ad.CreateClient(ctx, admin.CLI, idp.ClientSpec{ID: "web", GrantTypes: []string{idp.GrantAuthorizationCode}})
	wantCode(t, "client without redirect", err, admin.EInvalid)
	spec := idp.ClientSpec{ID: "nightly", GrantTypes: []string{idp.GrantClientCredentials}, Roles: []string{storage.RoleDefault}}
	secret, err := ad.CreateClient(ctx, admin.CLI, spec)
	if err != nil || secret == "" {
		t.Fatalf("create client: %q %v", secret, err)
	}
	_, err = ad.CreateClient(ctx, admin.CLI, spec)
	wantCode(t, "duplicate client", err, admin.EConflict)
	fresh, err := ad.RotateClientSecret(ctx, admin.CLI, "nightly")
	if err != nil || fresh == secret {
		t.Fatalf("rotate: %v", err)
	}
	if _, _, err := ad.CreateClientPAT(ctx, admin.CLI, "nightly", admin.PATOptions{}); err != nil {
		t.Fatal(err)
	}
	if pats, err := ad.ListPATs(ctx, admin.CLI, admin.PATFilter{Client: "nightly"}); err != nil || len(pats) != 1 {
		t.Fatalf("client tokens: %+v %v", pats, err)
	}
	if pats, err := ad.ListPATs(ctx, admin.CLI, admin.PATFilter{}); err != nil || len(pats) != 2 {
		t.Fatalf("every token: %+v %v", pats, err)
	}
	wantCode(t, "roles of nobody", ad.SetClientRoles(ctx, admin.CLI, "ghost", nil), admin.ENotFound)
	if err := ad.RemoveClient(ctx, admin.CLI, "nightly"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "remove twice", ad.RemoveClient(ctx, admin.CLI, "nightly"), admin.ENotFound)

	_, _, err = ad.RevokeSession(ctx, admin.CLI, "00000000-0000-0000-0000-000000000000")
	wantCode(t, "unknown session", err, admin.ENotFound)
}

func TestKeys(t *testing.T) {
	ad, _ := service(t)
	ctx := context.Background()
	_, err := ad.RotateKey(ctx, admin.CLI, "HS256", 0)
	wantCode(t, "bad alg", err, admin.EInvalid)
	k, err := ad.RotateKey(ctx, admin.CLI, idp.AlgES256, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ad.RevokeKey(ctx, admin.CLI, k.KID, false)
	wantCode(t, "only key", err, admin.EConflict)
	if !errors.Is(err, storage.ErrOnlySigningKey) {
		t.Errorf("cause lost: %v", err)
	}
	repl, err := ad.RevokeKey(ctx, admin.CLI, k.KID, true)
	if err != nil || repl == "" {
		t.Fatalf("forced revoke: %q %v", repl, err)
	}
	keys, err := ad.ListKeys(ctx, admin.CLI)
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys: %+v %v", keys, err)
	}
	_, err = ad.RevokeKey(ctx, admin.CLI, "no-such-kid", false)
	wantCode(t, "unknown key", err, admin.ENotFound)
}

func TestPolicy(t *testing.T) {
	ad, _ := service(t)
	ctx := context.Background()
	_, err := ad.Allow(ctx, admin.CLI, "Ghost", "runs", authz.ScopeRead)
	wantCode(t, "unknown role", err, admin.ENotFound)
	if changed, err := ad.Allow(ctx, admin.CLI, authz.RoleDefault, "runs", authz.ScopeDelete); err != nil || !changed {
		t.Fatalf("allow: %v %v", changed, err)
	}
	if changed, err := ad.Disallow(ctx, admin.CLI, authz.RoleDefault, "runs", authz.ScopeDelete); err != nil || !changed {
		t.Fatalf("disallow: %v %v", changed, err)
	}
	cur, err := ad.Table(ctx, admin.CLI)
	if err != nil {
		t.Fatal(err)
	}
	next := cur
	next.Permissions = append(slices.Clone(cur.Permissions), authz.Permission{Role: "Ghost", Resource: "runs", Scopes: []authz.Scope{authz.ScopeRead}})
	pre, err := ad.PreviewImport(ctx, admin.CLI, next)
	if err != nil || len(pre.Diff) == 0 || !slices.Equal(pre.MissingRoles, []string{"Ghost"}) {
		t.Fatalf("preview: %+v %v", pre, err)
	}
	_, err = ad.ImportTable(ctx, admin.CLI, next)
	wantCode(t, "import naming a missing role", err, admin.ENotFound)
	bad := cur
	bad.Permissions = append(slices.Clone(cur.Permissions), authz.Permission{Role: authz.RoleDefault, Resource: "no-such-resource", Scopes: []authz.Scope{authz.ScopeRead}})
	_, err = ad.ImportTable(ctx, admin.CLI, bad)
	wantCode(t, "import that does not compile", err, admin.EInvalid)
	if diff, err := ad.ImportTable(ctx, admin.CLI, cur); err != nil || len(diff) != 0 {
		t.Fatalf("import of the stored table: %v %v", diff, err)
	}
}
