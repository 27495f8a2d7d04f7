// Package storagetest gives each test its own migrated PostgreSQL database on
// the server that scripts/services started (MLFLOW_GATE_TEST_DATABASE_URL).
package storagetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mlflow-gate/mlflow-gate/migrations"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

// EnvDatabaseURL names the variable holding a URL of a role that may CREATE DATABASE.
const EnvDatabaseURL = "MLFLOW_GATE_TEST_DATABASE_URL"

// ServerURL returns the rig's database URL or fails the test saying how to get one.
func ServerURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvDatabaseURL)
	if u == "" {
		t.Fatalf("%s is not set: this test needs the real PostgreSQL that the rig starts; run it as `scripts/test` (or `scripts/services run -- go test ./...`)", EnvDatabaseURL)
	}
	return u
}

// EmptyDatabase creates a fresh, empty database for this test, dropped when
// the test ends, and returns its URL.
func EmptyDatabase(t testing.TB) string {
	t.Helper()
	server := ServerURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatalf("connecting to the test PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "t_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, server)
		if err != nil {
			t.Errorf("dropping test database: %v", err)
			return
		}
		defer c.Close(ctx)
		// FORCE terminates the test's leftover connections, but not a backend of
		// another role (an autovacuum worker that just started on the database):
		// PostgreSQL then refuses with 42501 for a moment. Retry briefly.
		for attempt := 0; ; attempt++ {
			_, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			if err == nil {
				return
			}
			var pe *pgconn.PgError
			if attempt >= 20 || !errors.As(err, &pe) || pe.Code != "42501" {
				t.Errorf("dropping test database %s: %v", name, err)
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
	})
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("%s is not a URL: %v", EnvDatabaseURL, err)
	}
	u.Path = "/" + name
	return u.String()
}

// Store returns a store over a fresh database with every migration applied.
func Store(t testing.TB) *storage.Store {
	t.Helper()
	url := EmptyDatabase(t)
	ctx := context.Background()
	st, err := storage.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	m, err := migrations.New(st.Pool)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}
