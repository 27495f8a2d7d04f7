package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mlflow-gate/mlflow-gate/storage"
	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

// status calls an allowed read through g with a bearer credential.
func status(t *testing.T, g *gateProc, bearer string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, g.URL+"/api/2.0/mlflow/experiments/search?max_results=1", nil)
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// eventually waits up to 10 s for g to answer want, and says how long it took.
func eventually(t *testing.T, what string, g *gateProc, bearer string, want int) {
	t.Helper()
	start := time.Now()
	for time.Since(start) < 10*time.Second {
		if status(t, g, bearer) == want {
			t.Logf("%s: %d after %s", what, want, time.Since(start).Round(time.Millisecond))
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: replica still does not answer %d after 10s", what, want)
}

// killListeners ends every change-feed (LISTEN) connection of the gates on this database,
// as a network fault or a database restart would.
func killListeners(t *testing.T, dbURL string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = $1`, storage.FeedApplicationName).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestChangesReachEveryReplica: two gates share one database; a change made
// through the command line (the database and its notifications) blocks the
// next requests on the other gate too, also after its listening connections
// were killed mid-run.
func TestChangesReachEveryReplica(t *testing.T) {
	db := storagetest.EmptyDatabase(t)
	envA := gateEnv(t, db)
	envA["MLFLOW_GATE_BOOTSTRAP_ADMIN_PASSWORD"] = "bootstrap passphrase for e2e"
	startGate(t, envA)
	envB := gateEnv(t, db)
	envB["MLFLOW_GATE_SECRET"] = envA["MLFLOW_GATE_SECRET"]
	b := startGate(t, envB)

	if out, err := cli(t, envA, "correct horse battery staple\n", "user", "add", "alice", "--password-stdin"); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	pat := createPAT(t, envA, "alice")
	eventually(t, "alice allowed", b, pat, 200)

	if n := killListeners(t, db); n < 2 {
		t.Fatalf("expected the gates' LISTEN connections, terminated %d", n)
	}
	time.Sleep(200 * time.Millisecond)

	mustCLI := func(args ...string) {
		t.Helper()
		if out, err := cli(t, envA, "", args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	mustCLI("role", "revoke", "Default", "alice")
	eventually(t, "role revoked", b, pat, 403)
	mustCLI("role", "grant", "Default", "alice")
	eventually(t, "role granted again", b, pat, 200)
	mustCLI("user", "disable", "alice")
	eventually(t, "user disabled", b, pat, 401)
	mustCLI("user", "enable", "alice")
	// Disabling revoked alice's PATs: enabling her again does not revive them.
	pat2 := createPAT(t, envA, "alice")
	eventually(t, "user enabled, new token", b, pat2, 200)
	if got := status(t, b, pat); got != 401 {
		t.Fatalf("the PAT from before the disable answers %d after enable, want 401", got)
	}
	out, err := cli(t, envA, "", "token", "list", "--user", "alice")
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && len(f[0]) == 36 && strings.Count(f[0], "-") == 4 && strings.HasSuffix(strings.TrimSpace(line), "active") {
			id = f[0]
		}
	}
	mustCLI("token", "revoke", id)
	eventually(t, "token revoked", b, pat2, 401)
}
