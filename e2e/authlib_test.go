package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

// python runs a script of testdata with the rig's virtual environment.
func python(t *testing.T, env map[string]string, script string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, need(t, "MLFLOW_GATE_TEST_PYTHON"), "testdata/"+script)
	cmd.Env = environ(env)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), &scriptError{err: err, stderr: stderr.String()}
	}
	return string(out), nil
}

type scriptError struct {
	err    error
	stderr string
}

func (e *scriptError) Error() string { return e.err.Error() + "\n" + e.stderr }

// TestAuthlibCodeFlow drives code + PKCE with Python's authlib against the
// running binary, logging in through the HTML form.
func TestAuthlibCodeFlow(t *testing.T) {
	env := gateEnv(t, storagetest.EmptyDatabase(t))
	env["MLFLOW_GATE_BOOTSTRAP_ADMIN_PASSWORD"] = "bootstrap passphrase for e2e"
	g := startGate(t, env)
	if out, err := cli(t, env, "correct horse battery staple\n", "user", "add", "alice", "--password-stdin"); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	out, err := python(t, map[string]string{"GATE_ISSUER": g.URL, "GATE_USERNAME": "alice", "GATE_PASSWORD": "correct horse battery staple"}, "authlib_code_pkce.py")
	if err != nil {
		t.Fatalf("authlib flow failed: %v\nstdout: %s", err, out)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("script output %q: %v", out, err)
	}
	want := map[string]any{
		"access_token_typ": "at+jwt", "access_token_alg": "ES256", "access_token_aud": g.URL + "/api",
		"access_token_username": "alice", "replay_status": float64(400), "replay_error": "invalid_grant",
		"refresh_rotated": true, "reuse_status": float64(400), "reuse_error": "invalid_grant", "family_status": float64(400), "token_cache_control": "no-store",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if roles, _ := got["id_token_roles"].([]any); len(roles) != 1 || roles[0] != "Default" {
		t.Errorf("ID token roles %v, want [Default]", got["id_token_roles"])
	}
}
