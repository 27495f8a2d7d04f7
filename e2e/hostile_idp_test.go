package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

// api calls the MLflow API through the gate with a bearer credential and
// returns the status and body.
func api(t *testing.T, g *gateProc, bearer, method, path, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, g.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+bearer)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestHostileDisableEndsPATs: `user disable` revokes the user's personal
// access tokens; `user enable` does not bring them back, a new one works.
func TestHostileDisableEndsPATs(t *testing.T) {
	env := gateEnv(t, storagetest.EmptyDatabase(t))
	env["MLFLOW_GATE_BOOTSTRAP_ADMIN_PASSWORD"] = "bootstrap passphrase for e2e"
	g := startGate(t, env)
	if out, err := cli(t, env, "correct horse battery staple\n", "user", "add", "alice", "--password-stdin"); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	const search = "/api/2.0/mlflow/experiments/search?max_results=1"
	pat := createPAT(t, env, "alice")
	if st, body := api(t, g, pat, http.MethodGet, search, ""); st != 200 {
		t.Fatalf("alice's PAT before disable: %d %s", st, body)
	}
	if out, err := cli(t, env, "", "user", "disable", "alice"); err != nil {
		t.Fatalf("user disable: %v\n%s", err, out)
	}
	eventually(t, "disabled user's PAT refused", g, pat, 401)
	if out, err := cli(t, env, "", "user", "enable", "alice"); err != nil {
		t.Fatalf("user enable: %v\n%s", err, out)
	}
	fresh := createPAT(t, env, "alice")
	eventually(t, "a new PAT after enable", g, fresh, 200)
	if st, body := api(t, g, pat, http.MethodGet, search, ""); st != 401 {
		t.Fatalf("the old PAT after enable: %d %s, want 401", st, body)
	}
	out, err := cli(t, env, "", "token", "list", "--user", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(out, "revoked") != 1 || strings.Count(out, "active") != 1 {
		t.Errorf("token list after disable and enable:\n%s", out)
	}
}
