package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRelyingPartyMLflowOIDCAuth: an MLflow server with the mlflow-oidc-auth
// plugin (`mlflow server --app-name oidc-auth`) and the gate as its identity
// provider, set up with only the discovery URL, the client and the redirect
// URI, so its default group settings hold: the groups claim is `groups`, a
// member of `mlflow` may log in and a member of `mlflow-admin` is an
// administrator. The gate's roles of those names arrive as groups in the ID
// token (the plugin does not read groups from userinfo by default): users
// with those roles are logged in, under their email or else their gate
// username, with their name and groups, carol as an administrator; a user
// with neither role is refused.
func TestRelyingPartyMLflowOIDCAuth(t *testing.T) {
	python := os.Getenv("MLFLOW_GATE_TEST_OIDC_AUTH_PYTHON")
	if python == "" {
		t.Fatal("MLFLOW_GATE_TEST_OIDC_AUTH_PYTHON is not set: run the tests through `scripts/services run` (or `scripts/test`) " +
			"after `scripts/services install`, which builds mlflow-oidc-auth's venv when it finds Python >= 3.12 and says so")
	}
	env, g := rpGate(t)
	mustCLI(t, env, "", "role", "add", "mlflow")
	mustCLI(t, env, "", "role", "add", "mlflow-admin")
	rpUser(t, env, "bob") // Default only

	addr := freePort(t)
	base := "http://" + addr
	secret := rpClientSecret(t, env, "mlflow-oidc-auth", "--grants", "authorization_code", "--redirect-uris", base+"/callback")
	dir := t.TempDir()
	server := startRP(t, "mlflow-oidc-auth", []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TMPDIR=" + dir,
		"MLFLOW_DISABLE_TELEMETRY=true", "DO_NOT_TRACK=true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false",
		"OIDC_DISCOVERY_URL=" + g.URL + "/.well-known/openid-configuration",
		"OIDC_CLIENT_ID=mlflow-oidc-auth", "OIDC_CLIENT_SECRET=" + secret,
		"OIDC_REDIRECT_URI=" + base + "/callback",
		"OIDC_USERS_DB_URI=sqlite:///" + filepath.Join(dir, "auth.db"),
		"SECRET_KEY=" + randomSecret(),
	}, python, "-m", "mlflow", "server", "--app-name", "oidc-auth", "--workers", "1",
		"--host", "127.0.0.1", "--port", addr[strings.LastIndexByte(addr, ':')+1:],
		"--backend-store-uri", "sqlite:///"+filepath.Join(dir, "mlflow.db"),
		"--default-artifact-root", filepath.Join(dir, "artifacts"),
		"--allowed-hosts", addr,
	)
	server.waitReady(t, "mlflow-oidc-auth", base+"/health/ready", 90*time.Second)

	// current is the plugin's own account of who the browser is logged in as.
	type profile struct {
		Username    string `json:"username"`
		DisplayName string `json:"display_name"`
		IsAdmin     bool   `json:"is_admin"`
	}
	current := func(t *testing.T, c *http.Client) (int, profile, []string) {
		t.Helper()
		code, _, body := rpGet(t, c, base+"/api/2.0/mlflow/users/current")
		var p struct {
			profile
			Groups []struct {
				Name string `json:"group_name"`
			} `json:"groups"`
		}
		if code == http.StatusOK {
			if err := json.Unmarshal([]byte(body), &p); err != nil {
				t.Fatalf("users/current %q: %v", body, err)
			}
		}
		var groups []string
		for _, g := range p.Groups {
			groups = append(groups, g.Name)
		}
		return code, p.profile, groups
	}

	for _, tc := range []struct {
		user, group string
		flags       []string
		want        profile
	}{
		// Without an email the plugin's username is its next username claim, preferred_username.
		{"alice", "mlflow", []string{"--roles", "Default,mlflow", "--name", "Alice Liddell"},
			profile{Username: "alice", DisplayName: "Alice Liddell"}},
		// Without a name the display name is the username.
		{"carol", "mlflow-admin", []string{"--roles", "Default,mlflow-admin", "--email", "carol@example.com", "--email-verified"},
			profile{Username: "carol@example.com", DisplayName: "carol@example.com", IsAdmin: true}},
	} {
		t.Run("a member of "+tc.group+" logs in", func(t *testing.T) {
			rpUser(t, env, tc.user, tc.flags...)
			c := rpJar(t)
			code, at, page := rpSignIn(t, c, g.URL, base+"/login", tc.user)
			if code != http.StatusOK || at.Host != addr || at.Query().Get("error") != "" {
				t.Fatalf("%s ended at %d %s:\n%.400s", tc.user, code, at, page)
			}
			code, got, groups := current(t, c)
			if code != http.StatusOK || got != tc.want {
				t.Errorf("after %s's login the plugin says %d %+v, want %+v", tc.user, code, got, tc.want)
			}
			if !slices.Contains(groups, tc.group) {
				t.Errorf("the plugin has %s in groups %q, want %s among them", tc.user, groups, tc.group)
			}
		})
	}

	t.Run("a user in neither group is refused", func(t *testing.T) {
		c := rpJar(t)
		code, at, page := rpSignIn(t, c, g.URL, base+"/login", "bob")
		if at.Host != addr || !strings.Contains(at.Query().Get("error"), "User is not allowed to login") {
			t.Fatalf("bob ended at %d %s, want the plugin's refusal:\n%.400s", code, at, page)
		}
		if code, got, _ := current(t, c); code != http.StatusUnauthorized {
			t.Errorf("bob's browser: users/current %d %+v, want 401", code, got)
		}
	})
}
