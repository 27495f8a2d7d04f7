package main

import (
	"context"
	"crypto/sha256"
	"slices"
	"strings"
	"testing"

	"github.com/mlflow-gate/mlflow-gate/idp"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

func TestClientCommands(t *testing.T) {
	env := authzEnv(t)
	out, stderr, code := gate(t, env, "", "client", "add", "nightly", "--grants", "client_credentials", "--roles", "Default", "--name", "Nightly training")
	if code != 0 {
		t.Fatalf("client add: %d %s", code, stderr)
	}
	secret := strings.TrimSpace(out)
	if !strings.HasPrefix(secret, idp.ClientSecretPrefix) || !strings.Contains(stderr, "shown only this once") {
		t.Fatalf("client add printed %q / %q", out, stderr)
	}
	ctx := context.Background()
	st, err := storage.Open(ctx, env["MLFLOW_GATE_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := st.ClientByID(ctx, "nightly")
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256([]byte(secret)); string(c.SecretHash) != string(sum[:]) || c.Public || c.Roles[0] != "Default" {
		t.Fatalf("stored client %+v", c)
	}
	mustGate(t, env, "client", "add", "notebook", "--public", "--grants", "authorization_code,refresh_token",
		"--redirect-uris", "https://nb.example.com/cb", "--post-logout-uris", "https://nb.example.com/bye")
	list := mustGate(t, env, "client", "list")
	for _, row := range [][]string{{"nightly", "confidential", "client_credentials", "Default"},
		{"notebook", "public", "authorization_code,refresh_token", "https://nb.example.com/cb", "https://nb.example.com/bye"},
		{storage.CLIClientID, "public,native"}} {
		if !rowWith(list, row...) {
			t.Errorf("client list lacks %v:\n%s", row, list)
		}
	}
	if strings.Contains(list, secret) {
		t.Fatal("client list shows a secret")
	}
	newSecret := strings.TrimSpace(mustGate(t, env, "client", "rotate-secret", "nightly"))
	if newSecret == secret || !strings.HasPrefix(newSecret, idp.ClientSecretPrefix) {
		t.Fatalf("rotate-secret printed %q", newSecret)
	}
	failGate(t, env, 1, "no confidential client", "client", "rotate-secret", "notebook")
	failGate(t, env, 1, "client_credentials needs a confidential client", "client", "add", "bad", "--public")
	failGate(t, env, 1, "UUID", "client", "add", "0b5c3f3e-8d7e-4a59-9c1e-2f1f0d9b7a11")

	pat, stderr, code := gate(t, env, "", "token", "create", "--client", "nightly", "--name", "ci")
	if code != 0 || idp.CheckPATFormat(strings.TrimSpace(pat)) != nil {
		t.Fatalf("token create --client: %d %q %s", code, pat, stderr)
	}
	if tl := mustGate(t, env, "token", "list", "--client", "nightly"); !rowWith(tl, "client:nightly", "ci") {
		t.Errorf("token list --client:\n%s", tl)
	}
	failGate(t, env, 2, "exactly one of --user and --client", "token", "create", "--user", "alice", "--client", "nightly")

	failGate(t, env, 1, "built in", "client", "remove", storage.CLIClientID)
	mustGate(t, env, "client", "remove", "nightly")
	if _, err := st.ClientByID(ctx, "nightly"); err == nil {
		t.Fatal("client still there after remove")
	}
	failGate(t, env, 1, "no client", "client", "remove", "nightly")
}

// rowWith reports whether a line of out has all of fields among its fields.
func rowWith(out string, fields ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		got := strings.Fields(line)
		ok := true
		for _, f := range fields {
			ok = ok && slices.Contains(got, f)
		}
		if ok {
			return true
		}
	}
	return false
}

// TestClientUpdateCommand: `client update` changes only what it names, keeps
// the secret, refuses what `client add` would refuse, and `client add`
// refuses an http redirect the way authorization will.
func TestClientUpdateCommand(t *testing.T) {
	env := authzEnv(t)
	secret := strings.TrimSpace(mustGate(t, env, "client", "add", "webapp", "--grants", "authorization_code,refresh_token",
		"--redirect-uris", "https://app.example.com/cb", "--name", "Web app"))
	ctx := context.Background()
	st, err := storage.Open(ctx, env["MLFLOW_GATE_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	before, err := st.ClientByID(ctx, "webapp")
	if err != nil || before.IDTokenAlg != idp.AlgRS256 {
		t.Fatalf("new client: %+v %v", before, err)
	}
	out := mustGate(t, env, "client", "update", "webapp", "--redirect-uris", "https://app.example.com/cb,http://127.0.0.1:8400/cb",
		"--post-logout-uris", "https://app.example.com/bye", "--id-token-alg", "ES256", "--backchannel-logout-uri", "https://app.example.com/bcl")
	if !strings.Contains(out, "client webapp updated") || !strings.Contains(out, "ID tokens ES256") {
		t.Errorf("client update printed %q", out)
	}
	after, err := st.ClientByID(ctx, "webapp")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(secret))
	if after.Name != "Web app" || string(after.SecretHash) != string(sum[:]) || !slices.Equal(after.GrantTypes, before.GrantTypes) ||
		!slices.Equal(after.RedirectURIs, []string{"http://127.0.0.1:8400/cb", "https://app.example.com/cb"}) ||
		!slices.Equal(after.PostLogoutRedirectURIs, []string{"https://app.example.com/bye"}) ||
		after.IDTokenAlg != idp.AlgES256 || after.BackchannelLogoutURI != "https://app.example.com/bcl" {
		t.Errorf("after update: %+v", after)
	}
	if list := mustGate(t, env, "client", "list"); !rowWith(list, "webapp", "ES256", "https://app.example.com/bcl") {
		t.Errorf("client list:\n%s", list)
	}
	mustGate(t, env, "client", "update", "webapp", "--backchannel-logout-uri", "", "--name", "Renamed")
	if c, _ := st.ClientByID(ctx, "webapp"); c.BackchannelLogoutURI != "" || c.Name != "Renamed" || c.IDTokenAlg != idp.AlgES256 {
		t.Errorf("after clearing the back-channel URI: %+v", c)
	}
	failGate(t, env, 2, "name at least one setting", "client", "update", "webapp")
	failGate(t, env, 1, "use RS256 or ES256", "client", "update", "webapp", "--id-token-alg", "HS256")
	failGate(t, env, 1, "authorization_code needs at least one redirect URI", "client", "update", "webapp", "--redirect-uris", "")
	failGate(t, env, 1, `no client "ghost"`, "client", "update", "ghost", "--name", "x")
	if c, _ := st.ClientByID(ctx, "webapp"); len(c.RedirectURIs) != 2 {
		t.Errorf("a refused update changed the client: %+v", c)
	}
	// The same rule as /oauth/authorize: plain http only on loopback, and
	// the message says so.
	failGate(t, env, 1, "plain http only on a loopback address", "client", "add", "spa", "--public", "--grants", "authorization_code",
		"--redirect-uris", "http://spa.example.com/cb")
	mustGate(t, env, "client", "add", "spa", "--public", "--grants", "authorization_code", "--redirect-uris", "http://127.0.0.1:5173/cb")
}

// TestUserProfileCommands: profiles set with `user add` and `user update`.
func TestUserProfileCommands(t *testing.T) {
	env := authzEnv(t)
	mustGateIn(t, env, "a long enough password\n", "user", "add", "erin", "--email", "carol@example.com", "--email-verified",
		"--name", "Carol Danvers", "--given-name", "Carol", "--family-name", "Danvers", "--password-stdin")
	ctx := context.Background()
	st, err := storage.Open(ctx, env["MLFLOW_GATE_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.UserByName(ctx, "erin")
	want := storage.Profile{Email: "carol@example.com", EmailVerified: true, Name: "Carol Danvers", GivenName: "Carol", FamilyName: "Danvers"}
	if err != nil || u.Profile != want {
		t.Fatalf("carol: %+v %v", u.Profile, err)
	}
	if list := mustGate(t, env, "user", "list"); !rowWith(list, "erin", "carol@example.com", "Carol") {
		t.Errorf("user list:\n%s", list)
	}
	// A changed email is unverified unless said otherwise; other fields stay.
	mustGate(t, env, "user", "update", "erin", "--email", "captain@example.com")
	u, _ = st.UserByName(ctx, "erin")
	if u.Email != "captain@example.com" || u.EmailVerified || u.Name != "Carol Danvers" {
		t.Errorf("after an email change: %+v", u.Profile)
	}
	if list := mustGate(t, env, "user", "list"); !strings.Contains(list, "captain@example.com (unverified)") {
		t.Errorf("user list does not say unverified:\n%s", list)
	}
	mustGate(t, env, "user", "update", "erin", "--email-verified")
	if u, _ = st.UserByName(ctx, "erin"); !u.EmailVerified {
		t.Errorf("--email-verified: %+v", u.Profile)
	}
	failGate(t, env, 1, "is not an address", "user", "update", "erin", "--email", "Carol <carol@example.com>")
	failGate(t, env, 1, "an email must be set to be verified", "user", "update", "erin", "--email", "", "--email-verified")
	failGate(t, env, 2, "name at least one of", "user", "update", "erin")
	failGate(t, env, 1, `no user "nobody"`, "user", "update", "nobody", "--name", "x")
	failGateIn(t, env, "a long enough password\n", 1, "is not an address", "user", "add", "frank", "--email", "dave@", "--password-stdin")
	if _, err := st.UserByName(ctx, "frank"); err == nil {
		t.Error("a refused profile still created the user")
	}
}

func mustGateIn(t *testing.T, env map[string]string, stdin string, args ...string) string {
	t.Helper()
	out, stderr, code := gate(t, env, stdin, args...)
	if code != 0 {
		t.Fatalf("mlflow-gate %s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
	return out
}

func failGateIn(t *testing.T, env map[string]string, stdin string, code int, want string, args ...string) {
	t.Helper()
	_, stderr, got := gate(t, env, stdin, args...)
	if got != code || !strings.Contains(stderr, want) {
		t.Errorf("mlflow-gate %s: exit %d, stderr %q; want exit %d with %q", strings.Join(args, " "), got, stderr, code, want)
	}
}
