package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mlflow-gate/mlflow-gate/storage"
	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

// audit list reads what the administrative commands and the gate wrote,
// with the admin page's filters, a page at a time.
func TestAuditList(t *testing.T) {
	db := storagetest.EmptyDatabase(t)
	env := map[string]string{"MLFLOW_GATE_DATABASE_URL": db}
	mustRun := func(stdin string, args ...string) (string, string) {
		t.Helper()
		out, stderr, code := gate(t, env, stdin, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		return out, stderr
	}
	mustRun("", "migrate", "up")
	mustRun("", "role", "add", "Default")
	mustRun("correct horse battery staple\n", "user", "add", "alice", "--password-stdin")
	mustRun("another fine passphrase\n", "user", "add", "bob", "--password-stdin")

	// What the gate records of MLflow requests: a recent denial and an old write.
	ctx := context.Background()
	st, err := storage.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	for _, e := range []storage.Event{
		{At: now.Add(-3 * time.Hour), Actor: "alice", ClientID: "mlflow-gate-cli", Action: "mlflow.write", Method: "POST",
			Route: "POST /api/2.0/mlflow/runs/create", Resource: "runs", Decision: "allow", Rule: "role_grant", Status: 200,
			Request: &storage.RequestDetail{Path: "/api/2.0/mlflow/runs/create", RequestID: "req-old", IDs: map[string][]string{"experiment": {"7"}}}},
		{At: now.Add(-time.Minute), Actor: "bob", Action: "mlflow.delete", Method: "POST",
			Route: "POST /api/2.0/mlflow/runs/delete", Resource: "runs", Decision: "deny", Rule: "no_grant", Status: 403,
			Request: &storage.RequestDetail{Path: "/api/2.0/mlflow/runs/delete", RequestID: "req-new", IDs: map[string][]string{"run": {"r42"}}}},
	} {
		if err := storage.InsertEvent(ctx, st.Pool, e); err != nil {
			t.Fatal(err)
		}
	}

	out, _ := mustRun("", "audit", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "ACTION") || len(lines) != 8 {
		t.Fatalf("audit list: want a header and 7 records:\n%s", out)
	}
	// Newest first (by the order written): the denial leads, with what it was about.
	if !regexp.MustCompile(`bob\s+mlflow\.delete\s+deny\s+403\s+runs\s+POST /api/2.0/mlflow/runs/delete rule=no_grant request=req-new`).MatchString(lines[1]) {
		t.Errorf("newest record: %q", lines[1])
	}
	if !strings.Contains(out, "alice (mlflow-gate-cli)") || !regexp.MustCompile(`cli\s+user\.create\s+-\s+-\s+user:bob`).MatchString(out) {
		t.Errorf("audit list lacks the CLI's records or the client:\n%s", out)
	}

	for _, tc := range []struct {
		args []string
		want []string // the actions listed, newest first
	}{
		{[]string{"--actor", "cli", "--action", "user.*"}, []string{"user.create", "user.create"}},
		{[]string{"--resource", "user:alice"}, []string{"role.grant", "user.create"}},
		{[]string{"--resource", "r42"}, []string{"mlflow.delete"}},
		{[]string{"--action", "mlflow.*", "--decision", "allow"}, []string{"mlflow.write"}},
		{[]string{"--route", "POST /api/2.0/mlflow/runs/*", "--method", "post"}, []string{"mlflow.delete", "mlflow.write"}},
		{[]string{"--status", "403"}, []string{"mlflow.delete"}},
		{[]string{"--action", "mlflow.*", "--since", "1h"}, []string{"mlflow.delete"}},
		{[]string{"--action", "mlflow.*", "--until", "2h"}, []string{"mlflow.write"}},
		{[]string{"--client", "mlflow-gate-cli", "--since", now.Add(-4 * time.Hour).UTC().Format("2006-01-02T15:04"),
			"--until", now.UTC().Add(time.Hour).Format(time.RFC3339)}, []string{"mlflow.write"}},
		{[]string{"--actor", "nobody"}, nil},
	} {
		out, _ := mustRun("", append([]string{"audit", "list", "--json"}, tc.args...)...)
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line == "" {
				continue
			}
			var r auditJSON
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("%v: not JSON lines: %q", tc.args, out)
			}
			got = append(got, r.Action)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("audit list %v: %v, want %v", tc.args, got, tc.want)
		}
	}
	out, _ = mustRun("", "audit", "list", "--json", "--status", "403")
	var denial auditJSON
	if err := json.Unmarshal([]byte(out), &denial); err != nil || denial.Detail["path"] != "/api/2.0/mlflow/runs/delete" ||
		denial.Route != "POST /api/2.0/mlflow/runs/delete" || denial.Rule != "no_grant" || denial.ID == 0 {
		t.Errorf("a denial as JSON: %+v %v", denial, err)
	}

	// A limit says how to read on, and --before reads on from there.
	out, stderr := mustRun("", "audit", "list", "--limit", "2")
	m := regexp.MustCompile(`older records follow: add --before (\d+)`).FindStringSubmatch(stderr)
	if strings.Count(strings.TrimSpace(out), "\n") != 2 || m == nil {
		t.Fatalf("--limit 2: %q / %q", out, stderr)
	}
	out, stderr = mustRun("", "audit", "list", "--before", m[1])
	if strings.Count(strings.TrimSpace(out), "\n") != 5 || stderr != "" || strings.Contains(out, "req-new") {
		t.Fatalf("--before %s: %q / %q", m[1], out, stderr)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--decision", "maybe"}, "--decision is allow or deny"},
		{[]string{"--since", "yesterday"}, `--since "yesterday" is neither a time`},
		{[]string{"--limit", "0"}, "--limit is between 1 and 10000"},
		{[]string{"--status", "99"}, "--status is an HTTP status code"},
		{[]string{"--since", "1h", "--until", "2h"}, "--since must be before --until"},
	} {
		_, stderr, code := gate(t, env, "", append([]string{"audit", "list"}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("audit list %v: exit %d %q, want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// More records than one query reads are paged through, up to --limit.
func TestAuditListPages(t *testing.T) {
	db := storagetest.EmptyDatabase(t)
	env := map[string]string{"MLFLOW_GATE_DATABASE_URL": db}
	if _, stderr, code := gate(t, env, "", "migrate", "up"); code != 0 {
		t.Fatal(stderr)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO audit_events (at, actor, action, resource, detail)
		SELECT now() - n * interval '1 second', 'cli', 'role.create', 'role:r' || n, '{}' FROM generate_series(1, 700) n`); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := gate(t, env, "", "audit", "list", "--limit", "650", "--json")
	if n := strings.Count(out, "\n"); code != 0 || n != 650 || !strings.Contains(stderr, "older records follow") {
		t.Fatalf("--limit 650 over 700 records: exit %d, %d lines, %q", code, n, stderr)
	}
	if !strings.HasPrefix(out, `{"id":700,`) {
		t.Errorf("not newest first: %s", strings.SplitN(out, "\n", 2)[0])
	}
	out, stderr, _ = gate(t, env, "", "audit", "list", "--limit", "10000", "--json")
	if n := strings.Count(out, "\n"); n != 700 || stderr != "" {
		t.Fatalf("every record: %d lines, %q", n, stderr)
	}
}
