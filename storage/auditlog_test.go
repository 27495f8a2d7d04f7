package storage_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlflow-gate/mlflow-gate/internal/testlog"
	"github.com/mlflow-gate/mlflow-gate/storage"
	"github.com/mlflow-gate/mlflow-gate/storage/storagetest"
)

func requestEvent(i int) storage.Event {
	return storage.Event{Actor: "alice", ClientID: "cli", Action: "mlflow.write", Method: "POST",
		Route: "POST /api/2.0/mlflow/runs/log-metric", Resource: "runs", Decision: "allow", Rule: "Default#write on runs",
		Status: 200, LatencyUS: int64(i), RemoteAddr: "127.0.0.1:1",
		Request: &storage.RequestDetail{Path: "/api/2.0/mlflow/runs/log-metric", RequestID: "rq", IDs: map[string][]string{"run": {"r1"}}}}
}

func countEvents(t *testing.T, st *storage.Store) int {
	t.Helper()
	var n int
	if err := st.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_events WHERE action = 'mlflow.write'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAuditLogBatches(t *testing.T) {
	st := storagetest.Store(t)
	a := storage.NewAuditLog(st, nil, storage.AuditLogOptions{BatchSize: 100, FlushInterval: 50 * time.Millisecond})
	for i := range 250 {
		a.Record(requestEvent(i))
	}
	// Two full batches go at once; the remaining 50 after FlushInterval.
	deadline := time.Now().Add(5 * time.Second)
	for countEvents(t, st) < 250 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := countEvents(t, st); n != 250 || a.Written() != 250 {
		t.Fatalf("%d rows, %d written, want 250", n, a.Written())
	}
	events, err := st.ListEvents(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	e := events[0]
	if e.Actor != "alice" || e.Route != "POST /api/2.0/mlflow/runs/log-metric" || e.Status != 200 || e.Detail["request_id"] != "rq" || e.Detail["path"] != "/api/2.0/mlflow/runs/log-metric" ||
		e.Detail["ids"].(map[string]any)["run"].([]any)[0] != "r1" || e.At.IsZero() {
		t.Fatalf("stored %+v", e)
	}
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestAuditLogCloseFlushes(t *testing.T) {
	st := storagetest.Store(t)
	// A long interval and a large batch: only Close can get these written.
	a := storage.NewAuditLog(st, nil, storage.AuditLogOptions{BatchSize: 1000, FlushInterval: time.Hour})
	for i := range 42 {
		a.Record(requestEvent(i))
	}
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := countEvents(t, st); n != 42 {
		t.Fatalf("%d rows after Close, want 42", n)
	}
	a.Record(requestEvent(0)) // after Close: counted, not written
	if a.Dropped() != 1 {
		t.Fatalf("Dropped %d after a Record past Close", a.Dropped())
	}
	if err := a.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestAuditLogWithoutDatabaseLogsRecords(t *testing.T) {
	st := storagetest.Store(t)
	var logs testlog.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	a := storage.NewAuditLog(st, logger, storage.AuditLogOptions{BatchSize: 10, FlushInterval: 10 * time.Millisecond})
	st.Close() // the database is gone
	for i := range 25 {
		a.Record(requestEvent(i))
	}
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a.Logged() != 25 || a.Written() != 0 {
		t.Fatalf("logged %d, written %d", a.Logged(), a.Written())
	}
	records := 0
	for _, line := range logs.Lines() {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["msg"] == "audit record" {
			records++
			if m["actor"] != "alice" || m["route"] != "POST /api/2.0/mlflow/runs/log-metric" || m["detail"].(map[string]any)["request_id"] != "rq" {
				t.Fatalf("logged record %v", m)
			}
		}
	}
	if records != 25 {
		t.Fatalf("%d audit records in the log, want 25", records)
	}
}

// A database that accepts connections and never answers holds the writer; Record
// must still return at once, dropping and counting what the queue cannot hold.
func TestAuditLogNeverBlocksTheCaller(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // hold it open, say nothing
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	st, err := storage.Open(context.Background(), "postgres://gate:pw@"+ln.Addr().String()+"/gate?sslmode=disable&connect_timeout=30")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var logs testlog.Buffer
	a := storage.NewAuditLog(st, slog.New(slog.NewJSONHandler(&logs, nil)),
		storage.AuditLogOptions{QueueSize: 16, BatchSize: 4, FlushInterval: time.Millisecond, WriteTimeout: 500 * time.Millisecond})
	time.Sleep(20 * time.Millisecond) // let the writer pick up a batch and hang on it
	start := time.Now()
	for i := range 10000 {
		a.Record(requestEvent(i))
	}
	if took := time.Since(start); took > 200*time.Millisecond {
		t.Fatalf("10000 Records took %v with the database hanging", took)
	}
	if a.Dropped() < 10000-16-4 {
		t.Fatalf("dropped %d, want at least %d", a.Dropped(), 10000-16-4)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := a.Written() + a.Logged() + a.Dropped(); got != 10000 {
		t.Fatalf("written %d + logged %d + dropped %d = %d, want 10000", a.Written(), a.Logged(), a.Dropped(), got)
	}
	if !strings.Contains(strings.Join(logs.Lines(), "\n"), "dropping records") {
		t.Fatal("no warning about dropped records")
	}
	if strings.Contains(strings.Join(logs.Lines(), "\n"), ":pw@") {
		t.Fatal("the database password reached the log")
	}
}

func TestDeleteAuditBefore(t *testing.T) {
	st := storagetest.Store(t)
	ctx := context.Background()
	now := time.Now()
	for i, at := range []time.Time{now.Add(-48 * time.Hour), now.Add(-25 * time.Hour), now} {
		e := requestEvent(i)
		e.At = at
		if err := storage.InsertEvent(ctx, st.Pool, e); err != nil {
			t.Fatal(err)
		}
	}
	n, err := st.DeleteAuditBefore(ctx, now.Add(-24*time.Hour))
	if err != nil || n != 2 || countEvents(t, st) != 1 {
		t.Fatalf("deleted %d (%v), %d left", n, err, countEvents(t, st))
	}
}
