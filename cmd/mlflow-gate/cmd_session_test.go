package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

func TestSessionAndKeysCommands(t *testing.T) {
	env := authzEnv(t)
	env["MLFLOW_GATE_SECRET"] = "0123456789abcdef0123456789abcdef-test"
	ctx := context.Background()
	st, err := storage.Open(ctx, env["MLFLOW_GATE_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.UserByName(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	sess, err := st.CreateSession(ctx, storage.Session{UserID: u.ID, AuthTime: now, ExpiresAt: now.Add(time.Hour)}, "")
	if err != nil {
		t.Fatal(err)
	}
	rt, err := storage.InsertRefreshToken(ctx, st.Pool, storage.RefreshToken{TokenHash: []byte("h1"), ClientID: storage.CLIClientID,
		UserID: u.ID, SessionID: sess.ID, AuthTime: now, IssuedAt: now, ExpiresAt: now.Add(time.Hour), FamilyExpiresAt: now.Add(2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	list := mustGate(t, env, "session", "list", "--user", "admin")
	if !rowWith(list, "session", sess.ID, "admin", "active") || !rowWith(list, "family", rt.FamilyID, storage.CLIClientID, "active") {
		t.Fatalf("session list:\n%s", list)
	}
	if out := mustGate(t, env, "session", "revoke", sess.ID); !strings.Contains(out, "1 refresh-token families") {
		t.Fatalf("session revoke: %s", out)
	}
	list = mustGate(t, env, "session", "list")
	if !rowWith(list, sess.ID, "revoked") || !rowWith(list, rt.FamilyID, "revoked") {
		t.Fatalf("after revoke:\n%s", list)
	}
	failGate(t, env, 1, "not found", "session", "revoke", rt.FamilyID)
	if ev, err := st.ListEvents(ctx, 1); err != nil || ev[0].Action != "session.revoke" {
		t.Fatalf("audit: %+v %v", ev, err)
	}

	// Keys: the first key is made as serve would; rotate, list, revoke.
	if _, stderr, code := gate(t, env, "", "keys", "rotate", "--secret", ""); code != 2 || !strings.Contains(stderr, "MLFLOW_GATE_SECRET") {
		t.Fatalf("keys rotate without the secret: %d %s", code, stderr)
	}
	if out := mustGate(t, env, "keys", "rotate", "--publish-delay", "0s"); !strings.Contains(out, "(ES256) published") || !strings.Contains(out, "(RS256) published") {
		t.Fatalf("keys rotate rotates both algorithms alike: %s", out)
	}
	out := mustGate(t, env, "keys", "rotate", "--publish-delay", "1h", "--alg", "ES256")
	kid := strings.Fields(out)[1]
	list = mustGate(t, env, "keys", "list")
	if !rowWith(list, kid, "ES256", "next") || !rowWith(list, "ES256", "active") {
		t.Fatalf("keys list:\n%s", list)
	}
	mustGate(t, env, "keys", "revoke", kid)
	if list = mustGate(t, env, "keys", "list"); !rowWith(list, kid, "revoked") || !rowWith(list, "active", "-") {
		t.Fatalf("keys list after revoke:\n%s", list)
	}
	active := ""
	for _, l := range strings.Split(list, "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[2] == "active" {
			active = f[0]
		}
	}
	failGate(t, env, 1, "--force", "keys", "revoke", active)
	if out := mustGate(t, env, "keys", "revoke", active, "--force"); !strings.Contains(out, "signs now") {
		t.Fatalf("forced revoke: %s", out)
	}
}
