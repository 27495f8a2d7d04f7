package main

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-gate/mlflow-gate/migrations"
	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

// schemaVersion is what `migrate version` says of the database.
func schemaVersion(t *testing.T, env map[string]string) string {
	t.Helper()
	out, stderr, code := gate(t, env, "", "migrate", "version")
	if code != 0 {
		t.Fatalf("migrate version: exit %d: %s", code, stderr)
	}
	return out
}

// migrate down reverts only what it is told to, only when confirmed, and
// never by default.
func TestMigrateDownNeedsStepsAndConfirmation(t *testing.T) {
	env := map[string]string{"MLFLOW_GATE_DATABASE_URL": storagetest.EmptyDatabase(t)}
	if _, stderr, code := gate(t, env, "", "migrate", "up"); code != 0 {
		t.Fatal(stderr)
	}
	latest := migrations.Latest()
	top := fmt.Sprintf("database %d, binary %d\n", latest, latest)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"migrate", "down"}, "migrate down needs STEPS or --all"},
		{[]string{"migrate", "down", "0"}, `STEPS must be a positive number, not "0"`},
		{[]string{"migrate", "down", "two"}, `not "two"`},
		{[]string{"migrate", "down", "1", "--all"}, "not both"},
		{[]string{"migrate", "down", "1", "2"}, "usage: mlflow-gate migrate down STEPS | --all"},
		// stdin is not a terminal here: without --yes nothing is asked and nothing reverted.
		{[]string{"migrate", "down", "1"}, "pass --yes"},
		{[]string{"migrate", "down", "--all"}, "pass --yes"},
	} {
		_, stderr, code := gate(t, env, "yes\n", tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	if got := schemaVersion(t, env); got != top {
		t.Fatalf("refused reverts changed the schema: %q", got)
	}
	_, stderr, code := gate(t, env, "", "migrate", "down", fmt.Sprint(latest+1), "--yes")
	if code != 1 || !strings.Contains(stderr, fmt.Sprintf("at most %d migrations", latest)) {
		t.Fatalf("reverting more than there is: exit %d %s", code, stderr)
	}

	out, stderr, code := gate(t, env, "", "migrate", "down", "1", "--yes")
	if code != 0 || out != fmt.Sprintf("schema at version %d\n", latest-1) {
		t.Fatalf("migrate down 1 --yes: exit %d %q %s", code, out, stderr)
	}
	out, stderr, code = gate(t, env, "", "migrate", "down", "--all", "--yes")
	if code != 0 || out != "schema at version 0\n" {
		t.Fatalf("migrate down --all --yes: exit %d %q %s", code, out, stderr)
	}
	out, _, code = gate(t, env, "", "migrate", "down", "--all", "--yes")
	if code != 0 || !strings.Contains(out, "nothing to revert") {
		t.Fatalf("reverting an empty database: exit %d %q", code, out)
	}
}

// While a gate serves the database, migrate down refuses and names it; with
// --force it reverts, and the gate's /readyz goes unready naming the schema.
func TestMigrateDownRefusesWhileAGateServes(t *testing.T) {
	db := storagetest.EmptyDatabase(t)
	env := map[string]string{"MLFLOW_GATE_DATABASE_URL": db}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	deadMLflow := "http://" + ln.Addr().String()
	ln.Close()
	r := startServe(t, testConfig(t, db, deadMLflow))
	latest := migrations.Latest()

	_, stderr, code := gate(t, env, "", "migrate", "down", "1", "--yes")
	if code != 1 || !strings.Contains(stderr, "1 gate(s) serving this database") || !strings.Contains(stderr, "--force") {
		t.Fatalf("migrate down under a serving gate: exit %d %s", code, stderr)
	}
	if got := schemaVersion(t, env); !strings.HasPrefix(got, fmt.Sprintf("database %d,", latest)) {
		t.Fatalf("the refused revert changed the schema: %q", got)
	}
	if _, body := getJSON(t, "http://"+r.addr+"/readyz"); body["checks"].(map[string]any)["schema"] != "ok" {
		t.Fatalf("readyz before the revert: %v", body)
	}

	out, stderr, code := gate(t, env, "", "migrate", "down", "1", "--yes", "--force")
	if code != 0 || out != fmt.Sprintf("schema at version %d\n", latest-1) || !strings.Contains(stderr, "reverting anyway (--force)") {
		t.Fatalf("migrate down --force: exit %d %q %s", code, out, stderr)
	}
	// readyz reads the version at most every few seconds.
	want := fmt.Sprintf("version %d, this binary needs %d", latest-1, latest)
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, body := getJSON(t, "http://"+r.addr+"/readyz")
		schema, _ := body["checks"].(map[string]any)["schema"].(string)
		if strings.HasPrefix(schema, want) && strings.Contains(schema, "migrate up") && code == 503 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz after the revert: %d %v", code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	// The gate stopped, and its lock went with it.
	if _, stderr, code := gate(t, env, "", "migrate", "down", "1", "--yes"); code != 0 {
		t.Fatalf("migrate down after the gate stopped: %s", stderr)
	}
}
