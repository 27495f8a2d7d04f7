package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-gate/mlflow-gate/internal/reqid"
)

// One server that fails stops the whole group: the other server drains and
// stops listening, the background actors end, and serve learns why.
func TestOneFailingServerStopsTheGroup(t *testing.T) {
	good, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bad, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bad.Close() // Serve on it fails at once
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	background := make(chan struct{})
	actors := []actor{
		httpActor("server", &http.Server{Handler: ok}, good, time.Second, nil),
		httpActor("metrics server", &http.Server{Handler: ok}, bad, time.Second, nil),
		{"sweeper", func(ctx context.Context) error { <-ctx.Done(); close(background); return nil }},
	}
	done := make(chan error, 1)
	go func() { done <- runActors(context.Background(), actors, nil, nil) }()
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the group kept running after a server failed")
	}
	if err == nil || !strings.Contains(err.Error(), "metrics server: server stopped") {
		t.Fatalf("runActors = %v, want the metrics server's failure", err)
	}
	select {
	case <-background:
	default:
		t.Fatal("the background actor was not stopped")
	}
	if c, err := net.DialTimeout("tcp", good.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatal("the healthy server still accepts connections")
	}
}

// An actor that returns before the group stops, even without an error, is a
// failure; when the context ends every actor stops and the group succeeds.
func TestActorsStopTogether(t *testing.T) {
	quits := actor{"quitter", func(context.Context) error { return nil }}
	waits := actor{"waiter", func(ctx context.Context) error { <-ctx.Done(); return nil }}
	if err := runActors(context.Background(), []actor{quits, waits}, nil, nil); err == nil ||
		!strings.Contains(err.Error(), "quitter: stopped unexpectedly") {
		t.Fatalf("runActors = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	started, stopped := false, false
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if err := runActors(ctx, []actor{waits, waits}, func() { started = true }, func() { stopped = true }); err != nil || !started || !stopped {
		t.Fatalf("runActors = %v, started %v, stopped %v", err, started, stopped)
	}
	drainErr := errors.New("drain")
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	late := actor{"slow", func(ctx context.Context) error { <-ctx.Done(); return drainErr }}
	if err := runActors(ctx, []actor{late}, nil, nil); !errors.Is(err, drainErr) {
		t.Fatalf("a failed drain: runActors = %v", err)
	}
}

// A record that names its request id already does not get it twice.
func TestRequestIDHandlerAddsTheIDOnce(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(&buf, "info", logFormatJSON)
	ctx := reqid.With(context.Background(), "r-1")
	log.InfoContext(ctx, "a")
	log.InfoContext(ctx, "b", "request_id", "r-1")
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if n := strings.Count(line, `"request_id"`); n != 1 {
			t.Errorf("%d request ids in %s", n, line)
		}
	}
}
