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
