package e2e

import (
	"strings"
	"testing"

	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

// TestFoundation starts the gate on the rig, checks health and readiness,
// talks to the rig's MLflow, administers users through the CLI, and stops.
func TestFoundation(t *testing.T) {
	env := gateEnv(t, storagetest.EmptyDatabase(t))
	g := startGate(t, env)

	if code, body := get(t, g.URL+"/healthz"); code != 200 || !strings.Contains(body, "alive") {
		t.Fatalf("healthz: %d %s", code, body)
	}
	if code, body := get(t, g.URL+"/readyz"); code != 200 || !strings.Contains(body, `"ready"`) {
		t.Fatalf("readyz: %d %s", code, body)
	}
	if code, body := get(t, "http://"+env["MLFLOW_GATE_METRICS_LISTEN"]+"/metrics"); code != 200 || !strings.Contains(body, "mlflow_gate_http_requests_total") {
		t.Fatalf("metrics: %d", code)
	}
	// The MLflow the gate is configured with answers (through the rig, not yet through the gate).
	if code, body := get(t, env["MLFLOW_GATE_MLFLOW_URL"]+"/version"); code != 200 || !strings.HasPrefix(body, "3.") {
		t.Fatalf("MLflow /version: %d %q", code, body)
	}
	if p := adminPassword(g.stdout.String()); len(p) < 12 {
		t.Fatalf("no generated admin password printed:\n%s", g.stdout)
	}

	if out, err := cli(t, env, "correct horse battery staple\n", "user", "add", "alice", "--password-stdin", "--roles", ""); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	if out, err := cli(t, env, "", "role", "grant", "Default", "alice"); err != nil {
		t.Fatalf("role grant: %v\n%s", err, out)
	}
	out, err := cli(t, env, "", "user", "list")
	if err != nil || !strings.Contains(out, "alice") || !strings.Contains(out, "Default") {
		t.Fatalf("user list: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"correct horse battery staple\n", []string{"user", "add", "alice", "--password-stdin"}, "already exists"},
		{"", []string{"role", "grant", "Auditor", "alice"}, `no role "Auditor"`},
		{"short pw\n", []string{"user", "add", "bob", "--password-stdin"}, "at least 12 characters"},
		{"qwerty123456\n", []string{"user", "add", "bob", "--password-stdin"}, "common password"},
		{"", []string{"user", "disable", "admin"}, "last enabled Admin"},
		{"", []string{"role", "revoke", "Admin", "admin"}, "last enabled Admin"},
	} {
		out, err := cli(t, env, tc.stdin, tc.args...)
		if err == nil || !strings.Contains(out, tc.want) || strings.Count(strings.TrimSpace(out), "\n") != 0 {
			t.Errorf("%v: err=%v, output %q; want a non-zero exit and one line with %q", tc.args, err, out, tc.want)
		}
	}
	if out, err := cli(t, env, "", "client", "list"); err != nil || !strings.Contains(out, "mlflow-gate-cli") {
		t.Fatalf("client list: %v\n%s", err, out)
	}
	g.stop(t)
	if !strings.Contains(g.stderr.String(), `"stopped"`) {
		t.Fatalf("no clean stop logged:\n%s", g.stderr)
	}
}

// TestTwoReplicasRaceOnAnEmptyDatabase starts two gates at once on one empty
// database: both must serve, and exactly one creates (and prints) the admin.
func TestTwoReplicasRaceOnAnEmptyDatabase(t *testing.T) {
	db := storagetest.EmptyDatabase(t)
	envs := []map[string]string{gateEnv(t, db), gateEnv(t, db)}
	envs[1]["MLFLOW_GATE_SECRET"] = envs[0]["MLFLOW_GATE_SECRET"]
	gates := []*gateProc{launchGate(t, envs[0]), launchGate(t, envs[1])}
	printed := 0
	for _, g := range gates {
		g.waitHealthy(t)
		if adminPassword(g.stdout.String()) != "" {
			printed++
		}
		if code, _ := get(t, g.URL+"/readyz"); code != 200 {
			t.Errorf("replica not ready: %d", code)
		}
	}
	if printed != 1 {
		t.Fatalf("%d replicas printed an admin password, want exactly 1", printed)
	}
	out, err := cli(t, envs[0], "", "user", "list")
	if err != nil || strings.Count(out, "admin") != 1 {
		t.Fatalf("users after the race: %v\n%s", err, out)
	}
}
