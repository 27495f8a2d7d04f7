package storage_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-gate/mlflow-gate/storage"
	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

func TestSearchAuditPagesAndFilters(t *testing.T) {
	st := storagetest.Store(t)
	ctx := context.Background()
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	// 3,000 gated requests by three users plus a few admin changes.
	_, err := st.Pool.Exec(ctx, `
		INSERT INTO audit_events (at, actor, client_id, action, method, route, resource, decision, status, detail)
		SELECT $1::timestamptz + (i || ' seconds')::interval, 'user' || (i % 3), CASE WHEN i % 10 = 0 THEN 'svc' ELSE '' END,
		       'mlflow.read', CASE WHEN i % 2 = 0 THEN 'GET' ELSE 'POST' END,
		       CASE WHEN i % 2 = 0 THEN '/api/2.0/mlflow/runs/get' ELSE '/api/2.0/mlflow/runs/delete' END,
		       'runs', CASE WHEN i % 7 = 0 THEN 'deny' ELSE 'allow' END, CASE WHEN i % 7 = 0 THEN 403 ELSE 200 END,
		       jsonb_build_object('ids', jsonb_build_object('run', jsonb_build_array('run-' || i)))
		FROM generate_series(1, 3000) i`, base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool.Exec(ctx, "ANALYZE audit_events"); err != nil {
		t.Fatal(err)
	}

	// Paging: newest first, no overlap, every row once.
	seen := map[int64]bool{}
	var before int64
	pages := 0
	for {
		recs, more, err := st.SearchAudit(ctx, storage.AuditFilter{Actor: "user1"}, before, 250)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for i, r := range recs {
			if seen[r.ID] {
				t.Fatalf("record %d on two pages", r.ID)
			}
			seen[r.ID] = true
			if r.Actor != "user1" {
				t.Fatalf("actor filter let through %q", r.Actor)
			}
			if i > 0 && r.ID >= recs[i-1].ID {
				t.Fatalf("not newest first: %d after %d", r.ID, recs[i-1].ID)
			}
		}
		if !more {
			break
		}
		before = recs[len(recs)-1].ID
	}
	if len(seen) != 1000 || pages != 4 {
		t.Fatalf("user1 has %d records on %d pages, want 1000 on 4", len(seen), pages)
	}

	count := func(f storage.AuditFilter) int {
		t.Helper()
		recs, more, err := st.SearchAudit(ctx, f, 0, 500)
		if err != nil {
			t.Fatal(err)
		}
		if more {
			t.Fatalf("%+v: more than a page", f)
		}
		return len(recs)
	}
	for name, c := range map[string]struct {
		f    storage.AuditFilter
		want int
	}{
		"client":         {storage.AuditFilter{ClientID: "svc", Method: "GET"}, 300},
		"deny of user0":  {storage.AuditFilter{Actor: "user0", Decision: "deny"}, 142},
		"status":         {storage.AuditFilter{Status: 403, Method: "POST"}, 214},
		"route exact":    {storage.AuditFilter{Route: "/api/2.0/mlflow/runs/delete", Actor: "user2", Decision: "deny"}, 71},
		"route prefix":   {storage.AuditFilter{Route: "/api/2.0/mlflow/runs/d*", Status: 403, Actor: "user1"}, 72},
		"resource id":    {storage.AuditFilter{Resource: "run-42"}, 1},
		"resource name":  {storage.AuditFilter{Resource: "runs", Decision: "deny", Actor: "user0", Method: "GET"}, 71},
		"time range":     {storage.AuditFilter{From: base.Add(101 * time.Second), To: base.Add(201 * time.Second)}, 100},
		"prefix literal": {storage.AuditFilter{Route: "/api/2.0/mlflow/runs/%*"}, 0},
	} {
		if got := count(c.f); got != c.want {
			t.Errorf("%s: %d records, want %d", name, got, c.want)
		}
	}

	// The first page of the unfiltered and of the per-user listing walk an
	// index newest first: no sequential scan of the table and no sort.
	for name, q := range map[string]string{
		"all":   `SELECT id FROM audit_events ORDER BY id DESC LIMIT 101`,
		"actor": `SELECT id FROM audit_events WHERE actor = 'user1' ORDER BY id DESC LIMIT 101`,
		"route": `SELECT id FROM audit_events WHERE route = '/api/2.0/mlflow/runs/get' ORDER BY id DESC LIMIT 101`,
		"deny":  `SELECT id FROM audit_events WHERE decision = 'deny' ORDER BY id DESC LIMIT 101`,
	} {
		rows, err := st.Pool.Query(ctx, "EXPLAIN "+q)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		rows.Close()
		p := strings.Join(plan, "\n")
		if strings.Contains(p, "Seq Scan") || strings.Contains(p, "Sort") || !strings.Contains(p, "Index") {
			t.Errorf("%s: the first page does not walk an index:\n%s", name, p)
		}
	}
}
