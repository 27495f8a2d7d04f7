package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// benchEnv holds what every benchmark needs from the rig.
type benchEnv struct {
	binary    string
	serverURL string // a role that may CREATE DATABASE
	mlflowURL string
	tmp       string
	dbs       []string
	secret    string // every gate shares it, as replicas and restarts of one deployment do
}

func newBenchEnv(ctx context.Context, binary string) (*benchEnv, error) {
	e := &benchEnv{serverURL: os.Getenv("MLFLOW_GATE_TEST_DATABASE_URL"), mlflowURL: os.Getenv("MLFLOW_GATE_TEST_MLFLOW_URL")}
	if e.serverURL == "" || e.mlflowURL == "" {
		return nil, errors.New("MLFLOW_GATE_TEST_DATABASE_URL and MLFLOW_GATE_TEST_MLFLOW_URL are not set: run scripts/bench")
	}
	tmp, err := os.MkdirTemp("", "mlflow-gate-bench")
	if err != nil {
		return nil, err
	}
	e.tmp = tmp
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	e.secret = hex.EncodeToString(secret)
	if binary == "" {
		binary = filepath.Join(tmp, "mlflow-gate")
		build := exec.CommandContext(ctx, "go", "build", "-o", binary, "./cmd/mlflow-gate")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return nil, fmt.Errorf("building mlflow-gate: %w", err)
		}
	}
	e.binary = binary
	return e, nil
}

func (e *benchEnv) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, e.serverURL); err == nil {
		for _, db := range e.dbs {
			_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
		}
		conn.Close(ctx)
	}
	os.RemoveAll(e.tmp)
}

// database creates an empty database and returns its URL.
func (e *benchEnv) database(ctx context.Context) (string, error) {
	conn, err := pgx.Connect(ctx, e.serverURL)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "bench_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	e.dbs = append(e.dbs, name)
	u, err := url.Parse(e.serverURL)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// gate is one running `mlflow-gate serve`.
type gate struct {
	url  string
	cmd  *exec.Cmd
	done chan error
}

// startGate launches the gate on dbURL and returns once the process runs.
func (e *benchEnv) startGate(dbURL string, extra ...string) (*gate, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(e.binary, "serve")
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"MLFLOW_GATE_DATABASE_URL=" + dbURL,
		"MLFLOW_GATE_MLFLOW_URL=" + e.mlflowURL,
		"MLFLOW_GATE_ISSUER=http://" + addr,
		"MLFLOW_GATE_LISTEN=" + addr,
		// An empty MLFLOW_GATE_METRICS_LISTEN means the default port, which a
		// second gate (or a test running beside) would find taken.
		"MLFLOW_GATE_METRICS_LISTEN=127.0.0.1:0",
		// The signing keys are stored encrypted with a key derived from the
		// secret: a gate started with another secret on the same database exits.
		"MLFLOW_GATE_SECRET=" + e.secret,
		"MLFLOW_GATE_LOG_LEVEL=warn",
	}, extra...)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	g := &gate{url: "http://" + addr, cmd: cmd, done: make(chan error, 1)}
	go func() { g.done <- cmd.Wait() }()
	return g, nil
}

// readyGate starts a gate as startGate does and waits (a minute at most)
// until its /readyz answers 200; on failure the gate is stopped.
func (e *benchEnv) readyGate(dbURL string, extra ...string) (*gate, error) {
	g, err := e.startGate(dbURL, extra...)
	if err != nil {
		return nil, err
	}
	if _, err := g.waitReady("/readyz", 60*time.Second); err != nil {
		_ = g.stop()
		return nil, err
	}
	return g, nil
}

// waitReady polls url until it answers 200 and returns how long that took.
func (g *gate) waitReady(path string, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	client := &http.Client{Timeout: time.Second}
	for time.Since(start) < limit {
		select {
		case err := <-g.done:
			return 0, fmt.Errorf("gate exited: %v", err)
		default:
		}
		resp, err := client.Get(g.url + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	return 0, fmt.Errorf("not ready within %s", limit)
}

func (g *gate) stop() error {
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-g.done:
		return err
	case <-time.After(15 * time.Second):
		_ = g.cmd.Process.Kill()
		return errors.New("gate did not stop within 15s")
	}
}

// rssKiB reads a process's resident set size from /proc.
func rssKiB(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kib int
			_, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kib)
			return kib, err
		}
	}
	return 0, errors.New("no VmRSS")
}
