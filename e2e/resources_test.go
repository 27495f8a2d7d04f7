package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// dbExec runs SQL on the gate's database (the resource grants have no
// command yet: tests write them where the gate reads them) and announces
// the change as the gate's own writes do.
func dbExec(t *testing.T, dbURL, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_notify('mlflow_gate_changes', 'grants:')`); err != nil {
		t.Fatal(err)
	}
}

// TestResourceGrantsDecideInsideAnExperiment: with Default's level on
// resources set to none, alice's grant on her experiment lets her work in
// it and bob sees nothing of it through ids (experiment, name, run, metric
// history, artifacts, under /api and /ajax-api); a read grant gives bob
// reads but not writes, and taking it back refuses him again.
func TestResourceGrantsDecideInsideAnExperiment(t *testing.T) {
	h := newHostileRig(t, nil)
	if out, err := cli(t, h.env, browserPassword+"\n", "user", "add", "bob", "--password-stdin"); err != nil {
		t.Fatalf("user add bob: %v\n%s", err, out)
	}
	bob := createPAT(t, h.env, "bob")
	name := uniqueName(t)
	exp := h.experiment(t, h.alice, name)
	res := h.must(t, h.alice, "POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": exp, "start_time": time.Now().UnixMilli()})
	run, _ := res["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	h.must(t, h.alice, "POST", "/api/2.0/mlflow/runs/log-metric", map[string]any{"run_id": run, "key": "loss", "value": 0.5, "timestamp": time.Now().UnixMilli()})

	reads := []struct{ method, path string }{
		{"GET", "/api/2.0/mlflow/experiments/get?experiment_id=" + exp},
		{"GET", "/ajax-api/2.0/mlflow/experiments/get?experiment_id=" + exp},
		{"GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name=" + name},
		{"GET", "/api/2.0/mlflow/runs/get?run_id=" + run},
		{"GET", "/ajax-api/2.0/mlflow/runs/get?run_id=" + run},
		{"GET", "/api/2.0/mlflow/metrics/get-history?run_id=" + run + "&metric_key=loss"},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts?path=" + exp + "/" + run + "/artifacts"},
	}
	write := func(pat string) int {
		code, _, _ := h.call(t, pat, "POST", "/api/2.0/mlflow/runs/log-metric",
			map[string]any{"run_id": run, "key": "loss", "value": 0.4, "timestamp": time.Now().UnixMilli()})
		return code
	}
	// eventually waits until every read by pat answers want (the change
	// feed reaches the gate within milliseconds; a second is the goal).
	eventually := func(what, pat string, want int) {
		t.Helper()
		start := time.Now()
		for _, rd := range reads {
			for {
				code, body, _ := h.call(t, pat, rd.method, rd.path, nil)
				if code == want {
					break
				}
				if time.Since(start) > time.Second {
					t.Fatalf("%s: %s %s answers %d %s, want %d", what, rd.method, rd.path, code, body, want)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	eventually("before any grant", bob, http.StatusOK)

	db := h.env["MLFLOW_GATE_DATABASE_URL"]
	// alice owns what she created: the gate recorded it from MLflow's answer.
	if out, err := cli(t, h.env, "", "perm", "list", "--user", "alice"); err != nil || !strings.Contains(out, exp) || !strings.Contains(out, "manage") {
		t.Fatalf("alice's owner grant: %v\n%s", err, out)
	}
	if out, err := cli(t, h.env, "", "perm", "default", "Default", "none"); err != nil {
		t.Fatalf("perm default: %v\n%s", err, out)
	}
	eventually("private by default", bob, http.StatusForbidden)
	eventually("alice's own experiment", h.alice, http.StatusOK)
	if code := write(bob); code != http.StatusForbidden {
		t.Fatalf("bob writing into alice's run: %d", code)
	}
	if code := write(h.alice); code != http.StatusOK {
		t.Fatalf("alice writing into her run: %d", code)
	}
	// An id the gate cannot place is refused, not let through.
	if code, _, _ := h.call(t, bob, "GET", "/api/2.0/mlflow/runs/get?run_id=00000000000000000000000000000000", nil); code != http.StatusForbidden {
		t.Fatalf("an unknown run: %d", code)
	}

	dbExec(t, db, `INSERT INTO resource_grants (kind, user_id, pattern, level)
		SELECT 'experiment', id, $1, 'read' FROM users WHERE username = 'bob'`, name[:len(name)-3]+"*")
	eventually("bob's read grant by pattern", bob, http.StatusOK)
	if code := write(bob); code != http.StatusForbidden {
		t.Fatalf("bob writing with a read grant: %d", code)
	}
	dbExec(t, db, `DELETE FROM resource_grants WHERE user_id = (SELECT id FROM users WHERE username = 'bob')`)
	eventually("the grant taken back", bob, http.StatusForbidden)
	// The refusals are audited (the audit log is written in batches).
	for deadline := time.Now().Add(10 * time.Second); auditCount(t, db, `actor = 'bob' AND rule = 'resource_level' AND decision = 'deny' AND status = 403`) < len(reads); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("bob's refusals are not audited:\n%s", auditRows(t, db))
		}
	}
}

// TestServiceClientCreatesAnExperiment: a service client (client credentials)
// creating an experiment gets MLflow's answer, not a 502 for an owner grant
// it cannot hold (grants name users and roles); the experiment is then
// decided by its roles' levels, like anything nobody was granted, and
// MLflow holds what it logged.
func TestServiceClientCreatesAnExperiment(t *testing.T) {
	t.Parallel()
	h := newHostileRig(t, nil)
	out, err := cli(t, h.env, "", "client", "add", "nightly", "--grants", "client_credentials", "--roles", "Default")
	if err != nil {
		t.Fatalf("client add: %v\n%s", err, out)
	}
	code, tok := clientToken(t, h.g.URL, "nightly", firstLine(out))
	if code != http.StatusOK {
		t.Fatalf("client credentials: %d", code)
	}
	name := uniqueName(t)
	exp := h.experiment(t, tok, name)
	res := h.must(t, tok, "POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": exp, "start_time": time.Now().UnixMilli()})
	run, _ := res["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	h.must(t, tok, "POST", "/api/2.0/mlflow/runs/log-metric", map[string]any{"run_id": run, "key": "loss", "value": 0.25, "timestamp": time.Now().UnixMilli()})

	// Read back from MLflow itself, not through the gate.
	direct, err := http.Get(need(t, "MLFLOW_GATE_TEST_MLFLOW_URL") + "/api/2.0/mlflow/runs/get?run_id=" + run)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Body.Close()
	var got struct {
		Run struct {
			Info struct {
				ExperimentID string `json:"experiment_id"`
				UserID       string `json:"user_id"`
			} `json:"info"`
			Data struct {
				Metrics []struct {
					Key   string  `json:"key"`
					Value float64 `json:"value"`
				} `json:"metrics"`
			} `json:"data"`
		} `json:"run"`
	}
	if err := json.NewDecoder(direct.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Run.Info.ExperimentID != exp || got.Run.Info.UserID != "nightly" || len(got.Run.Data.Metrics) != 1 || got.Run.Data.Metrics[0].Value != 0.25 {
		t.Fatalf("MLflow holds %+v", got.Run)
	}
	// No owner grant was written, for the client or for a user of its name.
	if out, err := cli(t, h.env, "", "perm", "list"); err != nil || strings.Contains(out, exp) {
		t.Fatalf("perm list after a service client's create: %v\n%s", err, out)
	}
}
