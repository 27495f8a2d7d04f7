package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

// loginTokens runs the authlib code flow as username and returns fresh tokens.
func loginTokens(t *testing.T, issuer, username, password string) (access, id string) {
	t.Helper()
	out, err := python(t, map[string]string{"GATE_ISSUER": issuer, "GATE_USERNAME": username, "GATE_PASSWORD": password,
		"GATE_TOKENS_ONLY": "1"}, "authlib_code_pkce.py")
	if err != nil {
		t.Fatalf("login as %s: %v\n%s", username, err, out)
	}
	var tok struct{ AccessToken, IDToken string }
	if err := json.Unmarshal([]byte(out), &struct {
		A *string `json:"access_token"`
		I *string `json:"id_token"`
	}{&tok.AccessToken, &tok.IDToken}); err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken, tok.IDToken
}

func createPAT(t *testing.T, env map[string]string, user string) string {
	t.Helper()
	out, err := cli(t, env, "", "token", "create", "--user", user, "--name", "e2e")
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "mgp_") {
			return strings.TrimSpace(line)
		}
	}
	t.Fatalf("no token printed:\n%s", out)
	return ""
}

// runClient runs the stock MLflow client script with the given credentials.
func runClient(t *testing.T, gateURL string, creds map[string]string) map[string]any {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	env := map[string]string{"MLFLOW_TRACKING_URI": gateURL, "GATE_PREFIX": "e2e-" + hex.EncodeToString(b),
		"GATE_FAKE_USER": "mallory", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
	for k, v := range creds {
		env[k] = v
	}
	out, err := python(t, env, "mlflow_client.py")
	if err != nil {
		t.Fatalf("mlflow client: %v\nstdout: %s", err, out)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("client output %q: %v", out, err)
	}
	return res
}

var deletes = []string{"delete_tag", "delete_artifact", "delete_model_version", "delete_registered_model", "delete_run", "delete_experiment"}

// TestStockMLflowClientThroughTheGate is the acceptance test of the live gate.
func TestStockMLflowClientThroughTheGate(t *testing.T) {
	db := storagetest.EmptyDatabase(t)
	env := gateEnv(t, db)
	env["MLFLOW_GATE_BOOTSTRAP_ADMIN_PASSWORD"] = "bootstrap passphrase for e2e"
	g := startGate(t, env)
	const alicePW = "correct horse battery staple"
	if out, err := cli(t, env, alicePW+"\n", "user", "add", "alice", "--password-stdin"); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	access, idToken := loginTokens(t, g.URL, "alice", alicePW)
	alicePAT := createPAT(t, env, "alice")
	adminPAT := createPAT(t, env, "admin")

	check := func(t *testing.T, res map[string]any, user string, deleteOutcome string) {
		t.Helper()
		if res["artifact_roundtrip"] != true || res["runs_found"] != float64(1) || res["model_version"] != "1" {
			t.Errorf("ordinary work failed: %v", res)
		}
		if res["mlflow_user"] != user {
			t.Errorf("mlflow.user = %v, want %s (the client claimed mallory)", res["mlflow_user"], user)
		}
		for _, d := range deletes {
			if res[d] != deleteOutcome {
				t.Errorf("%s: %v, want %s", d, res[d], deleteOutcome)
			}
		}
	}
	for name, creds := range map[string]map[string]string{
		"access token": {"MLFLOW_TRACKING_TOKEN": access},
		"PAT":          {"MLFLOW_TRACKING_TOKEN": alicePAT},
		"basic PAT":    {"MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_PASSWORD": alicePAT},
	} {
		t.Run("Default via "+name, func(t *testing.T) {
			res := runClient(t, g.URL, creds)
			check(t, res, "alice", "PERMISSION_DENIED")
			if res["set_tag_mlflow_user"] != "PERMISSION_DENIED" {
				t.Errorf("Default changing mlflow.user: %v", res["set_tag_mlflow_user"])
			}
		})
	}
	t.Run("Admin", func(t *testing.T) {
		res := runClient(t, g.URL, map[string]string{"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": adminPAT})
		check(t, res, "admin", "ok")
		if res["set_tag_mlflow_user"] != "ok" {
			t.Errorf("Admin changing mlflow.user: %v", res["set_tag_mlflow_user"])
		}
	})

	t.Run("refused credentials", func(t *testing.T) {
		for name, auth := range map[string]string{
			"anonymous":           "",
			"garbage bearer":      "Bearer not-a-token",
			"ID token as bearer":  "Bearer " + idToken,
			"account password":    "Basic " + basic("alice", alicePW),
			"PAT of another user": "Basic " + basic("alice", adminPAT),
			"bad PAT checksum":    "Bearer " + alicePAT[:len(alicePAT)-1] + flip(alicePAT[len(alicePAT)-1]),
		} {
			req, _ := http.NewRequest(http.MethodGet, g.URL+"/api/2.0/mlflow/experiments/search?max_results=1", nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body map[string]string
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode != 401 || body["error_code"] != "UNAUTHENTICATED" || resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: %d %v (WWW-Authenticate %q)", name, resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
			}
			// The account password in Basic: the answer says what Basic takes.
			if pat := strings.Contains(body["message"], "not the account password"); pat != (name == "account password") {
				t.Errorf("%s: message %q", name, body["message"])
			}
		}
	})

	// Stop the gate so that its audit queue is flushed, then look for every
	// credential this test issued or configured in all logs and audit rows.
	g.stop(t)
	rows := auditRows(t, db)
	secrets := map[string]string{
		"master secret": env["MLFLOW_GATE_SECRET"], "bootstrap password": env["MLFLOW_GATE_BOOTSTRAP_ADMIN_PASSWORD"],
		"alice's password": alicePW, "access token": access, "ID token": idToken, "alice's PAT": alicePAT,
		"admin's PAT": adminPAT, "S3 secret key": env["MLFLOW_GATE_S3_SECRET_KEY"],
	}
	if pw, ok := urlPassword(env["MLFLOW_GATE_DATABASE_URL"]); ok {
		secrets["database password"] = pw
	}
	for name, secret := range secrets {
		for where, text := range map[string]string{"gate log": g.stderr.String(), "gate stdout": g.stdout.String(), "audit rows": rows} {
			if secret != "" && strings.Contains(text, secret) {
				t.Errorf("the %s appears in the %s", name, where)
			}
		}
	}
	// Every refused delete was audited as a denial, with its rule and reason.
	if n := strings.Count(rows, "|deny|"); n < 3*len(deletes) {
		t.Errorf("%d denials audited, want at least %d:\n%s", n, 3*len(deletes), rows)
	}
}

// auditRows returns every audit record as text, one line per row, with the
// decision between bars.
func auditRows(t *testing.T, dbURL string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT concat_ws(' ', at, actor, client_id, action, method, route, resource, '|' || decision || '|', rule, status, remote_addr, detail::text) FROM audit_events ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) == 0 {
		t.Fatal("no audit records at all")
	}
	return strings.Join(lines, "\n")
}

func urlPassword(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return "", false
	}
	return u.User.Password()
}

func basic(user, pass string) string {
	r, _ := http.NewRequest(http.MethodGet, "http://x", nil)
	r.SetBasicAuth(user, pass)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}
