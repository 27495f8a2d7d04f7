package e2e

import (
	"encoding/json"
	"testing"

	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

// TestAuthlibDeviceFlow drives the device authorization grant with Python's
// authlib against the running binary, approving through the HTML pages as a
// person would: log in, read the page naming the client, approve.
func TestAuthlibDeviceFlow(t *testing.T) {
	env := gateEnv(t, storagetest.EmptyDatabase(t))
	env["MLFLOW_GATE_BOOTSTRAP_ADMIN_PASSWORD"] = "bootstrap passphrase for e2e"
	g := startGate(t, env)
	if out, err := cli(t, env, "correct horse battery staple\n", "user", "add", "alice", "--password-stdin"); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	out, err := python(t, map[string]string{"GATE_ISSUER": g.URL, "GATE_USERNAME": "alice", "GATE_PASSWORD": "correct horse battery staple"}, "authlib_device.py")
	if err != nil {
		t.Fatalf("authlib device flow failed: %v\nstdout: %s", err, out)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("script output %q: %v", out, err)
	}
	want := map[string]any{
		"first_poll": "authorization_pending", "forged_status": float64(403), "access_token_typ": "at+jwt",
		"access_token_username": "alice", "access_token_client": "mlflow-gate-cli", "id_token_sub_matches": true,
		"has_refresh_token": true, "second_use": "invalid_grant",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	shows, _ := got["page_shows"].(map[string]any)
	for _, k := range []string{"client", "user_code", "requested_from", "requested_at"} {
		if shows[k] != true {
			t.Errorf("approval page does not show %s: %v", k, shows)
		}
	}
}
