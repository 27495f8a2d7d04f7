package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mlflow-gate/mlflow-gate/internal/testlog"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mlflow-gate-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "mlflow-gate")
	build := exec.Command("go", "build", "-o", binary, "../cmd/mlflow-gate")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building mlflow-gate:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func need(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run the end-to-end tests with `scripts/test`, which starts PostgreSQL, S3 and MLflow", name)
	}
	return v
}

// freePort picks a port for a gate the test starts, which must be known
// before the process binds it (the issuer URL names it). Ports from the
// kernel's ephemeral range (what ":0" hands out) can be taken by any other
// test package's listener or outgoing connection between the pick and the
// gate's bind, so the pick is random from below that range, checked free,
// and never handed out twice by this process.
func freePort(t *testing.T) string {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for range 200 {
		port := 20000 + mrand.IntN(12000)
		if portsGiven[port] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		ln.Close()
		portsGiven[port] = true
		return ln.Addr().String()
	}
	t.Fatal("no free port between 20000 and 32000 on 127.0.0.1")
	return ""
}

var (
	portMu     sync.Mutex
	portsGiven = map[int]bool{}
)

// gateProc is one running mlflow-gate serve process.
type gateProc struct {
	URL            string
	cmd            *exec.Cmd
	stdout, stderr *testlog.Buffer
	exited         chan error
}

func randomSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// gateEnv is a complete serve environment on a fresh database.
func gateEnv(t *testing.T, dbURL string) map[string]string {
	addr := freePort(t)
	return map[string]string{
		"MLFLOW_GATE_DATABASE_URL":     dbURL,
		"MLFLOW_GATE_MLFLOW_URL":       need(t, "MLFLOW_GATE_TEST_MLFLOW_URL"),
		"MLFLOW_GATE_ISSUER":           "http://" + addr,
		"MLFLOW_GATE_LISTEN":           addr,
		"MLFLOW_GATE_METRICS_LISTEN":   freePort(t),
		"MLFLOW_GATE_SECRET":           randomSecret(),
		"MLFLOW_GATE_S3_ENDPOINT":      "http://" + need(t, "MLFLOW_GATE_TEST_S3_ENDPOINT"),
		"MLFLOW_GATE_S3_BUCKET":        need(t, "MLFLOW_GATE_TEST_S3_BUCKET"),
		"MLFLOW_GATE_S3_PREFIX":        "artifacts",
		"MLFLOW_GATE_S3_ACCESS_KEY":    need(t, "MLFLOW_GATE_TEST_S3_ACCESS_KEY"),
		"MLFLOW_GATE_S3_SECRET_KEY":    need(t, "MLFLOW_GATE_TEST_S3_SECRET_KEY"),
		"MLFLOW_GATE_S3_REGION":        need(t, "MLFLOW_GATE_TEST_S3_REGION"),
		"MLFLOW_GATE_SHUTDOWN_TIMEOUT": "10s",
	}
}

func environ(env map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// startGate runs `mlflow-gate serve` and waits until /healthz answers.
func startGate(t *testing.T, env map[string]string) *gateProc {
	t.Helper()
	g := launchGate(t, env)
	g.waitHealthy(t)
	return g
}

// launchGate starts `mlflow-gate serve` without waiting for it.
func launchGate(t *testing.T, env map[string]string) *gateProc {
	t.Helper()
	g := &gateProc{URL: env["MLFLOW_GATE_ISSUER"], stdout: &testlog.Buffer{}, stderr: &testlog.Buffer{}, exited: make(chan error, 1)}
	g.cmd = exec.Command(binary, "serve")
	g.cmd.Env = environ(env)
	g.cmd.Stdout, g.cmd.Stderr = g.stdout, g.stderr
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { g.exited <- g.cmd.Wait() }()
	t.Cleanup(func() {
		g.stop(t)
		if t.Failed() {
			t.Logf("gate stderr:\n%s", g.stderr)
		}
	})
	return g
}

// waitHealthy waits until the gate answers /healthz, failing if it exits.
func (g *gateProc) waitHealthy(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-g.exited:
			g.exited <- err
			t.Fatalf("gate exited before serving: %v\nstdout:\n%s\nstderr:\n%s", err, g.stdout, g.stderr)
		default:
		}
		resp, err := http.Get(g.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("gate did not answer /healthz within 30s:\n%s", g.stderr)
}

// stop sends SIGTERM and waits for a clean exit.
func (g *gateProc) stop(t *testing.T) {
	if g.cmd.ProcessState != nil {
		return
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-g.exited:
		g.exited <- err
		if err != nil {
			t.Errorf("gate exited with %v after SIGTERM", err)
		}
	case <-time.After(15 * time.Second):
		_ = g.cmd.Process.Kill()
		t.Error("gate did not stop within 15s of SIGTERM")
	}
}

// cli runs a one-shot mlflow-gate command.
func cli(t *testing.T, env map[string]string, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = environ(env)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func adminPassword(out string) string {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if p, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "password: "); ok {
			return p
		}
	}
	return ""
}
