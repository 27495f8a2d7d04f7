package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
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

// TestHostileOtherAppToken: the gate is also the identity provider of other
// applications. A token that another application's client obtained for alice
// (scope=openid, or even asking for mlflow) must not be an MLflow credential:
// the MLflow API refuses it and MLflow holds no trace of the attempt. The
// command-line client's token, and a PAT, still work.
func TestHostileOtherAppToken(t *testing.T) {
	env := gateEnv(t, storagetest.EmptyDatabase(t))
	env["MLFLOW_GATE_BOOTSTRAP_ADMIN_PASSWORD"] = "bootstrap passphrase for e2e"
	g := startGate(t, env)
	const alicePW = "correct horse battery staple"
	if out, err := cli(t, env, alicePW+"\n", "user", "add", "alice", "--password-stdin"); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	const redirect = "http://127.0.0.1:53682/callback"
	out, err := cli(t, env, "", "client", "add", "wiki", "--grants", "authorization_code", "--redirect-uris", redirect)
	if err != nil {
		t.Fatalf("client add: %v\n%s", err, out)
	}
	secret := ""
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "mgs_") {
			secret = strings.TrimSpace(line)
		}
	}
	if secret == "" {
		t.Fatalf("no secret printed:\n%s", out)
	}
	if out, err := cli(t, env, "", "client", "list"); err != nil ||
		!regexpLine(out, `^wiki\s+confidential\s+enabled\s+no\s`) || !regexpLine(out, `^mlflow-gate-cli\s+public,native\s+enabled\s+yes\s`) {
		t.Errorf("client list does not show API access (%v):\n%s", err, out)
	}

	admin := createPAT(t, env, "admin")
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "hostile-wiki-" + hex.EncodeToString(b)
	exists := func(name string) bool {
		t.Helper()
		st, body := api(t, g, admin, http.MethodGet, "/api/2.0/mlflow/experiments/get-by-name?experiment_name="+name, "")
		switch {
		case st == 200:
			return true
		case st == 404 && strings.Contains(body, "RESOURCE_DOES_NOT_EXIST"):
			return false
		}
		t.Fatalf("get-by-name %s as admin: %d %s", name, st, body)
		return false
	}
	create := `{"name": "` + name + `"}`

	for _, scope := range []string{"openid", "openid profile mlflow"} {
		out, err := python(t, map[string]string{"GATE_ISSUER": g.URL, "GATE_USERNAME": "alice", "GATE_PASSWORD": alicePW,
			"GATE_CLIENT_ID": "wiki", "GATE_CLIENT_SECRET": secret, "GATE_REDIRECT_URI": redirect, "GATE_SCOPE": scope,
			"GATE_TOKENS_ONLY": "1"}, "authlib_code_pkce.py")
		if err != nil {
			t.Fatalf("wiki login (scope %q): %v\n%s", scope, err, out)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
			Scope       string `json:"scope"`
		}
		if err := json.Unmarshal([]byte(out), &tok); err != nil || tok.AccessToken == "" {
			t.Fatalf("script output %q: %v", out, err)
		}
		if strings.Contains(tok.Scope, "mlflow") {
			t.Errorf("the wiki client was granted %q", tok.Scope)
		}
		st, body := api(t, g, tok.AccessToken, http.MethodPost, "/api/2.0/mlflow/experiments/create", create)
		if st != 401 || !strings.Contains(body, "UNAUTHENTICATED") || !strings.Contains(body, "not issued for the MLflow API") {
			t.Errorf("wiki token (scope %q) on experiments/create: %d %s", scope, st, body)
		}
		if st, body := api(t, g, tok.AccessToken, http.MethodGet, "/api/2.0/mlflow/experiments/search?max_results=1", ""); st != 401 {
			t.Errorf("wiki token (scope %q) on experiments/search: %d %s", scope, st, body)
		}
		if exists(name) {
			t.Fatalf("MLflow has experiment %s, created with another application's token", name)
		}
		// The provider's own endpoint still accepts it.
		if st, body := api(t, g, tok.AccessToken, http.MethodGet, "/oauth/userinfo", ""); st != 200 {
			t.Errorf("userinfo with the wiki token: %d %s", st, body)
		}
	}

	// The command-line client's token is an MLflow credential.
	access, _ := loginTokens(t, g.URL, "alice", alicePW)
	if st, body := api(t, g, access, http.MethodPost, "/api/2.0/mlflow/experiments/create", create); st != 200 {
		t.Fatalf("CLI token on experiments/create: %d %s", st, body)
	}
	if !exists(name) {
		t.Fatalf("experiment %s missing after the CLI token created it", name)
	}
}

func regexpLine(s, pattern string) bool {
	return regexp.MustCompile(`(?m)` + pattern).MatchString(s)
}
